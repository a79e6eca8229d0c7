"""The models and the migrations describe the same schema; the migrations form one line of history."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from regula.db.migrate import alembic_config
from regula.models import load_all_models


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True, "compare_server_default": True})
    return list(compare_metadata(context, load_all_models()))


async def test_models_and_migrations_do_not_drift(connection: AsyncConnection) -> None:
    diff = await connection.run_sync(_diff)
    assert diff == [], f"models and migrations differ; write a migration: {diff}"


def test_single_head() -> None:
    heads = ScriptDirectory.from_config(alembic_config("postgresql+asyncpg://")).get_heads()
    assert len(heads) == 1, f"several migration heads {heads}: add a merge revision"


def test_every_migration_downgrades_and_upgrades_again(fresh_database_url: str) -> None:
    """A deployment rolled back runs the downgrades: each must run on a database at head, leave nothing of regula's
    behind at the base, and the upgrades after them must build the models' schema again."""
    import asyncio

    from alembic import command
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    from regula.db import migrate

    async def tables_and_diff() -> tuple[list[str], list[Any]]:
        engine = create_async_engine(fresh_database_url)
        try:
            async with engine.connect() as connection:
                tables = list(
                    (
                        await connection.execute(
                            text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
                        )
                    ).scalars()
                )
                return tables, await connection.run_sync(_diff)
        finally:
            await engine.dispose()

    command.downgrade(alembic_config(fresh_database_url), "base")
    tables, _ = asyncio.run(tables_and_diff())
    assert tables == ["alembic_version"], f"left behind at the base: {tables}"

    migrate.upgrade(fresh_database_url)
    tables, diff = asyncio.run(tables_and_diff())
    assert len(tables) > 30
    assert diff == [], f"the schema rebuilt after the downgrades differs from the models: {diff}"
