"""The maximum travel distance per OCI (``params.max_travel_km`` and ``max_travel_km_by_oci``): a face-to-face pair
beyond it is not an arc — the flow model, the greedy baseline, the escalation rule, the validator and the LP/IP
oracles agree — and an instance without the fields is solved exactly as before (format /1 unchanged)."""

import json
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from regula.optimizer.flow import solve
from regula.optimizer.greedy import solve_greedy
from regula.optimizer.instance import Assignment, Fixed, Instance, dump_solution, load_instance
from regula.optimizer.rules import Travel, pair_violations, travel_limit_km
from regula.optimizer.validate import validate
from tests.optimizer.factory import TODAY, bucket, entry, instance, random_instance
from tests.optimizer.oracle import ip_objective, lp_objective

FLORIANOPOLIS, PALHOCA, JOINVILLE, CHAPECO = "4205407", "4211900", "4209102", "4204202"


def _limited(inst: Instance, **limits: object) -> Instance:
    return inst.model_copy(update={"params": inst.params.model_copy(update=limits)})


def test_the_oci_limit_wins_over_the_general_one_and_teleconsultation_has_none() -> None:
    inst = instance([entry("a")], [bucket("x")], max_travel_km=200, max_travel_km_by_oci={"0902010018": 50})
    p = inst.params
    assert travel_limit_km(p, "0901010014") == 200
    assert travel_limit_km(p, "0902010018") == 50
    assert travel_limit_km(p, "0902010018", teleconsultation=True) is None
    assert travel_limit_km(instance([entry("a")], [bucket("x")]).params, "0901010014") is None


def test_a_far_bucket_is_not_eligible_and_the_near_one_is() -> None:
    far = bucket("far", CHAPECO, date=TODAY + timedelta(days=3))  # ~400 km from Florianópolis, earlier
    near = bucket("near", PALHOCA, date=TODAY + timedelta(days=20))
    tele = bucket("tele", CHAPECO, "TELE", date=TODAY + timedelta(days=3), teleconsultation=True)
    a = entry("a", scope_kind="uf", scope_code="42")
    inst = instance([a], [far, near, tele], max_travel_km=150)
    travel = Travel(inst)
    assert travel.km(FLORIANOPOLIS, CHAPECO) > 150
    assert pair_violations(a, far, inst.params, travel=travel) == ["distancia_acima_do_limite"]
    assert pair_violations(a, near, inst.params, travel=travel) == []
    assert pair_violations(a, tele, inst.params, travel=travel) == []
    # Without the limit the earlier face-to-face bucket far away would not be refused by the rules.
    assert pair_violations(a, far, instance([a], [far]).params) == []


def test_the_rule_refuses_to_run_without_kilometres_when_a_limit_applies() -> None:
    a, far = entry("a", scope_kind="uf", scope_code="42"), bucket("far", CHAPECO)
    inst = instance([a], [far], max_travel_km=150)
    try:
        pair_violations(a, far, inst.params)
    except ValueError:
        return
    raise AssertionError("a limit without travel must not be skipped silently")


def test_the_optimizer_leaves_unserved_rather_than_send_beyond_the_limit() -> None:
    a = entry("a", scope_kind="uf", scope_code="42", priority=30)
    inst = instance([a], [bucket("far", CHAPECO)], max_travel_km=150)
    sol = solve(inst)
    assert sol.assignments == [] and sol.unassigned == ["a"]
    assert validate(inst, sol) == []
    assert solve_greedy(inst).assignments == []
    # Widened for the run (the operator's field): the same trip is allowed.
    wide = _limited(inst, max_travel_km=500)
    assert [x.bucket_id for x in solve(wide).assignments] == ["far"]


def test_a_per_oci_limit_only_binds_its_oci() -> None:
    a = entry("a", scope_kind="uf", scope_code="42")
    b = entry("b", scope_kind="uf", scope_code="42", oci_code="0902010018")
    buckets = [bucket("x", JOINVILLE), bucket("y", JOINVILLE, oci_code="0902010018")]
    inst = instance([a, b], buckets, max_travel_km_by_oci={"0902010018": 100})  # Joinville is ~150 km away
    sol = solve(inst)
    assert [(x.entry_id, x.bucket_id) for x in sol.assignments] == [("a", "x")]
    assert validate(inst, sol) == []


def test_the_validator_reports_a_trip_beyond_the_limit_with_its_code() -> None:
    a = entry("a", scope_kind="uf", scope_code="42")
    free = instance([a], [bucket("far", CHAPECO)])
    sol = solve(free)
    assert [x.bucket_id for x in sol.assignments] == ["far"]
    limited = _limited(free, max_travel_km=150)
    violations = validate(limited, sol)
    assert [v.code for v in violations] == ["distancia_acima_do_limite"]
    assert violations[0].entry_id == "a" and violations[0].bucket_id == "far"
    assert "distância máxima" in violations[0].message
    forged = sol.model_copy(update={"assignments": [Assignment(entry_id="a", bucket_id="far")]})
    assert "distancia_acima_do_limite" in {v.code for v in validate(limited, forged, check_objective=False)}


def test_escalation_widens_only_where_a_bucket_within_the_limit_exists() -> None:
    # Past 75% of tM, nothing in its region: the macro (Joinville, ~150 km) is within 200 km, the UF's Chapecó is not.
    late = {"authorized_date": TODAY - timedelta(days=50), "deadline": TODAY + timedelta(days=10)}
    a = entry("a", **late)
    chapeco_only = instance([a], [bucket("far", CHAPECO)], max_travel_km=200)
    sol = solve(chapeco_only)
    assert sol.escalated == [] and sol.assignments == []
    assert validate(chapeco_only, sol) == []
    with_joinville = instance([a], [bucket("far", CHAPECO), bucket("jv", JOINVILLE)], max_travel_km=200)
    sol = solve(with_joinville)
    assert sol.escalated == ["a"] and [x.bucket_id for x in sol.assignments] == ["jv"]
    assert validate(with_joinville, sol) == []


def test_an_incumbent_beyond_a_new_limit_is_changed() -> None:
    a = entry("a", scope_kind="uf", scope_code="42")
    base = instance([a], [bucket("far", CHAPECO), bucket("near", PALHOCA, date=TODAY + timedelta(days=30))])
    inst = base.model_copy(
        update={
            "incumbents": [Fixed(entry_id="a", bucket_id="far")],
            "params": base.params.model_copy(update={"max_travel_km": 150}),
        }
    )
    sol = solve(inst)
    assert [x.bucket_id for x in sol.assignments] == ["near"]
    assert sol.stats.incumbents_moved == 1
    assert validate(inst, sol) == []


def test_an_instance_without_the_fields_reads_and_solves_as_before() -> None:
    inst = random_instance(7, 30, 12)
    data = json.loads(inst.model_dump_json())
    for key in ("max_travel_km", "max_travel_km_by_oci"):
        del data["params"][key]
    for e in data["entries"]:
        del e["region_code"]
    old = load_instance(json.dumps(data))
    assert old.params.max_travel_km is None and old.params.max_travel_km_by_oci == {}
    assert dump_solution(solve(old)) == dump_solution(solve(inst))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10**6),
    n_entries=st.integers(1, 30),
    n_buckets=st.integers(1, 12),
    n_quotas=st.integers(0, 4),
    limit=st.sampled_from([0, 20, 120, 180, 300]),
    per_oci=st.booleans(),
)
def test_the_oracle_and_the_flow_agree_under_travel_limits(
    seed: int, n_entries: int, n_buckets: int, n_quotas: int, limit: int, per_oci: bool
) -> None:
    base = random_instance(seed, n_entries, n_buckets, n_quotas=n_quotas)
    limits: dict[str, object] = {"max_travel_km": None if per_oci else limit}
    if per_oci:
        limits["max_travel_km_by_oci"] = {"0902010018": limit}
    inst = _limited(base, **limits)
    sol = solve(inst)
    assert sol.status == "OPTIMAL"
    assert validate(inst, sol) == []
    travel = Travel(inst)
    entries = {e.id: e for e in inst.entries}
    buckets = {b.id: b for b in inst.buckets}
    for x in sol.assignments:
        e, b = entries[x.entry_id], buckets[x.bucket_id]
        bound = travel_limit_km(inst.params, e.oci_code, teleconsultation=b.teleconsultation)
        assert bound is None or travel.km(e.municipality_ibge, b.municipality_ibge) <= bound
    lp = lp_objective(inst)
    assert lp <= sol.objective + 1e-6
    if sol.stats.fallback_components == 0:
        assert abs(lp - sol.objective) < 1e-6
    assert ip_objective(inst) == sol.objective
    assert validate(inst, solve_greedy(inst), check_objective=True) == []
