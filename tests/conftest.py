"""Tests run against a real PostgreSQL: ``REGULA_TEST_DATABASE_URL`` when set, else an embedded server.

Each test session creates its own database (so parallel runs never collide), builds the schema by running the
migrations, and drops the database at the end. Each test runs inside a transaction that is rolled back; code
under test that commits only releases a savepoint.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from regula.config import Settings
from regula.db import migrate
from regula.db.embedded import EmbeddedPostgres
from regula.wiring import wire


def _server_url() -> Iterator[str]:
    external = os.environ.get("REGULA_TEST_DATABASE_URL")
    if external:
        url = make_url(external)
        if url.drivername in ("postgresql", "postgres"):
            url = url.set(drivername="postgresql+asyncpg")
        yield url.render_as_string(hide_password=False)
        return
    home = Path(os.environ.get("REGULA_TEST_HOME", Path(tempfile.gettempdir()) / "regula-test-pg"))
    server = EmbeddedPostgres(home / "pgdata")
    try:
        yield server.start()
    finally:
        server.stop()


async def _admin(url: str, sql: str) -> None:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text(sql))
    await engine.dispose()


@contextmanager
def throwaway_database(server_url: str, prefix: str) -> Iterator[str]:
    """A new database on the server of ``server_url``, built by the migrations, dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(server_url, f'CREATE DATABASE "{name}"'))
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    try:
        migrate.upgrade(url)
        yield url
    finally:
        asyncio.run(
            _admin(server_url, f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")
        )
        asyncio.run(_admin(server_url, f'DROP DATABASE IF EXISTS "{name}"'))


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    for server_url in _server_url():
        with throwaway_database(server_url, "regula_test") as url:
            yield url


@pytest.fixture
def fresh_database_url(database_url: str) -> Iterator[str]:
    """For code that commits (jobs, concurrent bookings): a database of the test's own, not rolled back."""
    with throwaway_database(database_url, "regula_fresh") as url:
        yield url


@pytest.fixture(scope="session", autouse=True)
def _wired() -> None:
    """Tests call services directly too, not only through the app or the CLI: connect the domain events'
    subscribers (backfill, messages, tasks) once, as every regula process does at start."""
    wire()


@pytest.fixture(scope="session")
def settings(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    from pydantic import SecretStr

    return Settings(
        home=tmp_path_factory.mktemp("home"),
        database_url=SecretStr(database_url),
        environment="test",
        log_json=False,
    )


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(database_url, pool_size=5)
    yield engine
    await engine.dispose()


@pytest.fixture
async def connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    async with engine.connect() as conn:
        outer = await conn.begin()
        yield conn
        if outer.is_active:
            await outer.rollback()


@pytest.fixture
async def session(connection: AsyncConnection) -> AsyncIterator[AsyncSession]:
    s = AsyncSession(bind=connection, expire_on_commit=False, autoflush=False, join_transaction_mode="create_savepoint")
    yield s
    await s.close()


@pytest.fixture
def sessionmaker(connection: AsyncConnection) -> async_sessionmaker[AsyncSession]:
    """Sessions for the app under test: every commit only releases a savepoint of the test's transaction."""
    return async_sessionmaker(
        bind=connection, expire_on_commit=False, autoflush=False, join_transaction_mode="create_savepoint"
    )


@pytest.fixture
async def client(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client calling the app in the test's own event loop (Litestar's test client runs the app on
    another loop in a thread, where the test's database connection cannot be used)."""
    from regula.web.app import create_app

    async with app_client(create_app(settings, sessionmaker)) as c:
        yield c


def app_client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver.local")


@dataclass
class Login:
    username: str
    password: str
    token: str
    user_id: int

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
def make_user(session: AsyncSession) -> Callable[..., Awaitable[Login]]:
    """Create a user with a role and jurisdiction and an API token for it."""
    from regula.access import service

    counter = iter(range(1_000_000))

    async def _make(role: str = "admin", jurisdiction: str = "br", password: str = "senha-forte-123") -> Login:
        username = f"{role}.{next(counter)}.{uuid.uuid4().hex[:6]}"
        user = await service.create_user(
            session,
            username=username,
            full_name=username.title(),
            role=role,
            jurisdiction=jurisdiction,
            password=password,
        )
        _, secret = await service.create_token(session, username)
        await session.commit()
        assert user.id is not None
        return Login(username, password, secret, user.id)

    return _make


@pytest.fixture
async def reference_data(session: AsyncSession, settings: Settings) -> None:
    """Municipalities and the shipped SIGTAP 2026-01 catalog, inside the test's rolled-back transaction."""
    from regula.catalog.service import bundled_sigtap_zip, import_sigtap
    from regula.territory.service import load_territory

    await load_territory(session)
    await import_sigtap(session, bundled_sigtap_zip(), settings)
    await session.commit()
