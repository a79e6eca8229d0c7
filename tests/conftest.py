"""Tests run against a real PostgreSQL: ``REGULA_TEST_DATABASE_URL`` when set, else an embedded server.

Each test session creates its own database (so parallel runs never collide), builds the schema by running the
migrations, and drops the database at the end. Each test runs inside a transaction that is rolled back; code
under test that commits only releases a savepoint.

Speed (the suite runs on small shared machines): the migrations run once per test process, into a template that
every other database of the process copies (``CREATE DATABASE … TEMPLATE``, a fraction of a second); dropping a
database (which waits for a checkpoint) happens in a background thread; the reference data (territory and the
SIGTAP catalog) is committed once per process into a database of its own, where the connection of each test that
asks for ``reference_data`` points. Under pytest-xdist each worker is a session of its own, with its own
databases; the embedded server is shared by the workers (pgserver attaches to a running one).
"""

from __future__ import annotations

import asyncio
import atexit
import fcntl
import os
import tempfile
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event, make_url, text
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool

from regula.config import Settings
from regula.db import migrate
from regula.db.embedded import EmbeddedPostgres
from regula.db.engine import Database
from regula.wiring import wire

# An xdist worker starts with COLUMNS=80 and LINES=24 in its environment, set by no one in the command (the readline
# library exports them); rich would then fix the width of the command line's tables at 80 columns for the whole
# run, whatever width a test asks for. Workers put back what the command had.
for _variable in ("COLUMNS", "LINES"):
    if os.environ.get("PYTEST_XDIST_WORKER"):
        _given = os.environ.get(f"REGULA_TEST_GIVEN_{_variable}")
        if _given == "":
            os.environ.pop(_variable, None)
        elif _given is not None:
            os.environ[_variable] = _given
    else:
        os.environ[f"REGULA_TEST_GIVEN_{_variable}"] = os.environ.get(_variable, "")


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
    home.mkdir(parents=True, exist_ok=True)
    try:
        # xdist workers start together: one at a time through the start (and, on a new data directory, initdb and
        # the creation of database regula, which two at once would both attempt); then they share the server.
        with (home / "start.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            url = server.start()
        yield url
    finally:
        server.stop()


async def _admin(url: str, sql: str) -> None:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text(sql))
    await engine.dispose()


def _database(server_url: str, name: str) -> str:
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def _server_key(server_url: str) -> str:
    return make_url(server_url).set(database="").render_as_string(hide_password=False)


# This process's migrated template on each server (server key → database name), and the drops not yet finished.
_templates: dict[str, tuple[str, str]] = {}
_templates_lock = threading.Lock()
_dropper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="regula-test-dropdb")
_drops: list[Future[None]] = []


def _template(server_url: str) -> str:
    """This process's template on the server of ``server_url``: an empty database built by the migrations, made
    on first use. Nothing ever connects to it but the migrations (PostgreSQL copies only an unused database)."""
    key = _server_key(server_url)
    with _templates_lock:
        if key not in _templates:
            name = f"regula_template_{_worker()}{uuid.uuid4().hex[:12]}"
            asyncio.run(_admin(server_url, f'CREATE DATABASE "{name}"'))
            try:
                migrate.upgrade(_database(server_url, name))
            except BaseException:
                asyncio.run(_admin(server_url, f'DROP DATABASE IF EXISTS "{name}"'))
                raise
            _templates[key] = (server_url, name)
        return _templates[key][1]


def _worker() -> str:
    """``gw0_`` under pytest-xdist: names the worker a database belongs to, for whoever looks at the server."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    return f"{worker}_" if worker else ""


async def _drop(server_url: str, name: str) -> None:
    await _admin(server_url, f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")
    await _admin(server_url, f'DROP DATABASE IF EXISTS "{name}"')


def _drop_later(server_url: str, name: str) -> None:
    _drops.append(_dropper.submit(lambda: asyncio.run(_drop(server_url, name))))


def _finish_databases() -> None:
    """Wait for the pending drops, then drop the templates (at the end of the session, or of a script)."""
    while _drops:
        _drops.pop().result()
    with _templates_lock:
        for server_url, name in _templates.values():
            asyncio.run(_drop(server_url, name))
        _templates.clear()


atexit.register(_finish_databases)  # scripts that use throwaway_database (benchmarks) end without a fixture


@contextmanager
def throwaway_database(server_url: str, prefix: str) -> Iterator[str]:
    """A new database on the server of ``server_url``, built by the migrations, dropped afterwards.

    A copy of this process's migrated template, so it takes a fraction of a second rather than a run of the
    migrations; the drop runs in the background (``_finish_databases`` waits for it)."""
    name = f"{prefix}_{_worker()}{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(server_url, f'CREATE DATABASE "{name}" TEMPLATE "{_template(server_url)}"'))
    try:
        yield _database(server_url, name)
    finally:
        _drop_later(server_url, name)


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    for server_url in _server_url():
        try:
            with throwaway_database(server_url, "regula_test") as url:
                yield url
        finally:
            _finish_databases()  # before the embedded server (if that is the one) stops


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


# Names of the databases that hold the reference data committed (see ``reference_database_url``).
_reference_databases: set[str] = set()


async def _load_reference_data(url: str, home: Path) -> None:
    from pydantic import SecretStr

    from regula.catalog.service import bundled_sigtap_zip, import_sigtap
    from regula.territory.service import load_territory

    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with AsyncSession(engine, expire_on_commit=False, autoflush=False) as s:
            await load_territory(s)
            settings = Settings(home=home, database_url=SecretStr(url), environment="test", log_json=False)
            await import_sigtap(s, bundled_sigtap_zip(), settings)
            await s.commit()
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def reference_database_url(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database of this test process with the reference data (municipalities, health regions, the shipped SIGTAP
    2026-01 catalog) committed once: loading it takes seconds, and more than a hundred tests need it. Tests never
    commit to it (their transactions are rolled back), so it stays as loaded."""
    with throwaway_database(database_url, "regula_reference") as url:
        asyncio.run(_load_reference_data(url, tmp_path_factory.mktemp("reference-home")))
        _reference_databases.add(make_url(url).database or "")
        yield url


@pytest.fixture(scope="session")
async def reference_engine(reference_database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(reference_database_url, pool_size=5)
    yield engine
    await engine.dispose()


@pytest.fixture
def connection_engine(request: pytest.FixtureRequest, engine: AsyncEngine) -> AsyncEngine:
    """Where the test's connection comes from: the session's database, or, for a test that uses
    ``reference_data``, the database with the reference data committed. (A sync fixture: it runs outside the
    event loop, so it may set up the reference database on first use.)"""
    if "reference_data" in request.fixturenames:
        return request.getfixturevalue("reference_engine")  # type: ignore[no-any-return]
    return engine


@pytest.fixture
async def connection(connection_engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    async with connection_engine.connect() as conn:
        outer = await conn.begin()
        yield conn
        if outer.is_active:
            await outer.rollback()


@pytest.fixture
def statements(connection: AsyncConnection) -> Iterator[list[str]]:
    """Every statement the app's sessions send (they share the test's connection)."""
    seen: list[str] = []

    def listen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(connection.sync_connection, "before_cursor_execute", listen)
    yield seen
    event.remove(connection.sync_connection, "before_cursor_execute", listen)


@pytest.fixture
async def driver_statements(connection: AsyncConnection, statements: list[str]) -> AsyncIterator[list[str]]:
    """``statements``, with those the app runs on the driver's own connection (decision 0030) in their order:
    SQLAlchemy's cursor events do not see them, asyncpg's query logger does."""
    driver = (await connection.get_raw_connection()).driver_connection

    def logged(query: Any) -> None:
        statements.append(query.query)

    driver.add_query_logger(logged)
    yield statements
    driver.remove_query_logger(logged)


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
def savepoint_database(connection_engine: AsyncEngine, sessionmaker: async_sessionmaker[AsyncSession]) -> Database:
    """A ``Database`` for code that takes one (jobs, commands' helpers) whose sessions are the test's: each
    ``transaction()`` is a savepoint of the test's transaction, rolled back with it, so the test needs no database
    of its own. Its engine is the test's too, for the separate connections such code opens (advisory locks). Not
    for code that runs several sessions at once: they would share the test's one connection."""
    return Database(
        url=connection_engine.url.render_as_string(hide_password=False),
        engine=connection_engine,
        sessionmaker=sessionmaker,
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


@pytest.fixture(scope="session", autouse=True)
def _cheap_password_hashing() -> Iterator[None]:
    """argon2 at regula's cost takes ~0.2 s per hash or check on a small machine, and the tests make and check
    hundreds of passwords (every test user, every login). In the test process the same argon2id runs at its
    smallest cost; the commands that tests start as processes keep the real one."""
    from argon2 import PasswordHasher

    from regula.access import service

    real = getattr(service, "_hasher", None)
    if not isinstance(real, PasswordHasher):
        yield  # the hasher moved: nothing to make cheaper
        return
    service._hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    try:
        yield
    finally:
        service._hasher = real


@dataclass
class Login:
    username: str
    password: str
    token: str
    user_id: int

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def create_login(
    session: AsyncSession, username: str, role: str, jurisdiction: str, password: str = "senha-forte-123"
) -> Login:
    """A user (full name: the username in title case) with an API token, committed in ``session``."""
    from regula.access import service

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


@pytest.fixture
def make_user(session: AsyncSession) -> Callable[..., Awaitable[Login]]:
    """Create a user with a role and jurisdiction and an API token for it."""
    counter = iter(range(1_000_000))

    async def _make(role: str = "admin", jurisdiction: str = "br", password: str = "senha-forte-123") -> Login:
        username = f"{role}.{next(counter)}.{uuid.uuid4().hex[:6]}"
        return await create_login(session, username, role, jurisdiction, password)

    return _make


@pytest.fixture
async def reference_data(session: AsyncSession, settings: Settings) -> None:
    """Municipalities and the shipped SIGTAP 2026-01 catalog, seen by the test's session.

    Asking for this fixture points the test's connection at the database where they were committed once for the
    whole session (``connection_engine``). Only a test whose connection is elsewhere (one that asked for this
    fixture late, through ``request.getfixturevalue``) has them loaded into its rolled-back transaction."""
    from regula.catalog.service import bundled_sigtap_zip, import_sigtap
    from regula.territory.service import load_territory

    bind = session.bind
    if isinstance(bind, AsyncConnection) and bind.engine.url.database in _reference_databases:
        return
    await load_territory(session)
    await import_sigtap(session, bundled_sigtap_zip(), settings)
    await session.commit()


# -- running in parallel (pytest-xdist; pyproject's addopts ask for ``-n auto --dist loadfile``) ---------------------

#: The modules that take longest, longest first (measured: docs/benchmarks.md). They are handed out first, so a
#: run does not end with one worker deep in a long test while the others sit idle.
SLOW_FIRST = (
    "tests/web/test_schemathesis.py",
    "tests/cli/test_processes.py",
    "tests/browser/test_journeys.py",
    "tests/access/test_authorization_matrix.py",
    "tests/demo/test_demo_data.py",
    "tests/cli/test_cli_contract.py",
)
#: Modules that start processes racing a clock, or a browser: one worker runs them, one after the other, so two of
#: them never compete for the machine at once.
ALONE = frozenset(
    {
        "tests/cli/test_processes.py",
        "tests/cli/test_cli_contract.py",
        "tests/browser/test_journeys.py",
        "tests/browser/test_api_docs.py",
        "tests/test_multiprocess.py",
    }
)


def _module(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


@pytest.hookimpl(tryfirst=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """``-n auto``: one worker per CPU (at least two: the tests spend much of their time waiting for PostgreSQL)
    for a run of the suite or of folders; none, in-process, when the command names test files or tests — starting
    workers and their databases would cost more than it saves. ``-n N`` or ``-n 0`` on the command line wins, and
    so does PYTEST_XDIST_AUTO_NUM_WORKERS."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None  # xdist's own hook reads it
    if config.args_source == pytest.Config.ArgsSource.ARGS and all(Path(_module(a)).is_file() for a in config.args):
        return 0
    return max(2, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


@pytest.hookimpl(tryfirst=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadfile``, except that the ALONE modules are one unit of work. (The ``xdist_group`` mark would say
    the same, but pytest 9.2 made xdist's ``loadgroup`` ignore it: pytest-dev/pytest-xdist#1386.)"""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class Scheduling(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = _module(nodeid)
            return "alone" if module in ALONE else module

    return Scheduling(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In an xdist worker: the SLOW_FIRST modules first (every worker sorts alike, as xdist requires; the
    controller hands the modules out in this order)."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        rank = {name: position for position, name in enumerate(SLOW_FIRST)}
        items.sort(key=lambda item: rank.get(_module(item.nodeid), len(rank)))  # stable: the rest keep their order
