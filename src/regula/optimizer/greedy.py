"""The greedy baseline, kept for comparison: entries in priority order (priority weight, then deadline, then id),
each to the nearest, then earliest, feasible bucket with capacity and quota left. Pinned assignments are kept and
hold their capacity and quota first; incumbents are ignored (the baseline has no notion of stability)."""

from __future__ import annotations

import time
from collections import defaultdict

from regula.optimizer.instance import Assignment, Bucket, Instance, Meta, Quota, Solution, Stats
from regula.optimizer.problem import escalate
from regula.optimizer.rules import Travel, cost_parts, pair_violations, quota_counts, scope_matches
from regula.optimizer.validate import carried_counts


def solve_greedy(instance: Instance, *, preparation: tuple[Instance, list[str]] | None = None) -> Solution:
    """``preparation``: ``problem.escalate(instance)`` when the caller already has it (``allocation.solving`` shares
    one with the validator: at a million entries each preparation takes seconds)."""
    t0 = time.perf_counter()
    prepared, escalated = preparation if preparation is not None else escalate(instance)
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
    # The buckets an entry may look at: those of its OCI in its (possibly escalated) scope, by date then id, that
    # still have capacity. A bucket outside the scope or full is one the rules skip anyway (fora_da_abrangencia,
    # remaining <= 0), so leaving it out of the loop changes nothing but the time (issue 18 item 7: a million
    # entries each walked every bucket of their OCI).
    candidates: dict[tuple[str, str, str], list[Bucket]] = {}
    for e in sorted(prepared.entries, key=lambda e: (-e.priority, e.deadline, e.id)):
        if e.id in pinned:
            continue
        where = (e.oci_code, e.scope_kind, e.scope_code)
        cands = candidates.get(where)
        if cands is None:
            cands = candidates[where] = [
                b for b in by_oci.get(e.oci_code, []) if scope_matches(e.scope_kind, e.scope_code, b)
            ]
        best: tuple[int, int, str] | None = None
        best_bucket: Bucket | None = None
        best_quotas: list[Quota] = []
        full = False
        for b in cands:
            if remaining[b.id] <= 0:
                full = True
                continue
            if pair_violations(e, b, params, travel=travel):
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
        if full:
            cands[:] = [b for b in cands if remaining[b.id] > 0]
        if best_bucket is None:
            continue
        remaining[best_bucket.id] -= 1
        for q in best_quotas:
            quota_left[q.id] -= 1
        objective += cost_parts(e, best_bucket, params, travel).cost
        assignments.append(Assignment(entry_id=e.id, bucket_id=best_bucket.id))

    assignments.sort(key=lambda a: a.entry_id)
    served = {a.entry_id for a in assignments}
    elapsed = time.perf_counter() - t0
    return Solution(
        solver="greedy",
        status="FEASIBLE",
        objective=objective,
        assignments=assignments,
        unassigned=sorted(e.id for e in prepared.entries if e.id not in served),
        escalated=escalated,
        stats=Stats(
            entries=len(prepared.entries),
            buckets=len(prepared.buckets),
            quotas=len(prepared.quotas),
            assigned=len(assignments),
            **carried_counts(prepared, assignments),
        ),
        meta=Meta(solve_seconds=round(elapsed, 6), total_seconds=round(elapsed, 6)),
    )
