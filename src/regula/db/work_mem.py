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
_CURRENT: Final = text("SELECT current_setting('work_mem')")
_ROWS: Final = text("SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE oid = CAST(:table AS regclass)")


def kb_for(rows: int, bytes_per_row: int) -> int:
    """``rows`` × ``bytes_per_row`` in kB, between :data:`FLOOR_KB` and :data:`CAP_KB`."""
    return min(max(rows * bytes_per_row // 1024, FLOOR_KB), CAP_KB)


async def estimated_rows(session: AsyncSession, table: str) -> int:
    """The planner's estimate of ``table``'s rows (``pg_class.reltuples``, kept by VACUUM and ANALYZE; 0 when never
    counted): a catalog look-up, not a scan."""
    return int((await session.execute(_ROWS, {"table": table})).scalar_one_or_none() or 0)


@asynccontextmanager
async def work_mem(session: AsyncSession, kb: int) -> AsyncIterator[None]:
    """``work_mem`` = ``kb`` for the statements of the block, in the session's transaction; the setting the
    transaction had is put back after it. A block that raises leaves the transaction to be rolled back (to its
    savepoint, if any), which undoes the setting too: nothing is sent to an aborted transaction."""
    before = (await session.execute(_CURRENT)).scalar_one()
    await session.execute(_SET, {"value": f"{kb}kB"})
    yield
    await session.execute(_SET, {"value": before})
