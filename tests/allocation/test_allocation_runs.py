"""An operator launches an allocation run, reviews it, approves and commits it; entries become agendada with
their slot, slots are booked, and the run is reproducible from its exported instance."""

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
from tests.waitlist.test_waitlist_api import authorize, citizen_body, refer

from regula.allocation.service import solve_queued_now
from regula.config import Settings
from regula.optimizer.flow import solve
from regula.optimizer.instance import dump_solution, load_instance
from regula.optimizer.validate import validate

MakeUser = Callable[..., Awaitable[Login]]
pytestmark = pytest.mark.usefixtures("reference_data")
OCI = "0902010026"
rng = random.Random(7)


async def _provider_with_agenda(client: httpx.AsyncClient, gestor: Login, cnes: str, ibge: str, places: int) -> None:
    r = await client.post(
        "/api/v1/establishments",
        json={"cnes": cnes, "name": f"Policlínica {cnes}", "municipality_ibge": ibge, "kind": "contratado"},
        headers=gestor.headers,
    )
    assert r.status_code == 201, r.text
    r = await client.put(f"/api/v1/establishments/{cnes}/offers", json={"oci_code": OCI}, headers=gestor.headers)
    assert r.status_code == 200, r.text
    day = date.today() + timedelta(days=5)
    for i in range(places):
        r = await client.post(
            "/api/v1/slots",
            json={
                "cnes": cnes,
                "oci_code": OCI,
                "starts_at": f"{day + timedelta(days=i)}T09:00:00-03:00",
                "capacity": 1,
            },
            headers=gestor.headers,
        )
        assert r.status_code == 201, r.text


async def propose_and_solve(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, who: Login, scope: str = "uf:SC"
) -> dict[str, Any]:
    """Propose a run through the API (202: queued), solve the queue as the jobs process would, and read the run."""
    queued = await client.post("/api/v1/allocation/runs", json={"scope": scope}, headers=who.headers)
    assert queued.status_code == 202, queued.text
    assert queued.json()["status"] == "na_fila"
    assert queued.json()["progress"]["step"] == "na_fila"
    location = queued.headers["location"]
    assert location == f"/api/v1/allocation/runs/{queued.json()['id']}"
    await solve_queued_now(session, settings)
    detail = await client.get(location, headers=who.headers)
    assert detail.status_code == 200, detail.text
    result: dict[str, Any] = detail.json()
    return result


async def test_a_proposal_names_whom_the_greedy_baseline_would_have_put_in_the_slot(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, make_user: MakeUser
) -> None:
    """Ana (more urgent) and Beto wait in Florianópolis; one slot there for anyone, one in São José for women only.
    The greedy baseline gives Ana the nearest slot and leaves Beto without one; the optimizer sends Ana to São José
    and Beto to Florianópolis, so Beto's row names Ana as the one the baseline would have put in his slot."""
    gestor = await make_user("gestor", "uf:SC")
    reg = await make_user("regulador", "uf:SC")
    aps = await make_user("solicitante", "municipality:4205407")
    await _provider_with_agenda(client, gestor, "7000011", "4205407", places=1)  # Florianópolis, anyone
    await _provider_with_agenda(client, gestor, "7000012", "4216602", places=1)  # São José
    r = await client.put(
        "/api/v1/establishments/7000012/offers", json={"oci_code": OCI, "sex": "F"}, headers=gestor.headers
    )
    assert r.status_code == 200, r.text
    ana = await refer(client, aps, citizen_body(name="Ana Urgente", sex="F", cpf=_cpf()), risk="vermelho")
    beto = await refer(client, aps, citizen_body(name="Beto Eletivo", sex="M", cpf=_cpf()), risk="azul")
    for e in (ana, beto):
        await authorize(client, reg, e["id"])

    run = await propose_and_solve(client, session, settings, reg)
    assert run["run"]["status"] == "proposta"
    assert run["run"]["counts"]["assigned"] == 2 and run["run"]["counts"]["greedy_assigned"] == 1
    by_entry = {a["entry_id"]: a for a in run["assignments"]}
    assert by_entry[ana["id"]]["cnes"] == "7000012" and by_entry[ana["id"]]["displaced_entry_id"] is None
    assert by_entry[beto["id"]]["cnes"] == "7000011"
    assert by_entry[beto["id"]]["displaced_entry_id"] == ana["id"]


async def test_propose_review_approve_commit(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, make_user: MakeUser
) -> None:
    gestor = await make_user("gestor", "uf:SC")
    reg = await make_user("regulador", "uf:SC")
    aps = await make_user("solicitante", "municipality:4205407")
    await _provider_with_agenda(client, gestor, "7000001", "4216602", places=2)  # São José, same region
    entries: list[dict[str, Any]] = []
    for name, risk in (("Ana Urgente", "vermelho"), ("Bia Média", "amarelo"), ("Cris Eletiva", "azul")):
        e = await refer(client, aps, citizen_body(name=name, cpf=None) | {"cpf": _cpf()}, risk=risk)
        await authorize(client, reg, e["id"])
        entries.append(e)

    run = await propose_and_solve(client, session, settings, reg)
    assert run["run"]["status"] == "proposta"
    assert run["run"]["progress"]["percent"] == 100
    assert run["run"]["violations"] == 0
    assert run["run"]["counts"]["assigned"] == 2
    served = {a["protocol"] for a in run["assignments"]}
    assert served == {entries[0]["protocol"], entries[1]["protocol"]}  # the two most urgent
    assert all(a["explanation"] is not None for a in run["assignments"])
    # The rows as written in one statement (record_solution): pending outcome, the explanation's figures read back,
    # and no displacement where the greedy baseline chose the same two people.
    for a in run["assignments"]:
        assert a["outcome"] == "proposta"
        assert a["travel_km"] is not None and a["days_until"] is not None and a["late_days"] == 0
        assert a["displaced_entry_id"] is None
    assert sorted(a["entry_id"] for a in run["assignments"]) == sorted([entries[0]["id"], entries[1]["id"]])
    assert run["summary"]["by_provider"] == {"7000001": 2}
    run_id = run["run"]["id"]

    early = await client.post(f"/api/v1/allocation/runs/{run_id}/commit", headers=reg.headers)
    assert early.status_code == 409
    assert (await client.post(f"/api/v1/allocation/runs/{run_id}/approve", headers=reg.headers)).status_code == 201
    committed = await client.post(f"/api/v1/allocation/runs/{run_id}/commit", headers=reg.headers)
    assert committed.status_code == 201, committed.text
    assert committed.json()["booked"] == 2

    statuses = {
        e["protocol"]: (await client.get(f"/api/v1/entries/{e['id']}", headers=reg.headers)).json()["status"]
        for e in entries
    }
    assert sorted(statuses.values()) == ["agendada", "agendada", "autorizada"]
    booked = (await session.execute(text("SELECT sum(booked) FROM agenda_slot WHERE cnes = '7000001'"))).scalar()
    assert booked == 2

    exported = await client.get(f"/api/v1/allocation/runs/{run_id}/instance", headers=reg.headers)
    instance = load_instance(exported.content)
    again = solve(instance)
    assert validate(instance, again) == []
    assert again.objective == run["run"]["objective"]
    assert dump_solution(again) == dump_solution(solve(load_instance(exported.content)))


async def test_scope_outside_jurisdiction_is_refused(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    reg = await make_user("regulador", "region:42007")
    response = await client.post("/api/v1/allocation/runs", json={"scope": "uf:SC"}, headers=reg.headers)
    assert response.status_code == 422
    assert response.json()["errors"][0]["code"] == "fora_da_jurisdicao"


def _cpf() -> str:
    from regula.people.documents import generate_cpf

    return generate_cpf(rng)


async def test_released_place_goes_to_the_next_person(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, make_user: MakeUser
) -> None:
    gestor = await make_user("gestor", "uf:SC")
    reg = await make_user("regulador", "uf:SC")
    nav = await make_user("navegador", "uf:SC")
    aps = await make_user("solicitante", "municipality:4205407")
    await _provider_with_agenda(client, gestor, "7000002", "4216602", places=1)
    first = await refer(client, aps, citizen_body(name="Primeira Pessoa") | {"cpf": _cpf()}, risk="vermelho")
    second = await refer(client, aps, citizen_body(name="Segunda Pessoa") | {"cpf": _cpf()}, risk="amarelo")
    for e in (first, second):
        await authorize(client, reg, e["id"])
    run = await propose_and_solve(client, session, settings, reg)
    run_id = run["run"]["id"]
    await client.post(f"/api/v1/allocation/runs/{run_id}/approve", headers=reg.headers)
    await client.post(f"/api/v1/allocation/runs/{run_id}/commit", headers=reg.headers)

    declined = await client.post(
        f"/api/v1/entries/{first['id']}/transitions",
        json={"to": "autorizada", "reason_text": "Respondeu NÃO à confirmação."},
        headers=nav.headers,
    )
    assert declined.status_code == 201, declined.text
    after = (await client.get(f"/api/v1/entries/{second['id']}", headers=reg.headers)).json()
    assert after["status"] == "agendada"
    assert any("encaixe" in (h["reason_text"] or "") for h in after["history"])
    bookings = (
        (
            await session.execute(
                text(
                    "SELECT b.status FROM slot_booking b JOIN agenda_slot s ON s.id = b.slot_id "
                    "WHERE s.cnes = '7000002' ORDER BY b.id"
                )
            )
        )
        .scalars()
        .all()
    )
    assert bookings == ["liberada", "ativa"]


async def test_a_new_run_keeps_the_uncommitted_proposal_and_supersedes_it(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, make_user: MakeUser
) -> None:
    gestor = await make_user("gestor", "uf:SC")
    reg = await make_user("regulador", "uf:SC")
    aps = await make_user("solicitante", "municipality:4205407")
    await _provider_with_agenda(client, gestor, "7000003", "4216602", places=2)
    first: list[dict[str, Any]] = []
    for name, risk in (("Ana Primeira", "vermelho"), ("Bia Segunda", "amarelo")):
        e = await refer(client, aps, citizen_body(name=name, cpf=None) | {"cpf": _cpf()}, risk=risk)
        await authorize(client, reg, e["id"])
        first.append(e)
    one = await propose_and_solve(client, session, settings, reg)
    assert one["run"]["counts"]["incumbents"] == 0
    before = {a["entry_id"]: a["slot_id"] for a in one["assignments"]}
    assert len(before) == 2
    assert (await client.post(f"/api/v1/allocation/runs/{one['run']['id']}/approve", headers=reg.headers)).is_success

    # Churn before anyone was notified: one more person waiting, one more slot.
    late = await refer(client, aps, citizen_body(name="Cris Terceira", cpf=None) | {"cpf": _cpf()}, risk="azul")
    await authorize(client, reg, late["id"])
    await _provider_with_agenda(client, gestor, "7000004", "4216602", places=1)
    two = await propose_and_solve(client, session, settings, reg)
    counts = two["run"]["counts"]
    assert (counts["incumbents"], counts["incumbents_kept"], counts["incumbents_moved"]) == (2, 2, 0)
    after = {a["entry_id"]: a["slot_id"] for a in two["assignments"]}
    assert {e: after[e] for e in before} == before  # the earlier proposal is kept as it was
    assert late["id"] in after
    assert all(
        a["explanation"]["origin"] == ("new" if a["entry_id"] == late["id"] else "kept") for a in two["assignments"]
    )

    old = (await client.get(f"/api/v1/allocation/runs/{one['run']['id']}", headers=reg.headers)).json()["run"]
    assert old["status"] == "substituida"
    refused = await client.post(f"/api/v1/allocation/runs/{one['run']['id']}/commit", headers=reg.headers)
    assert refused.status_code == 409
    exported = await client.get(f"/api/v1/allocation/runs/{two['run']['id']}/instance", headers=reg.headers)
    instance = load_instance(exported.content)
    assert len(instance.incumbents) == 2
    assert solve(instance).objective == two["run"]["objective"]


async def test_runs_are_read_and_decided_only_inside_the_jurisdiction(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, make_user: MakeUser
) -> None:
    gestor = await make_user("gestor", "uf:SC")
    state = await make_user("regulador", "uf:SC")
    regional = await make_user("regulador", "region:42007")  # Grande Florianópolis
    other_uf = await make_user("regulador", "uf:PR")
    auditor_pr = await make_user("auditor", "uf:PR")
    await _provider_with_agenda(client, gestor, "7000011", "4216602", places=1)  # São José, region 42007
    await _provider_with_agenda(client, gestor, "7000012", "4209102", places=1)  # Joinville, region 42011
    floripa = await make_user("solicitante", "municipality:4205407")
    joinville = await make_user("solicitante", "municipality:4209102")
    near = await refer(client, floripa, citizen_body(name="Ana Ilha") | {"cpf": _cpf()}, risk="vermelho")
    far = await refer(
        client, joinville, citizen_body(name="Bia Norte", municipality_ibge="4209102") | {"cpf": _cpf()}, "vermelho"
    )
    for e in (near, far):
        await authorize(client, state, e["id"])
    proposed = await propose_and_solve(client, session, settings, state)
    run_id = proposed["run"]["id"]
    assert {a["protocol"] for a in proposed["assignments"]} == {near["protocol"], far["protocol"]}
    base = f"/api/v1/allocation/runs/{run_id}"

    # Another UF: the run does not exist for them, on every route.
    for who in (other_uf, auditor_pr):
        listed = await client.get("/api/v1/allocation/runs", headers=who.headers)
        assert listed.status_code == 200 and listed.json() == []
        for path in (base, f"{base}/instance"):
            response = await client.get(path, headers=who.headers)
            assert response.status_code == 404, path
            assert near["protocol"] not in response.text
    for action in ("approve", "discard", "commit"):
        response = await client.post(f"{base}/{action}", headers=other_uf.headers)
        assert response.status_code == 404 and response.json()["code"] == "rodada_nao_encontrada", action

    # A region inside the run's UF: sees the run and only its own residents' assignments, decides nothing.
    assert [r["id"] for r in (await client.get("/api/v1/allocation/runs", headers=regional.headers)).json()] == [run_id]
    seen = (await client.get(base, headers=regional.headers)).json()
    assert [a["protocol"] for a in seen["assignments"]] == [near["protocol"]]
    assert seen["summary"]["by_municipality"] == {"4205407": 1}
    assert (await client.get(f"{base}/instance", headers=regional.headers)).status_code == 403
    for action in ("approve", "discard"):
        response = await client.post(f"{base}/{action}", headers=regional.headers)
        assert response.status_code == 403 and response.json()["code"] == "rodada_alem_da_jurisdicao", action

    # The state decides it.
    assert (await client.post(f"{base}/approve", headers=state.headers)).status_code == 201
    assert (await client.post(f"{base}/commit", headers=state.headers)).json()["booked"] == 2
