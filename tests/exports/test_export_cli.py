"""``regula export waitlist`` end to end. The command commits (the audit record), so the full run uses a throwaway
database of its own; argument errors are caught before any database is opened."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import typer
from fhir.resources.R4B.bundle import Bundle
from sqlalchemy import text
from typer.testing import CliRunner

from regula.audit.service import AuditContext, set_context
from regula.catalog.service import bundled_sigtap_zip, import_sigtap
from regula.config import Settings
from regula.db.engine import make_database
from regula.exports.cli import app
from regula.territory.service import load_territory
from tests.exports.scenario import build


def _parent() -> typer.Typer:
    # Registered as the lead registers it in regula.cli.main: app.add_typer(export_app, name="export").
    parent = typer.Typer()
    parent.add_typer(app, name="export")

    @parent.command()
    def other() -> None:
        pass

    return parent


@pytest.mark.parametrize(
    ("args", "code"),
    [
        ([], "uf_obrigatoria"),
        (["--uf", "XX"], "uf_invalida"),
        (["--uf", "SC", "--format", "xml"], "formato_invalido"),
        (["--uf", "SC", "--oci", "123"], "oci_invalida"),
        (["--uf", "SC", "--municipality", "4106902"], "municipio_fora_da_uf"),
        (["--uf", "SC", "--out", "/nao/existe/lista.csv"], "destino_invalido"),
    ],
)
def test_argument_errors_exit_2_with_a_stable_code(tmp_path: Path, args: list[str], code: str) -> None:
    runner = CliRunner(env={"REGULA_HOME": str(tmp_path), "REGULA_LOG_JSON": "false", "REGULA_DATABASE_URL": None})
    result = runner.invoke(_parent(), ["export", "waitlist", *args])
    assert result.exit_code == 2, result.output
    assert code in result.stderr and "Erro:" in result.stderr
    assert list(tmp_path.iterdir()) == []  # nothing written, no embedded database started


async def _seed(url: str, settings: Settings) -> None:
    db = make_database(url, pool_size=2)
    try:
        async with db.transaction() as session:
            set_context(session, AuditContext.system("cli", "teste"))
            await load_territory(session)
            await import_sigtap(session, bundled_sigtap_zip(), settings)
            await build(session, settings)
    finally:
        await db.dispose()


async def _audit_rows(url: str) -> list[dict[str, object]]:
    db = make_database(url, pool_size=1)
    try:
        async with db.transaction() as session:
            rows = await session.execute(
                text("SELECT actor_username, after FROM audit_event WHERE action = 'export' ORDER BY id")
            )
            return [dict(r._mapping) for r in rows]
    finally:
        await db.dispose()


async def _protocols(url: str, ids: list[str]) -> set[str]:
    db = make_database(url, pool_size=1)
    try:
        async with db.transaction() as session:
            rows = await session.execute(
                text("SELECT protocol FROM waitlist_entry WHERE id = ANY(:ids)"), {"ids": [int(i) for i in ids]}
            )
            return {r[0] for r in rows}
    finally:
        await db.dispose()


def test_writes_csv_json_and_fhir(fresh_database_url: str, settings: Settings, tmp_path: Path) -> None:
    asyncio.run(_seed(fresh_database_url, settings))
    out = tmp_path / "saida"
    out.mkdir()
    runner = CliRunner(
        env={
            "REGULA_DATABASE_URL": fresh_database_url,
            "REGULA_HOME": str(tmp_path / "home"),
            "REGULA_LOG_JSON": "false",
            "REGULA_LOG_LEVEL": "WARNING",
            "COLUMNS": "200",
        }
    )
    for fmt in ("csv", "json", "fhir"):
        result = runner.invoke(app, ["waitlist", "--uf", "SC", "--format", fmt, "--out", str(out)])
        assert result.exit_code == 0, result.stderr
        assert "5 entradas: 5 ativas, 1 agendadas · 2 OCIs · 3 municípios de origem" in result.stdout
        assert "0902010026" in result.stdout and "SHA-256" in result.stdout

    files = sorted(p.name for p in out.iterdir())
    assert len(files) == 3 and all(f.startswith("lista-espera-SC-") for f in files)
    [csv_file] = [p for p in out.iterdir() if p.suffix == ".csv"]
    assert len(csv_file.read_text(encoding="utf-8").splitlines()) == 6
    [json_file] = [p for p in out.iterdir() if p.name.endswith(".json") and ".fhir" not in p.name]
    assert json.loads(json_file.read_text(encoding="utf-8"))["totais"]["entradas"] == 5
    [fhir_file] = [p for p in out.iterdir() if p.name.endswith(".fhir.json")]
    assert Bundle.model_validate_json(fhir_file.read_text(encoding="utf-8")).type == "collection"

    refused = runner.invoke(app, ["waitlist", "--uf", "SC", "--oci", "0999999999", "--out", str(out / "x.csv")])
    assert refused.exit_code == 2 and "oci_desconhecida" in refused.stderr
    assert len(list(out.iterdir())) == 3  # nothing left behind, not even a staging file

    audit = asyncio.run(_audit_rows(fresh_database_url))
    assert [a["actor_username"] for a in audit] == ["regula export waitlist"] * 3
    assert [a["after"]["format"] for a in audit] == ["csv", "json", "fhir"]  # type: ignore[index]
    # Each export names the entries that left (one event per export, as every list read of personal data).
    exported = {row["protocolo"] for row in json.loads(json_file.read_text(encoding="utf-8"))["entradas"]}
    for event in audit:
        ids = event["after"]["ids"]  # type: ignore[index]
        assert len(ids) == event["after"]["count"] == 5  # type: ignore[index]
        assert asyncio.run(_protocols(fresh_database_url, ids)) == exported
