"""Exact integer model (CP-SAT) for the components a network cannot represent exactly.

A municipal quota shared by classes that see its buckets differently (different eligible dates, or earliness
costs that differ by date between priority levels) is not a network constraint: ``flow.py`` explains why, with a
three-entry example whose LP relaxation is fractional. Such a component is solved here at class level — one
integer variable per (class, bucket) pair — to proven optimality, deterministically (one worker, fixed seed, a
limit in CP-SAT's deterministic time so the same input always stops at the same point).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from ortools.sat.python import cp_model

I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class PairModel:
    pair_class: I64  # local class index of each (class, bucket) pair
    pair_bucket: I64  # local bucket index
    pair_cost: I64
    class_size: I64
    bucket_cap: I64
    quota_limit: I64
    quota_ptr: I64  # CSR over quota_pairs
    quota_pairs: I64  # pair indices counted by each quota
    pair_limit: I64 | None = None  # per pair upper bound (incumbent bonus pairs), besides class and bucket


@dataclass(frozen=True)
class PairResult:
    status: str  # OPTIMAL | FEASIBLE | ERROR
    objective: int
    amount: I64  # units per pair


def solve_pairs(model: PairModel, deterministic_seconds: float) -> PairResult:
    n = int(model.pair_class.size)
    m = cp_model.CpModel()
    ub = np.minimum(model.class_size[model.pair_class], model.bucket_cap[model.pair_bucket])
    if model.pair_limit is not None:
        ub = np.minimum(ub, model.pair_limit)
    y = [m.new_int_var(0, int(ub[k]), f"y{k}") for k in range(n)]
    order_c = np.argsort(model.pair_class, kind="stable")
    for c, idx in _groups(model.pair_class, order_c):
        m.add(sum(y[k] for k in idx) <= int(model.class_size[c]))
    order_b = np.argsort(model.pair_bucket, kind="stable")
    for b, idx in _groups(model.pair_bucket, order_b):
        m.add(sum(y[k] for k in idx) <= int(model.bucket_cap[b]))
    for q in range(model.quota_limit.size):
        counted = model.quota_pairs[model.quota_ptr[q] : model.quota_ptr[q + 1]].tolist()
        if counted:
            m.add(sum(y[k] for k in counted) <= int(model.quota_limit[q]))
    m.minimize(sum(int(model.pair_cost[k]) * y[k] for k in range(n)))
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = 0
    solver.parameters.max_deterministic_time = deterministic_seconds
    code = solver.solve(m)
    if code == cp_model.OPTIMAL:
        status = "OPTIMAL"
    elif code == cp_model.FEASIBLE:
        status = "FEASIBLE"
    else:
        return PairResult("ERROR", 0, np.zeros(n, dtype=np.int64))
    amount = np.array([solver.value(v) for v in y], dtype=np.int64)
    return PairResult(status, round(solver.objective_value), amount)


def _groups(keys: I64, order: I64) -> list[tuple[int, list[int]]]:
    out: list[tuple[int, list[int]]] = []
    sorted_keys = keys[order]
    starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
    ends = np.r_[starts[1:], sorted_keys.size]
    for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
        out.append((int(sorted_keys[s]), order[s:e].tolist()))
    return out
