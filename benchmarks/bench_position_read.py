"""One citizen's position read from the database at a state's scale (issue 18 item 1: "a position read ≤ 2 ms at p99
from the database"), run by hand (never by pytest)::

    .venv/bin/python -m benchmarks.bench_position_read URL [--reads 20000] [--clients 1,4]

``URL`` is a database holding a state's waitlist, e.g. a copy of ``bench_cycle``'s template (a million waiting
entries; only read here). What is timed is the statement the public look-up runs —
``waitlist.repository.public_answer``: the entry by protocol, joined to its citizen to check the birth date, with its
stored position, queue size and estimates — from a client on the same machine, each read one round trip on an
asyncpg connection outside any transaction, as the web app runs it (decision 0030). The protocols are drawn at
random among the waiting entries (every read a different entry, so the cache holds the table's pages but not the
answer); ``--clients`` connections read concurrently, each its share of the reads.

Baseline, in the same run and the same connections, alternated read by read: ``SELECT 1`` — a round trip that reads
nothing. Printed per number of clients: p50, p99 and max of each, the achieved reads per second, and the ratio of
the p99s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import time
from typing import Any

from benchmarks.bench_allocation import machine
from regula.waitlist.repository import public_answer

_SAMPLE = """
SELECT e.protocol, c.birth_date FROM waitlist_entry e JOIN citizen c ON c.id = e.citizen_id
WHERE e.status = 'autorizada' AND e.id >= $1 ORDER BY e.id LIMIT 1
"""


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


async def _sample(conn: Any, n: int, rng: random.Random) -> list[tuple[str, Any]]:
    low, high = await conn.fetchrow("SELECT min(id), max(id) FROM waitlist_entry WHERE status = 'autorizada'")
    out = []
    for _ in range(n):
        row = await conn.fetchrow(_SAMPLE, rng.randint(low, high))
        if row is not None:
            out.append((row[0], row[1]))
    return out


async def _client(dsn: str, work: list[tuple[str, Any]]) -> tuple[list[float], list[float]]:
    import asyncpg  # type: ignore[import-untyped]

    conn = await asyncpg.connect(dsn)
    reads: list[float] = []
    baseline: list[float] = []
    try:
        one = await conn.prepare("SELECT 1")
        for protocol, birth in work[:50]:  # warm the prepared statements
            await public_answer(conn, protocol, birth)
            await one.fetchval()
        for protocol, birth in work:
            t0 = time.perf_counter()
            answer = await public_answer(conn, protocol, birth)
            t1 = time.perf_counter()
            await one.fetchval()
            t2 = time.perf_counter()
            assert answer is not None and answer.position is not None, protocol
            reads.append(t1 - t0)
            baseline.append(t2 - t1)
    finally:
        await conn.close()
    return reads, baseline


async def main(url: str, n: int, clients: list[int]) -> None:
    import asyncpg

    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    rng = random.Random(7)
    conn = await asyncpg.connect(dsn)
    try:
        waiting = await conn.fetchval("SELECT count(*) FROM waitlist_entry WHERE status = 'autorizada'")
        work = await _sample(conn, n, rng)
    finally:
        await conn.close()
    print(json.dumps({"machine": machine(), "waiting": waiting, "reads": len(work)}), flush=True)
    for k in clients:
        shares = [work[i::k] for i in range(k)]
        t0 = time.perf_counter()
        results = await asyncio.gather(*(_client(dsn, share) for share in shares))
        wall = time.perf_counter() - t0
        reads = [x for r, _ in results for x in r]
        base = [x for _, b in results for x in b]
        ms = {
            name: {
                "p50_ms": round(statistics.median(xs) * 1e3, 3),
                "p99_ms": round(_pct(xs, 0.99) * 1e3, 3),
                "max_ms": round(max(xs) * 1e3, 2),
            }
            for name, xs in (("position read", reads), ("SELECT 1", base))
        }
        print(
            json.dumps(
                {
                    "clients": k,
                    **ms,
                    "reads_per_s": round(len(reads) / wall),
                    "p99_ratio": round(_pct(reads, 0.99) / _pct(base, 0.99), 2),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("url", help="postgresql+asyncpg://… of a database holding a state's waitlist (read only)")
    ap.add_argument("--reads", type=int, default=20_000)
    ap.add_argument("--clients", default="1,4")
    args = ap.parse_args()
    asyncio.run(main(args.url, args.reads, [int(x) for x in args.clients.split(",")]))
