"""A slot is never booked beyond its capacity, also when operators and runs book at the same time: concurrent
tasks on separate connections against the real database (committed, in a database of their own)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from regula.core.errors import Conflict
from regula.db.engine import make_sessionmaker
from regula.providers import service


@pytest.fixture
async def own_engine(fresh_database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(fresh_database_url, pool_size=12)
    yield engine
    await engine.dispose()


async def test_concurrent_bookings_never_exceed_capacity(own_engine: AsyncEngine) -> None:
    # Minimal rows: territory and catalog are not needed for the counter, only the slot and the entries' ids.
    sessionmaker = make_sessionmaker(own_engine)
    async with sessionmaker() as s, s.begin():
        await s.execute(text("ALTER TABLE slot_booking DROP CONSTRAINT fk_slot_booking_entry_id_waitlist_entry"))
        await s.execute(text("ALTER TABLE agenda_slot DROP CONSTRAINT fk_agenda_slot_cnes_establishment"))
        slot_id = (
            await s.execute(
                text(
                    "INSERT INTO agenda_slot (cnes, oci_code, starts_at, modality, capacity, booked, status, "
                    "created_at) "
                    "VALUES ('2691868', '0902010026', :t, 'presencial', 3, 0, 'aberta', now()) RETURNING id"
                ),
                {"t": datetime.now(UTC) + timedelta(days=7)},
            )
        ).scalar_one()

    async def attempt(entry_id: int) -> bool:
        async with sessionmaker() as s, s.begin():
            try:
                await service.book(s, slot_id, entry_id)
            except Conflict:
                return False
            await asyncio.sleep(0.01)  # hold the row lock a moment, as a real transaction would
            return True

    results = await asyncio.gather(*(attempt(i) for i in range(1, 11)))
    assert sum(results) == 3
    async with own_engine.connect() as conn:
        booked = (await conn.execute(text("SELECT booked FROM agenda_slot WHERE id = :id"), {"id": slot_id})).scalar()
        rows = (
            await conn.execute(text("SELECT count(*) FROM slot_booking WHERE slot_id = :id"), {"id": slot_id})
        ).scalar()
    assert (booked, rows) == (3, 3)


async def test_database_refuses_overbooking_even_without_the_service(own_engine: AsyncEngine) -> None:
    async with own_engine.begin() as conn:
        await conn.execute(text("ALTER TABLE agenda_slot DROP CONSTRAINT fk_agenda_slot_cnes_establishment"))
        slot_id = (
            await conn.execute(
                text(
                    "INSERT INTO agenda_slot (cnes, oci_code, starts_at, modality, capacity, booked, status, "
                    "created_at) "
                    "VALUES ('2691868', '0902010026', now(), 'presencial', 1, 1, 'aberta', now()) RETURNING id"
                )
            )
        ).scalar_one()
    with pytest.raises(Exception, match="booked_within_capacity"):
        async with own_engine.begin() as conn:
            await conn.execute(text("UPDATE agenda_slot SET booked = booked + 1 WHERE id = :id"), {"id": slot_id})
