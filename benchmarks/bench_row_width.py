"""How much of the nightly rewrite is the width of the row it rewrites (issue 18 items 1, 2, 7), run by hand::

    .venv/bin/python -m benchmarks.bench_row_width --rows 1000000 --runs 3

PostgreSQL writes a whole new row version for every row an UPDATE touches, whichever columns change. The nightly
refresh (``waitlist.refresh``) and every repositioning (``recompute_positions``: imports, bookings, transitions)
change seven small columns of each waiting entry — ``score``, ``policy_id``, ``position``, ``queue_size``,
``estimate_from``, ``estimate_to``, ``position_updated_at`` (≈ 40 bytes) — and copy the rest of the row (≈ 430 bytes in
the Santa Catarina demonstration: `pg_column_size` 428 on 2026-12-07) along. This measures the same rewrite on two
tables in a scratch database (``regula_bench_width_<pid>``, dropped at the end):

* ``wide``: an id, the seven columns and ≈ 330 bytes of other columns, so a row is as wide as a waiting entry;
* ``narrow``: an id and the seven columns only — what a separate "standing" table (one row per entry, the daily
  columns only) would be.

Both with ``fillfactor = 50`` and no index on a daily column (decision 0027: every rewrite is heap-only). Each run,
on each table in turn: ``CHECKPOINT`` (so each run pays the full-page images a nightly run pays), then in one
transaction a temporary table of the new values (as the refresh fills one) and one ``UPDATE … FROM`` joined on the
id, every row changed; then ``VACUUM``. Reported: the UPDATE's seconds, the WAL it wrote, and as the baseline of
issue 18 item 1, in the same run, one ``rank()`` over the rows (``PARTITION BY`` a queue, ordered by score), fetched.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections.abc import Sequence
from typing import Any

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
_DAILY = (
    "score bigint, policy_id bigint, position int, queue_size int, estimate_from date, estimate_to date, "
    "position_updated_at timestamptz"
)
_OTHER_BYTES = 300  # text padding; with the queue columns, the row is ≈ 400 bytes (pg_column_size)


async def _build(conn: Any, rows: int) -> dict[str, tuple[str, int]]:
    await conn.execute(
        f"CREATE TABLE wide (id bigint PRIMARY KEY, other text NOT NULL, oci text, scope text, status text, {_DAILY}) "
        "WITH (fillfactor = 50)"
    )
    await conn.execute(f"CREATE TABLE narrow (id bigint PRIMARY KEY, {_DAILY}) WITH (fillfactor = 50)")
    await conn.execute(
        "INSERT INTO wide SELECT g, repeat('x', $2), 'oci' || (g % 34), 'sc' || (g % 17), 'autorizada', g, 1, g, 100, "
        "current_date, current_date, now() FROM generate_series(1, $1::int) g",
        rows,
        _OTHER_BYTES,
    )
    await conn.execute(
        "INSERT INTO narrow SELECT g, g, 1, g, 100, current_date, current_date, now() "
        "FROM generate_series(1, $1::int) g",
        rows,
    )
    sizes = {}
    for table in ("wide", "narrow"):
        await conn.execute(f"VACUUM ANALYZE {table}")
        size = await conn.fetchval(f"SELECT pg_size_pretty(pg_table_size('{table}'))")
        width = await conn.fetchval(f"SELECT avg(pg_column_size({table}.*))::int FROM {table}")  # noqa: S608
        sizes[table] = (size, width)
    return sizes


async def _wal(conn: Any) -> float:
    return float(await conn.fetchval("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn"))


async def _rewrite(conn: Any, table: str, rows: int, day: int) -> tuple[float, float]:
    """Every row's seven daily columns rewritten as a night's refresh does: (UPDATE seconds, WAL megabytes)."""
    await conn.execute("CHECKPOINT")
    wal = await _wal(conn)
    async with conn.transaction():
        await conn.execute(
            "CREATE TEMP TABLE fresh (id bigint, score bigint, position int, queue_size int, ef int, et int) "
            "ON COMMIT DROP"
        )
        await conn.execute(
            "INSERT INTO fresh SELECT g, g + $2, g, 100 + $2, $2, $2 + 7 FROM generate_series(1, $1::int) g",
            rows,
            day,
        )
        started = time.perf_counter()
        await conn.execute(
            f"UPDATE {table} e SET score = f.score, position = f.position, queue_size = f.queue_size, "  # noqa: S608
            "estimate_from = current_date + f.ef, estimate_to = current_date + f.et, position_updated_at = now() "
            "FROM fresh f WHERE e.id = f.id"
        )
        seconds = time.perf_counter() - started
    megabytes = (await _wal(conn) - wal) / 1e6
    await conn.execute(f"VACUUM {table}")
    return seconds, megabytes


async def _rank(conn: Any) -> float:
    started = time.perf_counter()
    await conn.fetch("SELECT id, rank() OVER (PARTITION BY oci, scope ORDER BY score DESC, id) FROM wide")
    return time.perf_counter() - started


async def run(server: str, rows: int, runs: int) -> None:
    import asyncpg  # type: ignore[import-untyped]

    name = f"regula_bench_width_{os.getpid()}"
    admin = await asyncpg.connect(server)
    await admin.execute(f"CREATE DATABASE {name}")
    try:
        conn = await asyncpg.connect(server.rsplit("/", 1)[0] + f"/{name}")
        try:
            for table, (size, width) in (await _build(conn, rows)).items():
                print(f"{table}: {rows:,} rows, {size}, {width} bytes a row (pg_column_size)")
            seconds: dict[str, list[float]] = {"wide": [], "narrow": [], "rank": []}
            for day in range(1, runs + 1):
                for table in ("wide", "narrow"):
                    s, mb = await _rewrite(conn, table, rows, day)
                    seconds[table].append(s)
                    print(f"run {day} {table}: UPDATE {s:.2f} s, WAL {mb:,.0f} MB", flush=True)
                seconds["rank"].append(await _rank(conn))
                print(f"run {day} rank() baseline: {seconds['rank'][-1]:.2f} s", flush=True)
            medians = {k: statistics.median(v) for k, v in seconds.items()}
            print(
                f"medians: wide {medians['wide']:.2f} s, narrow {medians['narrow']:.2f} s "
                f"(wide / narrow {medians['wide'] / medians['narrow']:.2f}x), rank() {medians['rank']:.2f} s; "
                f"load {os.getloadavg()[0]:.2f}"
            )
        finally:
            await conn.close()
    finally:
        await admin.execute(f"DROP DATABASE IF EXISTS {name}")
        await admin.close()


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_row_width", description=__doc__)
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--server", default=os.environ.get("REGULA_BENCH_DATABASE_URL", DEFAULT_SERVER))
    a = p.parse_args(argv)
    asyncio.run(run(a.server, a.rows, a.runs))


if __name__ == "__main__":
    main(sys.argv[1:])
