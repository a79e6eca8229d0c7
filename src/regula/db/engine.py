"""Engine and session factory. Sessions never commit on their own: the boundary (request, job, command) does."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from regula.config import Settings
from regula.db.embedded import APP_ROLE, EmbeddedPostgres
from regula.db.roles import server_settings


@dataclass
class Database:
    url: str
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A unit of work that commits when the block ends normally and rolls back otherwise."""
        async with self.sessionmaker() as session, session.begin():
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()


#: A pooled connection idle for longer than this is checked before it is lent (see ``ping_when_idle``).
PING_IDLE_SECONDS = 10.0
_LAST_USED = "regula_last_used"


def ping_when_idle(engine: AsyncEngine, idle_seconds: float = PING_IDLE_SECONDS) -> None:
    """Check a pooled connection before lending it only when it has been idle for ``idle_seconds``.

    SQLAlchemy's ``pool_pre_ping`` checks every checkout, and on asyncpg a check is three round trips (BEGIN, an
    empty statement, ROLLBACK): more than the look-up a public position request makes, twice per authenticated
    request (issue 18 item 3). A connection returned to the pool moments ago is alive unless the server restarted
    in between; then the first statement on it fails, SQLAlchemy sees a disconnect and invalidates the whole pool,
    and the request after it gets a new connection. So the cost of the saving is at most one failed request per
    process when PostgreSQL restarts or drops connections while they are busy — the cost without the check on an
    idle connection would be one failed request per idle connection, which is why idle ones are still checked.
    A connection that fails its check is replaced before it is lent (``DisconnectionError``)."""

    def checkin(dbapi_connection: Any, record: Any) -> None:
        record.info[_LAST_USED] = time.monotonic()

    def checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        last = record.info.get(_LAST_USED)
        if last is None or time.monotonic() - last < idle_seconds:
            return  # just connected, or lent moments ago
        try:
            dbapi_connection.ping()
        except Exception as exc:
            raise DisconnectionError("connection failed its check after being idle") from exc

    event.listen(engine.sync_engine, "checkin", checkin)
    event.listen(engine.sync_engine, "checkout", checkout)


def make_database(
    url: str, pool_size: int = 10, *, application_name: str = "regula", ping_idle_seconds: float = PING_IDLE_SECONDS
) -> Database:
    """``application_name`` names the process in ``pg_stat_activity`` (regula-serve, regula-scheduler, …)."""
    # hide_parameters: a failing statement's error (and so the log and any traceback) never carries its bound
    # values — CPFs, names, phone numbers, message texts (no personal data in logs).
    engine = create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        hide_parameters=True,
        connect_args=server_settings(application_name),
    )
    ping_when_idle(engine, ping_idle_seconds)
    return Database(url=url, engine=engine, sessionmaker=make_sessionmaker(engine))


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


@dataclass(frozen=True)
class DatabaseUrls:
    app: str  # the web app, scheduler, dispatcher and commands: neither superuser nor owner
    owner: str  # the schema's owner: migrations, and the grants to the app role that follow them
    app_role: str


@contextmanager
def database_urls(settings: Settings) -> Iterator[DatabaseUrls]:
    """The URLs to use: the external server's, or the embedded one's, started for the block's duration."""
    if settings.database_url is not None:
        app = settings.database_url.get_secret_value()
        yield DatabaseUrls(app=app, owner=owner_url(settings), app_role=settings.database_app_role)
        return
    server = EmbeddedPostgres(settings.pgdata)
    try:
        server.start()
        yield DatabaseUrls(app=server.app_url, owner=server.owner_url, app_role=APP_ROLE)
    finally:
        server.stop()


def owner_url(settings: Settings) -> str:
    """The schema owner's URL: REGULA_DATABASE_OWNER_URL, else REGULA_DATABASE_URL; on the embedded server (started
    by ``database_urls``), its owner role."""
    if settings.database_url is None:
        return EmbeddedPostgres(settings.pgdata).owner_url
    return (settings.database_owner_url or settings.database_url).get_secret_value()
