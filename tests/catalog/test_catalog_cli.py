"""``regula catalog …`` end to end: each command commits, so these tests run on a throwaway database of their
own (created on the test server, migrated, dropped at the end)."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine
from typer.testing import CliRunner

from regula.catalog.cli import app
from regula.db import migrate


async def _admin(url: str, *statements: str) -> None:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        for statement in statements:
            await conn.execute(text(statement))
    await engine.dispose()


@pytest.fixture(scope="module")
def cli_database(database_url: str) -> Iterator[str]:
    name = f"regula_catalog_cli_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin(database_url, f'CREATE DATABASE "{name}"'))
    url = make_url(database_url).set(database=name).render_as_string(hide_password=False)
    try:
        migrate.upgrade(url)
        yield url
    finally:
        asyncio.run(
            _admin(
                database_url,
                f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'",
                f'DROP DATABASE IF EXISTS "{name}"',
            )
        )


@pytest.fixture(scope="module")
def run(cli_database: str, tmp_path_factory: pytest.TempPathFactory) -> CliRunner:
    env = {
        "REGULA_DATABASE_URL": cli_database,
        "REGULA_HOME": str(tmp_path_factory.mktemp("cli-home")),
        "REGULA_LOG_JSON": "false",
        "REGULA_LOG_LEVEL": "WARNING",
        "COLUMNS": "200",  # rich tables: wide enough to show whole names
    }
    return CliRunner(env=env)


def test_list_before_any_import_says_what_to_do(run: CliRunner) -> None:
    result = run.invoke(app, ["list", "--json"])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "import-sigtap" in result.stderr and "catalogo_vazio" in result.stderr


def test_a_broken_file_exits_2_with_the_reason(run: CliRunner, tmp_path: Path) -> None:
    broken = tmp_path / "TabelaUnificada_202601_quebrado.zip"
    broken.write_bytes(os.urandom(2048))
    result = run.invoke(app, ["import-sigtap", str(broken)])
    assert result.exit_code == 2
    assert "não é um zip SIGTAP" in result.stderr and "sigtap_zip_invalido" in result.stderr
    assert run.invoke(app, ["import-sigtap"]).exit_code == 2  # neither a path nor --bundled


def test_import_the_bundled_file_then_again(run: CliRunner) -> None:
    first = run.invoke(app, ["import-sigtap", "--bundled"])
    assert first.exit_code == 0, first.stderr
    assert "Competência 202601 importada" in first.stdout
    assert "OCIs: 34" in first.stdout and "CIDs: 933" in first.stdout and "secundários: 292" in first.stdout

    again = run.invoke(app, ["import-sigtap", "--bundled"])
    assert again.exit_code == 0, again.stderr
    assert "nada mudou" in again.stdout


def test_list_json_shape(run: CliRunner) -> None:
    result = run.invoke(app, ["list", "--json"])
    assert result.exit_code == 0, result.stderr
    ocis = json.loads(result.stdout)  # stdout holds the JSON and nothing else
    assert isinstance(ocis, list) and len(ocis) == 34
    required = {
        "code",
        "name",
        "competencia",
        "value_brl",
        "max_days",
        "sex",
        "age_min_months",
        "age_max_months",
        "mandatory",
        "optional",
        "cids",
        "consultation_one_of",
        "min_secondaries",
        "attributes",
        "subgroup",
    }
    for oci in ocis:
        assert required <= set(oci), oci["code"]
        assert oci["competencia"] == "202601"
        assert isinstance(oci["value_brl"], int | float) and oci["value_brl"] > 0
        assert oci["max_days"] in (30, 60)
        assert oci["sex"] in ("M", "F", None)
        assert all(isinstance(oci[k], int | None) for k in ("age_min_months", "age_max_months"))
        for item in [*oci["mandatory"], *oci["optional"], *oci["consultation_one_of"]]:
            assert isinstance(item["code"], str) and len(item["code"]) == 10
            assert item["qty"] is None or isinstance(item["qty"], int)
        assert all(isinstance(c, str) for c in oci["cids"]) and oci["cids"]
    by_code = {o["code"]: o for o in ocis}
    breast = by_code["0901010014"]
    assert breast["value_brl"] == 125 and breast["max_days"] == 30 and breast["sex"] is None
    assert breast["mandatory"] == [{"code": "0204030030", "qty": 1}]  # exactly the contract's keys
    assert breast["procedure_names"]["0204030030"] == "MAMOGRAFIA"
    assert [c["code"] for c in breast["consultation_one_of"]] == ["0301010072", "0301010307"]
    assert by_code["0906010039"]["value_brl"] == 304.86
    assert by_code["0901010049"]["sex"] == "M"


def test_list_table_and_unknown_competencia(run: CliRunner) -> None:
    table = run.invoke(app, ["list"])
    assert table.exit_code == 0, table.stderr
    assert "0901010014" in table.stdout and "125,00" in table.stdout
    assert "OCI AVALIAÇÃO DIAGNÓSTICA INICIAL DE CÂNCER DE MAMA" in table.stdout
    missing = run.invoke(app, ["list", "--json", "--competencia", "203001"])
    assert missing.exit_code == 2
    assert missing.stdout == ""
    assert "203001" in missing.stderr


def test_versions(run: CliRunner) -> None:
    result = run.invoke(app, ["versions"])
    assert result.exit_code == 0, result.stderr
    assert "202601" in result.stdout and "TabelaUnificada_202601_v2601291504.zip" in result.stdout
