"""Does OR-Tools' min-cost flow solve regula's networks faster as their mirror? Run by hand (never by pytest)::

    .venv/bin/python -m benchmarks.bench_flow_mirror --runs 3

The mirror of a network reverses every arc and negates every supply: a flow is feasible in one iff the same arc
flows are feasible in the other, at the same cost, so both have the same optimum. ``flow._solve_network`` hands the
network as built: supply on every class node (the whole queue), most of it routed straight to the sink unserved.
The mirror puts all the supply on the sink. Whether OR-Tools' cost-scaling push-relabel does less work on one or
the other is an empirical question, answered here on three instances of ``bench_allocation``:

* ``resolve``: the re-solve after churn at 1M (``bench_allocation_resolve.churn('a')``), five OCI-wide components
  of 1.0–1.5M arcs; ``resolve_c``: the same churn on the regional 100,000-entry base (``churn('c')``);
* ``a``: scenario (a) from scratch, 1M entries, many components of up to ~190,000 arcs;
* ``c``: scenario (c), the regional 100,000-entry instance.

Each component network is captured as ``solve_problem`` builds it (one worker, so every network passes through
``_solve_network`` in this process), then the ``--top`` largest are solved again as they are and as their mirror,
alternated, ``--runs`` times each; the table gives per instance the sum over those components of the median
seconds of each form, and whether every optimum agreed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

import numpy as np
from ortools.graph.python import min_cost_flow

from benchmarks.bench_allocation import SCENARIOS, generate, machine
from benchmarks.bench_allocation_resolve import churn
from regula.optimizer import flow
from regula.optimizer.problem import Problem

Network = tuple[Any, Any, Any, Any, Any]


def _networks(problem: Problem) -> list[Network]:
    captured: list[Network] = []
    solve = flow._solve_network

    def capture(*args: Any) -> Any:
        captured.append(args)
        return solve(*args)

    flow._solve_network = capture  # type: ignore[assignment]
    try:
        flow.solve_problem(problem, workers=1)
    finally:
        flow._solve_network = solve  # type: ignore[assignment]
    return sorted(captured, key=lambda n: -int(n[0].size))


def _timed(tails: Any, heads: Any, caps: Any, costs: Any, supplies: Any) -> tuple[float, int]:
    t0 = time.perf_counter()
    smcf = min_cost_flow.SimpleMinCostFlow()
    smcf.add_arcs_with_capacity_and_unit_cost(tails, heads, caps, costs)
    smcf.set_nodes_supplies(np.arange(supplies.size, dtype=np.int64), supplies)
    if smcf.solve() != smcf.OPTIMAL:
        raise RuntimeError("not optimal")
    smcf.flows(np.arange(tails.size, dtype=np.int64))
    return time.perf_counter() - t0, int(smcf.optimal_cost())


def measure(name: str, problem: Problem, top: int, runs: int) -> dict[str, Any]:
    networks = _networks(problem)[:top]
    rows = []
    for tails, heads, caps, costs, supplies in networks:
        seconds: dict[str, list[float]] = {"as_built": [], "mirror": []}
        optima = set()
        for _ in range(runs):
            s, o = _timed(tails, heads, caps, costs, supplies)
            seconds["as_built"].append(s)
            optima.add(o)
            s, o = _timed(heads, tails, caps, costs, -supplies)
            seconds["mirror"].append(s)
            optima.add(o)
        rows.append(
            {
                "arcs": int(tails.size),
                "as_built_s": round(statistics.median(seconds["as_built"]), 3),
                "mirror_s": round(statistics.median(seconds["mirror"]), 3),
                "same_optimum": len(optima) == 1,
            }
        )
    built = sum(r["as_built_s"] for r in rows)
    mirror = sum(r["mirror_s"] for r in rows)
    return {
        "instance": name,
        "components": len(rows),
        "arcs": sum(r["arcs"] for r in rows),
        "as_built_s": round(built, 3),
        "mirror_s": round(mirror, 3),
        "mirror_over_as_built": round(mirror / built, 3) if built else None,
        "same_optimum": all(r["same_optimum"] for r in rows),
        "per_component": rows,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--top", type=int, default=6, help="the largest components of each instance")
    ap.add_argument("--instances", default="resolve,a,c,resolve_c")
    args = ap.parse_args()
    print(json.dumps({"machine": machine()}), flush=True)
    for name in args.instances.split(","):
        if name.startswith("resolve"):
            problem, _ = churn(name.removeprefix("resolve_") if "_" in name else "a", 2026)
        else:
            spec = SCENARIOS[name]
            problem = generate(
                spec["entries"], levels=spec["levels"], km_band=spec["km_band"], regional=spec.get("regional", False)
            )
        print(json.dumps(measure(name, problem, args.top, args.runs)), flush=True)
        del problem


if __name__ == "__main__":
    main()
