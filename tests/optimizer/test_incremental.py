"""The daily re-solve after churn: pinned assignments (already notified) are never moved; incumbents (earlier
proposals not yet notified) are kept unless changing one gains more than ``params.change_penalty``."""

from __future__ import annotations

import json
import random
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from regula.allocation.allocate_cli import app
from regula.core.errors import ValidationFailed
from regula.optimizer.flow import solve
from regula.optimizer.greedy import solve_greedy
from regula.optimizer.instance import Assignment, Instance, Quota, dump_solution, load_instance
from regula.optimizer.validate import validate
from tests.optimizer.factory import TODAY, bucket, entry, instance, random_instance
from tests.optimizer.oracle import ip_objective, lp_objective, penalized_objective

runner = CliRunner()


def _with(
    inst: Instance, *, pinned: dict[str, str] | None = None, incumbents: dict[str, str] | None = None
) -> Instance:
    return Instance.model_validate(
        inst.model_dump()
        | {
            "pinned": [{"entry_id": e, "bucket_id": b} for e, b in (pinned or {}).items()],
            "incumbents": [{"entry_id": e, "bucket_id": b} for e, b in (incumbents or {}).items()],
        }
    )


def _got(sol: object) -> dict[str, str]:
    return {a.entry_id: a.bucket_id for a in sol.assignments}  # type: ignore[attr-defined]


def test_a_pinned_appointment_is_never_moved_even_for_someone_more_urgent() -> None:
    es = [entry("low", priority=1), entry("urgent", priority=90)]
    inst = _with(instance(es, [bucket("only")]), pinned={"low": "only"})
    sol = solve(inst)
    assert _got(sol) == {"low": "only"}
    assert sol.unassigned == ["urgent"]
    assert sol.stats.pinned == 1 and sol.stats.assigned == 1
    assert sol.assignments[0].explanation is not None and sol.assignments[0].explanation.origin == "pinned"
    assert validate(inst, sol) == []


def test_a_pinned_appointment_is_a_fact_not_rechecked_against_todays_rules() -> None:
    # Notified last week for a slot that is now inside the short-notice window: it stays.
    es = [entry("a", accepts_short_notice=False), entry("b")]
    bs = [bucket("soon", date=TODAY + timedelta(days=1), capacity=2)]
    inst = _with(instance(es, bs, short_notice_days=3), pinned={"a": "soon"})
    sol = solve(inst)
    assert _got(sol) == {"a": "soon"}  # b does not accept short notice either
    assert validate(inst, sol) == []
    assert sol.objective == ip_objective(inst)


def test_pinned_units_leave_the_capacity_and_the_quota() -> None:
    es = [entry("p"), entry("x", priority=50), entry("y", priority=40)]
    quota = Quota(
        id="q",
        municipality_ibge="4205407",
        provider_cnes="P4211900",
        oci_code="0901010014",
        start=TODAY,
        end=TODAY + timedelta(days=30),
        limit=2,
    )
    inst = _with(instance(es, [bucket("b", "4211900", capacity=3)], [quota]), pinned={"p": "b"})
    sol = solve(inst)
    assert _got(sol) == {"p": "b", "x": "b"}  # the quota of 2 has one unit left after the pinned one
    assert validate(inst, sol) == []
    assert sol.objective == ip_objective(inst)


def test_the_instance_refuses_inconsistent_carried_pairs() -> None:
    base = instance([entry("a"), entry("b")], [bucket("x"), bucket("y", "4211900")])
    cases = [
        ({"pinned": {"a": "x", "b": "x"}}, "pinned[1].bucket_id", "capacidade_excedida"),
        ({"pinned": {"ghost": "x"}}, "pinned[0].entry_id", "entrada_inexistente"),
        ({"incumbents": {"a": "nowhere"}}, "incumbents[0].bucket_id", "vaga_inexistente"),
        ({"pinned": {"a": "x"}, "incumbents": {"a": "y"}}, "incumbents[0].entry_id", "id_repetido"),
    ]
    for kwargs, field, code in cases:
        with pytest.raises(ValidationFailed) as info:
            load_instance(_raw(base, **kwargs))
        assert [(e.field, e.code) for e in info.value.errors] == [(field, code)]


def _raw(base: Instance, **kwargs: dict[str, str]) -> str:
    data = base.model_dump(mode="json")
    for name, pairs in kwargs.items():
        data[name] = [{"entry_id": e, "bucket_id": b} for e, b in pairs.items()]
    return json.dumps(data)


def test_an_incumbent_is_kept_when_another_bucket_costs_the_same() -> None:
    # Two providers in the same town, same date: the two buckets cost the same to the entry.
    bs = [bucket("x", cnes="P1"), bucket("y", cnes="P2")]
    plain = solve(instance([entry("a")], bs))
    chosen = _got(plain)["a"]
    other = "y" if chosen == "x" else "x"
    inst = _with(instance([entry("a")], bs), incumbents={"a": other})
    sol = solve(inst)
    assert _got(sol) == {"a": other}
    assert (sol.stats.incumbents, sol.stats.incumbents_kept) == (1, 1)
    assert sol.objective == plain.objective
    assert sol.assignments[0].explanation is not None and sol.assignments[0].explanation.origin == "kept"
    assert validate(inst, sol) == []


@pytest.mark.parametrize(("penalty", "moved"), [(6, True), (7, False), (8, False)])
def test_an_incumbent_moves_only_when_the_gain_exceeds_the_penalty(penalty: int, moved: bool) -> None:
    # Level 0, one unit of earliness per day: the bucket a week earlier gains exactly 7.
    bs = [bucket("early", date=TODAY + timedelta(days=7)), bucket("late", date=TODAY + timedelta(days=14))]
    inst = _with(instance([entry("a", priority=0)], bs, change_penalty=penalty), incumbents={"a": "late"})
    sol = solve(inst)
    assert _got(sol) == {"a": "early" if moved else "late"}
    assert sol.stats.incumbents_moved == int(moved) and sol.stats.incumbents_kept == int(not moved)
    assert validate(inst, sol) == []
    assert penalized_objective(inst, sol) == ip_objective(inst) == pytest.approx(lp_objective(inst))


@pytest.mark.parametrize(("penalty", "dropped"), [(99, True), (100, False)])
def test_a_newcomer_displaces_an_incumbent_only_for_more_than_the_penalty(penalty: int, dropped: bool) -> None:
    # One level apart (value_per_level 100): serving the newcomer instead gains exactly 100 (+1 of earliness).
    es = [entry("old", priority=0), entry("new", priority=1)]
    inst = _with(
        instance(es, [bucket("x", date=TODAY)], change_penalty=penalty),
        incumbents={"old": "x"},
    )
    sol = solve(inst)
    assert _got(sol) == ({"new": "x"} if dropped else {"old": "x"})
    assert sol.stats.incumbents_dropped == int(dropped)
    assert validate(inst, sol) == []
    assert penalized_objective(inst, sol) == ip_objective(inst)


def test_incumbents_of_one_class_keep_their_own_buckets() -> None:
    # Four identical people (one class); two held buckets earlier; the class still ranks by priority for the rest.
    es = [entry(f"e{i}", priority=10 + i) for i in range(4)]
    bs = [bucket(f"b{d}", date=TODAY + timedelta(days=d), capacity=1) for d in (3, 10, 17)]
    inst = _with(instance(es, bs, priority_band=100, change_penalty=50), incumbents={"e0": "b17", "e1": "b3"})
    sol = solve(inst)
    assert sol.stats.classes == 1
    assert _got(sol) == {"e0": "b17", "e1": "b3", "e3": "b10"}
    assert validate(inst, sol) == []
    assert penalized_objective(inst, sol) == ip_objective(inst)


def test_incumbent_counts_are_checked_by_the_validator() -> None:
    inst = _with(instance([entry("a"), entry("b")], [bucket("x", capacity=2)]), pinned={"a": "x"})
    sol = solve(inst)
    moved = sol.model_copy(
        update={"assignments": [Assignment(entry_id="b", bucket_id="x")], "unassigned": ["a"]}, deep=True
    )
    codes = {v.code for v in validate(inst, moved, check_objective=False)}
    assert codes == {"fixada_alterada", "contagens_divergentes"}


def test_greedy_keeps_the_pinned_ones() -> None:
    es = [entry("low", priority=1), entry("urgent", priority=90)]
    inst = _with(instance(es, [bucket("only")]), pinned={"low": "only"})
    sol = solve_greedy(inst)
    assert _got(sol) == {"low": "only"}
    assert validate(inst, sol) == []


def _carried(inst: Instance, seed: int, share_pinned: float) -> Instance:
    """Yesterday's solution of a perturbed instance as today's pinned and incumbent pairs, plus a few random
    incumbents that may no longer be eligible."""
    rng = random.Random(seed)
    yesterday = inst.model_copy(
        update={"buckets": [b.model_copy(update={"capacity": b.capacity + rng.randint(0, 1)}) for b in inst.buckets]}
    )
    prior = solve(yesterday)
    pinned: dict[str, str] = {}
    incumbents: dict[str, str] = {}
    left = {b.id: b.capacity for b in inst.buckets}
    for a in prior.assignments:
        if rng.random() < share_pinned and left[a.bucket_id] > 0:
            pinned[a.entry_id] = a.bucket_id
            left[a.bucket_id] -= 1
        else:
            incumbents[a.entry_id] = a.bucket_id
    for e in inst.entries:
        if e.id not in pinned and e.id not in incumbents and rng.random() < 0.1:
            incumbents[e.id] = rng.choice(inst.buckets).id
    carried = _with(inst, pinned=pinned, incumbents=incumbents)
    quotas = []
    for q in carried.quotas:  # yesterday's plan may hold more of a quota than today's limit allows
        held = sum(
            1
            for f in carried.pinned
            for e in carried.entries
            for b in carried.buckets
            if e.id == f.entry_id and b.id == f.bucket_id and e.municipality_ibge == q.municipality_ibge
            if b.provider_cnes == q.provider_cnes and b.oci_code == q.oci_code and q.start <= b.date <= q.end
        )
        quotas.append(q.model_copy(update={"limit": max(q.limit, held)}))
    return carried.model_copy(update={"quotas": quotas})


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10**6),
    n_entries=st.integers(1, 35),
    n_buckets=st.integers(1, 12),
    n_quotas=st.integers(0, 4),
    quota_days=st.sampled_from([0, 0, 7, 21]),
    share_pinned=st.sampled_from([0.0, 0.3, 0.7]),
    penalty=st.sampled_from([0, 1, 40, 1000]),
)
def test_the_re_solve_reaches_the_per_patient_optimum(
    seed: int, n_entries: int, n_buckets: int, n_quotas: int, quota_days: int, share_pinned: float, penalty: int
) -> None:
    base = random_instance(seed, n_entries, n_buckets, n_quotas=n_quotas, quota_days=quota_days)
    base = base.model_copy(update={"params": base.params.model_copy(update={"change_penalty": penalty})})
    inst = _carried(base, seed, share_pinned)
    sol = solve(inst)
    assert sol.status == "OPTIMAL"
    assert validate(inst, sol) == []
    got = _got(sol)
    assert all(got.get(f.entry_id) == f.bucket_id for f in inst.pinned)
    assert sol.stats.pinned == len(inst.pinned)
    best = ip_objective(inst)
    assert penalized_objective(inst, sol) == best
    if sol.stats.fallback_components == 0:
        assert lp_objective(inst) == pytest.approx(best)


def test_the_re_solve_is_deterministic_and_independent_of_file_order() -> None:
    inst = _carried(random_instance(21, 80, 25, n_quotas=3), 21, 0.3)
    first = dump_solution(solve(inst))
    rng = random.Random(1)
    entries, pinned, incumbents = list(inst.entries), list(inst.pinned), list(inst.incumbents)
    for items in (entries, pinned, incumbents):
        rng.shuffle(items)  # type: ignore[arg-type]
    shuffled = inst.model_copy(update={"entries": entries, "pinned": pinned, "incumbents": incumbents})
    assert dump_solution(solve(load_instance(shuffled.model_dump_json()))) == first
    assert dump_solution(solve(inst, workers=2)) == first


def test_the_cli_re_solves_an_exported_instance_with_carried_pairs(tmp_path: Path) -> None:
    inst = _carried(random_instance(33, 60, 20, n_quotas=2), 33, 0.4)
    path = tmp_path / "instance.json"
    path.write_text(inst.model_dump_json(), encoding="utf-8")
    outputs = []
    for name in ("a.json", "b.json"):
        result = runner.invoke(app, ["--solve", str(path), "--out", str(tmp_path / name)])
        assert result.exit_code == 0, result.output
        outputs.append((tmp_path / name).read_bytes())
    assert outputs[0] == outputs[1]
    summary = json.loads(result.stderr.strip().splitlines()[-1])
    assert summary["pinned"] == len(inst.pinned)
    assert summary["incumbents_kept"] + summary["incumbents_moved"] + summary["incumbents_dropped"] == len(
        inst.incumbents
    )
