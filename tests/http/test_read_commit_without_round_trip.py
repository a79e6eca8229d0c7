"""The audited read's commit skips the wait for the disk without a round trip of its own (decision 0024, issue 18
item 3): its audit INSERT sets ``synchronous_commit`` off for the transaction, the row is still written and
committed in the read's transaction, and a request that writes anything else, before or after its read event, is
committed with ``synchronous_commit`` on."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
from litestar import Litestar, get, post
from litestar.datastructures import State
from litestar.di import Provide
from sqlalchemy import event, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session
from tests.conftest import Login, app_client
from tests.waitlist.test_waitlist_api import FLORIANOPOLIS, citizen_body, refer

from regula.access.models import ApiToken
from regula.audit.service import record, record_read
from regula.config import Settings
from regula.http.state import SESSIONMAKER_KEY, SETTINGS_KEY, provide_db_session

MakeUser = Callable[..., Awaitable[Login]]


@pytest.fixture
async def at_commit(connection: AsyncConnection) -> AsyncIterator[list[str]]:
    """``synchronous_commit`` as each session sees it just before it commits (the app's, and the tests')."""
    seen: list[str] = []

    def before_commit(session: Session) -> None:
        seen.append(session.connection().exec_driver_sql("SHOW synchronous_commit").scalar_one())

    # The test's outer transaction is shared by every request: start each test from the server's default.
    await connection.execute(text("SET LOCAL synchronous_commit TO on"))
    event.listen(Session, "before_commit", before_commit)
    yield seen
    event.remove(Session, "before_commit", before_commit)


def _fsync_statements(statements: list[str]) -> list[str]:
    return [s for s in statements if "synchronous_commit" in s and not s.startswith("SHOW")]


@pytest.mark.usefixtures("reference_data")
async def test_the_audited_read_writes_and_commits_its_row_without_a_round_trip_for_the_setting(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    session: AsyncSession,
    driver_statements: list[str],
    at_commit: list[str],
) -> None:
    statements = driver_statements
    aps = await make_user("solicitante", f"municipality:{FLORIANOPOLIS}")
    reg = await make_user("regulador", "uf:SC")
    entry = await refer(client, aps, citizen_body())
    statements.clear()
    at_commit.clear()

    detail = await client.get(f"/api/v1/entries/{entry['id']}", headers=reg.headers)

    assert detail.status_code == 200
    inserts = [i for i, s in enumerate(statements) if s.startswith("INSERT INTO audit_event")]
    assert len(inserts) == 1
    # The setting rides on the audit INSERT; no statement of its own.
    assert _fsync_statements(statements) == [statements[inserts[0]]]
    assert "set_config('synchronous_commit', 'off', true)" in statements[inserts[0]]
    # Committed after the row was written (here a savepoint's release: the test's transaction holds the app's),
    # with synchronous_commit off (the token's first look-up, a transaction of its own, commits before it, on).
    commits = [i for i, s in enumerate(statements) if s.startswith(("RELEASE SAVEPOINT", "COMMIT"))]
    assert commits and commits[-1] > inserts[0]
    assert at_commit[-1] == "off"
    reads = await session.execute(
        text("SELECT count(*) FROM audit_event WHERE action = 'read' AND entity_id = :id AND actor_username = :u"),
        {"id": str(entry["id"]), "u": reg.username},
    )
    assert reads.scalar_one() == 1


# -- provide_db_session on its own, with routes that write besides their read ----------------------------------


@get("/read")
async def only_a_read(db_session: AsyncSession) -> dict[str, str]:
    await record_read(db_session, "Citizen", "1", uf="SC", municipality_ibge=FLORIANOPOLIS)
    return {}


@get("/read-then-export")
async def read_then_export(db_session: AsyncSession) -> dict[str, str]:
    await record_read(db_session, "Citizen", "1", uf="SC", municipality_ibge=FLORIANOPOLIS)
    await record(db_session, "export", entity_type="WaitlistEntry")
    return {}


@get("/read-then-core-write")
async def read_then_core_write(db_session: AsyncSession) -> dict[str, str]:
    await record_read(db_session, "Citizen", "1", uf="SC", municipality_ibge=FLORIANOPOLIS)
    await db_session.execute(update(ApiToken).where(ApiToken.id == -1).values(name="outro"))
    return {}


@get("/read-then-orm-change")
async def read_then_orm_change(db_session: AsyncSession) -> dict[str, str]:
    await record_read(db_session, "Citizen", "1", uf="SC", municipality_ibge=FLORIANOPOLIS)
    token = (await db_session.execute(text("SELECT min(id) FROM api_token"))).scalar_one()
    found = await db_session.get(ApiToken, token)
    assert found is not None
    found.name = "renomeado"  # pending: flushed by the commit
    return {}


@get("/export-then-read")
async def export_then_read(db_session: AsyncSession) -> dict[str, str]:
    await record(db_session, "export", entity_type="WaitlistEntry")
    await record_read(db_session, "Citizen", "1", uf="SC", municipality_ibge=FLORIANOPOLIS)
    return {}


@post("/read", status_code=200)
async def read_in_a_post(db_session: AsyncSession) -> dict[str, str]:
    await record_read(db_session, "Citizen", "1", uf="SC", municipality_ibge=FLORIANOPOLIS)
    return {}


@pytest.fixture
def bare_client(settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]) -> httpx.AsyncClient:
    app = Litestar(
        route_handlers=[
            only_a_read,
            read_then_export,
            read_then_core_write,
            read_then_orm_change,
            export_then_read,
            read_in_a_post,
        ],
        dependencies={"db_session": Provide(provide_db_session)},
        state=State({SESSIONMAKER_KEY: sessionmaker, SETTINGS_KEY: settings}),
        debug=True,
    )
    return app_client(app)


async def _audit_rows(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(text("SELECT action, count(*) FROM audit_event GROUP BY action"))
    return {action: int(n) for action, n in rows}


@pytest.mark.parametrize(
    ("method", "path", "expected", "fsync_set_on"),
    [
        ("GET", "/read", "off", False),
        ("GET", "/read-then-export", "on", True),
        ("GET", "/read-then-core-write", "on", True),
        ("GET", "/read-then-orm-change", "on", True),
        ("GET", "/export-then-read", "on", False),  # the read event never turned it off
        ("POST", "/read", "on", False),  # not a safe request
    ],
)
async def test_a_request_that_writes_besides_its_read_commits_with_synchronous_commit_on(
    bare_client: httpx.AsyncClient,
    make_user: MakeUser,
    session: AsyncSession,
    statements: list[str],
    at_commit: list[str],
    method: str,
    path: str,
    expected: str,
    fsync_set_on: bool,
) -> None:
    await make_user("regulador", "uf:SC")  # an API token for the ORM change to rename
    before = await _audit_rows(session)
    statements.clear()
    at_commit.clear()

    async with bare_client as client:
        response = await client.request(method, path)

    assert response.status_code == 200, response.text
    assert at_commit == [expected]
    assert ("SET LOCAL synchronous_commit TO ON" in statements) is fsync_set_on
    assert "SET LOCAL synchronous_commit TO OFF" not in statements  # never a round trip of its own
    after = await _audit_rows(session)
    assert after.get("read", 0) == before.get("read", 0) + 1  # the read is audited and committed either way
