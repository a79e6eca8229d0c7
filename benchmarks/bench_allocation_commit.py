"""Allocation benchmark (f): committing the Santa Catarina demonstration's run while its entries are suspended, run
by hand (never by pytest)::

    .venv/bin/python -m benchmarks.bench_allocation_commit
    .venv/bin/python -m benchmarks.bench_allocation_commit --suspensions 200 --spacing 0.05
    .venv/bin/python -m benchmarks.bench_allocation_commit --suspensions 0 --capacity-factor 1.6 --runs 3  # state-sized

Creates a throwaway database (``regula_bench_commit_<random>``), runs the migrations, loads the reference data and
the demonstration (``load_demo_data``, default seed and size), proposes and approves a ``uf:SC`` run through the
service, then commits it in one transaction while ``--suspensions`` of its entries (highest ids first, the opposite
of the commit's lock order) are suspended from other connections, one every ``--spacing`` seconds. Reports the
commit's wall time, how many suspensions and commits ended in a deadlock or serialization failure (issue 11 item 8:
it used to be a deadlock, and a 99 s retry), and checks that no suspended entry holds a place and that every slot's
counter matches its active bookings. The database is dropped at the end (``--keep`` keeps it).

``--runs N`` loads the data once into a template database and repeats propose, approve and commit N times, each on a
fresh copy of it (``CREATE DATABASE … TEMPLATE``), and reports the median commit time; ``--horizon-days`` widens the
run's horizon (the service's default is 60 days; the demo's agendas end about six weeks ahead) and
``--capacity-factor`` multiplies the places of every open slot still ahead after the load: the demo alone gives
2,954 assignments; ``--capacity-factor 1.6`` a state-sized run of about 5,500 (issue 18 target 5: ≤ 5 s for 5,500
bookings).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import uuid
from typing import Any

from pydantic import SecretStr
from sqlalchemy import make_url, text
from sqlalchemy.exc import DBAPIError

from benchmarks.bench_allocation import machine
from benchmarks.bench_allocation_quality import _admin, _asyncpg, _load
from regula.access.policy import Jurisdiction
from regula.allocation import service as allocation
from regula.audit.service import AuditContext, set_context
from regula.audit.service import install as install_audit
from regula.config import Settings
from regula.db import migrate
from regula.db.engine import make_database
from regula.db.limits import install as install_length_limits
from regula.waitlist import service as wl
from regula.wiring import wire

CONCURRENCY_SQLSTATES = ("40P01", "40001")
CONNECTIONS = 16


async def _race(
    url: str, settings: Settings, suspensions: int, spacing: float, horizon_days: int = allocation.DEFAULT_HORIZON_DAYS
) -> dict[str, Any]:
    db = make_database(url, pool_size=CONNECTIONS + 2)
    gate = asyncio.Semaphore(CONNECTIONS)  # like an app's pool: suspensions beyond it queue, as requests would
    actor = wl.Actor("bench.regulador", "regulador", None, Jurisdiction.parse("uf:SC", "scope"))
    try:
        t0 = time.perf_counter()
        async with db.transaction() as session:
            set_context(session, AuditContext.system("bench", "bench_allocation_commit"))
            run = await allocation.propose_now(session, settings, "uf:SC", actor, horizon_days=horizon_days)
            assert run.id is not None
            run_id = run.id
        propose_seconds = time.perf_counter() - t0
        async with db.transaction() as session:
            await allocation.decide(session, run_id, "aprovada", actor)
            pairs = (
                await session.execute(
                    text("SELECT entry_id FROM allocation_assignment WHERE run_id = :r ORDER BY entry_id DESC"),
                    {"r": run_id},
                )
            ).all()
        entry_ids = [int(e) for (e,) in pairs]
        step = max(1, len(entry_ids) // max(1, suspensions))
        victims = entry_ids[::step][:suspensions]
        failures: dict[str, int] = {}

        async def commit() -> tuple[float, dict[str, Any]]:
            started = time.perf_counter()
            async with db.transaction() as session:
                set_context(session, AuditContext.system("bench", "bench_allocation_commit"))
                report = await allocation.commit(session, settings, run_id, actor)
            return time.perf_counter() - started, report

        async def suspend(entry_id: int, delay: float) -> str:
            await asyncio.sleep(delay)
            try:
                async with gate, db.transaction() as session:
                    set_context(session, AuditContext.system("bench", "bench_allocation_commit"))
                    await wl.transition(
                        session, entry_id, "suspensa", actor, settings, reason_code="adiamento_pelo_paciente"
                    )
                    return "suspensa"
            except DBAPIError as exc:
                state = str(getattr(exc.orig, "sqlstate", ""))
                failures[state] = failures.get(state, 0) + 1
                return f"db_error_{state}"

        results = await asyncio.gather(
            commit(), *(suspend(e, spacing * i) for i, e in enumerate(victims)), return_exceptions=True
        )
        first = results[0]
        if isinstance(first, BaseException):
            state = str(getattr(getattr(first, "orig", None), "sqlstate", ""))
            return {"commit_error": repr(first)[:300], "commit_sqlstate": state, "failures": failures}
        commit_seconds, report = first
        async with db.transaction() as session:
            booked_victims = (
                await session.execute(
                    text("SELECT count(*) FROM slot_booking WHERE status = 'ativa' AND entry_id = ANY(:ids)"),
                    {"ids": victims},
                )
            ).scalar_one()
            bad_counters = (
                await session.execute(
                    text(
                        "SELECT count(*) FROM agenda_slot s WHERE booked <> (SELECT count(*) FROM slot_booking b "
                        "WHERE b.slot_id = s.id AND b.status IN ('ativa', 'realizada', 'faltou'))"
                    )
                )
            ).scalar_one()
        outcomes: dict[str, int] = {}
        for r in results[1:]:
            key = r if isinstance(r, str) else f"error_{type(r).__name__}"
            outcomes[key] = outcomes.get(key, 0) + 1
        return {
            "run": run_id,
            "assignments": len(entry_ids),
            "propose_seconds": round(propose_seconds, 1),
            "commit_seconds": round(commit_seconds, 2),
            "commit": {k: (len(v) if isinstance(v, list) else v) for k, v in report.items()},
            "suspensions": len(victims),
            "suspension_outcomes": outcomes,
            "db_errors_by_sqlstate": failures,
            "deadlocks_or_serialization_failures": sum(failures.get(s, 0) for s in CONCURRENCY_SQLSTATES),
            "suspended_entries_holding_a_place": int(booked_victims),
            "slots_whose_counter_differs": int(bad_counters),
        }
    finally:
        await db.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--suspensions", type=int, default=200)
    ap.add_argument("--spacing", type=float, default=0.05, help="seconds between two suspensions")
    ap.add_argument("--horizon-days", type=int, default=allocation.DEFAULT_HORIZON_DAYS)
    ap.add_argument("--capacity-factor", type=float, default=1.0, help="places of each open slot, times this")
    ap.add_argument("--runs", type=int, default=1, help="commits, each on a fresh copy of the loaded data")
    ap.add_argument("--keep", action="store_true", help="keep the database (the template when --runs > 1)")
    args = ap.parse_args()
    server = _asyncpg(args.server)
    name = f"regula_bench_commit_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin(server, f'CREATE DATABASE "{name}"'))
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    out: dict[str, Any] = {
        "machine": machine(),
        "database": name,
        "horizon_days": args.horizon_days,
        "capacity_factor": args.capacity_factor,
    }
    copies: list[str] = []
    try:
        migrate.upgrade(url)
        settings = Settings(database_url=SecretStr(url))
        out |= asyncio.run(_load(url, settings))
        if args.capacity_factor != 1.0:
            out["open_places"] = asyncio.run(_widen(url, args.capacity_factor))
        if args.runs <= 1:
            out |= asyncio.run(_race(url, settings, args.suspensions, args.spacing, args.horizon_days))
        else:
            runs = []
            for i in range(args.runs):
                copy = f"{name}_r{i}"
                copies.append(copy)
                asyncio.run(_admin(server, f'CREATE DATABASE "{copy}" TEMPLATE "{name}"'))
                copy_url = make_url(server).set(database=copy).render_as_string(hide_password=False)
                copy_settings = Settings(database_url=SecretStr(copy_url))
                runs.append(
                    asyncio.run(_race(copy_url, copy_settings, args.suspensions, args.spacing, args.horizon_days))
                )
                runs[-1]["loadavg"] = _loadavg()
                asyncio.run(_drop(server, copy))
                print(json.dumps(runs[-1], ensure_ascii=False), flush=True)
            seconds = [r["commit_seconds"] for r in runs if "commit_seconds" in r]
            out |= {
                "runs": runs,
                "commit_seconds_each": seconds,
                "commit_seconds_median": round(statistics.median(seconds), 2) if seconds else None,
            }
        print(json.dumps(out, ensure_ascii=False, indent=1))
    finally:
        for copy in copies:
            asyncio.run(_drop(server, copy))
        if not args.keep:
            asyncio.run(_drop(server, name))


async def _widen(url: str, factor: float) -> int:
    """More places in the slots ahead (a state's agendas): ``capacity × factor``, rounded up or down by the slot's
    id (deterministic dithering: on average exactly × factor, so 1.6 gives a second place to 60% of the one-place
    slots). Returns the places free afterwards."""
    db = make_database(url, pool_size=1)
    try:
        async with db.transaction() as session:
            await session.execute(
                text(
                    "UPDATE agenda_slot SET capacity = "
                    "CAST(floor(capacity * CAST(:f AS float8) + (id % 100) / 100.0) AS int) "
                    "WHERE status = 'aberta' AND starts_at > now()"
                ),
                {"f": factor},
            )
            free = await session.execute(
                text("SELECT coalesce(sum(capacity - booked), 0) FROM agenda_slot WHERE status = 'aberta'")
            )
            return int(free.scalar_one())
    finally:
        await db.dispose()


def _loadavg() -> str:
    with open("/proc/loadavg", encoding="ascii") as f:
        return " ".join(f.read().split()[:3])


async def _drop(server: str, name: str) -> None:
    await _admin(server, f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")  # noqa: S608
    await _admin(server, f'DROP DATABASE IF EXISTS "{name}"')


if __name__ == "__main__":
    wire()  # services are called directly here: connect the domain events as the app and the CLI do
    # ... and the flush listeners (the audit rows, the length check): part of what a commit costs in the app.
    install_audit()
    install_length_limits()
    main()
