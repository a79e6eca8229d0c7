from regula.optimizer.flow import solve
from regula.optimizer.instance import Assignment
from regula.optimizer.validate import validate
from tests.optimizer.factory import bucket, entry, instance


def _case():  # type: ignore[no-untyped-def]
    inst = instance([entry("a"), entry("b")], [bucket("x", capacity=2)])
    return inst, solve(inst)


def test_a_valid_solution_has_no_violations() -> None:
    inst, sol = _case()
    assert validate(inst, sol) == []


def test_unknown_ids_and_double_assignment() -> None:
    inst, sol = _case()
    broken = sol.model_copy(
        update={
            "assignments": [
                Assignment(entry_id="a", bucket_id="x"),
                Assignment(entry_id="a", bucket_id="x"),
                Assignment(entry_id="ghost", bucket_id="x"),
                Assignment(entry_id="b", bucket_id="nowhere"),
            ],
            "unassigned": [],
        }
    )
    codes = sorted(v.code for v in validate(inst, broken, check_objective=False))
    assert codes == ["entrada_inexistente", "entrada_repetida", "vaga_inexistente"]


def test_objective_is_recomputed_and_unassigned_checked() -> None:
    inst, sol = _case()
    broken = sol.model_copy(update={"objective": sol.objective - 1, "unassigned": ["a"]})
    violations = validate(inst, broken)
    assert sorted(v.code for v in violations) == ["nao_alocadas_inconsistente", "objetivo_divergente"]
    assert all(v.message[0].isupper() for v in violations)  # sentences for people, in Portuguese


def test_an_unassigned_entry_listed_twice_is_a_violation() -> None:
    # the unassigned are compared as sets (a million ids are not sorted twice): a repeated id must still count
    inst, sol = _case()
    assert validate(inst, sol) == []
    if sol.unassigned:
        twice = sol.model_copy(update={"unassigned": [*sol.unassigned, sol.unassigned[0]]})
    else:
        served = sol.assignments[0]
        twice = sol.model_copy(
            update={"assignments": sol.assignments[1:], "unassigned": [served.entry_id, served.entry_id]}
        )
    codes = {v.code for v in validate(inst, twice, check_objective=False)}
    assert "nao_alocadas_inconsistente" in codes
