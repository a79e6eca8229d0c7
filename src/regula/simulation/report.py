"""The report of a simulation (and of a comparison): what a manager asks, computed from the runs' outcomes.

Canonical JSON: sorted keys, numbers rounded (one decimal for percentages and days), no wall-clock figure — the same
scenario and seed give the same bytes. With several replications every number is the mean over them, and
``intervals`` gives the 95% confidence interval (Student's t) of each scalar; a comparison runs every scenario on
the same seeds (common random numbers) and gives the paired differences to the first one with their intervals.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from regula.simulation import demand as dm
from regula.simulation.engine import CONCLUDED, LEFT, WAITING, Outcome, simulate
from regula.simulation.reference import reference
from regula.simulation.scenario import Scenario, dump_scenario
from regula.waitlist import measures

REPORT_FORMAT: Final = "regula.simulation.report/1"
COMPARISON_FORMAT: Final = "regula.simulation.comparison/1"
MIN_GROUP: Final = 30  # people served in a group for its median wait to enter the equity gap
EQUITY_RACES: Final = ("branca", "preta", "parda", "amarela", "indigena")
# Two-sided 95% Student's t quantiles by degrees of freedom (1…30); 1.96 beyond.
T95: Final = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
    2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip

Progress = Callable[[float, str], None]


def _r1(x: float) -> float:
    return float(round(x, 1))


def _pct(part: int, whole: int) -> float | None:
    """measures.Share: percent with one decimal, None when there is nothing to count."""
    return measures.Share(part, whole).percent


def _wait_stats(waits: npt.NDArray[np.int64]) -> dict[str, Any]:
    if waits.size == 0:
        return {"n": 0, "median": None, "p90": None}
    return {
        "n": int(waits.size),
        "median": _r1(float(np.median(waits))),
        "p90": _r1(float(np.percentile(waits, 90))),
    }


def replication_metrics(o: Outcome) -> dict[str, Any]:
    """The metrics of one run, over the referrals authorized in the measured period (after the warm-up)."""
    sc, d, ref = o.scenario, o.demand, o.ref
    warm = sc.warmup_days
    measured = d.day >= warm
    max_days = np.array([x.summary.max_days for x in ref.ocis], dtype=np.int64)[d.oci]
    served = measured & (o.first_day >= 0)
    concluded = measured & (o.status == CONCLUDED)
    first = o.first_day.astype(np.int64)
    last = o.last_day.astype(np.int64)
    auth = d.day.astype(np.int64)
    # measures.tm_deadline (authorization + tM; nothing paused) for the wait, measures.within_tm for the execution.
    started_in_time = first <= auth + max_days
    executed_in_time = (last - first) <= max_days
    within = concluded & started_in_time & executed_in_time
    n_ref = int(measured.sum())
    n_conc = int(concluded.sum())

    by_oci: dict[str, Any] = {}
    for k, oci in enumerate(ref.ocis):
        mk = measured & (d.oci == k)
        if not mk.any():
            continue
        ck = concluded & (d.oci == k)
        by_oci[oci.summary.code] = {
            "referrals": int(mk.sum()),
            "concluded": int(ck.sum()),
            "concluded_within_tm_pct": _pct(int((within & (d.oci == k)).sum()), int(ck.sum())),
        }
    waits = first - auth
    by_risk_tm: dict[str, float | None] = {}
    median_wait: dict[str, float | None] = {}
    p90_wait: dict[str, float | None] = {}
    by_sex: dict[str, Any] = {}
    by_race: dict[str, Any] = {}
    by_vuln: dict[str, Any] = {}
    gaps: dict[str, Any] = {}
    for r, risk in enumerate(dm.RISK_CLASSES):
        in_r = d.risk == r
        by_risk_tm[risk] = _pct(int((within & in_r).sum()), int((concluded & in_r).sum()))
        stats = _wait_stats(waits[served & in_r])
        median_wait[risk], p90_wait[risk] = stats["median"], stats["p90"]
        groups: dict[str, dict[str, Any]] = {
            "sexo": {s: _wait_stats(waits[served & in_r & (d.sex == i)]) for i, s in enumerate(dm.SEXES)},
            "raca_cor": {
                race: _wait_stats(waits[served & in_r & (d.race == dm.RACES.index(race))]) for race in EQUITY_RACES
            },
            "vulnerabilidade": {
                "cadunico": _wait_stats(waits[served & in_r & d.cadunico]),
                "sem_cadunico": _wait_stats(waits[served & in_r & ~d.cadunico]),
            },
        }
        by_sex[risk], by_race[risk], by_vuln[risk] = groups["sexo"], groups["raca_cor"], groups["vulnerabilidade"]
        gaps[risk] = _gap(groups)
    gap_values = [g["pct"] for g in gaps.values() if g["pct"] is not None]

    slots = int(o.slots_by_day[warm:].sum())
    attended = int(o.attended_by_day[warm:].sum())
    no_shows = int(o.no_show_by_day[warm:].sum())
    waiting_end = measured & (o.status == WAITING)
    waited_end = sc.days - auth
    return {
        "referrals": n_ref,
        "served": int(served.sum()),
        "concluded": n_conc,
        "concluded_within_tm": int(within.sum()),
        "concluded_within_tm_pct": _pct(int(within.sum()), n_conc),
        "execution_within_tm_pct": _pct(int((concluded & executed_in_time).sum()), n_conc),
        "concluded_within_tm_by_oci": by_oci,
        "concluded_within_tm_by_risk": by_risk_tm,
        "appointments_due": attended + no_shows,
        "no_shows": no_shows,
        "no_show_pct": _pct(no_shows, attended + no_shows),
        "slots": slots,
        "slots_used": attended,
        "slots_used_pct": _pct(attended, slots),
        "slots_lost_no_show_pct": _pct(no_shows, slots),
        "median_wait_days": median_wait,
        "p90_wait_days": p90_wait,
        "wait_by_sex": by_sex,
        "wait_by_race_color": by_race,
        "wait_by_vulnerability": by_vuln,
        "equity_gap_pct": max(gap_values) if gap_values else None,
        "equity_gap_by_risk": gaps,
        "escalations": int((measured & o.escalated).sum()),
        "served_with_widened_scope": int((served & o.widened).sum()),
        "left_queue": int((measured & (o.status == LEFT) & (o.first_day < 0)).sum()),
        "deaths_waiting": int((measured & o.left_death & (o.first_day < 0)).sum()),
        "waiting_at_end": int(waiting_end.sum()),
        "waiting_past_tm_at_end": int((waiting_end & (waited_end > max_days)).sum()),
        "activity": dict(sorted(o.counts.items())),
    }


def _gap(groups: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> dict[str, Any]:
    """The largest relative difference in median wait between groups of one dimension (sex, race/colour,
    vulnerability) within a risk class, among groups with at least MIN_GROUP people served."""
    best: dict[str, Any] = {"pct": None, "dimension": None, "longest": None, "shortest": None}
    for dim, stats in groups.items():
        ok = [(s["median"], name) for name, s in stats.items() if s["n"] >= MIN_GROUP and s["median"] is not None]
        if len(ok) < 2:
            continue
        low, high = min(ok), max(ok)
        pct = _r1(100.0 * (high[0] - low[0]) / max(low[0], 1.0))
        if best["pct"] is None or pct > best["pct"]:
            best = {"pct": pct, "dimension": dim, "longest": high[1], "shortest": low[1]}
    return best


# -- aggregation over replications -----------------------------------------------------------------------------


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """Numeric leaves by dotted key (the scalars that get confidence intervals)."""
    out: dict[str, float] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, name + "."))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            out[name] = float(value)
    return out


def _mean_tree(trees: Sequence[Any]) -> Any:
    first = trees[0]
    if isinstance(first, Mapping):
        return {k: _mean_tree([t.get(k) if isinstance(t, Mapping) else None for t in trees]) for k in first}
    numbers = [t for t in trees if isinstance(t, int | float) and not isinstance(t, bool)]
    if len(numbers) == len(trees) and numbers:
        if all(isinstance(t, int) for t in numbers) and len(numbers) == 1:
            return numbers[0]
        return _r1(sum(numbers) / len(numbers))
    if len(numbers) < len(trees) and numbers and all(t is None or isinstance(t, int | float) for t in trees):
        return _r1(sum(numbers) / len(numbers))
    return first


def interval(values: Sequence[float]) -> dict[str, float | int | None]:
    """Mean and 95% confidence interval (Student's t) of the replications' values."""
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return {"mean": _r1(mean), "low": None, "high": None, "n": n}
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = (T95[n - 2] if n - 1 <= len(T95) else 1.96) * sd / math.sqrt(n)
    return {"mean": _r1(mean), "low": _r1(mean - half), "high": _r1(mean + half), "n": n}


def seeds(scenario: Scenario) -> list[int]:
    """The replications' seeds: the scenario's seed, then seed + 1_000_003·r (the same for every scenario)."""
    return [scenario.seed + 1_000_003 * r for r in range(scenario.replications)]


def run_replications(
    scenario: Scenario, progress: Progress | None = None, *, share: tuple[float, float] = (0.0, 1.0)
) -> list[dict[str, Any]]:
    ref = reference(scenario.uf.upper())
    out = []
    runs = seeds(scenario)
    lo, width = share
    for r, seed in enumerate(runs):

        def step(day: int, days: int, r: int = r) -> None:
            if progress is not None:
                done = lo + width * (r + day / days) / len(runs)
                progress(done, f"Replicação {r + 1} de {len(runs)}: dia {day} de {days}")

        out.append(replication_metrics(simulate(scenario, ref, seed, step)))
    return out


def build_report(scenario: Scenario, per_replication: list[dict[str, Any]]) -> dict[str, Any]:
    flat = [flatten(m) for m in per_replication]
    keys = sorted(set().union(*flat))
    intervals = {k: interval([f[k] for f in flat if k in f]) for k in keys if all(k in f for f in flat)}
    return {
        "format": REPORT_FORMAT,
        "scenario": dump_scenario(scenario),
        "effective": {
            "messages": scenario.effective_messages,
            "backfill": scenario.effective_backfill,
            "allocator": scenario.effective_allocator,
            "equity_weights": scenario.equity_weights,
            "simulated_days": scenario.days,
            "measured_days": scenario.days - scenario.warmup_days,
        },
        "seeds": seeds(scenario),
        "replications": len(per_replication),
        "metrics": _mean_tree(per_replication),
        "intervals": intervals,
        "per_replication": per_replication,
    }


def run_scenario(scenario: Scenario, progress: Progress | None = None) -> dict[str, Any]:
    return build_report(scenario, run_replications(scenario, progress))


def compare(scenarios: Sequence[Scenario], progress: Progress | None = None) -> dict[str, Any]:
    """Every scenario on the first one's seeds and replications (common random numbers); differences to the first."""
    if not scenarios:
        raise ValueError("nothing to compare")
    base = scenarios[0]
    aligned = [s.model_copy(update={"seed": base.seed, "replications": base.replications}) for s in scenarios]
    reports = []
    for i, s in enumerate(aligned):
        per = run_replications(s, progress, share=(i / len(aligned), 1 / len(aligned)))
        reports.append(build_report(s, per))
    base_flat = [flatten(m) for m in reports[0]["per_replication"]]
    differences = []
    for rep in reports[1:]:
        flat = [flatten(m) for m in rep["per_replication"]]
        keys = sorted(set(base_flat[0]) & set(flat[0]))
        diffs = {
            k: interval([f[k] - b[k] for f, b in zip(flat, base_flat, strict=True)])
            for k in keys
            if all(k in f for f in flat) and all(k in b for b in base_flat)
        }
        differences.append({"scenario": rep["scenario"]["name"], "against": reports[0]["scenario"]["name"], **diffs})
    return {"format": COMPARISON_FORMAT, "seeds": seeds(aligned[0]), "reports": reports, "differences": differences}


def dump(report: Mapping[str, Any]) -> bytes:
    """Canonical bytes: sorted keys, UTF-8, one trailing newline."""
    return (json.dumps(report, ensure_ascii=False, sort_keys=True, indent=1) + "\n").encode("utf-8")
