"""Allocation benchmark (d): the daily re-solve after churn, run by hand (never by pytest)::

    .venv/bin/python -m benchmarks.bench_allocation_resolve --base a --runs 3
    .venv/bin/python -m benchmarks.bench_allocation_resolve --base c --runs 3 --baseline

Yesterday: the instance of scenario (a) or (c) of ``bench_allocation`` (same generator, ``N + 10,000`` entries drawn,
the first ``N`` waiting) solved exactly. Its assignments in the first 14 days were notified (they become *pinned*);
the later ones are proposals nobody was told about yet (*incumbents*). Overnight: ``today`` moves one day on,
5,000 waiting entries are cancelled (whatever their state: a cancelled notified appointment frees its slot), the
other 10,000 entries arrive (authorized today, same tM as drawn), and 2% of the slot capacity is withdrawn (never
below what the pinned appointments hold). Today: ``flow.solve_problem`` on that, timed — the measurement.

Checked and reported: every pinned appointment is in the new solution unchanged (``pinned_moved`` must be 0), the
incumbents kept / moved / dropped, and, in the same process on the same instance, the class model solving from
scratch (no incumbents: how many of yesterday's proposals an unconstrained re-solve would change). With
``--baseline`` also the per-patient min-cost flow with the same pinned and incumbents (``bench_allocation.
per_patient``) in the same process, whose optimum must equal the class model's (in the doubled units with the
bonus). Each run is a fresh child process; peak memory is its ``ru_maxrss`` (it includes yesterday's solve).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import replace
from typing import Any

import numpy as np

from benchmarks.bench_allocation import SCENARIOS, cpu_seconds, generate, machine, per_patient, run_child
from regula.optimizer.flow import entry_costs, solve_problem
from regula.optimizer.problem import Problem, take_entries

NEW, CANCELLED, CAPACITY_CUT, NOTIFIED_DAYS = 10_000, 5_000, 0.02, 14


def churn(base: str, seed: int, penalty: int | None = None) -> tuple[Problem, dict[str, Any]]:
    """Yesterday's instance and solution, then today's instance with pinned and incumbent pairs."""
    spec = SCENARIOS[base]
    n = spec["entries"]
    drawn = generate(
        n + NEW, levels=spec["levels"], km_band=spec["km_band"], seed=seed, regional=spec.get("regional", False)
    )
    yesterday = take_entries(drawn, np.arange(n, dtype=np.int64))
    t0 = time.perf_counter()
    before = solve_problem(yesterday)
    info: dict[str, Any] = {"yesterday_seconds": time.perf_counter() - t0, "yesterday_assigned": before.stats.assigned}
    assert before.status == "OPTIMAL"

    rng = np.random.default_rng(seed + 1)
    today = drawn.params.today.toordinal() + 1
    held = before.bucket_of
    notified = (held >= 0) & (drawn.b_date[np.maximum(held, 0)] < drawn.params.today.toordinal() + NOTIFIED_DAYS)
    keep = np.ones(n, dtype=np.bool_)
    keep[rng.choice(n, CANCELLED, replace=False)] = False
    rows = np.concatenate([np.flatnonzero(keep), np.arange(n, n + NEW)]).astype(np.int64)
    pinned = np.full(rows.size, -1, dtype=np.int64)
    incumbent = np.full(rows.size, -1, dtype=np.int64)
    old = rows < n
    pinned[old] = np.where(notified[rows[old]], held[rows[old]], -1)
    incumbent[old] = np.where(~notified[rows[old]] & (held[rows[old]] >= 0), held[rows[old]], -1)
    p = take_entries(drawn, rows)
    fresh = ~old
    window = p.e_deadline - p.e_authorized
    authorized = p.e_authorized.copy()
    authorized[fresh] = today
    deadline = np.where(fresh, today + window, p.e_deadline).astype(np.int32)

    cap = drawn.b_cap.copy()
    hold = np.bincount(pinned[pinned >= 0], minlength=cap.size)
    cut = round(CAPACITY_CUT * int(cap.sum()))
    cap -= rng.multivariate_hypergeometric(cap - hold, cut)
    params = drawn.params.model_copy(update={"today": drawn.params.today.fromordinal(today)})
    if penalty is not None:
        params = params.model_copy(update={"change_penalty": penalty})
    p = replace(
        p,
        params=params,
        e_authorized=authorized.astype(np.int32),
        e_deadline=deadline,
        b_cap=cap.astype(np.int64),
        e_pinned=pinned,
        e_incumbent=incumbent,
    )
    info |= {
        "entries_today": p.n_entries,
        "cancelled": CANCELLED,
        "cancelled_notified": int((notified & ~keep).sum()),
        "new": NEW,
        "capacity_removed": cut,
        "capacity_today": int(cap.sum()),
        "pinned": int((pinned >= 0).sum()),
        "incumbents": int((incumbent >= 0).sum()),
        "change_penalty": params.change_penalty,
    }
    return p, info


def child(args: argparse.Namespace) -> None:
    p, out = churn(args.base, args.seed, args.penalty)
    t0, c0 = time.perf_counter(), cpu_seconds()
    allocation = solve_problem(p, workers=args.workers)
    out["resolve_seconds"] = time.perf_counter() - t0
    out["resolve_cpu_seconds"] = cpu_seconds() - c0
    pin = p.pinned_of
    pinned = np.flatnonzero(pin >= 0)
    out["status"] = allocation.status
    out["pinned_moved"] = int((allocation.bucket_of[pinned] != pin[pinned]).sum())
    out["stats"] = allocation.stats.model_dump()
    out["meta"] = allocation.meta.model_dump()
    out["objective"] = allocation.objective
    if args.compare:
        inc = p.incumbent_of
        rows = np.flatnonzero(inc >= 0)
        t0 = time.perf_counter()
        scratch = solve_problem(replace(p, e_incumbent=None), workers=args.workers)
        out["scratch_seconds"] = time.perf_counter() - t0
        got = scratch.bucket_of[rows]
        out["scratch_incumbents_kept"] = int((got == inc[rows]).sum())
        out["scratch_incumbents_changed"] = int((got != inc[rows]).sum())
        out["scratch_objective"] = scratch.objective
        del scratch
    if args.baseline:
        pin_cost = int(entry_costs(p, pinned, pin[pinned]).sum())
        kept = allocation.stats.incumbents_kept
        scaled = 2 * (allocation.objective - pin_cost) - (2 * p.params.change_penalty + 1) * kept
        del allocation
        out["per_patient"] = per_patient(p)
        out["same_objective"] = out["per_patient"]["objective"] == scaled
    print(json.dumps(out))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", default="a", choices=["a", "c"])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--penalty", type=int, default=None, help="params.change_penalty (default: the instance's)")
    ap.add_argument("--baseline", action="store_true", help="also the per-patient model (in separate children)")
    ap.add_argument("--no-compare", action="store_true", help="skip the from-scratch comparison children")
    ap.add_argument("--compare", action="store_true", help="(child) also solve from scratch, without incumbents")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return
    print(json.dumps({"machine": machine()}))
    base = ["--base", args.base, "--seed", str(args.seed)]
    if args.workers:
        base += ["--workers", str(args.workers)]
    if args.penalty is not None:
        base += ["--penalty", str(args.penalty)]
    module = "benchmarks.bench_allocation_resolve"
    runs = [run_child([*base], module) for _ in range(args.runs)]
    row: dict[str, Any] = {
        "base": args.base,
        "resolve_median_s": round(statistics.median(r[0]["resolve_seconds"] for r in runs), 3),
        "resolve_runs_s": [round(r[0]["resolve_seconds"], 3) for r in runs],
        "resolve_cpu_median_s": round(statistics.median(r[0]["resolve_cpu_seconds"] for r in runs), 3),
        "peak_rss_mib": round(max(r[1] for r in runs) / 1024, 1),
        "pinned_moved": max(r[0]["pinned_moved"] for r in runs),
        "result": runs[0][0],
    }
    print(json.dumps(row))
    sys.stdout.flush()
    if not args.no_compare:
        cmp = [run_child([*base, "--compare"], module) for _ in range(args.runs)]
        row = {
            "base": args.base,
            "same_process_resolve_median_s": round(statistics.median(r[0]["resolve_seconds"] for r in cmp), 3),
            "scratch_median_s": round(statistics.median(r[0]["scratch_seconds"] for r in cmp), 3),
            "scratch_runs_s": [round(r[0]["scratch_seconds"], 3) for r in cmp],
            "scratch_incumbents_changed": cmp[0][0]["scratch_incumbents_changed"],
            "result": cmp[0][0],
        }
        print(json.dumps(row))
        sys.stdout.flush()
    if args.baseline:
        bl = [run_child([*base, "--baseline"], module) for _ in range(args.runs)]
        row = {
            "base": args.base,
            "baseline_resolve_median_s": round(statistics.median(r[0]["resolve_seconds"] for r in bl), 3),
            "per_patient_median_s": round(statistics.median(r[0]["per_patient"]["seconds"] for r in bl), 3),
            "per_patient_runs_s": [round(r[0]["per_patient"]["seconds"], 3) for r in bl],
            "baseline_peak_rss_mib": round(max(r[1] for r in bl) / 1024, 1),
            "same_objective": all(r[0]["same_objective"] for r in bl),
            "per_patient": bl[0][0]["per_patient"],
        }
        print(json.dumps(row))


if __name__ == "__main__":
    main()
