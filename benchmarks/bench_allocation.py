"""Allocation benchmarks, run by hand (never by pytest)::

    .venv/bin/python -m benchmarks.bench_allocation --scenario a --runs 3
    .venv/bin/python -m benchmarks.bench_allocation --scenario all --runs 3 --baseline-entries 100000

Scenarios (synthetic, seeded; ``generate``):

(a) São Paulo scale: 1,000,000 waiting entries in 645 municipalities (63 health regions, 17 macro-regions),
    5 OCIs, 5,000 provider × week × OCI buckets over 8 weeks (4,240 presencial, 760 teleconsultation), about 50
    eligible buckets per entry (85% macro-region scope, 15% region scope), 50 priority levels, exact kilometres.
(b) the same with tie-heavy costs: kilometres in 25 km bands, 20 priority levels.
(c) a regional instance: 100,000 entries of the capital's macro-region and its providers' buckets, 50 levels.

Each measurement runs in a fresh child process (this script with ``--child``); peak memory is that child's maximum
resident set size (``os.wait4`` rusage ``ru_maxrss``), so it includes generating the instance. The time is
``flow.solve_problem`` (escalation, classes, network, min-cost flow, read-back, ranking inside classes).

Baseline, in the same child on the same instance: the per-patient min-cost flow (one node per entry, one arc per
eligible entry × bucket pair), built with the same vectorized rules; its optimal cost must equal the class model's
objective (checked, printed as ``same_objective``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from datetime import date
from typing import Any

import numpy as np
from ortools.graph.python import min_cost_flow

from regula.optimizer.flow import cost_components, solve_problem
from regula.optimizer.instance import Params, Weights
from regula.optimizer.problem import Problem, escalate_problem, pair_ok, signatures, take_entries, without_pinned

TODAY = date(2026, 11, 23)
SCENARIOS: dict[str, dict[str, Any]] = {
    "a": {"entries": 1_000_000, "levels": 50, "km_band": 0},
    "b": {"entries": 1_000_000, "levels": 20, "km_band": 25},
    "c": {"entries": 100_000, "levels": 50, "km_band": 0, "regional": True},
}


def generate(n_entries: int, *, levels: int, km_band: int, seed: int = 2026, regional: bool = False) -> Problem:
    """A seeded synthetic state. ``regional``: only the macro-region of the capital (its municipalities' entries,
    its providers' buckets)."""
    rng = np.random.default_rng(seed)
    n_munis, n_regions, n_macros, n_ocis, weeks = 645, 63, 17, 5, 8
    lat = rng.uniform(-25.2, -19.8, n_munis)
    lon = rng.uniform(-53.0, -44.2, n_munis)
    pop = 1.0 / np.arange(1, n_munis + 1) ** 1.05  # Zipf-like: a capital and many small towns
    pop /= pop.sum()
    centers = rng.choice(n_munis, n_regions, replace=False)
    d2 = (lat[:, None] - lat[centers][None, :]) ** 2 + (lon[:, None] - lon[centers][None, :]) ** 2
    region = np.argmin(d2, axis=1)
    rc = rng.choice(n_regions, n_macros, replace=False)
    d2 = (lat[centers][:, None] - lat[centers][rc][None, :]) ** 2 + (
        lon[centers][:, None] - lon[centers][rc][None, :]
    ) ** 2
    macro_of_region = np.argmin(d2, axis=1)
    macro = macro_of_region[region]

    muni_codes = [f"35{i:05d}" for i in range(n_munis)]
    region_codes = [f"R{r:03d}" for r in range(n_regions)]
    macro_codes = [f"M{m:02d}" for m in range(n_macros)]
    codes = sorted([*muni_codes, *region_codes, *macro_codes, "35"])
    ix = {c: i for i, c in enumerate(codes)}
    muni_ix = np.array([ix[c] for c in muni_codes], dtype=np.int32)
    region_ix = np.array([ix[c] for c in region_codes], dtype=np.int32)
    macro_ix = np.array([ix[c] for c in macro_codes], dtype=np.int32)
    uf_ix = ix["35"]

    # provider × OCI offers: 6 per (macro, OCI) plus 20 more, presencial; 95 teleconsultation offers
    offers: list[tuple[int, int, bool]] = []  # (municipality, oci, tele)
    pairs = [(m, o) for m in range(n_macros) for o in range(n_ocis)]
    extra = rng.choice(len(pairs), 20, replace=False)
    for k, (m, o) in enumerate(pairs):
        munis_m = np.flatnonzero(macro == m)
        w = pop[munis_m] / pop[munis_m].sum()
        for _ in range(6 + int(k in extra)):
            offers.append((int(rng.choice(munis_m, p=w)), o, False))
    for _ in range(95):
        offers.append((int(rng.choice(n_munis, p=pop)), int(rng.integers(0, n_ocis)), True))
    home = np.ones(n_munis, dtype=np.bool_)
    if regional:
        home = macro == macro[0]
        offers = [o for o in offers if home[o[0]]]
        pop = np.where(home, pop, 0.0)
        pop /= pop.sum()
    n_offers = len(offers)
    off_muni = np.array([o[0] for o in offers])
    off_oci = np.array([o[1] for o in offers])
    off_tele = np.array([o[2] for o in offers])
    off_age_min = np.where(rng.random(n_offers) < 0.10, 18, 0)
    off_sex = np.where(off_oci == 0, 2, 0)  # OCI 0 only for women (a breast-imaging-like OCI)
    k = n_offers * weeks
    b_offer = np.repeat(np.arange(n_offers), weeks)
    b_week = np.tile(np.arange(weeks), n_offers)
    today = TODAY.toordinal()
    b_muni = off_muni[b_offer]
    b_scope = np.stack(
        [muni_ix[b_muni], region_ix[region[b_muni]], macro_ix[macro[b_muni]], np.full(k, uf_ix, dtype=np.int32)]
    ).astype(np.int32)

    # entries
    e_m = rng.choice(n_munis, n_entries, p=pop)
    e_oci = rng.integers(0, n_ocis, n_entries)
    e_region_scope = rng.random(n_entries) < 0.15
    level = np.minimum((rng.exponential(levels / 4, n_entries)).astype(np.int64), levels - 1)
    band = 1000
    priority = level * band + rng.integers(0, band, n_entries)
    authorized = today - rng.integers(0, 120, n_entries)
    deadline = authorized + rng.choice([30, 60, 90, 120], n_entries)
    sex = np.where(rng.random(n_entries) < 0.55, 2, 1).astype(np.int8)
    age = rng.integers(0, 95, n_entries).astype(np.int16)
    has_unav = rng.random(n_entries) < 0.01
    counts = np.where(has_unav, rng.integers(1, 4, n_entries), 0)
    ptr = np.zeros(n_entries + 1, dtype=np.int64)
    np.cumsum(counts, out=ptr[1:])
    unav = (today + rng.integers(0, 7 * weeks, int(ptr[-1]))).astype(np.int32)

    # kilometres between every entry municipality and every provider municipality
    r = np.radians
    dlat = r(lat)[:, None] - r(lat)[None, :]
    dlon = r(lon)[:, None] - r(lon)[None, :]
    h = np.sin(dlat / 2) ** 2 + np.cos(r(lat))[:, None] * np.cos(r(lat))[None, :] * np.sin(dlon / 2) ** 2
    km = np.floor(2 * 6371.0088 * np.arcsin(np.sqrt(h)) + 0.5).astype(np.int32)
    if km_band:
        km = (np.round(km / km_band) * km_band).astype(np.int32)
    km_row = np.full(len(codes), -1, dtype=np.int32)
    km_row[muni_ix] = np.arange(n_munis, dtype=np.int32)

    ids_e = np.char.add("e", np.char.zfill(np.arange(n_entries).astype(np.str_), 7))
    ids_b = np.char.add("b", np.char.zfill(np.arange(k).astype(np.str_), 5))
    params = Params(
        today=TODAY,
        priority_band=band,
        weights=Weights(value_base=10_000, value_per_level=200, earliness_per_level_day=1, travel_per_km=10),
        short_notice_days=3,
        explain=False,
    )
    empty_s = np.zeros(0, dtype=np.str_)
    empty_i = np.zeros(0, dtype=np.int32)
    return Problem(
        params=params,
        codes=codes,
        ocis=[f"09{o:08d}" for o in range(n_ocis)],
        providers=[f"{1000000 + i}" for i in range(n_offers)],
        e_id=ids_e,
        e_muni=muni_ix[e_m],
        e_priority=priority.astype(np.int64),
        e_authorized=authorized.astype(np.int32),
        e_deadline=deadline.astype(np.int32),
        e_oci=e_oci.astype(np.int32),
        e_sex=sex,
        e_age=age,
        e_scope_kind=np.where(e_region_scope, 1, 2).astype(np.int8),
        e_scope_code=np.where(e_region_scope, region_ix[region[e_m]], macro_ix[macro[e_m]]).astype(np.int32),
        e_macro=macro_ix[macro[e_m]].astype(np.int32),
        e_uf=np.full(n_entries, uf_ix, dtype=np.int32),
        e_short=rng.random(n_entries) < 0.3,
        e_unav_ptr=ptr,
        e_unav=unav,
        b_id=ids_b,
        b_provider=b_offer.astype(np.int32),
        b_scope=b_scope,
        b_date=(today + 3 + 7 * b_week).astype(np.int32),
        b_days=np.full(k, 7, dtype=np.int16),
        b_oci=off_oci[b_offer].astype(np.int32),
        b_cap=rng.poisson(30, k).astype(np.int64),
        b_tele=off_tele[b_offer],
        b_age_min=off_age_min[b_offer].astype(np.int16),
        b_age_max=np.full(k, 999, dtype=np.int16),
        b_sex=off_sex[b_offer].astype(np.int8),
        q_id=empty_s,
        q_muni=empty_i,
        q_provider=empty_i,
        q_oci=empty_i,
        q_start=empty_i,
        q_end=empty_i,
        q_limit=np.zeros(0, dtype=np.int64),
        km_row=km_row,
        km_col=km_row.copy(),
        km=km,
    )


def subsample(p: Problem, n: int, seed: int = 7) -> Problem:
    """The first ``n`` entries of a problem (entries are generated independently, so this is a smaller instance
    of the same distribution) with the bucket capacities scaled by the same fraction."""
    frac = n / p.n_entries
    rng = np.random.default_rng(seed)
    cap = rng.binomial(p.b_cap, frac).astype(np.int64)
    return replace(take_entries(p, np.arange(n, dtype=np.int64)), b_cap=cap)


def per_patient(problem: Problem) -> dict[str, Any]:
    """The per-patient min-cost flow: one node per entry, one arc per eligible (entry, bucket) pair. Pinned
    entries are taken out with the capacity they hold; with incumbents every cost is doubled and an incumbent's own
    pair earns ``2·change_penalty + 1`` (the class model's objective, in the same units: see ``flow.py``)."""
    t0 = time.perf_counter()
    problem, _ = without_pinned(problem)
    sig = signatures(problem)
    p, _ = escalate_problem(problem, sig)
    inc = p.e_incumbent
    scale = 1 if inc is None else 2
    bonus = 2 * p.params.change_penalty + 1
    forbid = p.params.late_policy == "forbid"
    n, k = p.n_entries, p.n_buckets
    keys = np.stack([p.e_oci.astype(np.int64), p.e_scope_kind.astype(np.int64), p.e_scope_code.astype(np.int64)], 1)
    groups, inverse = np.unique(keys, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    order = np.argsort(inverse, kind="stable")
    bounds = np.searchsorted(inverse[order], np.arange(groups.shape[0] + 1))
    tails: list[np.ndarray[Any, Any]] = []
    heads: list[np.ndarray[Any, Any]] = []
    costs: list[np.ndarray[Any, Any]] = []
    for g, (oci, kind, code) in enumerate(groups.tolist()):
        members = order[bounds[g] : bounds[g + 1]]
        cand = np.flatnonzero((p.b_oci == oci) & (p.b_scope[kind] == code))
        for chunk in np.array_split(members, max(1, members.size * max(cand.size, 1) // 5_000_000 + 1)):
            e = np.repeat(chunk, cand.size)
            b = np.tile(cand, chunk.size).astype(np.int64)
            ok = pair_ok(
                p,
                sig,
                cut=sig.cut[e],
                band=sig.band[e],
                sex=sig.sex[e],
                short=sig.short[e],
                unav=sig.unav[e],
                bucket=b,
                forbid_late=forbid,
            )
            e, b = e[ok], b[ok]
            value, earliness, _, travel, late = cost_components(p, e, b)
            cost = (-value + earliness + travel + late).astype(np.int64)
            if inc is not None:
                cost = scale * cost - np.where(inc[e] == b, bonus, 0)
            tails.append(e.astype(np.int32))
            heads.append((n + b).astype(np.int32))
            costs.append(cost)
    pair_t = np.concatenate(tails)
    n_pairs = int(pair_t.size)
    sink = n + k
    all_t = np.concatenate([np.arange(n), pair_t, n + np.arange(k)]).astype(np.int64)
    del pair_t
    all_h = np.concatenate([np.full(n, sink), np.concatenate(heads), np.full(k, sink)]).astype(np.int64)
    del heads
    all_c = np.concatenate([np.zeros(n, np.int64), np.concatenate(costs), np.zeros(k, np.int64)])
    del costs
    all_cap = np.concatenate([np.ones(n, np.int64), np.ones(n_pairs, np.int64), p.b_cap])
    built = time.perf_counter() - t0
    smcf = min_cost_flow.SimpleMinCostFlow()
    smcf.add_arcs_with_capacity_and_unit_cost(all_t, all_h, all_cap, all_c)
    del all_t, all_h, all_cap, all_c
    supplies = np.zeros(sink + 1, dtype=np.int64)
    supplies[:n] = 1
    supplies[sink] = -n
    smcf.set_nodes_supplies(np.arange(sink + 1), supplies)
    status = smcf.solve()
    seconds = time.perf_counter() - t0
    return {
        "seconds": seconds,
        "build_seconds": built,
        "status": int(status),
        "objective": int(smcf.optimal_cost()),
        "pairs": n_pairs,
        "pairs_per_entry": n_pairs / max(n, 1),
        "arcs": int(smcf.num_arcs()),
        "nodes": int(smcf.num_nodes()),
    }


def cpu_seconds() -> float:
    """CPU seconds of this process and of its reaped children (the solver's worker processes): less sensitive than
    wall time to other work on a shared machine."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def child(args: argparse.Namespace) -> None:
    spec = SCENARIOS[args.scenario]
    problem = generate(
        spec["entries"],
        levels=spec["levels"],
        km_band=spec["km_band"],
        seed=args.seed,
        regional=spec.get("regional", False),
    )
    if args.entries and args.entries < problem.n_entries:
        problem = subsample(problem, args.entries)
    out: dict[str, Any] = {"entries": problem.n_entries, "buckets": problem.n_buckets}
    if args.solver in ("classes", "both"):
        t0, c0 = time.perf_counter(), cpu_seconds()
        allocation = solve_problem(problem, workers=args.workers)
        out["classes_seconds"] = time.perf_counter() - t0
        out["classes_cpu_seconds"] = cpu_seconds() - c0
        out["status"] = allocation.status
        out["objective"] = allocation.objective
        out["stats"] = allocation.stats.model_dump()
        out["meta"] = allocation.meta.model_dump()
        out["slots"] = int(problem.b_cap.sum())
        out["escalated"] = int(allocation.escalated.size)
        del allocation
    if args.solver in ("per-patient", "both"):
        out["per_patient"] = per_patient(problem)
        if "objective" in out:
            out["same_objective"] = out["objective"] == out["per_patient"]["objective"]
    print(json.dumps(out))


def run_child(argv: list[str], module: str = "benchmarks.bench_allocation") -> tuple[dict[str, Any], int]:
    proc = subprocess.Popen(  # noqa: S603 -- a benchmark script of ours, with arguments built here
        [sys.executable, "-m", module, "--child", *argv], stdout=subprocess.PIPE
    )
    assert proc.stdout is not None
    data = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"child failed: {argv}")
    return json.loads(data), int(usage.ru_maxrss)  # KiB on Linux


def machine() -> dict[str, Any]:
    cpu = "?"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {"nproc": os.cpu_count(), "memory_gib": round(mem, 1), "cpu": cpu, "python": platform.python_version()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenario", default="all", choices=["a", "b", "c", "all"])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--entries", type=int, default=0, help="(child) subsample to this many entries")
    ap.add_argument("--solver", default="classes", choices=["classes", "per-patient", "both"])
    ap.add_argument("--baseline-entries", type=int, default=100_000, help="size at which the baseline runs")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return
    print(json.dumps({"machine": machine()}))
    for scenario in ["a", "b", "c"] if args.scenario == "all" else [args.scenario]:
        base = ["--scenario", scenario, "--seed", str(args.seed)]
        if args.workers:
            base += ["--workers", str(args.workers)]
        runs = [run_child([*base, "--solver", "classes"]) for _ in range(args.runs)]
        secs = [r[0]["classes_seconds"] for r in runs]
        rss = [r[1] for r in runs]
        row = {
            "scenario": scenario,
            "classes_median_s": round(statistics.median(secs), 3),
            "classes_runs_s": [round(s, 3) for s in secs],
            "classes_cpu_median_s": round(statistics.median(r[0]["classes_cpu_seconds"] for r in runs), 3),
            "classes_peak_rss_mib": round(max(rss) / 1024, 1),
            "result": runs[0][0],
        }
        n_full = SCENARIOS[scenario]["entries"]
        nb = min(args.baseline_entries, n_full)
        bl = [
            run_child([*base, "--solver", "both", "--entries", str(nb)] if nb < n_full else [*base, "--solver", "both"])
            for _ in range(args.runs)
        ]
        row["baseline_entries"] = nb
        row["baseline_median_s"] = round(statistics.median(r[0]["per_patient"]["seconds"] for r in bl), 3)
        row["baseline_classes_median_s"] = round(statistics.median(r[0]["classes_seconds"] for r in bl), 3)
        row["baseline_peak_rss_mib"] = round(max(r[1] for r in bl) / 1024, 1)
        row["baseline_same_objective"] = all(r[0]["same_objective"] for r in bl)
        row["baseline_result"] = bl[0][0]
        print(json.dumps(row))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
