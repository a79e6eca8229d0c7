"""Run Alembic programmatically: ``regula db upgrade`` and the test fixtures use the same path."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from regula.db.driver import DriverConnection


def migrations_dir() -> Path:
    """``migrations/`` at the repository root (editable install) or inside the wheel (``_migrations``)."""
    here = Path(__file__).resolve()
    for candidate in (here.parents[1] / "_migrations", here.parents[3] / "migrations"):
        if (candidate / "env.py").is_file():
            return candidate
    raise RuntimeError("regula's migrations directory was not found; reinstall the package")


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "heads") -> None:
    command.upgrade(alembic_config(url), revision)


def head_revisions() -> set[str]:
    """The migrations' heads. Read from disk once per process: the scripts ship with the installed package and only
    change with a new release, which restarts the process (``/health`` re-read them on every call, ~200 ms under load,
    issue 18 item 3)."""
    return set(_heads())


@cache
def _heads() -> frozenset[str]:
    return frozenset(ScriptDirectory.from_config(alembic_config("postgresql+asyncpg://")).get_heads())


def _current(connection: Connection) -> set[str]:
    return set(MigrationContext.configure(connection).get_current_heads())


async def current_revisions(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return await conn.run_sync(_current)


async def revisions_in(session: AsyncSession) -> set[str]:
    """The revisions the database behind ``session`` is at; raises when it does not answer (the health check
    reads this through the application's own pool, so it sees what requests see)."""
    await session.execute(text("SELECT 1"))
    return set((await session.execute(text("SELECT version_num FROM alembic_version"))).scalars())


async def is_at_head(engine: AsyncEngine) -> bool:
    return await current_revisions(engine) == head_revisions()


_APPLIED = "SELECT version_num FROM alembic_version"


async def applied_revisions(connection: DriverConnection) -> set[str]:
    """The revisions the database is at (one statement on the driver's connection, decision 0030; ``/health``
    compares them with :func:`head_revisions`)."""
    return {row[0] for row in await connection.fetch(_APPLIED)}
