"""Per-patient reference models (one variable per eligible entry × bucket pair), independent of the flow model:
the LP relaxation with GLOP, and the integer problem with CP-SAT for tiny instances."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ortools.linear_solver import pywraplp
from ortools.sat.python import cp_model

from regula.scheduler.instance import Instance
from regula.scheduler.problem import escalate
from regula.scheduler.rules import Travel, cost_parts, pair_violations, quota_counts


def _pairs(instance: Instance) -> tuple[Instance, list[tuple[int, int, int]]]:
    prepared, _ = escalate(instance)
    travel = Travel(prepared)
    pairs = []
    for i, e in enumerate(prepared.entries):
        for j, b in enumerate(prepared.buckets):
            if b.capacity > 0 and not pair_violations(e, b, prepared.params):
                pairs.append((i, j, cost_parts(e, b, prepared.params, travel).cost))
    return prepared, pairs


def lp_objective(instance: Instance) -> float:
    prepared, pairs = _pairs(instance)
    solver = pywraplp.Solver.CreateSolver("GLOP")
    inf = solver.infinity()
    x = [solver.NumVar(0.0, 1.0, "") for _ in pairs]
    for coefs, bound in _rows(prepared, pairs):
        row = solver.Constraint(-inf, bound)
        for k in coefs:
            row.SetCoefficient(x[k], 1.0)
    objective = solver.Objective()
    for k, (_, _, c) in enumerate(pairs):
        objective.SetCoefficient(x[k], float(c))
    objective.SetMinimization()
    assert solver.Solve() == pywraplp.Solver.OPTIMAL
    return float(objective.Value())


def ip_objective(instance: Instance) -> int:
    prepared, pairs = _pairs(instance)
    m = cp_model.CpModel()
    x = [m.new_bool_var(f"x{k}") for k in range(len(pairs))]
    _constraints(prepared, pairs, x, m.add)
    m.minimize(sum(c * x[k] for k, (_, _, c) in enumerate(pairs)))
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    assert solver.solve(m) == cp_model.OPTIMAL
    return round(solver.objective_value)


def _constraints(
    prepared: Instance, pairs: list[tuple[int, int, int]], x: list[Any], add: Callable[[Any], Any]
) -> None:
    for coefs, bound in _rows(prepared, pairs):
        add(sum(x[k] for k in coefs) <= bound)


def _rows(prepared: Instance, pairs: list[tuple[int, int, int]]) -> list[tuple[list[int], int]]:
    """Each entry at most once, each bucket within capacity, each quota within its limit."""
    by_entry: dict[int, list[int]] = {}
    by_bucket: dict[int, list[int]] = {}
    for k, (i, j, _) in enumerate(pairs):
        by_entry.setdefault(i, []).append(k)
        by_bucket.setdefault(j, []).append(k)
    rows = [(ks, 1) for ks in by_entry.values()]
    rows += [(ks, prepared.buckets[j].capacity) for j, ks in by_bucket.items()]
    for q in prepared.quotas:
        ks = [k for k, (i, j, _) in enumerate(pairs) if quota_counts(prepared.entries[i], prepared.buckets[j], q)]
        rows.append((ks, q.limit))
    return rows
