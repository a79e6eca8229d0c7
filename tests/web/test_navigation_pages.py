"""The navigator's worklist and the message log, as pages: a navigator sees what needs a person in their
territory, logs a call and closes the case; the message log shows what the citizen was told."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from tests.conftest import Login
from tests.support.allocation import propose_and_solve
from tests.waitlist.test_waitlist_api import authorize, citizen_body, refer
from tests.web.conftest import Browser

from regula.config import Settings
from regula.people.documents import generate_cpf

MakeUser = Callable[..., Awaitable[Login]]
BrowserFor = Callable[[Login | None], Awaitable[Browser]]
pytestmark = pytest.mark.usefixtures("reference_data")
OCI = "0902010026"
rng = random.Random(23)


async def _booked_no_show(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, make_user: MakeUser
) -> dict[str, Any]:
    gestor = await make_user("gestor", "uf:SC")
    reg = await make_user("regulador", "uf:SC")
    aps = await make_user("solicitante", "municipality:4205407")
    await client.post(
        "/api/v1/establishments",
        json={"cnes": "7200001", "name": "Policlínica Norte", "municipality_ibge": "4216602", "kind": "proprio"},
        headers=gestor.headers,
    )
    await client.put("/api/v1/establishments/7200001/offers", json={"oci_code": OCI}, headers=gestor.headers)
    starts = date.today() + timedelta(days=9)
    await client.post(
        "/api/v1/slots",
        json={"cnes": "7200001", "oci_code": OCI, "starts_at": f"{starts}T10:00:00-03:00", "capacity": 1},
        headers=gestor.headers,
    )
    e = await refer(client, aps, citizen_body(name="Célia Ramos", cpf=generate_cpf(rng), phone="48992220001"))
    await authorize(client, reg, e["id"])
    run_id = await propose_and_solve(client, reg.headers, session, settings)
    await client.post(f"/api/v1/allocation/runs/{run_id}/approve", headers=reg.headers)
    await client.post(f"/api/v1/allocation/runs/{run_id}/commit", headers=reg.headers)
    return e


async def test_navigator_works_the_list_and_reads_the_message_log(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, make_user: MakeUser, browser_for: BrowserFor
) -> None:
    e = await _booked_no_show(client, session, settings, make_user)
    nav = await make_user("navegador", "uf:SC")
    page = await browser_for(nav)
    before = await page.get("/navegacao")
    assert "Consultas a confirmar (1)" in before.text and "Pedido de confirmação: na fila de envio" in before.text
    # The phone reads as a Brazilian number; the link dials the stored one (QA walk: "+5548992220001" was shown).
    assert '<a href="tel:+5548992220001">(48) 99222-0001</a>' in before.text
    faltou = await client.post(f"/api/v1/entries/{e['id']}/transitions", json={"to": "faltou"}, headers=nav.headers)
    assert faltou.status_code == 201, faltou.text

    worklist = await page.get("/navegacao")
    assert worklist.status_code == 200
    assert "Falta ao atendimento" in worklist.text and e["protocol"] in worklist.text
    assert '<a href="tel:+5548992220001">(48) 99222-0001</a>' in worklist.text
    task_id = (
        await session.execute(text("SELECT id FROM navigation_task WHERE entry_id = :e"), {"e": e["id"]})
    ).scalar_one()

    refused = await page.post(f"/navegacao/tarefas/{task_id}/contatos", {"resultado": ""})
    assert refused.status_code == 422
    assert "Resultado inválido" in refused.text
    logged = await page.post(
        f"/navegacao/tarefas/{task_id}/contatos",
        {"resultado": "reagendar", "anotacao": "Estava internada; quer nova data.", "encerrar": "1"},
        follow_redirects=False,
    )
    assert logged.status_code == 303
    closed = (
        await session.execute(text("SELECT status, closed_by FROM navigation_task WHERE id = :t"), {"t": task_id})
    ).one()
    assert closed.status == "concluida" and closed.closed_by == nav.username
    done = await page.get("/navegacao?situacao=concluida")
    assert "Estava internada" in done.text

    log = await page.get(f"/mensagens?entrada={e['id']}")
    assert log.status_code == 200
    for label in ("Consulta marcada", "Pedido de confirmação", "Após a falta"):
        assert label in log.text
    assert e["protocol"] in log.text


async def test_the_municipality_and_region_filters_narrow_the_appointments_to_confirm(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, make_user: MakeUser, browser_for: BrowserFor
) -> None:
    """QA walk: filtering the worklist by Florianópolis still listed the whole state's 1,496 appointments to
    confirm (Tubarão, Lages…); the box follows the municipality and region filters like the tasks."""
    e = await _booked_no_show(client, session, settings, make_user)  # a Florianópolis resident, booked
    page = await browser_for(await make_user("navegador", "uf:SC"))
    for params, shown in (
        ({"municipio": "4205407"}, True),  # Florianópolis
        ({"municipio": "4209102"}, False),  # Joinville
        ({"regiao": "42007"}, True),  # Grande Florianópolis
        ({"regiao": "42011"}, False),  # Nordeste (Joinville)
    ):
        listed = await page.get("/navegacao", params=params)
        assert listed.status_code == 200, params
        assert (e["protocol"] in listed.text) is shown, params
        assert ("Consultas a confirmar (1)" in listed.text) is shown, params


async def test_worklist_is_for_the_people_who_work_it(make_user: MakeUser, browser_for: BrowserFor) -> None:
    aps = await make_user("solicitante", "municipality:4205407")
    page = await browser_for(aps)
    assert (await page.get("/navegacao")).status_code == 403
    assert (await page.get("/mensagens")).status_code == 403
    elsewhere = await make_user("navegador", "region:42001")
    other = await browser_for(elsewhere)
    assert (await other.get("/navegacao")).status_code == 200
