"""The manager's simulator page (issue 15): a gestor queues a scenario, the jobs process simulates it in a worker
process with progress, the page shows the report; bad input is refused naming the field, nothing saved; another
UF's runs are not found."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from tests.conftest import Login
from tests.web.conftest import Browser, field_error

from regula.cli_support.processes import WorkerPool
from regula.config import Settings
from regula.db.engine import Database
from regula.jobs.process import all_jobs
from regula.jobs.runner import run_job
from regula.simulation.report import dump, run_scenario
from regula.simulation.scenario import load_scenario

SMALL = {
    "nome": "pequena",
    "politica": "regula",
    "uf": "SC",
    "capacidade": "80",
    "meses": "1",
    "aquecimento": "0",
    "replicacoes": "2",
    "semente": "7",
    "encaminhamentos": "5000",
    "faltas": "30",
    "mensagens": "",
    "encaixe": "",
    "equidade": "sim",
    "escalonamento": "75",
}


async def _count(session: AsyncSession) -> int:
    return int((await session.execute(text("SELECT count(*) FROM simulation_run"))).scalar_one())


async def test_a_gestor_runs_a_scenario_in_the_background_and_reads_its_report(
    browser_for: Callable[[Login | None], Awaitable[Browser]],
    make_user: Callable[..., Awaitable[Login]],
    savepoint_database: Database,
    settings: Settings,
    session: AsyncSession,
) -> None:
    gestor = await browser_for(await make_user("gestor", "uf:SC"))
    listing = await gestor.get("/gestao/simulacoes")
    assert listing.status_code == 200
    assert 'href="/gestao/simulacoes"' in listing.text  # the menu entry
    posted = await gestor.post("/gestao/simulacoes", SMALL, follow_redirects=False)
    assert posted.status_code == 303, posted.text
    location = posted.headers["location"]
    run_id = int(re.fullmatch(r"/gestao/simulacoes/(\d+)", location).group(1))  # type: ignore[union-attr]
    queued = await gestor.get(location)
    assert queued.status_code == 200
    assert "Na fila" in queued.text and 'http-equiv="refresh"' in queued.text
    assert (await gestor.get(f"{location}/relatorio.json")).status_code == 409

    workers = WorkerPool()
    try:
        record = await run_job(savepoint_database, settings, all_jobs()["simulation_runner"], workers=workers)
    finally:
        workers.stop()
    assert record is not None and record.outcome == "ok", record and record.error
    assert record.counts == {"interrupted": 0, "concluded": 1, "failed": 0}

    done = await gestor.get(location)
    assert "Concluída" in done.text and 'http-equiv="refresh"' not in done.text
    assert "<svg" in done.text and "Concluídas dentro do tM" in done.text
    downloaded = await gestor.get(f"{location}/relatorio.json")
    assert downloaded.status_code == 200
    # The stored report is the one `regula simulate` writes for the same scenario: same bytes.
    scenario = (
        await session.execute(text("SELECT scenario FROM simulation_run WHERE id = :i"), {"i": run_id})
    ).scalar_one()
    assert downloaded.content == dump(run_scenario(load_scenario(scenario)))
    assert json.loads(downloaded.content)["scenario"]["capacity_factor"] == 0.8
    progress = (
        await session.execute(text("SELECT progress FROM simulation_run WHERE id = :i"), {"i": run_id})
    ).scalar_one()
    assert progress["percent"] == 100
    html = await gestor.get(f"{location}/relatorio.html")
    assert html.status_code == 200 and html.text.startswith("<!doctype html>")
    assert html.headers["content-type"] == "text/html; charset=utf-8"  # once (QA walk saw "charset=utf-8" twice)

    # Another UF's gestor does not find it, nor sees it listed.
    other = await browser_for(await make_user("gestor", "uf:PR"))
    assert (await other.get(location)).status_code == 404
    assert f"/gestao/simulacoes/{run_id}" not in (await other.get("/gestao/simulacoes")).text


async def test_bad_input_is_refused_naming_the_field_and_nothing_is_saved(
    browser_for: Callable[[Login | None], Awaitable[Browser]],
    make_user: Callable[..., Awaitable[Login]],
    session: AsyncSession,
) -> None:
    gestor = await browser_for(await make_user("gestor", "uf:SC"))
    before = await _count(session)
    for field, value, expected in (
        ("meses", "0", "mínimo"),
        ("capacidade", "muito", "número"),
        ("politica", "sorteio", "não permitido"),
        ("escalonamento", "150", "máximo"),
    ):
        answer = await gestor.post("/gestao/simulacoes", {**SMALL, field: value}, follow_redirects=False)
        assert answer.status_code == 422, (field, answer.status_code)
        message = field_error(answer.text, field)
        assert message is not None and expected in message.lower(), (field, message)
    huge = {**SMALL, "replicacoes": "50", "meses": "12", "encaminhamentos": "1000000"}
    answer = await gestor.post("/gestao/simulacoes", huge, follow_redirects=False)
    assert answer.status_code == 422
    assert "grande demais" in (field_error(answer.text, "replicacoes") or "")
    pr = await browser_for(await make_user("gestor", "uf:PR"))
    refused = await pr.post("/gestao/simulacoes", SMALL, follow_redirects=False)
    assert refused.status_code == 422
    assert "fora da sua jurisdição" in (field_error(refused.text, "uf") or "")
    assert await _count(session) == before
    # Who may not launch: an auditor reads, but may not run.
    auditor = await browser_for(await make_user("auditor", "uf:SC"))
    assert (await auditor.get("/gestao/simulacoes")).status_code == 200
    assert (await auditor.post("/gestao/simulacoes", SMALL, follow_redirects=False)).status_code == 403


async def test_an_overlong_name_is_refused_by_label_with_every_bad_field_and_what_was_typed_kept(
    browser_for: Callable[[Login | None], Awaitable[Browser]],
    make_user: Callable[..., Awaitable[Login]],
    session: AsyncSession,
) -> None:
    """Issue 17 item 4: a 200-character name was saved cut to 80; now it is refused by its label, together with
    every other bad field (in the form's order), and the form shows back what was typed, whole."""
    gestor = await browser_for(await make_user("gestor", "uf:SC"))
    before = await _count(session)
    name = "Cenário de inverno " * 10 + "fim"  # 193 characters
    bad = {**SMALL, "nome": name, "capacidade": "muito", "meses": "0", "escalonamento": "150"}
    answer = await gestor.post("/gestao/simulacoes", bad, follow_redirects=False)
    assert answer.status_code == 422
    assert field_error(answer.text, "nome") == f"Texto longo demais: no máximo 80 caracteres (foram {len(name)})."
    assert "número" in (field_error(answer.text, "capacidade") or "")
    assert "mínimo" in (field_error(answer.text, "meses") or "").lower()
    assert "máximo" in (field_error(answer.text, "escalonamento") or "").lower()
    summary = answer.text.split('role="alert"')[1].split("</div>")[0]
    labels = ["Nome:", "Capacidade (% da atual):", "Meses medidos:", "Escalonamento (% do tM):"]
    positions = [summary.find(label) for label in labels]
    assert -1 not in positions and positions == sorted(positions), positions
    assert f'value="{name}"' in answer.text and 'value="muito"' in answer.text and 'value="5000"' in answer.text
    assert await _count(session) == before
