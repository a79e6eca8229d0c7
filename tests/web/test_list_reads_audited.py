"""Every list that returns personal data writes one audit event per request naming the ids it returned, through
the API and through the page alike (one helper, ``audit.service.record_list_read``, called where the list is made):
entries, messages, navigators' tasks, an allocation run's assignments and its instance. (Exports:
``tests/exports/test_export_cli.py``.)"""

from __future__ import annotations

import json
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

from regula.audit.service import LIST_READ
from regula.config import Settings
from regula.navigation.service import open_task
from regula.people.documents import generate_cpf
from regula.people.models import Citizen

MakeUser = Callable[..., Awaitable[Login]]
BrowserFor = Callable[[Login | None], Awaitable[Browser]]
pytestmark = pytest.mark.usefixtures("reference_data")
OCI = "0902010026"
rng = random.Random(31)


async def _last_id(session: AsyncSession) -> int:
    return int((await session.execute(text("SELECT coalesce(max(id), 0) FROM audit_event"))).scalar_one())


async def _list_reads_since(session: AsyncSession, mark: int) -> list[Any]:
    rows = await session.execute(
        text(
            "SELECT entity_type, entity_id, actor_username, after, uf FROM audit_event "
            "WHERE id > :m AND action = :a ORDER BY id"
        ),
        {"m": mark, "a": LIST_READ},
    )
    return list(rows)


class Audited:
    """Runs a request and returns it with the list-read events it wrote."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def __call__(self, request: Awaitable[httpx.Response]) -> tuple[httpx.Response, list[Any]]:
        mark = await _last_id(self.session)
        response = await request
        assert response.status_code == 200, response.text
        return response, await _list_reads_since(self.session, mark)


async def _scenario(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, make_user: MakeUser
) -> dict[str, Any]:
    gestor = await make_user("gestor", "uf:SC")
    reg = await make_user("regulador", "uf:SC")
    aps = await make_user("solicitante", "municipality:4205407")
    nav = await make_user("navegador", "uf:SC")
    r = await client.post(
        "/api/v1/establishments",
        json={"cnes": "7300001", "name": "Policlínica Sul", "municipality_ibge": "4216602", "kind": "proprio"},
        headers=gestor.headers,
    )
    assert r.status_code == 201, r.text
    await client.put("/api/v1/establishments/7300001/offers", json={"oci_code": OCI}, headers=gestor.headers)
    for days in (5, 6):
        starts = date.today() + timedelta(days=days)
        r = await client.post(
            "/api/v1/slots",
            json={"cnes": "7300001", "oci_code": OCI, "starts_at": f"{starts}T10:00:00-03:00", "capacity": 1},
            headers=gestor.headers,
        )
        assert r.status_code == 201, r.text
    entries = []
    for i, risk in enumerate(("vermelho", "amarelo", "azul")):
        body = citizen_body(name=f"Pessoa Auditada {i}", cpf=generate_cpf(rng), phone=f"4899333000{i}")
        e = await refer(client, aps, body, risk=risk)
        await authorize(client, reg, e["id"])
        entries.append(e)
    run_id = await propose_and_solve(client, reg.headers, session, settings)
    citizen = await session.get(Citizen, entries[2]["citizen_id"])
    assert citizen is not None
    task = await open_task(session, "mensagem_nao_entregue", citizen, entries[2]["id"], "Ligar para a pessoa.")
    await session.commit()
    return {"reg": reg, "nav": nav, "entries": entries, "run_id": run_id, "task_id": task.id}


async def test_each_list_read_writes_one_event_naming_the_ids_returned(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, make_user: MakeUser, browser_for: BrowserFor
) -> None:
    s = await _scenario(client, session, settings, make_user)
    reg, nav = s["reg"], s["nav"]
    audited = Audited(session)
    entry_ids = {str(e["id"]) for e in s["entries"]}

    # Entries: the API's search and the queue page.
    response, [event] = await audited(client.get("/api/v1/entries", headers=reg.headers))
    returned = [str(item["id"]) for item in response.json()["items"]]
    assert set(returned) == entry_ids
    assert (event.entity_type, event.actor_username) == ("WaitlistEntry", reg.username)
    assert event.after["ids"] == returned and event.after["count"] == 3 and event.uf == "SC"
    page = await browser_for(reg)
    response, [event] = await audited(page.get("/regulacao/entradas"))
    assert event.entity_type == "WaitlistEntry" and set(event.after["ids"]) == entry_ids
    assert all(f"Pessoa Auditada {i}" in response.text for i in range(3))
    # Nothing returned, nothing read, nothing written.
    _, events = await audited(client.get("/api/v1/entries?status=cancelada", headers=reg.headers))
    assert events == []

    # Messages: the API and the message log page.
    response, [event] = await audited(client.get("/api/v1/messages", headers=reg.headers))
    message_ids = [str(m["id"]) for m in response.json()]
    assert message_ids and event.entity_type == "Message" and event.after["ids"] == message_ids
    _, [event] = await audited(page.get("/mensagens"))
    assert event.entity_type == "Message" and sorted(event.after["ids"]) == sorted(message_ids)

    # Navigators' tasks: the API and the worklist page.
    response, [event] = await audited(client.get("/api/v1/navigation/tasks", headers=nav.headers))
    assert [t["id"] for t in response.json()] == [s["task_id"]]
    assert (event.entity_type, event.after["ids"]) == ("NavigationTask", [str(s["task_id"])])
    nav_page = await browser_for(nav)
    _, [event] = await audited(nav_page.get("/navegacao"))
    assert (event.entity_type, event.actor_username, event.after["ids"]) == (
        "NavigationTask",
        nav.username,
        [str(s["task_id"])],
    )

    # An allocation run: its assignments (API and page) and its instance (every resident of the scope).
    run_id = s["run_id"]
    response, [event] = await audited(client.get(f"/api/v1/allocation/runs/{run_id}", headers=reg.headers))
    assigned = [str(a["entry_id"]) for a in response.json()["assignments"]]
    assert len(assigned) == 2
    assert (event.entity_type, event.entity_id, event.after["ids"]) == ("AllocationRun", str(run_id), assigned)
    assert event.after["part"] == "assignments"
    _, [event] = await audited(page.get(f"/regulacao/alocacoes/{run_id}"))
    assert (event.entity_id, sorted(event.after["ids"])) == (str(run_id), sorted(assigned))
    response, [event] = await audited(client.get(f"/api/v1/allocation/runs/{run_id}/instance", headers=reg.headers))
    in_instance = [e["id"] for e in json.loads(response.content)["entries"]]
    assert set(in_instance) == entry_ids
    assert (event.entity_id, event.after["part"], event.after["ids"]) == (str(run_id), "instance", in_instance)
