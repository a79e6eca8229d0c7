"""``regula.db.work_mem``: memory for one block's statements, the transaction's own setting put back after it."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from regula.db.work_mem import CAP_KB, FLOOR_KB, kb_for, work_mem, work_mem_for_table


async def _shown(session: AsyncSession) -> str:
    return str((await session.execute(text("SHOW work_mem"))).scalar_one())


async def test_the_block_gets_its_memory_and_the_transaction_its_own_back(session: AsyncSession) -> None:
    await session.execute(text("SET LOCAL work_mem = '5MB'"))
    async with work_mem(session, 93_750):
        assert await _shown(session) == "93750kB"
    assert await _shown(session) == "5MB"


async def test_sized_from_the_planners_count_of_the_tables_rows(session: AsyncSession) -> None:
    await session.execute(
        text("CREATE TEMP TABLE counted ON COMMIT DROP AS SELECT g FROM generate_series(1, 100000) g")
    )
    await session.execute(text("ANALYZE counted"))
    before = await _shown(session)
    async with work_mem_for_table(session, "counted", 160):
        assert await _shown(session) == f"{kb_for(100_000, 160)}kB" == "15625kB"
    async with work_mem_for_table(session, "counted", 8):  # 800 kB: never below the floor
        assert await _shown(session) == "4MB"
    assert await _shown(session) == before


async def test_a_table_never_counted_gets_the_floor(session: AsyncSession) -> None:
    await session.execute(text("CREATE TEMP TABLE uncounted (id bigint) ON COMMIT DROP"))
    async with work_mem_for_table(session, "uncounted", 160):
        assert await _shown(session) == "4MB"


@pytest.mark.parametrize(("rows", "per_row", "kb"), [(0, 96, FLOOR_KB), (1_000_000, 96, 93_750), (10**9, 160, CAP_KB)])
def test_kb_for_is_bounded(rows: int, per_row: int, kb: int) -> None:
    assert kb_for(rows, per_row) == kb
