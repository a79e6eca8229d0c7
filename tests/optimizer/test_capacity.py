from regula.optimizer.flow import solve
from regula.optimizer.instance import Assignment
from regula.optimizer.validate import validate
from tests.optimizer.factory import bucket, entry, instance


def test_a_bucket_never_takes_more_than_its_capacity_and_the_most_urgent_are_served() -> None:
    inst = instance(
        [entry("a", priority=5), entry("b", priority=50), entry("c", priority=30)], [bucket("x", capacity=2)]
    )
    sol = solve(inst)
    assert sol.status == "OPTIMAL"
    assert [(a.entry_id, a.bucket_id) for a in sol.assignments] == [("b", "x"), ("c", "x")]
    assert sol.unassigned == ["a"]
    assert validate(inst, sol) == []


def test_zero_capacity_bucket_is_never_used() -> None:
    inst = instance([entry("a")], [bucket("x", capacity=0)])
    assert solve(inst).assignments == []


def test_validator_catches_overbooking() -> None:
    inst = instance([entry("a"), entry("b")], [bucket("x", capacity=1), bucket("y", capacity=1)])
    sol = solve(inst)
    broken = sol.model_copy(
        update={"assignments": [Assignment(entry_id="a", bucket_id="x"), Assignment(entry_id="b", bucket_id="x")]}
    )
    codes = {v.code for v in validate(inst, broken, check_objective=False)}
    assert codes == {"capacidade_excedida"}
