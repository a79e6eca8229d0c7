"""The weekly cycle at São Paulo scale (issue 18 item 7), run by hand (never by pytest)::

    .venv/bin/python -m benchmarks.bench_cycle --waiting 1000000 --week 20000 --runs 3

One regulation center's week, end to end, through regula's own services and in the order the scheduler and the
operators run them: **import** a week of referrals (``regula.waitlist.importer.import_referrals``, the CLI's
path), the nightly **refresh** of every queue (``regula.waitlist.refresh.nightly_refresh``), **allocate** the
state (``allocation.service.propose_now`` for ``uf:SC``: build the instance from the database, solve, store the
proposal), the operator's **approval**, and the **commit** (bookings, statuses, history, audit, and the outbox rows
of every appointment message). Target: ≤ 45 s and ≤ 6 GB.

The data:

1. a template database (``regula_bench_cycle_<random>``): migrations, the reference data and the Santa Catarina
   demonstration (``load_demo_data``: providers, agendas, users, ~11,000 waiting entries), the open slots ahead
   widened by ``--capacity-factor`` (as ``bench_allocation_commit``: 1.6 gives a state run of ~5,500 bookings);
2. the waiting list grown to ``--waiting`` entries in SQL, each new entry a copy of a demonstration entry (same
   OCI, queue, municipality, risk class, requesting unit) for a new citizen (a copy of that entry's citizen with a
   new CPF and name), authorized on a day spread over the last 400 days — so every queue the agendas serve is
   São Paulo-sized and the allocation sees a million candidates;
3. ``--week`` referral rows as a CSV (``benchmarks.bench_import_referrals.write_csv``: SC residents, the catalog's
   OCIs, 30% already authorized).

Each run clones the template (``CREATE DATABASE … TEMPLATE``) and runs the cycle **in a fresh Python process**, so
the peak resident memory reported (``ru_maxrss``) is that cycle's alone; PostgreSQL's own memory is not in it.
Baseline, in the same run and on the same copy, after the cycle: a plain ``COPY`` of the week's file into a
staging table plus one ``rank() OVER (PARTITION BY queue ORDER BY score DESC, authorized_at, id)`` over every
waiting entry, fetched — the least a cycle must do with the database (read the week in, order the queues).
Medians over the runs; the load average after each.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from sqlalchemy import make_url, text

from benchmarks.bench_allocation import machine
from benchmarks.bench_allocation_commit import _drop, _loadavg, _widen
from benchmarks.bench_allocation_quality import _admin, _asyncpg, _load
from benchmarks.bench_import_referrals import HEADER, write_csv
from regula.access.policy import Jurisdiction
from regula.allocation import service as allocation
from regula.audit.service import AuditContext, set_context
from regula.audit.service import install as install_audit
from regula.catalog.protocols import protocols_on
from regula.config import Settings
from regula.db import migrate
from regula.db.engine import make_database
from regula.db.limits import install as install_length_limits
from regula.models import load_all_models
from regula.waitlist import service as wl
from regula.waitlist.importer import import_referrals
from regula.waitlist.refresh import nightly_refresh
from regula.wiring import wire

SCOPE = "uf:SC"
WEEK_HEADER = (*HEADER, "checklist", "exames")  # the week's file: write_csv's columns and the protocol answers
TARGET_SECONDS = 45.0
TARGET_BYTES = 6 * 1024**3

# Columns of a copied citizen / entry that are not taken from the demonstration row they copy.
_CITIZEN_SET = {
    "id": None,  # identity
    "cpf": "lpad((70000000000 + g.n)::text, 11, '0')",
    "cns": "NULL",
    "name": "'Cidadao Ciclo ' || g.n",
    "search_name": "'cidadao ciclo ' || g.n",
    "social_name": "NULL",
}
_ENTRY_SET = {
    "id": None,
    "protocol": "'SC27' || lpad(g.n::text, 8, '0')",
    "citizen_id": "c.id",
    "external_source": "NULL",
    "external_id": "NULL",
    "authorized_at": "g.authorized_at",
    "requested_at": "g.authorized_at - interval '3 days'",
    "status_changed_at": "g.authorized_at",
    "created_at": "g.authorized_at",
    "updated_at": "g.authorized_at",
    "deadline_date": "(g.authorized_at + make_interval(days => p.max_days))::date",
    "score": "NULL",
    "position": "NULL",
    "queue_size": "NULL",
    "estimate_from": "NULL",
    "estimate_to": "NULL",
    "position_updated_at": "NULL",
    "suspended_days": "0",
}


def _dsn(url: str) -> str:
    """A libpq URL for asyncpg itself (the SQLAlchemy URLs here name the ``postgresql+asyncpg`` driver)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _columns(conn: Any, table: str) -> list[str]:
    rows = await conn.fetch(
        "SELECT column_name FROM information_schema.columns WHERE table_name = $1 AND table_schema = 'public' "
        "AND is_generated = 'NEVER' ORDER BY ordinal_position",
        table,
    )
    return [r["column_name"] for r in rows]


def _select_list(columns: list[str], overrides: dict[str, str | None], alias: str) -> tuple[str, str]:
    """Column names and the values selected for them: ``alias.column`` unless overridden; ``None`` leaves the column
    out (identity columns)."""
    names = [c for c in columns if not (c in overrides and overrides[c] is None)]
    values = [overrides.get(c) or f"{alias}.{c}" for c in names]
    return ", ".join(names), ", ".join(values)


async def _grow(server: str, name: str, waiting: int) -> dict[str, Any]:
    """The waiting list grown to ``waiting`` entries by copying the demonstration's waiting entries (see the module
    documentation), in SQL; then VACUUM ANALYZE."""
    import asyncpg  # type: ignore[import-untyped]

    conn = await asyncpg.connect(_dsn(make_url(server).set(database=name).render_as_string(hide_password=False)))
    try:
        have = int(await conn.fetchval("SELECT count(*) FROM waitlist_entry WHERE status = 'autorizada'"))
        add = max(0, waiting - have)
        started = time.perf_counter()
        citizen_cols, citizen_vals = _select_list(await _columns(conn, "citizen"), _CITIZEN_SET, "pc")
        entry_cols, entry_vals = _select_list(await _columns(conn, "waitlist_entry"), _ENTRY_SET, "p")
        async with conn.transaction():
            await conn.execute(
                "CREATE TEMP TABLE proto AS SELECT row_number() OVER (ORDER BY id) - 1 AS k, * "
                "FROM waitlist_entry WHERE status = 'autorizada'"
            )
            await conn.execute(
                f"""CREATE TEMP TABLE grown AS
                SELECT n, (n % (SELECT count(*) FROM proto)) AS k,
                       now() - make_interval(secs => abs(hashtext(n::text)::bigint) % 34560000) AS authorized_at
                FROM generate_series(1, {add}) AS n"""  # noqa: S608 - an integer
            )
            await conn.execute(
                f"INSERT INTO citizen ({citizen_cols}) "  # noqa: S608 - names from the catalog
                f"SELECT {citizen_vals} FROM grown g JOIN proto p ON p.k = g.k JOIN citizen pc ON pc.id = p.citizen_id"
            )
            await conn.execute(
                f"INSERT INTO waitlist_entry ({entry_cols}) "  # noqa: S608 - names from the catalog
                f"SELECT {entry_vals} FROM grown g JOIN proto p ON p.k = g.k "
                "JOIN citizen c ON c.cpf = lpad((70000000000 + g.n)::text, 11, '0')"
            )
        await conn.execute("VACUUM (ANALYZE) citizen")
        await conn.execute("VACUUM (ANALYZE) waitlist_entry")
        total = int(await conn.fetchval("SELECT count(*) FROM waitlist_entry WHERE status = 'autorizada'"))
        return {
            "demo_waiting": have,
            "added": add,
            "waiting": total,
            "grow_seconds": round(time.perf_counter() - started, 1),
        }
    finally:
        await conn.close()


async def _catalog_and_protocols(url: str, settings: Settings) -> tuple[Any, Any]:
    db = make_database(url, pool_size=1)
    try:
        async with db.transaction() as session:
            catalog = await wl.load_catalog(session, settings)
            return catalog, await protocols_on(session, wl.local_today(settings), settings)
    finally:
        await db.dispose()


def _answer_protocols(path: Path, protocols: Any) -> int:
    """The week's rows as APS teams send them under the demonstration's protocols (which require checklist items
    and exams that ``write_csv``'s rows, made for a database without protocols, do not answer): every item of the
    OCI's protocol in force answered yes, its required exams declared, a CID it accepts. Returns the rows."""
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh, delimiter=";"))
    header, body = rows[0], rows[1:]
    oci, cid = header.index("oci"), header.index("cid")
    for row in body:
        protocol = protocols[row[oci]]
        if protocol.accepted_cids and row[cid] not in protocol.accepted_cids:
            row[cid] = protocol.accepted_cids[0]
        row += [json.dumps({item.key: True for item in protocol.checklist}), "|".join(protocol.required_exams)]
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, delimiter=";")
        writer.writerow(WEEK_HEADER)
        writer.writerows(body)
    return len(body)


# -- one cycle, in its own process ----------------------------------------------------------------------------------


async def _cycle(url: str, csv_path: Path, home: Path, horizon_days: int) -> dict[str, Any]:
    settings = Settings(home=home, database_url=SecretStr(url), environment="test", log_json=False, log_level="WARNING")
    db = make_database(url, pool_size=4)
    actor = wl.Actor("bench.regulador", "regulador", None, Jurisdiction.parse(SCOPE, "scope"))
    phases: dict[str, float] = {}
    out: dict[str, Any] = {}
    try:
        t = time.perf_counter()
        async with db.transaction() as session:
            set_context(session, AuditContext.system("cli", "regula import referrals"))
            report = await import_referrals(session, settings, csv_path, actor=wl.Actor.system("bench"))
        phases["import"] = time.perf_counter() - t
        out["import"] = {k: v for k, v in report.as_dict().items() if k in ("rows", "imported", "refused", "unchanged")}
        out["import"]["first_errors"] = [str(e)[:200] for e in report.errors[:3]]

        t = time.perf_counter()
        refreshed = await nightly_refresh(db, settings)
        phases["refresh"] = time.perf_counter() - t
        out["refresh"] = {
            "entries": refreshed.entries,
            "written": refreshed.written,
            "database_seconds": round(refreshed.database_seconds, 2),
            "read_seconds": round(refreshed.read_seconds, 2),
            "compute_seconds": round(refreshed.compute_seconds, 2),
        }

        t = time.perf_counter()
        async with db.transaction() as session:
            set_context(session, AuditContext.system("bench", "bench_cycle"))
            run = await allocation.propose_now(session, settings, SCOPE, actor, horizon_days=horizon_days)
            assert run.id is not None
            run_id = run.id
            out["run_status"] = run.status
        phases["allocate"] = time.perf_counter() - t

        t = time.perf_counter()
        async with db.transaction() as session:
            set_context(session, AuditContext.system("bench", "bench_cycle"))
            await allocation.decide(session, run_id, "aprovada", actor)
        phases["approve"] = time.perf_counter() - t

        t = time.perf_counter()
        async with db.transaction() as session:
            set_context(session, AuditContext.system("bench", "bench_cycle"))
            committed = await allocation.commit(session, settings, run_id, actor)
        phases["commit"] = time.perf_counter() - t
        out["commit"] = {k: (len(v) if isinstance(v, list) else v) for k, v in committed.items()}

        async with db.transaction() as session:
            counts = (
                await session.execute(
                    text(
                        "SELECT (SELECT count(*) FROM allocation_assignment WHERE run_id = :r),"
                        " (SELECT count(*) FROM slot_booking WHERE status = 'ativa'),"
                        " (SELECT count(*) FROM message WHERE status = 'pendente'),"
                        " (SELECT count(*) FROM waitlist_entry WHERE status = 'autorizada')"
                    ),
                    {"r": run_id},
                )
            ).one()
        out |= {
            "assignments": int(counts[0]),
            "active_bookings": int(counts[1]),
            "outbox_pending": int(counts[2]),
            "waiting_after": int(counts[3]),
        }
    finally:
        await db.dispose()
    out["phases_seconds"] = {k: round(v, 2) for k, v in phases.items()}
    out["cycle_seconds"] = round(sum(phases.values()), 2)
    # Linux reports ru_maxrss in KiB: the peak resident memory of this process, the whole cycle.
    out["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return out


async def _baseline(url: str, csv_path: Path) -> dict[str, float]:
    import asyncpg  # type: ignore[import-untyped]

    conn = await asyncpg.connect(_dsn(url))
    try:
        t = time.perf_counter()
        async with conn.transaction():
            await conn.execute(
                f"CREATE TEMP TABLE staging ({', '.join(f'{c} text' for c in WEEK_HEADER)}) ON COMMIT DROP"
            )
            await conn.copy_to_table(
                "staging", source=str(csv_path), format="csv", header=True, delimiter=";", encoding="utf-8"
            )
        copy_seconds = time.perf_counter() - t
        t = time.perf_counter()
        await conn.fetch(
            "SELECT id, rank() OVER (PARTITION BY oci_code, scope_kind, scope_code ORDER BY score DESC, authorized_at,"
            " id) FROM waitlist_entry JOIN waitlist_standing ON entry_id = id WHERE status = 'autorizada'"
        )
        rank_seconds = time.perf_counter() - t
    finally:
        await conn.close()
    return {"copy_seconds": copy_seconds, "rank_seconds": rank_seconds, "seconds": copy_seconds + rank_seconds}


def _one(argv: list[str]) -> None:
    """``--one URL CSV HOME HORIZON``: one cycle in this process, its result as one JSON line."""
    url, csv_path, home, horizon = argv
    # As the app and the CLI start: every table known to the ORM, the domain events connected, and the flush
    # listeners (audit rows, the length check) installed — part of what each step costs in production.
    load_all_models()
    wire()
    install_audit()
    install_length_limits()
    print(json.dumps(asyncio.run(_cycle(url, Path(csv_path), Path(home), int(horizon))), ensure_ascii=False))


# -- the benchmark --------------------------------------------------------------------------------------------------


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--one":
        _one(sys.argv[2:])
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--waiting", type=int, default=1_000_000, help="waiting entries before the week's import")
    ap.add_argument("--week", type=int, default=20_000, help="referral rows in the week's file")
    ap.add_argument("--capacity-factor", type=float, default=1.6, help="places of each open slot, times this")
    ap.add_argument("--horizon-days", type=int, default=allocation.DEFAULT_HORIZON_DAYS)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--keep", action="store_true", help="keep the template database")
    args = ap.parse_args()

    server = _asyncpg(args.server)
    name = f"regula_bench_cycle_{uuid.uuid4().hex[:10]}"
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    out: dict[str, Any] = {"machine": machine(), "template": name, "args": vars(args)}
    home = Path(tempfile.mkdtemp(prefix="regula-bench-cycle-"))
    csv_path = home / "semana.csv"
    copies: list[str] = []
    asyncio.run(_admin(server, f'CREATE DATABASE "{name}"'))
    try:
        t = time.perf_counter()
        migrate.upgrade(url)
        settings = Settings(home=home, database_url=SecretStr(url))
        out |= asyncio.run(_load(url, settings))
        out["open_places"] = asyncio.run(_widen(url, args.capacity_factor))
        out |= asyncio.run(_grow(server, name, args.waiting))

        catalog, protocols = asyncio.run(_catalog_and_protocols(url, settings))
        write_csv(csv_path, args.week, catalog, authorized_share=0.3)
        out["week_rows_answered"] = _answer_protocols(csv_path, protocols)
        out["prepare_seconds"] = round(time.perf_counter() - t, 1)
        print(json.dumps(out, ensure_ascii=False), flush=True)

        runs: list[dict[str, Any]] = []
        for i in range(args.runs):
            copy = f"{name}_r{i}"
            copies.append(copy)
            asyncio.run(_admin(server, f'CREATE DATABASE "{copy}" TEMPLATE "{name}"'))
            copy_url = make_url(server).set(database=copy).render_as_string(hide_password=False)
            done = subprocess.run(  # noqa: S603 - our own module, arguments we built
                [sys.executable, "-m", "benchmarks.bench_cycle", "--one", copy_url, str(csv_path), str(home),
                 str(args.horizon_days)],
                check=False, capture_output=True, text=True, env=os.environ | {"PYTHONUNBUFFERED": "1"},
            )  # fmt: skip
            if done.returncode != 0:
                sys.stderr.write(done.stderr[-8000:])
                raise SystemExit(f"cycle {i} failed (exit {done.returncode})")
            run = json.loads(done.stdout.strip().splitlines()[-1])
            run["loadavg_after_cycle"] = _loadavg()
            run["baseline"] = {k: round(v, 2) for k, v in asyncio.run(_baseline(copy_url, csv_path)).items()}
            run["ratio"] = round(run["cycle_seconds"] / run["baseline"]["seconds"], 1)
            runs.append(run)
            asyncio.run(_drop(server, copy))
            print(json.dumps(run, ensure_ascii=False), flush=True)

        def median(key: str, sub: str | None = None) -> float:
            values = [(r[key][sub] if sub else r[key]) for r in runs]
            return round(statistics.median(values), 2)

        out["median"] = {
            "cycle_seconds": median("cycle_seconds"),
            **{f"{p}_seconds": median("phases_seconds", p) for p in runs[0]["phases_seconds"]},
            "peak_rss_gib": round(statistics.median(r["peak_rss_bytes"] for r in runs) / 1024**3, 2),
            "baseline_seconds": median("baseline", "seconds"),
            "ratio": median("ratio"),
        }
        out["verdict"] = {
            "time": "met" if out["median"]["cycle_seconds"] <= TARGET_SECONDS else "missed",
            "memory": "met" if statistics.median(r["peak_rss_bytes"] for r in runs) <= TARGET_BYTES else "missed",
        }
        print(json.dumps(out, ensure_ascii=False, indent=1))
    finally:
        for copy in copies:
            asyncio.run(_drop(server, copy))
        if not args.keep:
            asyncio.run(_drop(server, name))


if __name__ == "__main__":
    main()
