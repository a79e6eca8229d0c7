"""The greedy baseline skips, without looking at them again, the buckets outside an entry's scope and those already
full (issue 18 item 7: at a million entries it walked every bucket of the OCI for every entry). Its answer must be
the one of the loop it replaced, kept verbatim below as ``_greedy_before``."""

from __future__ import annotations

from collections import defaultdict

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from regula.optimizer import greedy
from regula.optimizer.greedy import solve_greedy
from regula.optimizer.instance import Assignment, Bucket, Fixed, Instance, Quota
from regula.optimizer.problem import escalate
from regula.optimizer.rules import Travel, cost_parts, pair_violations, quota_counts
from tests.optimizer.factory import random_instance


def _greedy_before(instance: Instance) -> tuple[int, list[Assignment], list[str]]:
    """``solve_greedy``'s loop as of commit ab8a167: (objective, assignments, escalated)."""
    prepared, escalated = escalate(instance)
    params = prepared.params
    travel = Travel(prepared)
    remaining = {b.id: b.capacity for b in prepared.buckets}
    quota_left = {q.id: q.limit for q in prepared.quotas}
    by_oci: dict[str, list[Bucket]] = defaultdict(list)
    for b in sorted(prepared.buckets, key=lambda b: (b.date, b.id)):
        by_oci[b.oci_code].append(b)
    quotas_at: dict[tuple[str, str, str], list[Quota]] = defaultdict(list)
    for q in prepared.quotas:
        quotas_at[(q.municipality_ibge, q.provider_cnes, q.oci_code)].append(q)
    assignments: list[Assignment] = []
    objective = 0
    entry_by_id = {e.id: e for e in prepared.entries}
    bucket_by_id = {b.id: b for b in prepared.buckets}
    for f in prepared.pinned:
        e, b = entry_by_id[f.entry_id], bucket_by_id[f.bucket_id]
        remaining[b.id] -= 1
        for q in quotas_at.get((e.municipality_ibge, b.provider_cnes, b.oci_code), []):
            if quota_counts(e, b, q):
                quota_left[q.id] -= 1
        objective += cost_parts(e, b, params, travel).cost
        assignments.append(Assignment(entry_id=e.id, bucket_id=b.id))
    pinned = {f.entry_id for f in prepared.pinned}
    for e in sorted(prepared.entries, key=lambda e: (-e.priority, e.deadline, e.id)):
        if e.id in pinned:
            continue
        best: tuple[int, int, str] | None = None
        best_bucket: Bucket | None = None
        best_quotas: list[Quota] = []
        for b in by_oci.get(e.oci_code, []):
            if remaining[b.id] <= 0 or pair_violations(e, b, params, travel=travel):
                continue
            counted = [
                q
                for q in quotas_at.get((e.municipality_ibge, b.provider_cnes, b.oci_code), [])
                if quota_counts(e, b, q)
            ]
            if any(quota_left[q.id] <= 0 for q in counted):
                continue
            km = 0 if b.teleconsultation else travel.km(e.municipality_ibge, b.municipality_ibge)
            key = (km, b.date.toordinal(), b.id)
            if best is None or key < best:
                best, best_bucket, best_quotas = key, b, counted
        if best_bucket is None:
            continue
        remaining[best_bucket.id] -= 1
        for q in best_quotas:
            quota_left[q.id] -= 1
        objective += cost_parts(e, best_bucket, params, travel).cost
        assignments.append(Assignment(entry_id=e.id, bucket_id=best_bucket.id))
    assignments.sort(key=lambda a: a.entry_id)
    return objective, assignments, escalated


def _with_pinned(inst: Instance, n: int) -> Instance:
    """Up to ``n`` pinned pairs (an entry on a bucket of its OCI with capacity), when the instance accepts them."""
    pairs: list[Fixed] = []
    used: set[str] = set()
    for e in inst.entries:
        if len(pairs) >= n:
            break
        b = next((b for b in inst.buckets if b.oci_code == e.oci_code and b.capacity > 0 and b.id not in used), None)
        if b is not None:
            pairs.append(Fixed(entry_id=e.id, bucket_id=b.id))
            used.add(b.id)
    try:
        return Instance.model_validate({**inst.model_dump(), "pinned": [p.model_dump() for p in pairs]})
    except ValidationError:
        return inst


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10**6),
    n_entries=st.integers(1, 120),
    n_buckets=st.integers(1, 30),
    n_quotas=st.integers(0, 5),
    quota_days=st.sampled_from([0, 14]),
    late_policy=st.sampled_from(["penalize", "forbid"]),
    short_notice_days=st.sampled_from([0, 5]),
    pinned=st.integers(0, 3),
    max_travel_km=st.sampled_from([None, 150]),
    chunk=st.sampled_from([1, 3, 17, 4096]),
)
def test_the_greedy_gives_the_answer_of_the_loop_it_replaced(
    seed: int,
    n_entries: int,
    n_buckets: int,
    n_quotas: int,
    quota_days: int,
    late_policy: str,
    short_notice_days: int,
    pinned: int,
    max_travel_km: int | None,
    chunk: int,
) -> None:
    # chunks smaller than the instance: scopes whose buckets filled are dropped from the order between chunks
    greedy._CHUNK = chunk  # type: ignore[misc]  # restored below; hypothesis runs examples one at a time
    inst = random_instance(
        seed,
        n_entries,
        n_buckets,
        n_quotas=n_quotas,
        quota_days=quota_days,
        late_policy=late_policy,
        short_notice_days=short_notice_days,
    )
    if max_travel_km is not None:
        inst = inst.model_copy(update={"params": inst.params.model_copy(update={"max_travel_km": max_travel_km})})
    inst = _with_pinned(inst, pinned)
    objective, assignments, escalated = _greedy_before(inst)
    try:
        got = solve_greedy(inst)
    finally:
        greedy._CHUNK = 4096  # type: ignore[misc]
    assert got.objective == objective
    assert got.assignments == assignments
    assert got.escalated == escalated
