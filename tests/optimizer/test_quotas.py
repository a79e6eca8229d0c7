from datetime import timedelta

from regula.optimizer.flow import solve
from regula.optimizer.instance import Assignment, Quota
from regula.optimizer.validate import validate
from tests.optimizer.factory import TODAY, bucket, entry, instance
from tests.optimizer.oracle import ip_objective, lp_objective


def _quota(limit: int, days: int = 0, muni: str = "4205407", cnes: str = "P4211900") -> Quota:
    start = TODAY + timedelta(days=7)
    return Quota(
        id=f"q{limit}{days}{muni}",
        municipality_ibge=muni,
        provider_cnes=cnes,
        oci_code="0901010014",
        start=start,
        end=start + timedelta(days=days),
        limit=limit,
    )


def test_a_quota_caps_the_municipality_at_the_provider() -> None:
    es = [entry(f"e{i}", priority=10 * i) for i in range(4)] + [entry("pal", "4211900")]
    inst = instance(es, [bucket("x", "4211900", capacity=10)], [_quota(2)])
    sol = solve(inst)
    assert sol.stats.quota_nodes == 1 and sol.stats.fallback_components == 0
    assert {a.entry_id for a in sol.assignments} == {"e3", "e2", "pal"}  # the quota is Florianópolis' only
    assert validate(inst, sol) == []


def test_quota_with_mixed_dates_and_levels_is_solved_exactly_by_the_fallback() -> None:
    es = [entry(f"e{i}", priority=10 * i) for i in range(4)]
    bs = [bucket("x", "4211900", capacity=1), bucket("y", "4211900", capacity=2, date=TODAY + timedelta(days=14))]
    inst = instance(es, bs, [_quota(2, days=10)], priority_band=10)
    sol = solve(inst)
    assert sol.stats.fallback_components == 1
    assert sol.status == "OPTIMAL"
    assert len(sol.assignments) == 2
    assert sol.objective == ip_objective(inst)
    assert validate(inst, sol) == []


def test_the_odd_cycle_that_no_network_can_hold() -> None:
    """e1, y live in Florianópolis (quota of 1 at provider P), e2 in Joinville; LP 2.5 units, integers 2."""
    far = TODAY + timedelta(days=28)
    es = [
        entry("e1", sex="F", age_years=30, scope_kind="macro", scope_code="4201"),  # x, b2
        entry("y", sex="M", age_years=70),  # b1 (region scope: not Joinville)
        entry("e2", "4209102", sex="M", age_years=70, scope_kind="macro", scope_code="4201"),  # b1, b2
    ]
    bs = [
        bucket("x", "4211900", "P", age_max=40),
        bucket("b1", "4211900", "P", sex="M", date=far),
        bucket("b2", "4209102", "Q"),
    ]
    inst = instance(es, bs, [_quota(1, days=30, cnes="P")])
    sol = solve(inst)
    assert len(sol.assignments) == 2
    assert sol.objective == ip_objective(inst)
    assert lp_objective(inst) < sol.objective - 1000  # the LP relaxation is fractional here
    assert validate(inst, sol) == []


def test_validator_catches_a_broken_quota() -> None:
    inst = instance([entry("a"), entry("b")], [bucket("x", "4211900", capacity=2)], [_quota(1)])
    sol = solve(inst)
    broken = sol.model_copy(
        update={"assignments": [Assignment(entry_id="a", bucket_id="x"), Assignment(entry_id="b", bucket_id="x")]}
    )
    broken = broken.model_copy(update={"unassigned": []})
    codes = {v.code for v in validate(inst, broken, check_objective=False)}
    assert codes == {"cota_excedida"}
