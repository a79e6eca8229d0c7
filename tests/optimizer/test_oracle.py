"""The flow model against per-patient models it does not share code with: the LP relaxation (GLOP) must reach the
same objective whenever the network holds every constraint (the polytope is then integral), and the integer
optimum (CP-SAT) always."""

from datetime import timedelta

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from regula.optimizer.flow import solve
from regula.optimizer.instance import Bucket, Entry, Instance, Params, Quota
from regula.optimizer.validate import validate
from tests.optimizer.factory import COORDS, MUNIS, TERRITORY, TODAY, random_instance
from tests.optimizer.oracle import ip_objective, lp_objective


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10**6),
    n_entries=st.integers(1, 40),
    n_buckets=st.integers(1, 14),
    n_quotas=st.integers(0, 5),
    quota_days=st.sampled_from([0, 0, 7, 21]),
    late_policy=st.sampled_from(["penalize", "forbid"]),
    short_notice_days=st.sampled_from([0, 5]),
)
def test_flow_reaches_the_per_patient_optimum(
    seed: int, n_entries: int, n_buckets: int, n_quotas: int, quota_days: int, late_policy: str, short_notice_days: int
) -> None:
    inst = random_instance(
        seed,
        n_entries,
        n_buckets,
        n_quotas=n_quotas,
        quota_days=quota_days,
        late_policy=late_policy,
        short_notice_days=short_notice_days,
    )
    sol = solve(inst)
    assert sol.status == "OPTIMAL"
    assert validate(inst, sol) == []
    lp = lp_objective(inst)
    assert lp <= sol.objective + 1e-6
    if sol.stats.fallback_components == 0:
        assert abs(lp - sol.objective) < 1e-6
    assert ip_objective(inst) == sol.objective


def _big_instance(n: int = 10_000, n_buckets: int = 36, seed: int = 42) -> Instance:
    rng = np.random.default_rng(seed)
    buckets = []
    providers = [(f"{2000000 + i}", MUNIS[i % len(MUNIS)]) for i in range(12)]
    for j in range(n_buckets):
        cnes, muni = providers[j % len(providers)]
        region, macro, uf, _, _ = TERRITORY[muni]
        buckets.append(
            Bucket(
                id=f"b{j:03d}",
                provider_cnes=cnes,
                municipality_ibge=muni,
                region_code=region,
                macro_code=macro,
                uf=uf,
                date=TODAY + timedelta(days=7 * int(rng.integers(0, 6))),
                days=7,
                oci_code="0901010014",
                capacity=int(rng.integers(20, 120)),
                teleconsultation=bool(rng.random() < 0.15),
                age_min=18 if cnes == providers[0][0] else None,
            )
        )
    entries = []
    for i in range(n):
        muni = MUNIS[int(rng.integers(0, len(MUNIS)))]
        region, macro, uf, _, _ = TERRITORY[muni]
        kind = ("region", "region", "macro")[int(rng.integers(0, 3))]
        authorized = TODAY - timedelta(days=int(rng.integers(0, 40)))
        entries.append(
            Entry(
                id=f"e{i:05d}",
                municipality_ibge=muni,
                priority=int(rng.integers(0, 400)),
                authorized_date=authorized,
                deadline=authorized + timedelta(days=60),
                oci_code="0901010014",
                sex="F" if rng.random() < 0.6 else "M",
                age_years=int(rng.integers(5, 90)),
                scope_kind=kind,
                scope_code={"region": region, "macro": macro, "uf": uf}[kind],
                macro_code=macro,
                uf=uf,
            )
        )
    quotas = [
        Quota(
            id="q0",
            municipality_ibge="4205407",
            provider_cnes=b.provider_cnes,
            oci_code="0901010014",
            start=b.date,
            end=b.date,
            limit=15,
        )
        for b in buckets[5:6]  # Palhoça, in Florianópolis' region
    ]
    return Instance(
        params=Params(today=TODAY, priority_band=100),
        entries=entries,
        buckets=buckets,
        quotas=quotas,
        municipalities=COORDS,
    )


def test_ten_thousand_entries_match_the_lp() -> None:
    inst = _big_instance()
    sol = solve(inst)
    assert sol.status == "OPTIMAL"
    assert sol.stats.classes < 2_000
    assert sol.stats.fallback_components == 0 and sol.stats.quota_nodes == 1
    assert abs(lp_objective(inst) - sol.objective) < 1e-6
    assert validate(inst, sol) == []
