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


def test_the_standing_migration_moves_the_daily_figures_both_ways(fresh_database_url: str) -> None:
    """Migration 0026 (decision 0034) moves each entry's score, policy, position, queue size, estimates and
    position time to its standing row, and its downgrade moves them back: nothing of a queue is lost either way."""
    import asyncio

    from alembic import command
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    from regula.db import migrate

    figures = "score, position, queue_size, estimate_from, estimate_to, position_updated_at"

    async def run(*statements: str) -> list[Any]:
        engine = create_async_engine(fresh_database_url)
        try:
            async with engine.begin() as connection:
                rows: list[Any] = []
                for statement in statements:
                    result = await connection.execute(text(statement))
                    rows = list(result.all()) if result.returns_rows else rows
                return rows
        finally:
            await engine.dispose()

    command.downgrade(alembic_config(fresh_database_url), "0025_waitlist_no_deadline")
    asyncio.run(
        run(
            "INSERT INTO uf (sigla, code, name) VALUES ('SC', '42', 'Santa Catarina')",
            "INSERT INTO macro_region (code, name, uf) VALUES ('4201', 'Macro', 'SC')",
            "INSERT INTO municipality (ibge_code, ibge_code6, name, search_name, uf, latitude, longitude, macro_code,"
            " population) VALUES ('4205407', '420540', 'Florianópolis', 'florianopolis', 'SC', -27.6, -48.5, '4201',"
            " 500000)",
            "INSERT INTO citizen (id, name, search_name, birth_date, sex, race_color, municipality_ibge, uf,"
            " preferred_channel, contact_consent, pregnant, disability, autism, cadunico, created_at, updated_at, cpf)"
            " VALUES (1, 'Ana', 'ana', '1970-01-01', 'F', 'parda', '4205407', 'SC', 'sms', false, false, false,"
            " false, false, now(), now(), '52998224725')",
            "INSERT INTO waitlist_entry (protocol, citizen_id, oci_code, catalog_competencia, cid_code, risk_class,"
            " risk_justification, checklist, requesting_cnes, municipality_ibge, uf, scope_kind, scope_code, status,"
            " status_changed_at, requested_at, authorized_at, max_days, created_at, updated_at, "
            + figures
            + ") SELECT 'T' || g, 1, '090' || g, '202601', 'Z136', 'verde', 'Justificativa.', '{}', '2691868',"
            " '4205407', 'SC', 'macro', '4201', CASE WHEN g = 3 THEN 'cancelada' ELSE 'autorizada' END, now(), now(),"
            " now(), 60, now(), now(), CASE WHEN g < 3 THEN 100 * g END, CASE WHEN g < 3 THEN g END,"
            " CASE WHEN g < 3 THEN 2 END, CASE WHEN g < 3 THEN date '2027-01-04' END,"
            " CASE WHEN g < 3 THEN date '2027-02-01' + g END, CASE WHEN g < 3 THEN timestamptz '2026-12-07 03:00Z' END"
            " FROM generate_series(1, 3) g",
        )
    )
    before = asyncio.run(run(f"SELECT id, {figures} FROM waitlist_entry ORDER BY id"))
    assert len(before) == 3 and before[0][1:3] == (100, 1) and before[2][1:] == (None,) * 6

    migrate.upgrade(fresh_database_url)
    moved = asyncio.run(run(f"SELECT entry_id, {figures} FROM waitlist_standing ORDER BY entry_id"))
    assert [tuple(r) for r in moved] == [tuple(r) for r in before]

    command.downgrade(alembic_config(fresh_database_url), "0025_waitlist_no_deadline")
    back = asyncio.run(run(f"SELECT id, {figures} FROM waitlist_entry ORDER BY id"))
    assert [tuple(r) for r in back] == [tuple(r) for r in before]
    migrate.upgrade(fresh_database_url)
