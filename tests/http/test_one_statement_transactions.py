"""A safe request that reads a record and then writes only its read event runs each statement as its own
transaction on a connection of the pool, by the driver itself (decisions 0029 and 0030, issue 18 item 3): no BEGIN
or COMMIT round trips, and the event committed before anything is answered.

These run the production path (an engine's pool), against a database of the test's own: what they write is
committed, as in production.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from litestar import Litestar, Request, get
from litestar.datastructures import State
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from tests.conftest import Login, app_client

from regula.audit.service import record_read_on_driver
from regula.config import Settings
from regula.db.engine import make_sessionmaker
from regula.http.state import SESSIONMAKER_KEY, SETTINGS_KEY, audit_context_for, driver_connection, statement_session

FLORIANOPOLIS = "4205407"


@get("/probe/{entity_id:str}")
async def probe(request: Request[Any, Any, Any], entity_id: str) -> dict[str, Any]:
    sent: list[str] = []

    def logged(query: Any) -> None:
        sent.append(query.query)

    async with driver_connection(request.app.state) as connection:
        connection.add_query_logger(logged)
        first = await connection.fetchval("SELECT txid_current()")
        await record_read_on_driver(
            connection,
            audit_context_for(request),
            "OneStatementProbe",
            entity_id,
            uf="SC",
            municipality_ibge=FLORIANOPOLIS,
        )
        second = await connection.fetchval("SELECT txid_current()")
        # Seen from another connection while this block still holds its own: already committed.
        async with request.app.state["probe_engine"].connect() as other:
            seen = (
                await other.execute(
                    text("SELECT count(*) FROM audit_event WHERE entity_type = 'OneStatementProbe' AND entity_id = :e"),
                    {"e": entity_id},
                )
            ).scalar_one()
        connection.remove_query_logger(logged)
    return {"first": int(first), "second": int(second), "seen": int(seen), "sent": sent}


@pytest.fixture
async def engine(fresh_database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(fresh_database_url.replace("postgresql://", "postgresql+asyncpg://", 1), pool_size=2)
    yield engine
    await engine.dispose()


@pytest.fixture
def client(settings: Settings, engine: AsyncEngine) -> httpx.AsyncClient:
    app = Litestar(
        route_handlers=[probe],
        state=State({SESSIONMAKER_KEY: make_sessionmaker(engine), SETTINGS_KEY: settings, "probe_engine": engine}),
        debug=True,
    )
    return app_client(app)


async def _events(engine: AsyncEngine, entity_id: str) -> list[tuple[str, str | None]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT action, path FROM audit_event WHERE entity_type = 'OneStatementProbe' AND entity_id = :e"),
            {"e": entity_id},
        )
        return [(r[0], r[1]) for r in rows]


async def test_each_statement_is_its_own_transaction_and_the_event_is_committed_before_the_answer(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    entity_id = uuid.uuid4().hex
    async with client as c:
        response = await c.get(f"/probe/{entity_id}")

    assert response.status_code == 200, response.text
    body = response.json()
    sent: list[str] = body["sent"]
    assert body["second"] > body["first"]  # two transactions, not one
    assert body["seen"] == 1  # committed as soon as it was written, before the answer
    # The request's context is on the row (who, from where), as in provide_db_session's sessions.
    assert await _events(engine, entity_id) == [("read", f"/probe/{entity_id}")]
    # The event's own INSERT turns off the wait for the disk (decision 0024), and no statement of its own does
    # (no BEGIN, SET, COMMIT or ROLLBACK: asyncpg's query logger sees every statement the driver sends).
    inserts = [s for s in sent if s.startswith("INSERT INTO audit_event")]
    assert len(inserts) == 1 and "set_config('synchronous_commit', 'off', true)" in inserts[0]
    assert not [s for s in sent if s.split()[0].upper() in {"BEGIN", "COMMIT", "SET", "ROLLBACK"}]


async def test_the_connection_goes_back_to_the_pool_in_its_default_mode(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    async with client as c:
        assert (await c.get(f"/probe/{uuid.uuid4().hex}")).status_code == 200
    # The pool's next user gets an ordinary transaction, not autocommit.
    async with engine.connect() as conn:
        first = (await conn.execute(text("SELECT txid_current()"))).scalar_one()
        second = (await conn.execute(text("SELECT txid_current()"))).scalar_one()
        await conn.rollback()
    assert first == second


async def test_a_statement_session_sends_each_statement_as_its_own_transaction(
    settings: Settings, engine: AsyncEngine
) -> None:
    """Who sends a request is looked up this way (``web.guards``): on the pool, no BEGIN and COMMIT around the
    look-up; on a sessionmaker bound to one connection (the tests'), one transaction as before."""

    async def txids(state: State) -> tuple[int, int]:
        async with statement_session(state) as session:
            first = (await session.execute(text("SELECT txid_current()"))).scalar_one()
            second = (await session.execute(text("SELECT txid_current()"))).scalar_one()
        return int(first), int(second)

    first, second = await txids(State({SESSIONMAKER_KEY: make_sessionmaker(engine), SETTINGS_KEY: settings}))
    assert second > first
    async with engine.connect() as conn:
        bound = async_sessionmaker(conn, expire_on_commit=False)
        first, second = await txids(State({SESSIONMAKER_KEY: bound, SETTINGS_KEY: settings}))
        await conn.rollback()
    assert first == second


# -- the route itself, as `regula serve` runs it --------------------------------------------------------------------


async def test_the_record_read_through_the_pool_audits_each_answer_and_nothing_else(
    settings: Settings, fresh_database_url: str, tmp_path: Any
) -> None:
    """``GET /api/v1/entries/{id}`` on an engine's pool (the route's tests use a connection-bound session, which
    takes the other branch): a 200 has its read event committed; a 403 outside the caller's jurisdiction and a 404
    write none."""
    from tests.conftest import _load_reference_data, create_login
    from tests.waitlist.test_waitlist_api import JOINVILLE, citizen_body, refer

    from regula.web.app import create_app

    url = fresh_database_url.replace("postgresql://", "postgresql+asyncpg://", 1)
    await _load_reference_data(url, tmp_path)
    engine = create_async_engine(url, pool_size=2)
    sessionmaker = make_sessionmaker(engine)
    logins: dict[str, Login] = {}
    async with sessionmaker() as session:
        for role, jurisdiction in (
            ("solicitante", f"municipality:{FLORIANOPOLIS}"),
            ("regulador", "uf:SC"),
            ("regulador", f"municipality:{JOINVILLE}"),
        ):
            username = f"{role}.{jurisdiction.replace(':', '.')}"
            logins[jurisdiction] = await create_login(session, username, role, jurisdiction)

    async def reads(entity_id: str) -> int:
        async with engine.connect() as conn:
            return int(
                (
                    await conn.execute(
                        text(
                            "SELECT count(*) FROM audit_event WHERE action = 'read' "
                            "AND entity_type = 'WaitlistEntry' AND entity_id = :e"
                        ),
                        {"e": entity_id},
                    )
                ).scalar_one()
            )

    try:
        async with app_client(create_app(settings, sessionmaker)) as c:
            entry = await refer(c, logins[f"municipality:{FLORIANOPOLIS}"], citizen_body())
            path = f"/api/v1/entries/{entry['id']}"
            ok = await c.get(path, headers=logins["uf:SC"].headers)
            assert ok.status_code == 200, ok.text
            assert ok.json()["protocol"] == entry["protocol"]
            assert await reads(str(entry["id"])) == 1
            denied = await c.get(path, headers=logins[f"municipality:{JOINVILLE}"].headers)
            assert denied.status_code == 403 and denied.json()["code"] == "fora_da_jurisdicao"
            missing = await c.get("/api/v1/entries/987654321", headers=logins["uf:SC"].headers)
            assert missing.status_code == 404
            assert await reads(str(entry["id"])) == 1 and await reads("987654321") == 0
            again = await c.get(path, headers=logins["uf:SC"].headers)
            assert again.status_code == 200 and await reads(str(entry["id"])) == 2
    finally:
        await engine.dispose()
