"""The integer fallback (HiGHS) on quota-heavy instances — municipal quotas that cannot stay inside the network,
overlapping, over buckets on many dates and classes of many priority levels (issue 18, item 4) — against the
per-patient optimum of an independent model, and what a result stopped by a limit says about itself."""

from datetime import timedelta

import pytest

from regula.optimizer import fallback
from regula.optimizer.flow import solve
from regula.optimizer.instance import dump_solution
from regula.optimizer.validate import validate
from tests.optimizer.factory import TODAY, bucket, entry, instance, quota_heavy_instance
from tests.optimizer.oracle import ip_objective, lp_objective, mip_objective, penalized_objective
from tests.optimizer.test_quotas import _quota


@pytest.mark.parametrize(("n", "seed"), [(30, 1), (60, 2), (120, 3)])
def test_quota_heavy_instances_reach_the_per_patient_optimum(n: int, seed: int) -> None:
    inst = quota_heavy_instance(n, seed)
    sol = solve(inst)
    assert sol.stats.fallback_components >= 1
    assert sol.status == "OPTIMAL" and sol.bound is None and sol.gap is None
    assert validate(inst, sol) == []
    assert lp_objective(inst) <= sol.objective + 1e-6
    assert sol.objective == mip_objective(inst)


@pytest.mark.parametrize(("n", "seed"), [(40, 4), (120, 5)])
def test_a_quota_heavy_re_solve_with_pinned_and_incumbents_reaches_the_optimum(n: int, seed: int) -> None:
    inst = quota_heavy_instance(n, seed, resolve=True)
    assert inst.pinned and inst.incumbents
    sol = solve(inst)
    assert sol.stats.fallback_components >= 1 and sol.stats.pinned == len(inst.pinned)
    assert sol.status == "OPTIMAL"
    assert validate(inst, sol) == []
    assert penalized_objective(inst, sol) == mip_objective(inst)


def test_the_small_re_solve_also_matches_cp_sat() -> None:
    inst = quota_heavy_instance(12, 6, resolve=True)
    sol = solve(inst)
    assert penalized_objective(inst, sol) == ip_objective(inst) == mip_objective(inst)


def test_quota_heavy_solutions_are_deterministic() -> None:
    inst = quota_heavy_instance(120, 7, resolve=True)
    assert dump_solution(solve(inst)) == dump_solution(solve(inst))


def test_a_fallback_stopped_by_its_limit_reports_its_bound_and_gap(monkeypatch: pytest.MonkeyPatch) -> None:
    """The odd cycle of ``test_quotas``: stopped at its first improving solution, HiGHS has not proven the optimum;
    the result says FEASIBLE, with a proven lower bound and the relative gap, and still passes the validator."""
    far = TODAY + timedelta(days=28)
    es = [
        entry("e1", sex="F", age_years=30, scope_kind="macro", scope_code="4201"),
        entry("y", sex="M", age_years=70),
        entry("e2", "4209102", sex="M", age_years=70, scope_kind="macro", scope_code="4201"),
    ]
    bs = [
        bucket("x", "4211900", "P", age_max=40),
        bucket("b1", "4211900", "P", sex="M", date=far),
        bucket("b2", "4209102", "Q"),
    ]
    inst = instance(es, bs, [_quota(1, days=30, cnes="P")])
    monkeypatch.setattr(fallback, "MAX_IMPROVING_SOLUTIONS", 1)
    sol = solve(inst)
    assert sol.status == "FEASIBLE"
    assert sol.bound is not None and sol.gap is not None
    optimum = ip_objective(inst)
    assert sol.bound <= optimum < sol.objective
    assert sol.gap == pytest.approx((sol.objective - sol.bound) / abs(sol.objective), abs=1e-6)
    assert validate(inst, sol) == []
    assert b'"bound"' in dump_solution(sol) and b'"gap"' in dump_solution(sol)
    monkeypatch.setattr(fallback, "MAX_IMPROVING_SOLUTIONS", None)
    proven = solve(inst)
    assert proven.status == "OPTIMAL" and proven.objective == optimum
    assert b'"bound"' not in dump_solution(proven)  # a proven result's bytes are as before
