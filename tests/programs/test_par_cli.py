"""``regula programs ledger --par ID --json`` on a committed database of its own: the same JSON as the API."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import create_async_engine
from typer.testing import CliRunner

from regula.access.policy import Jurisdiction
from regula.catalog.service import bundled_sigtap_zip, import_sigtap
from regula.config import Settings
from regula.db.engine import make_sessionmaker
from regula.programs import service as par
from regula.programs.cli import app
from regula.programs.schemas import LineIn, ParCreate, StepIn
from regula.territory.service import load_territory
from regula.waitlist import service as wl
from tests.production.conftest import PROVIDER_CNES, TODAY, ensure_establishment

GESTOR = wl.Actor("gestor.sc", "gestor", jurisdiction=Jurisdiction.parse("uf:SC"))


@pytest.fixture
async def setup(fresh_database_url: str, settings: Settings, tmp_path: Path) -> tuple[CliRunner, int]:
    engine = create_async_engine(fresh_database_url)
    async with make_sessionmaker(engine)() as s, s.begin():
        await load_territory(s)
        await import_sigtap(s, bundled_sigtap_zip(), settings)
        await ensure_establishment(s)
        data = ParCreate(
            title="PAR Grande Florianópolis",
            scope_kind="region",
            scope_code="42007",
            diagnosis="Diagnóstico.",
            priorities="Prioridades.",
            lines=[LineIn("uf:SC", "0902010026", PROVIDER_CNES, f"{TODAY:%Y-%m}", 7)],
        )
        par_id = (await par.create_par(s, data, GESTOR)).id or 0
        day = TODAY - timedelta(days=10)
        for kind in ("resolucao_cir", "ciencia_cib", "aprovacao_saes"):
            await par.record_step(s, settings, par_id, 1, StepIn(kind, "1/2026", day.isoformat()), GESTOR, TODAY)
    await engine.dispose()
    env = {
        "REGULA_DATABASE_URL": fresh_database_url,
        "REGULA_HOME": str(tmp_path / "home"),
        "REGULA_LOG_JSON": "false",
        "REGULA_LOG_LEVEL": "WARNING",
        "COLUMNS": "200",
    }
    return CliRunner(env=env), par_id


def test_ledger_json_and_table(setup: tuple[CliRunner, int]) -> None:
    run, par_id = setup
    result = run.invoke(app, ["ledger", "--par", str(par_id), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout, parse_float=Decimal)
    assert data["par_id"] == par_id and data["version"] == 1
    assert data["advance_released"] is False  # no CIB resolution naming the executing managers yet
    manager = data["managers"][0]
    assert manager["manager"] == "uf:SC"
    # Money as JSON numbers with two decimals (decision 0015), the API's strings' values.
    assert manager["totals"]["advanced"] == Decimal("0.00")
    approved = manager["totals"]["approved"]
    assert approved == data["totals"]["approved"] and approved > 0 and approved.as_tuple().exponent == -2
    assert '"approved": ' + str(approved) in result.stdout
    result = run.invoke(app, ["ledger", "--par", str(par_id)])
    assert result.exit_code == 0 and "uf:SC" in result.stdout
    result = run.invoke(app, ["ledger", "--par", "999999"])
    assert result.exit_code != 0 and "não encontrado" in result.stderr
