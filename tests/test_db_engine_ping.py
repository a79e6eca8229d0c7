"""Pooled connections are checked before they are lent only after being idle (regula.db.engine.ping_when_idle):
a connection the server dropped while idle is replaced unseen; one dropped moments after use costs one failed
statement, after which the pool recovers."""

from __future__ import annotations

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy import make_url, text
from sqlalchemy.exc import DBAPIError

from regula.db.engine import Database, make_database


async def _backend(db: Database) -> int:
    async with db.sessionmaker() as session:
        return int((await session.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def _terminate(database_url: str, pid: int) -> None:
    dsn = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn)
    try:
        assert await conn.fetchval("SELECT pg_terminate_backend($1)", pid)
        await conn.fetchval("SELECT pg_sleep(0.2)")  # let the backend go
    finally:
        await conn.close()


async def test_an_idle_connection_the_server_dropped_is_replaced_before_it_is_lent(database_url: str) -> None:
    db = make_database(database_url, pool_size=1, ping_idle_seconds=0.0)  # every pooled connection counts as idle
    try:
        first = await _backend(db)
        await _terminate(database_url, first)
        assert await _backend(db) != first  # the check failed, a new connection answered
    finally:
        await db.dispose()


async def test_a_connection_dropped_moments_after_use_costs_one_statement(database_url: str) -> None:
    db = make_database(database_url, pool_size=1, ping_idle_seconds=3600.0)  # never idle long enough to be checked
    try:
        first = await _backend(db)
        await _terminate(database_url, first)
        with pytest.raises(DBAPIError) as failed:
            await _backend(db)
        assert failed.value.connection_invalidated
        assert await _backend(db) != first  # the pool recovered at once
    finally:
        await db.dispose()
