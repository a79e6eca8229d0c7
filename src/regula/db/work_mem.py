"""Memory for one bulk statement's sorts and hashes, then the transaction's own setting back.

PostgreSQL's default ``work_mem`` (4 MB) splits a hash join over a million rows into batches, each a pass over the
whole table in the order of the ids' hashes, and sends a million-row sort to disk. For the statements that rewrite
every waiting entry (the nightly refresh's UPDATE, ``recompute_positions``) that turned one pass over a 547 MB table
into 4–13 GB of buffer reads and writes (``docs/benchmarks.md``, "the bulk UPDATEs in the table's order"). The
setting is a ceiling per sort or hash, not an allocation: a statement that ranks one small queue uses what it
needs. Only for the length of the block, and only inside a transaction (``set_config(…, true)``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Final

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

FLOOR_KB: Final = 4 * 1024  # PostgreSQL's default: never less than the server would give
CAP_KB: Final = 1024 * 1024  # 1 GB per sort or hash, whatever the table's size

_SET: Final = text("SELECT set_config('work_mem', :value, true)")
# One round trip: the transaction's setting as it was (read first: a materialized CTE is computed before the row
# that reads it), and the new one, sized from the planner's estimate of the table's rows (``pg_class.reltuples``,
# kept by VACUUM and ANALYZE; negative when never counted, then the floor).
_SET_FOR_TABLE: Final = text(
    """WITH before AS MATERIALIZED (SELECT current_setting('work_mem') AS value)
SELECT before.value, set_config(
    'work_mem',
    least(greatest(greatest(c.reltuples, 0)::bigint * :bytes_per_row / 1024, :floor), :cap)::bigint || 'kB',
    true)
FROM before, pg_class c WHERE c.oid = CAST(:table AS regclass)"""
)
_SET_KB: Final = text(
    """WITH before AS MATERIALIZED (SELECT current_setting('work_mem') AS value)
SELECT before.value, set_config('work_mem', :value, true) FROM before"""
)


def kb_for(rows: int, bytes_per_row: int) -> int:
    """``rows`` × ``bytes_per_row`` in kB, between :data:`FLOOR_KB` and :data:`CAP_KB`."""
    return min(max(rows * bytes_per_row // 1024, FLOOR_KB), CAP_KB)


@asynccontextmanager
async def work_mem(session: AsyncSession, kb: int) -> AsyncIterator[None]:
    """``work_mem`` = ``kb`` for the statements of the block, in the session's transaction; the setting the
    transaction had is put back after it. A block that raises leaves the transaction to be rolled back (to its
    savepoint, if any), which undoes the setting too: nothing is sent to an aborted transaction."""
    before = (await session.execute(_SET_KB, {"value": f"{kb}kB"})).one()[0]
    yield
    await session.execute(_SET, {"value": before})


@asynccontextmanager
async def work_mem_for_table(session: AsyncSession, table: str, bytes_per_row: int) -> AsyncIterator[None]:
    """As :func:`work_mem`, sized :func:`kb_for` the planner's estimate of ``table``'s rows, in the same round
    trip (a statement that may touch the whole table, whose rows are not counted beforehand)."""
    params = {"table": table, "bytes_per_row": bytes_per_row, "floor": FLOOR_KB, "cap": CAP_KB}
    before = (await session.execute(_SET_FOR_TABLE, params)).one()[0]
    yield
    await session.execute(_SET, {"value": before})
