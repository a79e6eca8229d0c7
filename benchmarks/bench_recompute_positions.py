"""``service.recompute_positions`` over every waiting entry (issue 18 items 1 and 7), run by hand::

    python -m benchmarks.bench_recompute_positions [--entries 1000000] [--runs 3]

The weekly cycle repositions every touched queue after its import and after an allocation's commit: at São Paulo
scale that is every waiting row, twice a week, besides the nightly refresh. Creates ``regula_bench_<random>``
(``benchmarks.bench_waitlist``: ``--entries`` waiting entries in 578 queues), scores and ranks them once
(``refresh_all``, committed), marks every position as computed yesterday (so each run rewrites every row, as the
morning after a refresh does) and VACUUMs; then ``--runs`` times: ``recompute_positions`` over the whole table in a
transaction that is rolled back, then VACUUM. Reports each run's seconds and their median. Compare two trees by
running it from a ``git worktree`` of each (``PYTHONPATH=<tree>/src:<tree>``), alternated.

``--database NAME``: instead, a database of that name on the server that already holds a state's waitlist (a copy of
``bench_cycle``'s template, say); it is not dropped, and with ``--mark`` its positions are first marked as computed
yesterday (committed) and it is VACUUMed. ``--given``: pass every waiting queue's key, as the import and an
allocation's commit call it, instead of ranking the whole table (``queues=None``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Sequence

from sqlalchemy import text

from benchmarks.bench_waitlist import DEFAULT_SERVER, BenchDb, _load, _vacuum, generate, machine


async def _prepare(db: BenchDb, entries: int) -> None:
    from regula.db.engine import make_database
    from regula.waitlist import refresh

    generated = await generate(db, entries, max(entries // 3, 1))
    print(f"data: {generated.entries} entries in {generated.seconds:.1f} s", flush=True)
    database = make_database(db.url, pool_size=1)
    try:
        async with database.transaction() as session:
            await refresh.refresh_all(session, db.settings())
    finally:
        await database.dispose()
    await _mark(db)


async def _mark(db: BenchDb) -> None:
    """Every position as computed yesterday (committed), so each run rewrites every row; then VACUUM."""
    from regula.db.engine import make_database

    database = make_database(db.url, pool_size=1)
    try:
        async with database.transaction() as session:
            await session.execute(
                text(
                    "UPDATE waitlist_standing s SET position_updated_at = s.position_updated_at - interval '1 day' "
                    "FROM waitlist_entry e WHERE e.id = s.entry_id AND e.status = 'autorizada'"
                )
            )
    finally:
        await database.dispose()
    await _vacuum(db)


async def _runs(db: BenchDb, runs: int, given: bool = False) -> list[float]:
    from regula.db.engine import make_database
    from regula.waitlist import service
    from regula.waitlist.queues import QueueKey

    database = make_database(db.url, pool_size=1)
    out: list[float] = []
    try:
        keys: list[QueueKey] | None = None
        if given:
            async with database.sessionmaker() as session:
                rows = await session.execute(
                    text(
                        "SELECT DISTINCT oci_code, scope_kind, scope_code FROM waitlist_entry "
                        "WHERE status = 'autorizada'"
                    )
                )
                keys = [QueueKey(*r) for r in rows]
        for i in range(runs):
            async with database.sessionmaker() as session:
                started = time.perf_counter()
                written = await service.recompute_positions(session, db.settings(), keys)
                seconds = time.perf_counter() - started
                await session.rollback()
            out.append(seconds)
            print(f"  run {i + 1}: {seconds:.2f} s, {written} rows written, load {_load()}", flush=True)
            await _vacuum(db)
    finally:
        await database.dispose()
    return out


def main(argv: Sequence[str] | None = None) -> None:
    from regula.wiring import wire

    wire()
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_recompute_positions", description=__doc__)
    p.add_argument("--entries", type=lambda s: int(float(s)), default=1_000_000)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--server", default=DEFAULT_SERVER)
    p.add_argument("--database", default=None, help="an existing database holding a state's waitlist (kept)")
    p.add_argument("--mark", action="store_true", help="with --database: mark its positions as of yesterday first")
    p.add_argument("--given", action="store_true", help="pass every waiting queue's key instead of None")
    a = p.parse_args(argv)
    db = BenchDb(a.server, a.database) if a.database else BenchDb.create(a.server)
    try:
        info = asyncio.run(machine(db))
        if not a.database:
            asyncio.run(_prepare(db, a.entries))
        elif a.mark:
            asyncio.run(_mark(db))
        seconds = asyncio.run(_runs(db, a.runs, a.given))
    finally:
        if not a.database:
            db.drop()
    print(
        json.dumps(
            {
                "machine": info,
                "entries": a.entries if not a.database else a.database,
                "given": a.given,
                "runs_s": [round(s, 2) for s in seconds],
                "median_s": round(statistics.median(seconds), 2),
            },
            default=str,
        )
    )


if __name__ == "__main__":
    main()
