"""``regula production import | check | apac | alerts`` end to end, on a committed database of their own."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import create_async_engine
from typer.testing import CliRunner

from regula.catalog.service import bundled_sigtap_zip, import_sigtap
from regula.config import Settings
from regula.db.engine import make_sessionmaker
from regula.production import authorization as auth
from regula.production.cli import app
from regula.territory.service import load_territory
from tests.production.conftest import PROVIDER_CNES, TODAY, cpf, ensure_establishment

HEADER = "cns;cpf;procedimento;data;cnes;competencia;quantidade;autorizacao;instrumento;principal;cbo;cid"


@pytest.fixture
async def run(fresh_database_url: str, settings: Settings, tmp_path: Path) -> CliRunner:
    engine = create_async_engine(fresh_database_url)
    async with make_sessionmaker(engine)() as s, s.begin():
        await load_territory(s)
        await import_sigtap(s, bundled_sigtap_zip(), settings)
        await ensure_establishment(s)
    await engine.dispose()
    env = {
        "REGULA_DATABASE_URL": fresh_database_url,
        "REGULA_HOME": str(tmp_path / "home"),
        "REGULA_LOG_JSON": "false",
        "REGULA_LOG_LEVEL": "WARNING",
        "COLUMNS": "200",
    }
    return CliRunner(env=env)


def test_import_check_and_apac(run: CliRunner, tmp_path: Path) -> None:
    day = TODAY - timedelta(days=5)
    competencia = f"{day:%Y%m}"
    person = cpf()
    number = auth.compose_apac_aih("42267", 9001)  # valid, but never issued by the regulation
    lines = [
        HEADER,
        f";{person};0902010026;{day:%d/%m/%Y};{PROVIDER_CNES};{competencia};1;{number};apac;0902010026;225125;",
        f";{person};0211020036;{day:%d/%m/%Y};{PROVIDER_CNES};{competencia};1;{number};apac;0902010026;225120;",
        f";{person};0301010072;{day:%d/%m/%Y};{PROVIDER_CNES};{competencia};1;{number};apac;0902010026;225125;",
        f";{person};0211020036;{day:%d/%m/%Y};{PROVIDER_CNES};{competencia};1;;bpa;;225120;",
        f";{person};0211020036;{day:%d/%m/%Y};{PROVIDER_CNES};{competencia};1;{number[:-1]}X;apac;;225120;",
    ]
    production = tmp_path / "producao.csv"
    production.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = tmp_path / "recusadas.json"
    result = run.invoke(app, ["import", str(production), "--report", str(report)])
    assert result.exit_code == 1, result.output
    assert "5 linhas: 4 importadas, 1 recusadas" in result.stderr
    refused = json.loads(report.read_text(encoding="utf-8"))
    assert [(e["row"], e["field"], e["code"]) for e in refused["errors"]] == [(5, "autorizacao", "autorizacao_formato")]
    again = run.invoke(app, ["import", str(production)])
    assert "já foi importado" in again.stderr

    findings = tmp_path / "achados.json"
    result = run.invoke(app, ["check", "--competencia", competencia, "--json", str(findings)])
    assert result.exit_code == 1, result.output
    codes = sorted(f["code"] for f in json.loads(findings.read_text(encoding="utf-8")))
    assert codes == ["cobranca_duplicada", "sem_autorizacao_regulada"]
    assert "cobranca_duplicada: 1" in result.stderr
    clean = run.invoke(app, ["check", "--competencia", "200001"])
    assert clean.exit_code == 0 and "Nenhum achado" in clean.stderr
    bad = run.invoke(app, ["check", "--competencia", "2026-13"])
    assert bad.exit_code == 2 and "competencia_invalida" in bad.stderr

    out = tmp_path / "apac.csv"
    result = run.invoke(app, ["apac", "--competencia", competencia, "--cnes", PROVIDER_CNES, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8").startswith("competencia;cnes_executante;numero_apac;registro")
    assert "0 APACs" in result.stderr
    unknown = run.invoke(app, ["apac", "--competencia", competencia, "--cnes", "7999999", "--out", str(out)])
    assert unknown.exit_code == 2 and "estabelecimento_desconhecido" in unknown.stderr

    alerts = run.invoke(app, ["alerts"])
    assert alerts.exit_code == 0 and "0 alertas" in alerts.stderr
