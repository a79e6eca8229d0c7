"""Allocation benchmark (e): the optimizer against the greedy baseline on the Santa Catarina demonstration, run by
hand (never by pytest)::

    .venv/bin/python -m benchmarks.bench_allocation_quality --runs 3
    .venv/bin/python -m benchmarks.bench_allocation_quality --server postgresql://postgres@127.0.0.1:5432/postgres

Creates a throwaway database on the server (``regula_bench_quality_<random>``), runs the migrations, loads the
reference data and the demonstration (``regula demo``'s data: ``load_demo_data`` with its default seed and size),
builds the ``uf:SC`` instance exactly as an allocation run does (``allocation.service.build_instance``), solves it
with the exact optimizer and with the greedy baseline, checks both with the validator, and compares them on the
same instance: priority-weighted service, entries served after their tM deadline, kilometres travelled, and the
median wait (days from authorization to the slot's date) of the people served, by race/color and by vulnerability
(CadÚnico and vulnerability-index bands). The database is dropped at the end (``--keep`` keeps it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from pydantic import SecretStr
from sqlalchemy import make_url, select, text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlmodel import col

from benchmarks.bench_allocation import machine
from regula.access.policy import Jurisdiction
from regula.allocation.service import build_instance
from regula.config import Settings
from regula.db import migrate
from regula.db.engine import make_database
from regula.optimizer.flow import solve
from regula.optimizer.greedy import solve_greedy
from regula.optimizer.instance import Instance, Solution
from regula.optimizer.rules import Travel, cost_parts
from regula.optimizer.validate import validate
from regula.people.models import Citizen
from regula.waitlist.models import WaitlistEntry
from regula.wiring import wire

VULNERABILITY_BANDS = ((0.0, 0.25), (0.25, 0.5), (0.5, 0.75), (0.75, 1.01))


async def _admin(url: str, sql: str) -> None:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text(sql))
    await engine.dispose()


def _asyncpg(url: str) -> str:
    u = make_url(url)
    if u.drivername in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+asyncpg")
    return u.render_as_string(hide_password=False)


async def _in_transaction(url: str, work: Callable[[AsyncSession], Any]) -> Any:
    db = make_database(url, pool_size=2)
    try:
        async with db.transaction() as session:
            return await work(session)
    finally:
        await db.dispose()


async def _load(url: str, settings: Settings) -> dict[str, Any]:
    from rich.console import Console

    from regula.demo import load_demo_data
    from regula.seed import load_reference_data

    quiet = Console(quiet=True)
    await _in_transaction(url, lambda s: load_reference_data(s, settings, quiet))
    t0 = time.perf_counter()
    summary = await _in_transaction(url, lambda s: load_demo_data(s, settings))
    return {"demo_seconds": round(time.perf_counter() - t0, 1), "demo": repr(summary)[:400]}


async def _instance(url: str, settings: Settings) -> tuple[Instance, dict[str, tuple[str, bool, float | None]]]:
    async def work(session: AsyncSession) -> tuple[Instance, dict[str, tuple[str, bool, float | None]]]:
        built = await build_instance(session, settings, Jurisdiction.parse("uf:SC", "scope"))
        ids = [int(e.id) for e in built.instance.entries]
        rows = (
            await session.execute(
                select(
                    col(WaitlistEntry.id),
                    col(Citizen.race_color),
                    col(Citizen.cadunico),
                    col(Citizen.vulnerability_index),
                )
                .join(Citizen, col(Citizen.id) == col(WaitlistEntry.citizen_id))
                .where(col(WaitlistEntry.id).in_(ids))
            )
        ).all()
        people = {str(i): (race, bool(cad), None if v is None else float(v)) for i, race, cad, v in rows}
        return built.instance, people

    result: tuple[Instance, dict[str, tuple[str, bool, float | None]]] = await _in_transaction(url, work)
    return result


def _band(v: float | None) -> str:
    if v is None:
        return "índice ausente"
    for lo, hi in VULNERABILITY_BANDS:
        if lo <= v < hi:
            return f"índice {lo:.2f}–{min(hi, 1.0):.2f}"
    return "índice ausente"


def _median(values: list[int]) -> float | None:
    return float(statistics.median(values)) if values else None


def metrics(
    instance: Instance, solution: Solution, people: dict[str, tuple[str, bool, float | None]]
) -> dict[str, Any]:
    params = instance.params
    entries = {e.id: e for e in instance.entries}
    buckets = {b.id: b for b in instance.buckets}
    travel = Travel(instance)
    value = late = avoidable = km = tele = score = 0
    waits: dict[str, list[int]] = defaultdict(list)
    ahead: list[int] = []
    for a in solution.assignments:
        e, b = entries[a.entry_id], buckets[a.bucket_id]
        parts = cost_parts(e, b, params, travel)
        value += parts.value
        score += e.priority
        late += b.date > e.deadline
        avoidable += b.date > e.deadline >= params.today
        km += parts.travel_km
        tele += b.teleconsultation
        wait = (b.date - e.authorized_date).days
        ahead.append((b.date - params.today).days)
        race, cad, vuln = people[e.id]
        waits["todos"].append(wait)
        waits[f"raça/cor: {race}"].append(wait)
        waits["CadÚnico: sim" if cad else "CadÚnico: não"].append(wait)
        waits[f"vulnerabilidade: {_band(vuln)}"].append(wait)
    served = len(solution.assignments)
    unserved_overdue = sum(1 for i in solution.unassigned if entries[i].deadline < params.today)
    return {
        "served": served,
        "objective": solution.objective,
        "priority_weighted_value": value,
        "score_served": score,
        "served_after_deadline": late,
        "served_after_a_deadline_not_yet_passed": avoidable,
        "unserved_already_overdue": unserved_overdue,
        "mean_km": round(km / served, 2) if served else None,
        "teleconsultation": tele,
        "median_days_ahead": _median(ahead),
        "median_wait_days": {k: _median(v) for k, v in sorted(waits.items())},
        "served_by_group": {k: len(v) for k, v in sorted(waits.items())},
    }


def table(out: dict[str, Any]) -> str:
    """The comparison as a Markdown table (what docs/benchmarks.md shows)."""
    a, g = out["optimizer"], out["greedy"]
    rows = [
        ("entries served", "served"),
        ("objective (lower is better)", "objective"),
        ("priority-weighted service (Σ value of those served)", "priority_weighted_value"),
        ("Σ queue score of those served", "score_served"),
        ("served after their tM deadline", "served_after_deadline"),
        ("… of which the deadline had not passed yet", "served_after_a_deadline_not_yet_passed"),
        ("mean km travelled (teleconsultation 0)", "mean_km"),
        ("median days from today to the slot", "median_days_ahead"),
        ("solve time, median (s)", "median_seconds"),
    ]
    lines = ["| measure | optimizer | greedy |", "|---|---|---|"]
    lines += [f"| {label} | {_fmt(a[key])} | {_fmt(g[key])} |" for label, key in rows]
    lines += ["", "| median wait, authorization → slot (days) | optimizer (served) | greedy (served) |"]
    lines.append("|---|---|---|")
    for group in a["median_wait_days"]:
        lines.append(
            f"| {group} | {_fmt(a['median_wait_days'][group])} ({a['served_by_group'][group]}) "
            f"| {_fmt(g['median_wait_days'].get(group))} ({g['served_by_group'].get(group, 0)}) |"
        )
    return "\n".join(lines)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:,.1f}" if not v.is_integer() else f"{v:,.0f}"
    if isinstance(v, int):
        return f"{v:,}"
    return "—" if v is None else str(v)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--runs", type=int, default=3, help="solves of each allocator (for the times)")
    ap.add_argument("--keep", action="store_true", help="keep the database")
    args = ap.parse_args()
    server = _asyncpg(args.server)
    name = f"regula_bench_quality_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin(server, f'CREATE DATABASE "{name}"'))
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    out: dict[str, Any] = {"machine": machine(), "database": name}
    try:
        migrate.upgrade(url)
        settings = Settings(database_url=SecretStr(url))
        out |= asyncio.run(_load(url, settings))
        instance, people = asyncio.run(_instance(url, settings))
        out["instance"] = {
            "entries": len(instance.entries),
            "buckets": len(instance.buckets),
            "slots": sum(b.capacity for b in instance.buckets),
            "quotas": len(instance.quotas),
            "today": instance.params.today.isoformat(),
        }
        for label, solver in (("optimizer", solve), ("greedy", solve_greedy)):
            times = []
            for _ in range(args.runs):
                t0 = time.perf_counter()
                solution = solver(instance)
                times.append(time.perf_counter() - t0)
            violations = validate(instance, solution)
            out[label] = {
                "status": solution.status,
                "violations": len(violations),
                "median_seconds": round(statistics.median(times), 3),
                **metrics(instance, solution, people),
            }
            if label == "optimizer":
                out[label]["stats"] = solution.stats.model_dump()
        print(json.dumps(out, ensure_ascii=False, indent=1))
        print(table(out))
    finally:
        if not args.keep:
            asyncio.run(
                _admin(server, f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")  # noqa: S608
            )
            asyncio.run(_admin(server, f'DROP DATABASE IF EXISTS "{name}"'))


if __name__ == "__main__":
    wire()  # services are called directly here: connect the domain events as the app and the CLI do
    main()
