"""``regula territory``: ``show`` reads the packaged reference; ``load`` commits into a database of its own."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine
from typer.testing import CliRunner

from regula.db import migrate
from regula.territory.cli import app

runner = CliRunner()


async def _admin(url: str, sql: str) -> None:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text(sql))
    await engine.dispose()


async def _scalar(url: str, sql: str) -> object:
    engine = create_async_engine(url)
    async with engine.connect() as conn:
        value = (await conn.execute(text(sql))).scalar_one()
    await engine.dispose()
    return value


@pytest.fixture
def own_database(database_url: str) -> Iterator[str]:
    """A database just for this test: ``load`` commits, and the shared test database must stay empty of it."""
    name = f"regula_test_territory_{uuid.uuid4().hex[:8]}"
    url = make_url(database_url).set(database=name).render_as_string(hide_password=False)
    asyncio.run(_admin(database_url, f'CREATE DATABASE "{name}"'))
    try:
        migrate.upgrade(url)
        yield url
    finally:
        asyncio.run(_admin(database_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def test_show_by_seven_and_six_digits() -> None:
    for code in ("4205407", "420540"):
        result = runner.invoke(app, ["show", code])
        assert result.exit_code == 0, result.output
        assert "Florianópolis/SC" in result.output
        assert "42007" in result.output
        assert "500.973" in result.output


def test_show_unknown_code_fails_with_its_code() -> None:
    result = runner.invoke(app, ["show", "9999996"])
    assert result.exit_code == 2
    assert "municipio_desconhecido" in result.output


def test_load_then_load_again(own_database: str, monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    monkeypatch.setenv("REGULA_DATABASE_URL", own_database)
    monkeypatch.setenv("REGULA_HOME", str(tmp_path))
    monkeypatch.setenv("REGULA_LOG_JSON", "false")

    first = runner.invoke(app, ["load"])
    assert first.exit_code == 0, first.output
    assert "5570" in first.output
    assert "Território atualizado" in first.output
    assert asyncio.run(_scalar(own_database, "SELECT count(*) FROM municipality")) == 5570

    second = runner.invoke(app, ["load"])
    assert second.exit_code == 0, second.output
    assert "nada mudou" in second.output
