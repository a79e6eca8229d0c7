"""Quota-heavy allocation benchmark (issue 18, item 4), run by hand (never by pytest)::

    .venv/bin/python -m benchmarks.bench_allocation_quotas --runs 3
    PYTHONPATH=/tmp/fallback-before/src:. .venv/bin/python -m benchmarks.bench_allocation_quotas --runs 3

Instances (``tests.optimizer.factory.quota_heavy_instance``, seeded): every municipality holds a quota at every
provider of its macro-region, many overlapped by a shorter one, over eight weeks of weekday buckets, ten priority
levels and mixed eligibilities, so every component goes to the integer fallback. ``702``: 702 entries; ``702r`` and
``3000r``: the daily re-solve with pinned and incumbent appointments (yesterday's greedy proposals).

``--sizes 702,1500,3000,6000`` instead runs the re-solve at those sizes, to see how the time grows with the
fallback's columns (its (class, bucket) pairs and, where the model has them, its class → hub and hub → bucket arcs;
counted by wrapping ``flow.solve_pairs``; ``fallback_columns``).

Each run solves in this process with ``flow.solve`` and prints one JSON line: wall time, status, objective, the
fallback's bound and gap when it has them, counts, and ``/proc/loadavg`` after the run. The module that answered is
printed first, so a run against an older checkout (``PYTHONPATH``) says which code it measured.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

from tests.optimizer.factory import quota_heavy_instance

from regula.optimizer import fallback, flow
from regula.optimizer.flow import solve
from regula.optimizer.validate import validate

CASES: dict[str, tuple[int, bool]] = {"702": (702, False), "702r": (702, True), "3000r": (3000, True)}
PAIRS: list[int] = []


def _counting(solve_pairs: Any) -> Any:
    def wrapped(model: Any, *args: Any, **kw: Any) -> Any:
        hub_arcs = sum(
            int(x.size) for x in (getattr(model, "in_class", None), getattr(model, "out_hub", None)) if x is not None
        )
        PAIRS.append(int(model.pair_class.size) + hub_arcs)
        return solve_pairs(model, *args, **kw)

    return wrapped


def _load() -> str:
    with open("/proc/loadavg") as f:
        return f.read().strip()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--case", choices=[*CASES, "all"], default="all")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--sizes", default="", help="comma-separated entry counts of re-solve instances (scaling)")
    args = ap.parse_args()
    print(json.dumps({"fallback_module": fallback.__file__}), flush=True)
    flow.solve_pairs = _counting(flow.solve_pairs)  # type: ignore[attr-defined]
    cases = dict(CASES)
    names = list(CASES) if args.case == "all" else [args.case]
    if args.sizes:
        cases = {f"{n}r": (int(n), True) for n in args.sizes.split(",")}
        names = list(cases)
    for name in names:
        n, resolve = cases[name]
        inst = quota_heavy_instance(n, resolve=resolve)
        times: list[float] = []
        last: dict[str, Any] = {}
        for run in range(args.runs):
            PAIRS.clear()
            t0 = time.perf_counter()
            sol = solve(inst)
            seconds = time.perf_counter() - t0
            times.append(seconds)
            last = {
                "case": name,
                "run": run,
                "seconds": round(seconds, 3),
                "status": sol.status,
                "objective": sol.objective,
                "bound": getattr(sol, "bound", None),
                "gap": getattr(sol, "gap", None),
                "entries": sol.stats.entries,
                "buckets": sol.stats.buckets,
                "quotas": sol.stats.quotas,
                "classes": sol.stats.classes,
                "fallback_components": sol.stats.fallback_components,
                "fallback_columns": sum(PAIRS),
                "pinned": len(inst.pinned),
                "incumbents": len(inst.incumbents),
                "valid": validate(inst, sol) == [],
                "loadavg": _load(),
            }
            print(json.dumps(last), flush=True)
        print(json.dumps({"case": name, "median_seconds": round(statistics.median(times), 3), "runs": len(times)}))


if __name__ == "__main__":
    main()
