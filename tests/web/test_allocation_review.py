"""An allocation a regulator would sign (issue 17 item 3): the maximum travel distance keeps people from being sent
across the state unless the operator widens it for the run (recorded); each assignment says its kilometres, the
days until the slot, the provider's full name and why it leaves the person's region; the objective is shown as its
parts; after commit the page and the API say truthfully what was booked and list exactly the conflicts by reason."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from tests.allocation.test_allocation_runs import OCI
from tests.conftest import Login
from tests.waitlist.test_waitlist_api import FLORIANOPOLIS, authorize, citizen_body, refer
from tests.web.conftest import Browser, field_error

from regula.allocation.service import solve_queued_now
from regula.config import Settings
from regula.people.documents import generate_cpf
from regula.territory.reference import territory
from regula.waitlist import service as wl

MakeUser = Callable[..., Awaitable[Login]]
BrowserFor = Callable[[Login | None], Awaitable[Browser]]
pytestmark = pytest.mark.usefixtures("reference_data")
rng = random.Random(1717)
SAO_JOSE, CHAPECO = "4216602", "4204202"
LONG_NAME = "Policlínica Regional de Especialidades Médicas do Grande Oeste Catarinense Doutor Fulano de Tal"


async def _provider(client: httpx.AsyncClient, gestor: Login, cnes: str, name: str, ibge: str, days: list[int]) -> None:
    r = await client.post(
        "/api/v1/establishments",
        json={"cnes": cnes, "name": name, "municipality_ibge": ibge, "kind": "contratado"},
        headers=gestor.headers,
    )
    assert r.status_code == 201, r.text
    r = await client.put(f"/api/v1/establishments/{cnes}/offers", json={"oci_code": OCI}, headers=gestor.headers)
    assert r.status_code == 200, r.text
    for d in days:
        r = await client.post(
            "/api/v1/slots",
            json={
                "cnes": cnes,
                "oci_code": OCI,
                "starts_at": f"{date.today() + timedelta(days=d)}T10:00:00-03:00",
                "capacity": 1,
            },
            headers=gestor.headers,
        )
        assert r.status_code == 201, r.text


async def _world(
    client: httpx.AsyncClient, session: AsyncSession, make_user: MakeUser
) -> tuple[Login, list[dict[str, Any]]]:
    """Florianópolis' queue is state-wide (its region's PAR says uf), one slot in São José (same region) and two in
    Chapecó (~400 km, another macro-region); three authorized people of Florianópolis, most urgent first."""
    region = territory().municipality(FLORIANOPOLIS).health_region_code
    assert region is not None
    await wl.set_scope(session, region, "uf")
    await session.commit()
    gestor = await make_user("gestor", "uf:SC")
    aps = await make_user("solicitante", f"municipality:{FLORIANOPOLIS}")
    reg = await make_user("regulador", "uf:SC")
    await _provider(client, gestor, "7300001", "Policlínica São José", SAO_JOSE, [5])
    await _provider(client, gestor, "7300002", LONG_NAME, CHAPECO, [6, 7])
    entries = []
    for name, risk in (("Ana Vermelha", "vermelho"), ("Bia Amarela", "amarelo"), ("Cida Verde", "verde")):
        e = await refer(client, aps, citizen_body(name=name) | {"cpf": generate_cpf(rng)}, risk)
        await authorize(client, reg, e["id"])
        entries.append(e)
    return reg, entries


async def _propose(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, reg: Login, **body: Any
) -> dict[str, Any]:
    queued = await client.post("/api/v1/allocation/runs", json={"scope": "uf:SC", **body}, headers=reg.headers)
    assert queued.status_code == 202, queued.text
    await solve_queued_now(session, settings)
    detail = await client.get(queued.headers["location"], headers=reg.headers)
    assert detail.status_code == 200, detail.text
    result: dict[str, Any] = detail.json()
    return result


async def test_the_travel_limit_holds_unless_widened_and_each_assignment_explains_itself(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, make_user: MakeUser
) -> None:
    reg, (red, yellow, green) = await _world(client, session, make_user)

    # Default limit (200 km): Chapecó is no option; only São José's slot is given, to the most urgent.
    run = await _propose(client, session, settings, reg)
    assert run["run"]["max_travel_km"] == 200 and run["run"]["travel_limit_widened_to"] is None
    assert [a["protocol"] for a in run["assignments"]] == [red["protocol"]]
    parts = run["run"]["objective_parts"]
    assert parts["entries"] == 3 and parts["served"] == 1 and parts["served_within_tm"] == 1
    assert parts["late"] == 0 and parts["outside_region"] == 0
    near = run["assignments"][0]
    assert near["provider_name"] == "Policlínica São José" and not near["outside_region"] and near["reason"] is None
    assert 0 < near["travel_km"] < 30 and parts["total_km"] == near["travel_km"]

    # Widened for this run by the operator: Chapecó serves the other two, and each says why it leaves the region.
    wide = await _propose(client, session, settings, reg, max_travel_km=600)
    assert wide["run"]["travel_limit_widened_to"] == 600 and wide["run"]["max_travel_km"] == 600
    assert wide["run"]["created_by"] == reg.username
    by_protocol = {a["protocol"]: a for a in wide["assignments"]}
    assert set(by_protocol) == {red["protocol"], yellow["protocol"], green["protocol"]}
    today = wl.local_today(settings)
    for e in (yellow, green):
        a = by_protocol[e["protocol"]]
        assert a["provider_name"] == LONG_NAME  # the full name, never cut
        assert a["provider_municipality_ibge"] == CHAPECO
        assert a["travel_km"] > 300 and a["outside_region"] is True
        assert a["reason_code"] == "vagas_da_regiao_ocupadas"
        slot_day = date.fromisoformat(a["starts_at"][:10])
        assert a["days_until"] == (slot_day - today).days
        assert a["reason"] == f"vagas da região até {slot_day:%d/%m} ocupadas por outras pessoas da fila"
    parts = wide["run"]["objective_parts"]
    assert parts["served"] == 3 and parts["outside_region"] == 2
    assert parts["total_km"] == sum(a["travel_km"] for a in wide["assignments"])
    assert parts["max_km"] == max(a["travel_km"] for a in wide["assignments"])
    assert wide["run"]["greedy_objective_parts"]["served"] == 3

    # The widening is on the audited run row, with who asked for it.
    audited = (
        await session.execute(
            text(
                "SELECT count(*) FROM audit_event WHERE entity_type = 'AllocationRun' AND entity_id = :id "
                "AND action = 'create' AND actor_username = :who "
                "AND (after -> 'params' ->> 'travel_limit_widened_to')::int = 600"
            ),
            {"id": str(wide["run"]["id"]), "who": reg.username},
        )
    ).scalar()
    assert audited == 1


async def test_a_widening_out_of_range_is_refused_naming_the_field(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    reg = await make_user("regulador", "uf:SC")
    for bad in (0, 5001, "longe"):
        r = await client.post(
            "/api/v1/allocation/runs", json={"scope": "uf:SC", "max_travel_km": bad}, headers=reg.headers
        )
        assert r.status_code == 422, r.text
        assert [e["field"] for e in r.json()["errors"]] == ["max_travel_km"]


async def test_after_commit_the_conflicts_are_counted_by_reason_and_listed_exactly(
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    make_user: MakeUser,
    browser_for: BrowserFor,
) -> None:
    reg, (red, yellow, green) = await _world(client, session, make_user)
    run = await _propose(client, session, settings, reg, max_travel_km=600)
    run_id = run["run"]["id"]
    assert (await client.post(f"/api/v1/allocation/runs/{run_id}/approve", headers=reg.headers)).status_code == 201
    # The entry changes after the proposal (the person postponed): its assignment cannot be booked.
    r = await client.post(
        f"/api/v1/entries/{yellow['id']}/transitions",
        json={"to": "suspensa", "reason_code": "adiamento_pelo_paciente"},
        headers=reg.headers,
    )
    assert r.status_code == 201, r.text
    committed = await client.post(f"/api/v1/allocation/runs/{run_id}/commit", headers=reg.headers)
    assert committed.status_code == 201, committed.text
    assert committed.json()["booked"] == 2 and committed.json()["changed_entries"] == [yellow["id"]]

    detail = (await client.get(f"/api/v1/allocation/runs/{run_id}", headers=reg.headers)).json()
    summary = detail["run"]["commit"]
    assert summary["booked"] == 2 and summary["conflicts"] == 1
    reasons = {x["code"]: (x["count"], x["entry_ids"]) for x in summary["by_reason"]}
    assert reasons == {"entrada_alterada": (1, [yellow["id"]]), "vaga_ocupada": (0, [])}

    url = f"/api/v1/allocation/runs/{run_id}/assignments"
    conflicts = (await client.get(url, params={"outcome": "conflito"}, headers=reg.headers)).json()
    assert conflicts["total"] == 1
    [only] = conflicts["items"]
    assert only["entry_id"] == yellow["id"] and only["conflict_reason"] == "entrada_alterada"
    by_reason = (await client.get(url, params={"conflict": "vaga_ocupada"}, headers=reg.headers)).json()
    assert by_reason["total"] == 0 and by_reason["items"] == []
    booked = (await client.get(url, params={"outcome": "efetivada", "sort": "km"}, headers=reg.headers)).json()
    assert booked["total"] == 2
    assert [a["travel_km"] for a in booked["items"]] == sorted((a["travel_km"] for a in booked["items"]), reverse=True)
    paged = (await client.get(url, params={"limit": 1, "sort": "data"}, headers=reg.headers)).json()
    assert paged["total"] == 3 and len(paged["items"]) == 1 and paged["next_cursor"]
    rest = (
        await client.get(url, params={"limit": 5, "sort": "data", "cursor": paged["next_cursor"]}, headers=reg.headers)
    ).json()
    assert rest["first_index"] == 2 and len(rest["items"]) == 2
    bad = await client.get(url, params={"cursor": "lixo"}, headers=reg.headers)
    assert bad.status_code == 400 and "cursor" in bad.text

    # The page: the truth about the commit, links that list exactly the conflicts, the objective as its parts.
    page = await browser_for(reg)
    shown = await page.get(f"/regulacao/alocacoes/{run_id}?feito=efetivada")
    assert shown.status_code == 200
    html = shown.text
    assert "Rodada efetivada: 2 pessoas agendadas; 1 atribuição não efetivada (conflito)." in html
    assert f'href="/regulacao/alocacoes/{run_id}?conflito=entrada_alterada#h-atribuicoes"' in html
    assert "Custo total" not in html and str(detail["run"]["objective"]) not in html.replace(".", "")
    assert "Pessoas atendidas" in html and "3 de 3 na fila" in html and "Atendidas dentro do tM" in html
    assert "Deslocamento" in html and "km no total" in html
    assert LONG_NAME in html and "Fora da região: vagas da região até" in html
    only_conflicts = await page.get(f"/regulacao/alocacoes/{run_id}", params={"conflito": "entrada_alterada"})
    assert yellow["protocol"] in only_conflicts.text
    assert red["protocol"] not in only_conflicts.text and green["protocol"] not in only_conflicts.text
    assert "A entrada mudou desde a proposta" in only_conflicts.text
    assert "1 atribuição" in only_conflicts.text
    unknown = await page.get(f"/regulacao/alocacoes/{run_id}", params={"resultado": "talvez"})
    assert unknown.status_code == 400 and "Resultado" in unknown.text


async def test_the_page_form_widens_the_limit_and_refuses_a_bad_distance(
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    make_user: MakeUser,
    browser_for: BrowserFor,
) -> None:
    reg, _ = await _world(client, session, make_user)
    page = await browser_for(reg)
    form = await page.get("/regulacao/alocacoes")
    assert 'name="distancia"' in form.text and "200 km, o padrão" in form.text
    bad = await page.post("/regulacao/alocacoes", {"escopo": "uf:SC", "horizonte": "30", "distancia": "muito"})
    assert bad.status_code == 422
    assert field_error(bad.text, "distance") == (
        "Distância máxima: um número inteiro de 1 a 5000 km, ou deixe em branco."
    )
    assert 'value="muito"' in bad.text  # what the person typed is kept
    launched = await page.post("/regulacao/alocacoes", {"escopo": "uf:SC", "horizonte": "30", "distancia": "600"})
    assert launched.status_code == 303, launched.text
    await solve_queued_now(session, settings)
    run = await page.get(launched.headers["location"].split("?")[0])
    assert "ampliada nesta rodada para 600 km" in run.text
    assert "Pessoas atendidas" in run.text and "3 de 3 na fila" in run.text
    assert "em 6 dias" in run.text or "em 7 dias" in run.text
    run_path = launched.headers["location"].split("?")[0]

    # The runs themselves are a list that scales: filtered by status, sorted, paged, a bad filter a 400.
    proposed = await page.get("/regulacao/alocacoes", params={"situacao": "proposta"})
    assert f'href="{run_path}"' in proposed.text and "1 rodada" in proposed.text
    discarded = await page.get("/regulacao/alocacoes", params={"situacao": "descartada"})
    assert f'href="{run_path}"' not in discarded.text and "Nenhuma rodada com estes filtros." in discarded.text
    by_status = await page.get("/regulacao/alocacoes", params={"ordem": "situacao", "sentido": "asc"})
    assert by_status.status_code == 200 and 'aria-sort="ascending"' in by_status.text
    unknown = await page.get("/regulacao/alocacoes", params={"situacao": "sumida"})
    assert unknown.status_code == 400 and "Situação" in unknown.text
