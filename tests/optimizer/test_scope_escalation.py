from datetime import timedelta

from regula.optimizer.flow import solve
from regula.optimizer.instance import Assignment
from regula.optimizer.problem import escalate
from regula.optimizer.validate import validate
from tests.optimizer.factory import TODAY, bucket, entry, instance

# Florianópolis (region 42001, macro 4201); Joinville is region 42002 in the same macro; Chapecó another macro.


def _entry(elapsed_days: int, window_days: int = 100) -> dict[str, object]:
    authorized = TODAY - timedelta(days=elapsed_days)
    return {"authorized_date": authorized, "deadline": authorized + timedelta(days=window_days)}


def test_outside_the_scope_is_never_used_before_75_percent() -> None:
    inst = instance([entry("a", **_entry(74))], [bucket("j", "4209102")])  # type: ignore[arg-type]
    sol = solve(inst)
    assert sol.assignments == []
    assert sol.escalated == []


def test_at_75_percent_without_a_bucket_in_scope_widens_to_the_macro_region() -> None:
    inst = instance([entry("a", **_entry(75))], [bucket("j", "4209102"), bucket("c", "4204202")])  # type: ignore[arg-type]
    widened, ids = escalate(inst)
    assert ids == ["a"]
    assert (widened.entries[0].scope_kind, widened.entries[0].scope_code) == ("macro", "4201")
    sol = solve(inst)
    assert sol.escalated == ["a"]
    assert [(a.entry_id, a.bucket_id) for a in sol.assignments] == [("a", "j")]
    assert validate(inst, sol) == []


def test_without_a_bucket_in_the_macro_region_widens_to_the_uf() -> None:
    inst = instance([entry("a", **_entry(90))], [bucket("c", "4204202")])  # type: ignore[arg-type]
    sol = solve(inst)
    assert sol.escalated == ["a"]
    assert [a.bucket_id for a in sol.assignments] == ["c"]


def test_a_feasible_bucket_in_scope_means_no_escalation() -> None:
    inst = instance([entry("a", **_entry(90))], [bucket("f", "4211900"), bucket("c", "4204202")])  # type: ignore[arg-type]
    sol = solve(inst)
    assert sol.escalated == []
    assert [a.bucket_id for a in sol.assignments] == ["f"]


def test_a_bucket_after_the_deadline_does_not_count_as_feasible() -> None:
    late = bucket("f", "4211900", date=TODAY + timedelta(days=60))
    inst = instance([entry("a", **_entry(90))], [late, bucket("j", "4209102")])  # type: ignore[arg-type]
    assert solve(inst).escalated == ["a"]


def test_validator_catches_out_of_scope_and_wrong_escalation_list() -> None:
    inst = instance([entry("a", **_entry(10))], [bucket("c", "4204202")])  # type: ignore[arg-type]
    sol = solve(inst)
    broken = sol.model_copy(
        update={"assignments": [Assignment(entry_id="a", bucket_id="c")], "unassigned": [], "escalated": ["a"]}
    )
    codes = {v.code for v in validate(inst, broken, check_objective=False)}
    assert codes == {"fora_da_abrangencia", "escalonamento_inconsistente"}


def test_no_feasible_bucket_anywhere_keeps_the_scope() -> None:
    late = bucket("c", "4204202", date=TODAY + timedelta(days=40))  # after the deadline (10 days ahead)
    inst = instance([entry("a", **_entry(90))], [late])  # type: ignore[arg-type]
    sol = solve(inst)
    assert sol.escalated == []
    assert sol.assignments == []
