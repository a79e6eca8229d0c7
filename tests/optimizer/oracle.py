"""Per-patient reference models (one variable per eligible entry × bucket pair), independent of the flow model:
the LP relaxation with GLOP, and the integer problem with CP-SAT for tiny instances or as a MIP with HiGHS (through
``pywraplp``, not the ``math_opt`` path the fallback uses) for the quota-heavy ones.

With pairs carried over from an earlier solve: pinned entries keep their bucket (a constant cost; their units
leave the capacities and quotas), and changing an incumbent costs ``change_penalty + 1/2`` — the objective the flow
model minimizes, in its documented form (see :func:`penalized_objective`)."""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from typing import Any

from ortools.linear_solver import pywraplp
from ortools.sat.python import cp_model

from regula.optimizer.instance import Instance, Solution
from regula.optimizer.problem import escalate
from regula.optimizer.rules import Travel, cost_parts, pair_violations, quota_counts


def penalized_objective(instance: Instance, solution: Solution) -> float:
    """The solution's objective plus ``change_penalty + 1/2`` per incumbent moved or dropped."""
    changed = solution.stats.incumbents_moved + solution.stats.incumbents_dropped
    return float(solution.objective + (instance.params.change_penalty + Fraction(1, 2)) * changed)


def _pairs(instance: Instance) -> tuple[Instance, list[tuple[int, int, float]], float]:
    """Eligible (entry, bucket, cost) pairs of the free entries, and the constant part of the objective."""
    prepared, _ = escalate(instance)
    travel = Travel(prepared)
    pinned = {f.entry_id: f.bucket_id for f in prepared.pinned}
    incumbent = {f.entry_id: f.bucket_id for f in prepared.incumbents}
    keep = float(prepared.params.change_penalty) + 0.5
    by_id = {b.id: b for b in prepared.buckets}
    constant = keep * len(incumbent)
    constant += sum(cost_parts(e, by_id[pinned[e.id]], prepared.params, travel).cost for e in _pinned(prepared))
    pairs = []
    for i, e in enumerate(prepared.entries):
        if e.id in pinned:
            continue
        for j, b in enumerate(prepared.buckets):
            if b.capacity > 0 and not pair_violations(e, b, prepared.params, travel=travel):
                cost = float(cost_parts(e, b, prepared.params, travel).cost)
                pairs.append((i, j, cost - keep if incumbent.get(e.id) == b.id else cost))
    return prepared, pairs, constant


def _pinned(prepared: Instance) -> list[Any]:
    ids = {f.entry_id for f in prepared.pinned}
    return [e for e in prepared.entries if e.id in ids]


def _linear_model(
    prepared: Instance, pairs: list[tuple[int, int, float]], backend: str, cost: Callable[[float], float]
) -> tuple[Any, Any]:
    """The per-patient model in pywraplp: one 0–1 variable per pair (integer unless the backend is an LP solver),
    the rows of :func:`_rows`, ``cost(c)`` per pair minimized. Returns the solver and its objective."""
    solver = pywraplp.Solver.CreateSolver(backend)
    inf = solver.infinity()
    make = solver.NumVar if backend == "GLOP" else solver.IntVar
    x = [make(0.0, 1.0, "") for _ in pairs]
    for coefs, bound in _rows(prepared, pairs):
        row = solver.Constraint(-inf, bound)
        for k in coefs:
            row.SetCoefficient(x[k], 1.0)
    objective = solver.Objective()
    for k, (_, _, c) in enumerate(pairs):
        objective.SetCoefficient(x[k], cost(c))
    objective.SetMinimization()
    return solver, objective


def lp_objective(instance: Instance) -> float:
    prepared, pairs, constant = _pairs(instance)
    solver, objective = _linear_model(prepared, pairs, "GLOP", float)
    assert solver.Solve() == pywraplp.Solver.OPTIMAL
    return float(objective.Value()) + constant


def ip_objective(instance: Instance) -> float:
    prepared, pairs, constant = _pairs(instance)
    m = cp_model.CpModel()
    x = [m.new_bool_var(f"x{k}") for k in range(len(pairs))]
    _constraints(prepared, pairs, x, m.add)
    # CP-SAT wants integers: costs doubled (the halves of the incumbent bonus become whole).
    m.minimize(sum(round(2 * c) * x[k] for k, (_, _, c) in enumerate(pairs)))
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    assert solver.solve(m) == cp_model.OPTIMAL
    return round(solver.objective_value) / 2 + constant


def mip_objective(instance: Instance) -> float:
    """The per-patient integer optimum, proven by HiGHS (zero relative gap; costs doubled, so integral)."""
    prepared, pairs, constant = _pairs(instance)
    solver, objective = _linear_model(prepared, pairs, "HIGHS", lambda c: round(2 * c))
    params = pywraplp.MPSolverParameters()
    params.SetDoubleParam(pywraplp.MPSolverParameters.RELATIVE_MIP_GAP, 0.0)
    assert solver.Solve(params) == pywraplp.Solver.OPTIMAL
    assert abs(objective.Value() - objective.BestBound()) < 0.5  # proven, not within a default tolerance
    return round(objective.Value()) / 2 + constant


def _constraints(
    prepared: Instance, pairs: list[tuple[int, int, float]], x: list[Any], add: Callable[[Any], Any]
) -> None:
    for coefs, bound in _rows(prepared, pairs):
        add(sum(x[k] for k in coefs) <= bound)


def _rows(prepared: Instance, pairs: list[tuple[int, int, float]]) -> list[tuple[list[int], int]]:
    """Each entry at most once, each bucket within what the pinned leave, each quota likewise."""
    by_entry: dict[int, list[int]] = {}
    by_bucket: dict[int, list[int]] = {}
    for k, (i, j, _) in enumerate(pairs):
        by_entry.setdefault(i, []).append(k)
        by_bucket.setdefault(j, []).append(k)
    bucket_ix = {b.id: j for j, b in enumerate(prepared.buckets)}
    held: dict[int, int] = {}
    for f in prepared.pinned:
        held[bucket_ix[f.bucket_id]] = held.get(bucket_ix[f.bucket_id], 0) + 1
    rows = [(ks, 1) for ks in by_entry.values()]
    rows += [(ks, prepared.buckets[j].capacity - held.get(j, 0)) for j, ks in by_bucket.items()]
    entries = {e.id: e for e in prepared.entries}
    pinned = [(entries[f.entry_id], prepared.buckets[bucket_ix[f.bucket_id]]) for f in prepared.pinned]
    for q in prepared.quotas:
        ks = [k for k, (i, j, _) in enumerate(pairs) if quota_counts(prepared.entries[i], prepared.buckets[j], q)]
        rows.append((ks, q.limit - sum(quota_counts(e, b, q) for e, b in pinned)))
    return rows
