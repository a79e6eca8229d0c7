"""Per-request database session, committed at the boundary.

A generator dependency: Litestar exits it after the handler and ``to_response`` but before anything is sent,
inside its exception handling. So a handler that returns (a page, JSON, a redirect after a form POST) commits;
one that raises rolls back; and a commit that fails becomes a proper error response, never a 2xx that lied.
Services and repositories only flush.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from regula.access.service import Principal
from regula.audit.service import (
    AuditContext,
    allow_commit_without_fsync,
    fsync_skipped,
    only_reads_recorded,
    set_context,
)
from regula.config import Settings
from regula.db.driver import DriverConnection
from regula.http.client import UNKNOWN, client_address_from_scope

SESSIONMAKER_KEY = "sessionmaker"
_SAFE_METHODS = frozenset({"GET", "HEAD"})
_NO_FSYNC = text("SET LOCAL synchronous_commit TO OFF")
_FSYNC = text("SET LOCAL synchronous_commit TO ON")
SETTINGS_KEY = "settings"


def sessionmaker_from(state: State) -> async_sessionmaker[AsyncSession]:
    return cast("async_sessionmaker[AsyncSession]", state[SESSIONMAKER_KEY])


def settings_from(state: State) -> Settings:
    return cast("Settings", state[SETTINGS_KEY])


def _known(address: str) -> str | None:
    return None if address == UNKNOWN else address


def audit_context_for(request: Request[Any, Any, Any]) -> AuditContext:
    scope = request.scope
    user = scope.get("user")
    principal = user if isinstance(user, Principal) else None
    # What ``request.url.path`` and ``request.headers`` give, read from the scope without building either (once
    # per request that opens a session): the first value of each header, decoded as Litestar decodes it.
    path = scope.get("root_path", "") + scope["path"]
    user_agent: str | None = None
    request_id: str | None = None
    for name, value in scope["headers"]:
        if name == b"user-agent":
            if user_agent is None:
                user_agent = value.decode("latin-1")
        elif name == b"x-request-id" and request_id is None:
            request_id = value.decode("latin-1")
    return AuditContext(
        actor_user_id=principal.user_id if principal else None,
        actor_username=principal.username if principal else None,
        actor_role=principal.role.value if principal else None,
        source="api" if path.startswith("/api/") else "web",
        ip=_known(client_address_from_scope(scope, settings_from(request.app.state))),
        user_agent=(user_agent or "")[:300] or None,
        # The column's width (an operator's correlation id, not data): a longer one sent by a client is cut, as the
        # user agent and the path are, never a failed audit row (it was a 500 on every audited request).
        request_id=request_id[:64] if request_id else None,
        method=request.method,
        path=path[:500],
    )


async def provide_db_session(request: Request[Any, Any, Any]) -> AsyncGenerator[AsyncSession, None]:
    safe = request.method in _SAFE_METHODS
    async with sessionmaker_from(request.app.state)() as session:
        set_context(session, audit_context_for(request))
        if safe:
            # The read event's own INSERT turns off the wait for the disk (no round trip of its own).
            allow_commit_without_fsync(session)
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        else:
            # A safe request whose only writes are the audit rows of what it read is committed without waiting for
            # the WAL flush; the rows reach the disk within ~3 × wal_writer_delay (decision 0024). Anything else
            # written in the transaction, before or after the read event, keeps the synchronous commit.
            if fsync_skipped(session):
                if not only_reads_recorded(session):
                    await session.execute(_FSYNC)
            elif safe and only_reads_recorded(session):
                await session.execute(_NO_FSYNC)
            await session.commit()


@asynccontextmanager
async def statement_session(state: State) -> AsyncIterator[AsyncSession]:
    """A session on an autocommit connection of the application's pool: each statement is its own transaction, and
    no BEGIN or COMMIT is sent around it. For work that is one statement, or statements that need no atomicity
    together (the look-up of who sends a request: a read, and a last-used stamp at most once a minute). A
    sessionmaker bound to one connection (the tests') gets one transaction, committed at the end of the block."""
    sessionmaker = sessionmaker_from(state)
    engine = sessionmaker.kw.get("bind")
    if isinstance(engine, AsyncEngine):
        async with engine.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            async with sessionmaker(bind=autocommit) as session:
                yield session
        return
    async with sessionmaker() as session, session.begin():
        yield session


@asynccontextmanager
async def driver_connection(state: State) -> AsyncIterator[DriverConnection]:
    """The driver's own connection (asyncpg) of one of the application's pooled connections, outside any
    transaction: each statement is its own, with no BEGIN or COMMIT (decision 0029), and no SQLAlchemy session or
    entity around it (decision 0030: ``regula.db.driver``). For reads and their read event only. A sessionmaker
    bound to one connection (the tests') gives that connection's driver inside one transaction, committed at the
    end of the block."""
    sessionmaker = sessionmaker_from(state)
    engine = sessionmaker.kw.get("bind")
    if isinstance(engine, AsyncEngine):
        async with engine.connect() as connection:
            yield (await connection.get_raw_connection()).driver_connection
        return
    async with sessionmaker() as session, session.begin():
        yield (await (await session.connection()).get_raw_connection()).driver_connection


def provide_settings(request: Request[Any, Any, Any]) -> Settings:
    return settings_from(request.app.state)


def client_address(request: ASGIConnection[Any, Any, Any, Any]) -> str:
    """The address of whoever sent ``request`` (a Litestar request or connection), as ``web.client`` resolves
    it behind the trusted proxies."""
    return client_address_from_scope(request.scope, settings_from(request.app.state))
