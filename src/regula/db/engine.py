"""Engine and session factory. Sessions never commit on their own: the boundary (request, job, command) does."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from regula.config import Settings
from regula.db.embedded import EmbeddedPostgres


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


def make_database(url: str, pool_size: int = 10) -> Database:
    # hide_parameters: a failing statement's error (and so the log and any traceback) never carries its bound
    # values — CPFs, names, phone numbers, message texts (no personal data in logs).
    engine = create_async_engine(
        url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True, hide_parameters=True
    )
    return Database(url=url, engine=engine, sessionmaker=make_sessionmaker(engine))


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


@contextmanager
def database_url(settings: Settings) -> Iterator[str]:
    """The URL to use: the external server's, or the embedded one's, started for the block's duration."""
    if settings.database_url is not None:
        yield settings.database_url.get_secret_value()
        return
    server = EmbeddedPostgres(settings.pgdata)
    try:
        yield server.start()
    finally:
        server.stop()
