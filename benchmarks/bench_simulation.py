"""Policy simulator benchmark (issue 15): a Santa Catarina year (≈ 200,000 referrals) at one replication, target
≤ 2 minutes on this machine. Run by hand (never by pytest)::

    python -m benchmarks.bench_simulation --runs 3                  # every policy, medians of 3 runs
    python -m benchmarks.bench_simulation --policy regula --profile # one run under cProfile, top 25 functions

Each run is a fresh process (``--child``), so no cache of an earlier run helps: it loads the reference data
(territory, the bundled SIGTAP, the demo's provider network), draws the demand, simulates the 52 weeks and builds
the report (``regula.simulation.report.run_scenario``, what ``regula simulate`` does). Printed per run: wall seconds
of the whole run and of the simulation alone, CPU seconds of the child, the load average before and after, and the
report's headline figures (which must be the same in every run of a policy: the run is deterministic).
Figures go to ``docs/benchmarks.md`` by hand, with the date, the machine and the command.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import resource
import statistics
import subprocess
import sys
import time
from typing import Any

POLICIES = ("fifo", "fifo_reminders", "regula")
TARGET_SECONDS = 120.0


def scenario(policy: str) -> dict[str, Any]:
    return {"name": f"sc-{policy}", "uf": "SC", "months": 12, "seed": 20261205, "replications": 1,
            "referrals_per_year": 200_000, "policy": policy}  # fmt: skip


def child(policy: str, profile: bool) -> dict[str, Any]:
    started = time.perf_counter()
    from regula.simulation.reference import reference
    from regula.simulation.report import dump, run_scenario
    from regula.simulation.scenario import load_scenario

    sc = load_scenario(scenario(policy))
    reference(sc.uf)
    loaded = time.perf_counter()
    profiler = cProfile.Profile() if profile else None
    if profiler is not None:
        profiler.enable()
    report = run_scenario(sc)
    if profiler is not None:
        profiler.disable()
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(25)
    done = time.perf_counter()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    m = report["metrics"]
    return {
        "policy": policy,
        "wall_s": round(done - started, 2),
        "simulate_s": round(done - loaded, 2),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "peak_rss_mib": round(usage.ru_maxrss / 1024),
        "report_bytes": len(dump(report)),
        "referrals": m["referrals"],
        "concluded": m["concluded"],
        "concluded_within_tm_pct": m["concluded_within_tm_pct"],
        "no_show_pct": m["no_show_pct"],
        "slots_used_pct": m["slots_used_pct"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--policy", choices=[*POLICIES, "all"], default="all")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.policy, args.profile)))
        return
    policies = POLICIES if args.policy == "all" else (args.policy,)
    print(f"machine: nproc {os.cpu_count()}, python {sys.version.split()[0]}")
    for policy in policies:
        walls = []
        for run in range(1 if args.profile else args.runs):
            before = os.getloadavg()
            cmd = [sys.executable, "-m", "benchmarks.bench_simulation", "--child", "--policy", policy]
            if args.profile:
                cmd.append("--profile")
            out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True)  # noqa: S603
            result = json.loads(out.stdout.strip().splitlines()[-1]) if out.stdout else {}
            after = os.getloadavg()
            walls.append(result.get("wall_s", float("nan")))
            load = f"load {before[0]:.1f} → {after[0]:.1f}"
            print(f"{policy} run {run + 1}: {json.dumps(result, ensure_ascii=False)} ({load})", flush=True)
        median = statistics.median(walls)
        verdict = "met" if median <= TARGET_SECONDS else "MISSED"
        target = f"target ≤ {TARGET_SECONDS:.0f} s {verdict}"
        print(f"{policy}: median wall {median:.1f} s over {len(walls)} run(s) — {target}")


if __name__ == "__main__":
    main()
