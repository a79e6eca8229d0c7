from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from regula.optimizer.flow import solve
from regula.optimizer.greedy import solve_greedy
from regula.optimizer.problem import escalate
from regula.optimizer.validate import validate
from tests.optimizer.factory import bucket, entry, instance, random_instance


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), n_quotas=st.integers(0, 4), quota_days=st.sampled_from([0, 14]))
def test_greedy_is_valid_and_never_better_than_the_optimum(seed: int, n_quotas: int, quota_days: int) -> None:
    inst = random_instance(seed, 40, 12, n_quotas=n_quotas, quota_days=quota_days)
    greedy = solve_greedy(inst)
    assert validate(inst, greedy) == []
    assert solve(inst).objective <= greedy.objective


def test_greedy_takes_the_nearest_then_earliest_bucket_in_priority_order() -> None:
    es = [entry("first", priority=9), entry("second", priority=1)]
    bs = [bucket("far", "4209102", capacity=5), bucket("near", "4211900")]
    inst = instance(es, bs, late_policy="forbid")
    inst = inst.model_copy(
        update={"entries": [e.model_copy(update={"scope_kind": "uf", "scope_code": "42"}) for e in es]}
    )
    got = {a.entry_id: a.bucket_id for a in solve_greedy(inst).assignments}
    assert got == {"first": "near", "second": "far"}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), n_quotas=st.integers(0, 3))
def test_a_shared_preparation_changes_neither_the_greedy_nor_the_validators_verdict(seed: int, n_quotas: int) -> None:
    """allocation.solving hands one escalate() to both (issue 18 item 7): each must answer as if it had made its own,
    including for a solution with a defect (an entry placed twice)."""
    inst = random_instance(seed, 40, 12, n_quotas=n_quotas, quota_days=14)
    preparation = escalate(inst)
    greedy = solve_greedy(inst)
    assert solve_greedy(inst, preparation=preparation).model_dump(exclude={"meta"}) == greedy.model_dump(
        exclude={"meta"}
    )
    assert validate(inst, greedy, preparation=preparation) == validate(inst, greedy) == []
    if greedy.assignments:
        broken = greedy.model_copy(update={"assignments": [*greedy.assignments, greedy.assignments[0]]})
        found = validate(inst, broken, preparation=preparation)
        assert found == validate(inst, broken) != []
