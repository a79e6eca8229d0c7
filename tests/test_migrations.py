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
