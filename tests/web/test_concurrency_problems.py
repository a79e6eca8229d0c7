"""The last resort behind consistent lock ordering: a real PostgreSQL deadlock that reaches the error handler is a
409 with a stable code (retry), never a 500 (issue 11 item 8)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from litestar import Request
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from regula.web.problems import internal_error_handler


async def _real_deadlock(url: str) -> DBAPIError:
    """Two transactions lock two rows in opposite orders; PostgreSQL kills one with deadlock_detected."""
    engine = create_async_engine(url, pool_size=2)
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE IF NOT EXISTS deadlock_probe (id int PRIMARY KEY, n int)"))
        await conn.execute(text("INSERT INTO deadlock_probe VALUES (1, 0), (2, 0) ON CONFLICT DO NOTHING"))
    both_hold = asyncio.Barrier(2)

    async def worker(first: int, second: int) -> DBAPIError | None:
        conn: AsyncConnection
        async with engine.connect() as conn:
            await conn.begin()
            await conn.execute(text("UPDATE deadlock_probe SET n = n + 1 WHERE id = :i"), {"i": first})
            await both_hold.wait()
            try:
                await conn.execute(text("UPDATE deadlock_probe SET n = n + 1 WHERE id = :i"), {"i": second})
            except DBAPIError as exc:
                await conn.rollback()
                return exc
            await conn.commit()
            return None

    try:
        results = await asyncio.gather(worker(1, 2), worker(2, 1))
    finally:
        async with engine.begin() as conn:
            await conn.execute(text("DROP TABLE IF EXISTS deadlock_probe"))
        await engine.dispose()
    errors = [r for r in results if r is not None]
    assert len(errors) == 1
    return errors[0]


def _request(path: str) -> Request[Any, Any, Any]:
    return Request(
        scope={  # type: ignore[arg-type]
            "type": "http",
            "method": "POST",
            "scheme": "http",
            "server": ("testserver.local", 80),
            "root_path": "",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "headers": [(b"accept", b"application/json")],
        }
    )


async def test_deadlock_answers_409_not_500(fresh_database_url: str) -> None:
    exc = await _real_deadlock(fresh_database_url)
    assert getattr(exc.orig, "sqlstate", None) == "40P01"
    response = internal_error_handler(_request("/api/v1/allocation/runs/1/commit"), exc)
    assert response.status_code == 409
    body = response.content if isinstance(response.content, dict) else json.loads(response.content)
    assert body["code"] == "conflito_concorrente"
    assert body["status"] == 409
