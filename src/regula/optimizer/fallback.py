"""Exact integer model (a MIP solved by HiGHS) for the components a network cannot represent exactly.

A municipal quota shared by classes that see its buckets differently (different eligible dates, or earliness
costs that differ by date between priority levels) is not a network constraint: ``flow.py`` explains why, with a
three-entry example whose LP relaxation is fractional. Such a component is solved here at class level — one
integer variable per quota-covered or incumbent (class, bucket) pair and per class → hub and hub → bucket arc of
the network (a hub's flow is conserved, and splits among its classes as in the network: they share its costs), rows
for class sizes, bucket capacities and quota limits. Expanding the hubs into every pair they join, as the first
version did, made 518,000 columns of 318,000 at 6,000 entries and 1.5× the time.

Why HiGHS and not CP-SAT (issue 18, item 4): the model is a transportation problem plus a few side rows, so its LP
relaxation is tight and a simplex-based branch-and-bound proves the optimum at the root or after a few nodes; CP-SAT
on one worker (as determinism needs) spent minutes on 700 entries and stopped FEASIBLE. Costs are integers, so the
solve asks for a zero relative gap and an absolute gap below one unit: ``OPTIMAL`` means proven, not "within
HiGHS' default 0.01%".

Deterministic: one thread, fixed seed, presolve off (on 117,000 columns it spent seconds removing a few), and the
limit is a node count (``NODES_PER_UNIT`` per unit of ``params.fallback_deterministic_seconds``), so the same input
stops at the same point on every machine. A wall-clock limit (``WALL_SECONDS_PER_UNIT`` per unit, at least
``WALL_SECONDS_MIN``) is only a safety net: if it ever fires the result is still valid and says so, but may differ
between machines. A solve stopped by a limit is FEASIBLE and reports HiGHS' proven bound, never a silent "optimal";
if it stopped before any solution, serving no one is feasible and is returned with that bound.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from ortools.math_opt import model_pb2
from ortools.math_opt.python import mathopt

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]

#: Branch-and-bound nodes per unit of ``params.fallback_deterministic_seconds`` (the deterministic limit).
NODES_PER_UNIT = 1_000
#: Wall-clock seconds per unit: a safety net only (see the module docstring).
WALL_SECONDS_PER_UNIT = 10.0
WALL_SECONDS_MIN = 60.0
#: Stop at this many improving solutions (None: no such limit). A deterministic way to stop early, for the tests.
MAX_IMPROVING_SOLUTIONS: int | None = None


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
    # Hub columns (module docstring of ``flow.py``, **Hubs**): class → hub and hub → bucket arcs with conservation at
    # each hub, instead of every class × bucket pair the hub joins. Same integer optimum, fewer columns.
    n_hubs: int = 0
    in_class: I64 | None = None  # per class → hub arc: local class
    in_hub: I64 | None = None  # local hub
    in_cost: I64 | None = None
    out_hub: I64 | None = None  # per hub → bucket arc: local hub
    out_bucket: I64 | None = None  # local bucket
    out_cost: I64 | None = None


@dataclass(frozen=True)
class PairResult:
    status: str  # OPTIMAL | FEASIBLE | ERROR
    objective: int
    amount: I64  # units per pair
    bound: int | None = None  # proven lower bound on the objective (None when no bound is known)
    in_amount: I64 | None = None  # units per class → hub arc
    out_amount: I64 | None = None  # units per hub → bucket arc


def solve_pairs(model: PairModel, deterministic_seconds: float, *, node_limit: int | None = None) -> PairResult:
    """Minimize ``Σ cost·y`` over integer ``0 ≤ y ≤ min(class size, bucket capacity, pair limit)`` subject to the
    class, bucket and quota rows. ``node_limit`` overrides the limit derived from ``deterministic_seconds``."""
    n_pairs = int(model.pair_class.size)
    z = np.zeros(0, dtype=np.int64)
    in_class = model.in_class if model.in_class is not None else z
    in_hub = model.in_hub if model.in_hub is not None else z
    out_hub = model.out_hub if model.out_hub is not None else z
    out_bucket = model.out_bucket if model.out_bucket is not None else z
    n_in, n_out = int(in_class.size), int(out_hub.size)
    n = n_pairs + n_in + n_out
    if n == 0:
        return PairResult("OPTIMAL", 0, z, 0, z, z)
    ub = np.minimum(model.class_size[model.pair_class], model.bucket_cap[model.pair_bucket])
    if model.pair_limit is not None:
        ub = np.minimum(ub, model.pair_limit)
    ub = np.concatenate([ub, model.class_size[in_class], model.bucket_cap[out_bucket]]).astype(np.int64)
    cost = np.concatenate(
        [
            model.pair_cost,
            model.in_cost if model.in_cost is not None else z,
            model.out_cost if model.out_cost is not None else z,
        ]
    ).astype(np.int64)
    rows, cols, coef, rhs, n_le = _rows(model, n_pairs, in_class, in_hub, out_hub, out_bucket)
    proto = _proto(n, ub, cost, rows, cols, coef, rhs, n_le)
    params = mathopt.SolveParameters(
        relative_gap_tolerance=0.0,
        absolute_gap_tolerance=0.5,  # integer costs: a gap below one unit proves the optimum
        node_limit=node_limit if node_limit is not None else max(1, round(NODES_PER_UNIT * deterministic_seconds)),
        time_limit=dt.timedelta(seconds=max(WALL_SECONDS_MIN, WALL_SECONDS_PER_UNIT * deterministic_seconds)),
        random_seed=0,
    )
    params.highs.int_options["threads"] = 1
    params.highs.string_options["presolve"] = "off"  # presolve spent 10 s on 117,000 columns it barely reduces
    if MAX_IMPROVING_SOLUTIONS is not None:
        params.highs.int_options["mip_max_improving_sols"] = MAX_IMPROVING_SOLUTIONS
    result = mathopt.solve(mathopt.Model.from_model_proto(proto), mathopt.SolverType.HIGHS, params=params)
    reason = result.termination.reason
    dual = result.termination.objective_bounds.dual_bound
    bound = math.ceil(dual - 1e-6) if math.isfinite(dual) else None
    raw = np.zeros(n, dtype=np.float64)
    if result.has_primal_feasible_solution() and result.solutions[0].primal_solution is not None:
        for var, val in result.solutions[0].primal_solution.variable_values.items():
            raw[var.id] = val
    elif reason != mathopt.TerminationReason.FEASIBLE and reason != mathopt.TerminationReason.NO_SOLUTION_FOUND:
        return PairResult("ERROR", 0, np.zeros(n_pairs, dtype=np.int64))
    # else: stopped by a limit before any solution; serving no one is feasible (every right-hand side is >= 0)
    amount = np.rint(raw).astype(np.int64)
    objective = int(np.dot(cost, amount))
    if np.abs(raw - amount).max() > 1e-6 or not _feasible(amount, ub, rows, cols, coef, rhs, n_le):
        return PairResult("ERROR", 0, np.zeros(n_pairs, dtype=np.int64))
    parts = amount[:n_pairs], amount[n_pairs : n_pairs + n_in], amount[n_pairs + n_in :]
    if reason == mathopt.TerminationReason.OPTIMAL:
        return PairResult("OPTIMAL", objective, parts[0], objective, parts[1], parts[2])
    return PairResult("FEASIBLE", objective, parts[0], None if bound is None else min(bound, objective), *parts[1:])


def relative_gap(objective: int, bound: int | None) -> float | None:
    """``(objective − bound) / max(|objective|, 1)``: how far the result may be from the optimum, at most."""
    if bound is None:
        return None
    return (objective - bound) / max(abs(objective), 1)


def _rows(
    model: PairModel, n_pairs: int, in_class: I64, in_hub: I64, out_hub: I64, out_bucket: I64
) -> tuple[I64, I64, I64, I64, int]:
    """Constraint matrix in (row, column) order — class rows, bucket rows, quota rows (all ``<=``), then one
    conservation row per hub (``= 0``: in minus out) — with coefficients, right-hand sides and the ``<=`` count."""
    n_cls, n_bkt, n_q = int(model.class_size.size), int(model.bucket_cap.size), int(model.quota_limit.size)
    n_in = int(in_class.size)
    n = n_pairs + n_in + int(out_hub.size)
    pairs = np.arange(n_pairs, dtype=np.int64)
    ins = n_pairs + np.arange(n_in, dtype=np.int64)
    outs = n_pairs + n_in + np.arange(out_hub.size, dtype=np.int64)
    q_of = np.repeat(np.arange(n_q, dtype=np.int64), np.diff(model.quota_ptr))
    hub0 = n_cls + n_bkt + n_q
    r = np.concatenate(
        [
            model.pair_class,
            n_cls + model.pair_bucket,
            n_cls + n_bkt + q_of,
            in_class,
            n_cls + out_bucket,
            hub0 + in_hub,
            hub0 + out_hub,
        ]
    )
    c = np.concatenate([pairs, pairs, model.quota_pairs, ins, outs, ins, outs])
    v = np.concatenate(
        [np.ones(r.size - ins.size - outs.size, np.int64), np.ones(ins.size, np.int64), -np.ones(outs.size, np.int64)]
    )
    key, first = np.unique(r * n + c, return_index=True)
    rhs = np.concatenate([model.class_size, model.bucket_cap, model.quota_limit, np.zeros(model.n_hubs, np.int64)])
    return key // n, key % n, v[first], rhs.astype(np.int64), hub0


def _proto(n: int, ub: I64, cost: I64, rows: I64, cols: I64, coef: I64, rhs: I64, n_le: int) -> model_pb2.ModelProto:
    proto = model_pb2.ModelProto(name="fallback")
    proto.variables.ids.extend(range(n))
    proto.variables.lower_bounds.extend([0.0] * n)
    proto.variables.upper_bounds.extend(ub.astype(np.float64).tolist())
    proto.variables.integers.extend([True] * n)
    nz = np.flatnonzero(cost)
    proto.objective.maximize = False
    proto.objective.linear_coefficients.ids.extend(nz.tolist())
    proto.objective.linear_coefficients.values.extend(cost[nz].astype(np.float64).tolist())
    used = np.unique(rows)
    lower = np.where(used < n_le, -math.inf, rhs[used].astype(np.float64))
    proto.linear_constraints.ids.extend(used.tolist())
    proto.linear_constraints.lower_bounds.extend(lower.tolist())
    proto.linear_constraints.upper_bounds.extend(rhs[used].astype(np.float64).tolist())
    proto.linear_constraint_matrix.row_ids.extend(rows.tolist())
    proto.linear_constraint_matrix.column_ids.extend(cols.tolist())
    proto.linear_constraint_matrix.coefficients.extend(coef.astype(np.float64).tolist())
    return proto


def _feasible(amount: I64, ub: I64, rows: I64, cols: I64, coef: I64, rhs: I64, n_le: int) -> bool:
    """Integer re-check of the rounded solution (never trust floating-point feasibility)."""
    if (amount < 0).any() or (amount > ub).any():
        return False
    load = np.zeros(rhs.size, dtype=np.int64)
    np.add.at(load, rows, coef * amount[cols])
    return bool((load[:n_le] <= rhs[:n_le]).all() and (load[n_le:] == rhs[n_le:]).all())
