"""What a regulator reads about a solution (``optimizer.explain``): per assignment the kilometres, the days until the
slot and the reason it leaves the person's health region; for the solution, the objective as its parts."""

from datetime import timedelta

from regula.optimizer.explain import details, elapsed_percent, home_region, objective_parts
from regula.optimizer.flow import solve
from regula.optimizer.instance import Assignment, Fixed
from tests.optimizer.factory import TODAY, bucket, entry, instance

FLORIANOPOLIS, PALHOCA, JOINVILLE, BLUMENAU, CHAPECO = "4205407", "4211900", "4209102", "4202404", "4204202"


def test_an_escalated_entry_says_how_much_of_tm_went_by_and_until_when_its_region_had_nothing() -> None:
    # tM window of 50 days, 40 gone: 80%. Nothing in region 42001; Joinville is in the same macro-region.
    a = entry("a", authorized_date=TODAY - timedelta(days=40), deadline=TODAY + timedelta(days=10))
    inst = instance([a], [bucket("jv", JOINVILLE, date=TODAY + timedelta(days=5))])
    sol = solve(inst)
    assert sol.escalated == ["a"]
    d = details(inst, sol)["a"]
    assert d.outside_region and d.reason is not None
    assert d.reason.code == "escalonada" and d.reason.elapsed_percent == 80
    assert d.reason.text == f"escalonada: 80% do tM decorrido, sem vaga na região até {a.deadline:%d/%m}"
    assert d.days_until == 5 and d.late_days == 0
    assert 100 < d.travel_km < 200  # Florianópolis → Joinville


def test_a_macro_queue_sent_out_because_the_region_had_no_slot_until_then() -> None:
    # Urgent enough that 26 days earlier is worth the trip (earliness per day ~ level + 1 = 201 > 10 per km).
    a = entry("a", priority=200, scope_kind="macro", scope_code="4201", region_code="42001")
    inside_later = bucket("fl", FLORIANOPOLIS, date=TODAY + timedelta(days=30))
    outside = bucket("jv", JOINVILLE, date=TODAY + timedelta(days=4))
    inst = instance([a], [inside_later, outside])
    sol = solve(inst)
    assert [x.bucket_id for x in sol.assignments] == ["jv"]
    d = details(inst, sol)["a"]
    assert d.reason is not None and d.reason.code == "sem_vaga_na_regiao"
    assert d.reason.text == f"sem vaga na região até {outside.date:%d/%m}"


def test_region_slots_taken_by_others_are_named_as_such() -> None:
    urgent = entry("u", priority=40, scope_kind="macro", scope_code="4201", region_code="42001")
    other = entry("o", priority=0, scope_kind="macro", scope_code="4201", region_code="42001")
    inst = instance(
        [urgent, other],
        [bucket("fl", FLORIANOPOLIS, capacity=1), bucket("jv", JOINVILLE, date=TODAY + timedelta(days=9))],
    )
    sol = solve(inst)
    assert {x.entry_id: x.bucket_id for x in sol.assignments} == {"u": "fl", "o": "jv"}
    found = details(inst, sol)
    assert not found["u"].outside_region and found["u"].reason is None
    reason = found["o"].reason
    assert reason is not None and reason.code == "vagas_da_regiao_ocupadas"
    assert "ocupadas por outras pessoas" in reason.text


def test_a_kept_earlier_proposal_and_a_nearer_provider() -> None:
    a = entry("a", scope_kind="macro", scope_code="4201", region_code="42001")
    inst = instance([a], [bucket("fl", FLORIANOPOLIS, capacity=1), bucket("jv", JOINVILLE)])
    kept = inst.model_copy(update={"incumbents": [Fixed(entry_id="a", bucket_id="jv")]})
    sol = solve(kept).model_copy(update={"assignments": [Assignment(entry_id="a", bucket_id="jv")]})
    reason = details(kept, sol)["a"].reason
    assert reason is not None and reason.code == "proposta_mantida"
    # A home-region slot was free but farther than the one given (Palhoça's region said to be another one here).
    b = entry("b", municipality_ibge=PALHOCA, scope_kind="uf", scope_code="42", region_code="42099")
    far_home = bucket("home", BLUMENAU, region_code="42099", macro_code="4202")
    near = bucket("near", FLORIANOPOLIS)
    inst2 = instance([b], [far_home, near])
    sol2 = solve(inst2)
    assert [x.bucket_id for x in sol2.assignments] == ["near"]
    reason2 = details(inst2, sol2)["b"].reason
    assert reason2 is not None and reason2.code == "mais_perto"


def test_inside_the_region_there_is_no_reason_and_teleconsultation_is_zero_km() -> None:
    a = entry("a")
    inst = instance([a], [bucket("tele", CHAPECO, "T", teleconsultation=True, region_code="42001", macro_code="4201")])
    sol = solve(inst)
    d = details(inst, sol)["a"]
    assert d.travel_km == 0 and not d.outside_region and d.reason is None


def test_home_region_and_elapsed_share() -> None:
    assert home_region(entry("a")) == "42001"
    assert home_region(entry("a", scope_kind="uf", scope_code="42")) is None
    assert home_region(entry("a", scope_kind="uf", scope_code="42", region_code="42001")) == "42001"
    a = entry("a", authorized_date=TODAY - timedelta(days=45), deadline=TODAY + timedelta(days=15))
    assert elapsed_percent(a, TODAY) == 75
    assert elapsed_percent(entry("z", authorized_date=TODAY, deadline=TODAY), TODAY) == 100


def test_the_objective_as_its_parts() -> None:
    on_time = entry("a", priority=30)
    late = entry("b", priority=20, deadline=TODAY + timedelta(days=5), authorized_date=TODAY - timedelta(days=1))
    unserved = entry("c", priority=0, oci_code="0902010018")
    inst = instance(
        [on_time, late, unserved],
        [bucket("p1", PALHOCA, date=TODAY + timedelta(days=3)), bucket("p2", PALHOCA, date=TODAY + timedelta(days=8))],
    )
    sol = solve(inst)
    assert {x.entry_id: x.bucket_id for x in sol.assignments} == {"a": "p2", "b": "p1"} or {
        x.entry_id: x.bucket_id for x in sol.assignments
    } == {"a": "p1", "b": "p2"}
    parts = objective_parts(inst, sol)
    got = {x.entry_id: x.bucket_id for x in sol.assignments}
    late_days = max(0, 8 - 5) if got["b"] == "p2" else 0
    assert parts.entries == 3 and parts.served == 2
    assert parts.late == (1 if late_days else 0) and parts.late_days == late_days
    assert parts.served_within_tm == 2 - parts.late
    km = details(inst, sol)["a"].travel_km
    assert km > 0 and parts.total_km == 2 * km and parts.max_km == km and parts.mean_km == float(km)
    assert parts.outside_region == 0 and parts.escalated == 0 and parts.teleconsultation == 0
    assert set(parts.as_json()) >= {"served", "served_within_tm", "total_km", "late", "late_days"}
