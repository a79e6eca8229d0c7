"""The nightly refresh's write on a state's real rows, against the same write on a narrow "standing" table (issue 18
item 1), run by hand (never by pytest)::

    .venv/bin/python -m benchmarks.bench_standing_table URL [--runs 3]

*Since migration 0026 (decision 0034) the refresh writes such a table,* ``waitlist_standing``: *this benchmark
compares the two layouts on the schema before it (a database at migration 0025 and the tree of that time, e.g.*
``git worktree add /tmp/before 247b5f9``*); it does not run on a later schema.*

``URL`` is a copy of a state's database, e.g. of ``bench_cycle``'s template (``CREATE DATABASE x TEMPLATE
regula_bench_cycle_…``: a million waiting entries as the cycle leaves them). It is changed: use a copy.

``bench_row_width`` measured the width's share of the rewrite on synthetic tables (4.46 s wide against 1.77 s
narrow, 2.5×) and at PostgreSQL's default ``work_mem``; ``docs/scaling.md`` estimates from it that a one-row-per-entry
``waitlist_standing`` table of the seven daily columns would bring the refresh's ~6 s of writes to ~2.5 s. This
measures that estimate on the rows themselves, with the refresh's own statement:

* **wide**: ``waitlist.refresh._UPDATE_SQL`` unchanged — the refresh's UPDATE of ``waitlist_entry`` joined to a
  temporary table of new figures, with its ``status = 'autorizada'`` guard and the refresh's ``work_mem`` (one hash
  batch);
* **narrow**: ``bench_standing`` (entry_id primary key and the seven daily columns, ``fillfactor = 50``, built once
  from the waiting rows in id order, as a migration would), the same SET from the same temporary table, once with
  the guard (a join to ``waitlist_entry`` for its status) and once without it (the temporary table holds only
  waiting ids, as the refresh's does; the guard is there for a change committed between the refresh's read and its
  write).

Each run, each variant in turn (alternated): new figures for every waiting row (score and position moved, so every
row is written), ``CHECKPOINT`` (each run pays the full-page images a nightly run pays), the UPDATE timed in its
transaction, then ``VACUUM`` of the table written. Reported: the UPDATE's seconds and WAL, and the baseline of item
1 in the same run: one ``rank()`` over the waiting rows by queue and score, fetched.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from typing import Any

from benchmarks.bench_allocation import machine
from regula.waitlist.refresh import _HASH_BYTES_PER_ROW, _UPDATE_SQL

_BUILD = """
CREATE TABLE bench_standing (
    entry_id bigint PRIMARY KEY, score bigint, policy_id bigint, position integer, queue_size integer,
    estimate_from date, estimate_to date, position_updated_at timestamptz
) WITH (fillfactor = 50);
INSERT INTO bench_standing
SELECT id, score, policy_id, position, queue_size, estimate_from, estimate_to, position_updated_at
FROM waitlist_entry WHERE status = 'autorizada' ORDER BY id;
"""
# The refresh's temporary table (``refresh._WRITE_COLUMNS``), filled with moved figures so that every row changes.
_FILL = """
CREATE TEMP TABLE regula_refresh ON COMMIT DROP AS
SELECT id, coalesce(score, 0) + $1::bigint AS score, coalesce(policy_id, 1) AS policy_id,
       coalesce(position, 0) + $1::int AS position, coalesce(queue_size, 0) + $1::int AS queue_size,
       7 * $1::int AS est_from, 7 * $1::int + 6 AS est_to, true AS positioned
FROM waitlist_entry WHERE status = 'autorizada' ORDER BY id
"""
_SET = """SET score = t.score, policy_id = t.policy_id, position = t.position, queue_size = t.queue_size,
    estimate_from = CASE WHEN t.est_from <> -2147483648 THEN $1::date + t.est_from END,
    estimate_to = CASE WHEN t.est_to <> -2147483648 THEN $1::date + t.est_to END,
    position_updated_at = CASE WHEN t.positioned THEN now() ELSE s.position_updated_at END"""
_NARROW_GUARDED = f"""UPDATE bench_standing s
{_SET}
FROM regula_refresh t JOIN waitlist_entry e ON e.id = t.id
WHERE s.entry_id = t.id AND e.status = 'autorizada'"""
_NARROW = f"""UPDATE bench_standing s
{_SET}
FROM regula_refresh t
WHERE s.entry_id = t.id"""
_RANK = """SELECT id, rank() OVER (PARTITION BY oci_code, scope_kind, scope_code ORDER BY score DESC, authorized_at, id)
FROM waitlist_entry WHERE status = 'autorizada'"""

_VARIANTS = {
    "wide (the refresh's UPDATE)": (_UPDATE_SQL, "waitlist_entry"),
    "narrow, guarded": (_NARROW_GUARDED, "bench_standing"),
    "narrow": (_NARROW, "bench_standing"),
}


async def _wal(conn: Any) -> int:
    return int(await conn.fetchval("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn"))


async def _one(conn: Any, statement: str, table: str, shift: int, rows: int) -> dict[str, float]:
    await conn.execute("CHECKPOINT")
    async with conn.transaction():
        await conn.execute(_FILL, shift)
        await conn.execute("ANALYZE regula_refresh")
        kb = max(4096, rows * _HASH_BYTES_PER_ROW // 1024)
        await conn.execute(f"SET LOCAL work_mem = '{kb}kB'")
        wal0, t0 = await _wal(conn), time.perf_counter()
        status: str = await conn.execute(statement, await conn.fetchval("SELECT current_date"))
        seconds = time.perf_counter() - t0
        wal = await _wal(conn) - wal0
    assert int(status.split()[-1]) == rows, (status, rows)
    await conn.execute(f"VACUUM {table}")
    return {"seconds": seconds, "wal_mb": wal / 1e6}


async def main(url: str, runs: int) -> None:
    import asyncpg  # type: ignore[import-untyped]

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute("DROP TABLE IF EXISTS bench_standing")
        t0 = time.perf_counter()
        await conn.execute(_BUILD)
        rows = int(await conn.fetchval("SELECT count(*) FROM bench_standing"))
        await conn.execute("VACUUM ANALYZE bench_standing")
        await conn.execute("VACUUM ANALYZE waitlist_entry")
        sizes = {
            t: int(await conn.fetchval(f"SELECT pg_table_size('{t}')")) for t in ("waitlist_entry", "bench_standing")
        }
        print(
            json.dumps(
                {"machine": machine(), "rows": rows, "build_s": round(time.perf_counter() - t0, 1), "bytes": sizes}
            ),
            flush=True,
        )
        results: dict[str, list[dict[str, float]]] = {name: [] for name in _VARIANTS}
        ranks: list[float] = []
        shift = 0
        for run in range(runs):
            for name, (statement, table) in _VARIANTS.items():
                shift += 1
                r = await _one(conn, statement, table, shift, rows)
                results[name].append(r)
                print(json.dumps({"run": run + 1, "variant": name, **{k: round(v, 2) for k, v in r.items()}}))
            t0 = time.perf_counter()
            await conn.fetch(_RANK)
            ranks.append(time.perf_counter() - t0)
        rank = statistics.median(ranks)
        summary = {
            name: {
                "median_s": round(statistics.median(r["seconds"] for r in rs), 2),
                "runs_s": [round(r["seconds"], 2) for r in rs],
                "median_wal_mb": round(statistics.median(r["wal_mb"] for r in rs)),
                "ratio_to_rank": round(statistics.median(r["seconds"] for r in rs) / rank, 2),
            }
            for name, rs in results.items()
        }
        print(json.dumps({"rank_median_s": round(rank, 2), "rank_runs_s": [round(x, 2) for x in ranks], **summary}))
        await conn.execute("DROP TABLE bench_standing")
    finally:
        await conn.close()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("url", help="postgresql+asyncpg://… of a copy of a state's database (it is changed)")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    asyncio.run(main(args.url, args.runs))
