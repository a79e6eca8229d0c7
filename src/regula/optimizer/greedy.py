"""The greedy baseline, kept for comparison: entries in priority order (priority weight, then deadline, then id),
each to the nearest, then earliest, feasible bucket with capacity and quota left. Pinned assignments are kept and
hold their capacity and quota first; incumbents are ignored (the baseline has no notion of stability)."""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Final

import numpy as np
import numpy.typing as npt

from regula.optimizer.instance import Assignment, Bucket, Entry, Instance, Meta, Quota, Solution, Stats
from regula.optimizer.problem import escalate
from regula.optimizer.rules import Travel, cost_parts, pair_violations, quota_counts, scope_matches
from regula.optimizer.validate import carried_counts

#: Entries taken from the priority order at a time, before those of full scopes are dropped from it.
_CHUNK: Final = 4096


def _order_and_scopes(
    entries: list[Entry],
) -> tuple[npt.NDArray[np.int64], list[int], list[tuple[str, str, str]]]:
    """The entries' positions in priority order (priority weight descending, then deadline, then id: numpy's sort of
    the three columns, ~3× faster than sorting a million entries by a tuple key), and each entry's scope —
    (OCI, scope kind, scope code) — as a number into the list of distinct scopes."""
    n = len(entries)
    if n == 0:
        return np.zeros(0, dtype=np.int64), [], []
    ids, priorities, deadlines, scopes = zip(
        *((e.id, e.priority, e.deadline.toordinal(), (e.oci_code, e.scope_kind, e.scope_code)) for e in entries),
        strict=True,
    )
    numbers: dict[tuple[str, str, str], int] = {}
    where_of = [numbers.setdefault(scope, len(numbers)) for scope in scopes]
    order = np.lexsort(
        (
            np.array(ids, dtype=np.str_),
            np.fromiter(deadlines, dtype=np.int64, count=n),
            -np.fromiter(priorities, dtype=np.int64, count=n),
        )
    ).astype(np.int64)
    return order, where_of, list(numbers)


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
    pinned = {f.entry_id for f in prepared.pinned}
    # only the pinned entries are looked up by id (a dictionary of a million entries took 0.4 s)
    entry_by_id = {e.id: e for e in prepared.entries if e.id in pinned} if pinned else {}
    bucket_by_id = {b.id: b for b in prepared.buckets}
    for f in prepared.pinned:
        e, b = entry_by_id[f.entry_id], bucket_by_id[f.bucket_id]
        remaining[b.id] -= 1
        for q in quotas_at.get((e.municipality_ibge, b.provider_cnes, b.oci_code), []):
            if quota_counts(e, b, q):
                quota_left[q.id] -= 1
        objective += cost_parts(e, b, params, travel).cost
        assignments.append(Assignment(entry_id=e.id, bucket_id=b.id))
    entries = prepared.entries
    order, where_of, wheres = _order_and_scopes(entries)
    # The buckets an entry may look at: those of its OCI in its (possibly escalated) scope, by date then id, that
    # still have capacity. A bucket outside the scope or full is one the rules skip anyway (fora_da_abrangencia,
    # remaining <= 0), so leaving it out of the loop changes nothing but the time (issue 18 item 7: a million
    # entries each walked every bucket of their OCI).
    candidates = [[b for b in by_oci.get(oci, []) if scope_matches(kind, code, b)] for oci, kind, code in wheres]
    # A scope whose buckets are all full stays so (capacity only goes down): its entries are dropped from the order
    # a chunk at a time by numpy instead of one Python step each (most of a million entries wait for full buckets).
    open_scope = np.array([bool(c) for c in candidates], dtype=np.bool_)
    where_codes = np.asarray(where_of, dtype=np.int64)
    for start in range(0, len(order), _CHUNK):
        chunk = order[start : start + _CHUNK]
        for i in chunk[open_scope[where_codes[chunk]]].tolist():
            e = entries[i]
            if e.id in pinned:
                continue
            cands = candidates[where_of[i]]
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
                if not cands:
                    open_scope[where_of[i]] = False
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
