"""``regula ressarcimento operators [--json]`` and ``finalize-sanctions`` end to end, on a committed database of
their own holding the demo's two operators."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import create_async_engine
from typer.testing import CliRunner

from regula.audit.service import AuditContext, install, set_context
from regula.catalog.service import bundled_sigtap_zip, import_sigtap
from regula.config import Settings
from regula.db.engine import make_sessionmaker
from regula.demo import ressarcimento as demo
from regula.ressarcimento.cli import app
from regula.territory.service import load_territory


@pytest.fixture
async def run(fresh_database_url: str, settings: Settings, tmp_path: Path) -> CliRunner:
    install()
    engine = create_async_engine(fresh_database_url)
    async with make_sessionmaker(engine)() as s, s.begin():
        set_context(s, AuditContext.system("test", "tests/ressarcimento/cli"))
        await load_territory(s)
        await import_sigtap(s, bundled_sigtap_zip(), settings)
        # The demo notifies October's fine on this day: its window ends long before the command runs.
        await demo.seed_demo_ressarcimento(s, settings, date(2026, 1, 10))
    await engine.dispose()
    env = {
        "REGULA_DATABASE_URL": fresh_database_url,
        "REGULA_HOME": str(tmp_path / "home"),
        "REGULA_LOG_JSON": "false",
        "REGULA_LOG_LEVEL": "WARNING",
        "COLUMNS": "200",
    }
    return CliRunner(env=env)


def test_operators_listed_and_windows_closed(run: CliRunner) -> None:
    result = run.invoke(app, ["operators", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["ans_registration"]: r for r in json.loads(result.stdout)["operators"]}
    assert set(rows) == {demo.HEALTHY.ans, demo.LAGGING.ans}
    lagging = rows[demo.LAGGING.ans]
    assert lagging["last_competencia"] == "202511" and lagging["months_below_90"] == 5
    assert lagging["sanction"] == "multa" and lagging["fine_brl"] > 0
    assert rows[demo.HEALTHY.ans]["sanction"] == "nenhuma"
    table = run.invoke(app, ["operators"])
    assert table.exit_code == 0 and "Vale Verde" in table.stdout and "Ativa" in table.stdout
    closed = run.invoke(app, ["finalize-sanctions"])
    assert closed.exit_code == 0, closed.output
    assert "1 sanção(ões) tornada(s) definitiva(s)." in closed.stderr
