"""The waitlist through its API: citizens, referrals, the workflow, positions, policies, the public look-up."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from tests.conftest import Login

from regula.catalog.protocols import starting_checklist
from regula.people.documents import generate_cns, generate_cpf

MakeUser = Callable[..., Awaitable[Login]]
pytestmark = pytest.mark.usefixtures("reference_data")

FLORIANOPOLIS = "4205407"
SAO_JOSE = "4216602"
JOINVILLE = "4209102"
OCI = "0902010026"  # OCI AVALIAÇÃO CARDIOLÓGICA (60 days)
rng = random.Random(20261123)


def citizen_body(**over: Any) -> dict[str, Any]:
    body = {
        "cpf": generate_cpf(rng),
        "name": "Maria das Dores Silva",
        "birth_date": "1960-05-17",
        "sex": "F",
        "race_color": "parda",
        "municipality_ibge": FLORIANOPOLIS,
        "phone": "(48) 99988-7766",
        "preferred_channel": "sms",
        "contact_consent": True,
    }
    return body | over


async def accepted_cid(client: httpx.AsyncClient, headers: dict[str, str], oci: str = OCI) -> str:
    detail = (await client.get(f"/api/v1/catalog/ocis/{oci}", headers=headers)).json()
    return str(detail["cids"][0])


async def refer(
    client: httpx.AsyncClient, aps: Login, citizen: dict[str, Any], risk: str = "amarelo", oci: str = OCI
) -> dict[str, Any]:
    cid = await accepted_cid(client, aps.headers, oci)
    response = await client.post(
        "/api/v1/referrals",
        json={
            "citizen": citizen,
            "oci_code": oci,
            "cid_code": cid,
            "risk_class": risk,
            "risk_justification": "Dor torácica aos esforços há três meses.",
            "requesting_cnes": "2691868",
            # every item of the OCI's starting protocol (version 1, what `regula seed` stores; decision 0020)
            "checklist": {item.key: True for item in starting_checklist(oci)},
        },
        headers=aps.headers,
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def authorize(client: httpx.AsyncClient, reg: Login, entry_id: int) -> dict[str, Any]:
    for target in ("em_analise", "autorizada"):
        response = await client.post(
            f"/api/v1/entries/{entry_id}/transitions", json={"to": target}, headers=reg.headers
        )
        assert response.status_code == 201, response.text
    return dict(response.json())


async def test_citizen_created_and_invalid_fields_named(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    aps = await make_user("solicitante", f"municipality:{FLORIANOPOLIS}")
    ok = await client.post("/api/v1/citizens", json=citizen_body(), headers=aps.headers)
    assert ok.status_code == 201, ok.text
    assert ok.json()["cpf_masked"].startswith("***.")
    assert ok.json()["phone"] == "+5548999887766"
    assert ok.json()["legal_priorities"] == ["idoso_60"]

    async def errors_of(body: dict[str, Any]) -> dict[str, str]:
        response = await client.post("/api/v1/citizens", json=body, headers=aps.headers)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        return {e["field"]: e["code"] for e in response.json()["errors"]}

    assert (await errors_of(citizen_body(cpf="529.982.247-24")))["cpf"] == "cpf_digito_verificador"
    assert (await errors_of(citizen_body(municipality_ibge="4299999")))["municipality_ibge"] == "municipio_desconhecido"
    cns_only = citizen_body(cpf=None, cns=generate_cns(rng))
    assert (await errors_of(cns_only))["cpf"] == "cpf_obrigatorio_nao_indigena"
    indigenous = await client.post("/api/v1/citizens", json=cns_only | {"race_color": "indigena"}, headers=aps.headers)
    assert indigenous.status_code == 201, indigenous.text


async def test_duplicate_citizen_is_refused_with_existing_id(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    aps = await make_user("solicitante", f"municipality:{FLORIANOPOLIS}")
    body = citizen_body()
    first = await client.post("/api/v1/citizens", json=body, headers=aps.headers)
    again = await client.post("/api/v1/citizens", json=body | {"name": "Outra Pessoa"}, headers=aps.headers)
    assert again.status_code == 409
    assert again.json()["existing_id"] == first.json()["id"]


async def test_citizen_outside_jurisdiction_is_403(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    aps = await make_user("solicitante", f"municipality:{FLORIANOPOLIS}")
    response = await client.post(
        "/api/v1/citizens", json=citizen_body(municipality_ibge=JOINVILLE), headers=aps.headers
    )
    assert response.status_code == 403


async def test_referral_rules_from_sigtap(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    aps = await make_user("solicitante", f"municipality:{FLORIANOPOLIS}")
    base = {
        "citizen": citizen_body(sex="M", name="João Pereira", birth_date="2022-01-01"),
        "oci_code": "0901010014",  # breast cancer OCI: CIDs C50, D05…; age from 10 years
        "cid_code": "J45",
        "risk_class": "roxo",
        "risk_justification": "curta",
        "requesting_cnes": "12",
        "checklist": {"mamografia_previa": False},
    }
    response = await client.post("/api/v1/referrals", json=base, headers=aps.headers)
    assert response.status_code == 422
    codes = {e["field"]: e["code"] for e in response.json()["errors"]}
    assert codes["cid_code"] == "cid_nao_aceito"
    assert codes["risk_class"] == "classe_de_risco_invalida"
    assert codes["risk_justification"] == "justificativa_curta"
    assert codes["requesting_cnes"] == "cnes_formato"
    assert codes["checklist"] == "protocolo_incompleto"
    assert codes["oci_code"] == "idade_abaixo_do_minimo"


async def test_one_active_entry_per_citizen_per_oci(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    aps = await make_user("solicitante", f"municipality:{FLORIANOPOLIS}")
    citizen = citizen_body()
    first = await refer(client, aps, citizen)
    assert first["status"] == "solicitada"
    cid = await accepted_cid(client, aps.headers)
    second = await client.post(
        "/api/v1/referrals",
        json={
            "citizen": citizen,
            "oci_code": OCI,
            "cid_code": cid,
            "risk_class": "verde",
            "risk_justification": "Nova solicitação da mesma OCI.",
            "requesting_cnes": "2691868",
        },
        headers=aps.headers,
    )
    assert second.status_code == 409
    assert second.json()["code"] == "entrada_ativa_existente"


async def test_workflow_positions_and_illegal_transition(
    client: httpx.AsyncClient, session: AsyncSession, make_user: MakeUser
) -> None:
    aps = await make_user("solicitante", f"municipality:{FLORIANOPOLIS}")
    reg = await make_user("regulador", "uf:SC")
    green = await refer(client, aps, citizen_body(name="Ana Verde"), risk="verde")
    red = await refer(client, aps, citizen_body(name="Rui Vermelho", sex="M"), risk="vermelho")
    yellow = await refer(client, aps, citizen_body(name="Ivo Amarelo", sex="M"), risk="amarelo")
    for e in (green, red, yellow):
        await authorize(client, reg, e["id"])
    page = (await client.get(f"/api/v1/entries?queue={red['queue']}", headers=reg.headers)).json()
    by_name = {item["citizen_name"]: item for item in page["items"]}
    assert [by_name[n]["position"] for n in ("Rui Vermelho", "Ivo Amarelo", "Ana Verde")] == [1, 2, 3]
    assert {item["queue_size"] for item in page["items"]} == {3}
    assert by_name["Ana Verde"]["deadline_date"] is not None

    illegal = await client.post(
        f"/api/v1/entries/{green['id']}/transitions", json={"to": "concluida"}, headers=reg.headers
    )
    assert illegal.status_code == 409
    assert "agendada" in illegal.json()["allowed"]

    cancel = await client.post(
        f"/api/v1/entries/{red['id']}/transitions",
        json={"to": "cancelada", "reason_code": "desistencia"},
        headers=reg.headers,
    )
    assert cancel.status_code == 201, cancel.text
    detail = (await client.get(f"/api/v1/entries/{green['id']}", headers=reg.headers)).json()
    assert detail["position"] == 2
    assert [h["to_status"] for h in detail["history"] if h["kind"] == "transition"] == ["em_analise", "autorizada"]
    assert detail["explanation"]
    reads = await session.execute(
        text("SELECT count(*) FROM audit_event WHERE action = 'read' AND entity_id = :id"), {"id": str(green["id"])}
    )
    assert reads.scalar_one() == 1


async def test_policy_change_reorders_and_history_shows_old_and_new_score(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    aps = await make_user("solicitante", f"municipality:{FLORIANOPOLIS}")
    reg = await make_user("regulador", "uf:SC")
    gestor = await make_user("gestor", "br")
    white = await refer(client, aps, citizen_body(name="Bruna Branca", race_color="branca", birth_date="1990-01-01"))
    black = await refer(client, aps, citizen_body(name="Paula Preta", race_color="preta", birth_date="1990-01-01"))
    await authorize(client, reg, white["id"])
    await authorize(client, reg, black["id"])
    queue = white["queue"]
    policy = (await client.get(f"/api/v1/queues/policies/{queue}", headers=reg.headers)).json()
    params = policy["params"]
    # With no equity weight the earlier authorization (white) is ahead; weighting race puts black ahead.
    params["equity"]["race_color"]["preta"] = 0
    params["equity"]["race_color"]["parda"] = 0
    params["equity"]["race_color"]["indigena"] = 0
    none = await client.put(f"/api/v1/queues/policies/{queue}", json={"params": params}, headers=gestor.headers)
    assert none.status_code == 200, none.text
    before = {
        i["citizen_name"]: i["position"]
        for i in (await client.get(f"/api/v1/entries?queue={queue}", headers=reg.headers)).json()["items"]
    }
    assert before == {"Bruna Branca": 1, "Paula Preta": 2}
    params["equity"]["race_color"]["preta"] = 20
    changed = await client.put(
        f"/api/v1/queues/policies/{queue}", json={"params": params, "note": "equidade racial"}, headers=gestor.headers
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["policy"]["version"] == 2
    after = {
        i["citizen_name"]: i["position"]
        for i in (await client.get(f"/api/v1/entries?queue={queue}", headers=reg.headers)).json()["items"]
    }
    assert after == {"Bruna Branca": 2, "Paula Preta": 1}
    detail = (await client.get(f"/api/v1/entries/{black['id']}", headers=reg.headers)).json()
    score_events = [h for h in detail["history"] if h["kind"] == "score"]
    assert score_events[-1]["data"]["score_novo"] - score_events[-1]["data"]["score_anterior"] == 20
    assert score_events[-1]["data"]["politica_nova"].endswith("v2")


async def test_invalid_policy_is_refused_with_fields(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    gestor = await make_user("gestor", "br")
    response = await client.put(
        "/api/v1/queues/policies/*",
        json={"params": {"band": 10, "aging": {"cap_points": 999999}}},
        headers=gestor.headers,
    )
    assert response.status_code == 422
    assert response.json()["errors"]


async def test_entry_history_in_the_api_is_the_event_table(
    client: httpx.AsyncClient, session: AsyncSession, make_user: MakeUser
) -> None:
    """The detail reads the history in the same statement as the entry (as JSON): every event, in order, with its
    time to the microsecond in UTC whatever the session's time zone."""
    aps = await make_user("solicitante", f"municipality:{FLORIANOPOLIS}")
    reg = await make_user("regulador", "uf:SC")
    entry = await refer(client, aps, citizen_body(name="Lia Tempo"))
    await authorize(client, reg, entry["id"])
    await session.execute(text("SET TIME ZONE 'America/Sao_Paulo'"))
    detail = (await client.get(f"/api/v1/entries/{entry['id']}", headers=reg.headers)).json()
    rows = (
        await session.execute(
            text(
                "SELECT id, occurred_at, kind, from_status, to_status, reason_code, reason_text, data, actor_username,"
                " actor_role FROM waitlist_entry_event WHERE entry_id = :id ORDER BY id"
            ),
            {"id": entry["id"]},
        )
    ).all()
    await session.execute(text("SET TIME ZONE 'UTC'"))
    assert len(rows) >= 3 and [h["id"] for h in detail["history"]] == [r.id for r in rows]
    for event, row in zip(detail["history"], rows, strict=True):
        assert datetime.fromisoformat(event["occurred_at"].replace("Z", "+00:00")) == row.occurred_at
        assert event["occurred_at"].endswith(("Z", "+00:00"))
        assert {k: v for k, v in event.items() if k not in ("id", "occurred_at")} == {
            k: getattr(row, k)
            for k in ("kind", "from_status", "to_status", "reason_code", "reason_text", "data", "actor_username")
        } | {"actor_role": row.actor_role}
    assert detail["citizen_name"] == "Lia Tempo"
    assert (await client.get("/api/v1/entries/987654321", headers=reg.headers)).status_code == 404


async def test_public_position_lookup(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    aps = await make_user("solicitante", f"municipality:{FLORIANOPOLIS}")
    reg = await make_user("regulador", "uf:SC")
    gestor = await make_user("gestor", "uf:SC")
    entry = await refer(client, aps, citizen_body(name="Carla Souza Lima"))
    await authorize(client, reg, entry["id"])
    cap = await client.put(
        "/api/v1/queues/capacity",
        json={
            "oci_code": OCI,
            "scope_kind": "region",
            "scope_code": entry["queue"].split(":")[2],
            "weekly_capacity": 5,
        },
        headers=gestor.headers,
    )
    assert cap.status_code == 200, cap.text
    found = await client.get(f"/public/position?protocol={entry['protocol']}&birth_date=1960-05-17")
    assert found.status_code == 200, found.text
    body = found.json()
    assert body["position"] == 1 and body["queue_size"] == 1
    assert body["name"] != "Carla Souza Lima" and body["name"].startswith("Carla")
    assert date.fromisoformat(body["estimate_from"]) <= date.fromisoformat(body["estimate_to"])
    wrong = await client.get(f"/public/position?protocol={entry['protocol']}&birth_date=1961-05-17")
    assert wrong.status_code == 404
    statuses = [
        (await client.get("/public/position?protocol=SC00000000&birth_date=1960-05-17")).status_code for _ in range(10)
    ]
    assert statuses[-1] == 429


async def test_municipal_operator_sees_only_own_residents(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    aps_floripa = await make_user("solicitante", f"municipality:{FLORIANOPOLIS}")
    aps_sj = await make_user("solicitante", f"municipality:{SAO_JOSE}")
    mine = await refer(client, aps_floripa, citizen_body(name="Moradora Floripa"))
    other = await refer(client, aps_sj, citizen_body(name="Morador São José", municipality_ibge=SAO_JOSE, sex="M"))
    listed = (await client.get("/api/v1/entries", headers=aps_floripa.headers)).json()["items"]
    assert {i["id"] for i in listed} == {mine["id"]}
    denied = await client.get(f"/api/v1/entries/{other['id']}", headers=aps_floripa.headers)
    assert denied.status_code == 403


async def test_keyset_pagination(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    aps = await make_user("solicitante", f"municipality:{FLORIANOPOLIS}")
    for i in range(5):
        await refer(client, aps, citizen_body(name=f"Pessoa Número {i}"))
    seen: list[int] = []
    url = "/api/v1/entries?limit=2"
    while True:
        page = (await client.get(url, headers=aps.headers)).json()
        seen += [i["id"] for i in page["items"]]
        if not page["next_cursor"]:
            break
        url = f"/api/v1/entries?limit=2&cursor={page['next_cursor']}"
    assert len(seen) == 5 and seen == sorted(seen)


async def test_referral_by_procedure_only_within_six_months_of_par(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    aps = await make_user("solicitante", f"municipality:{FLORIANOPOLIS}")
    gestor = await make_user("gestor", "uf:SC")
    cid = await accepted_cid(client, aps.headers, "0901010014")
    body = {
        "citizen": citizen_body(),
        "procedure_code": "0204030030",  # MAMOGRAFIA: a secondary of the breast-cancer OCI only
        "cid_code": cid,
        "risk_class": "amarelo",
        "risk_justification": "Nódulo palpável em mama esquerda.",
        "requesting_cnes": "2691868",
    }
    closed = await client.post("/api/v1/referrals", json=body, headers=aps.headers)
    assert closed.status_code == 422
    assert {e["code"] for e in closed.json()["errors"]} == {"procedimento_fora_do_prazo"}
    region = "42007"  # Grande Florianópolis
    today = date.today()
    opened = await client.put(
        f"/api/v1/queues/scopes/{region}",
        json={"scope_kind": "region", "par_approved_on": today.replace(day=1).isoformat()},
        headers=gestor.headers,
    )
    assert opened.status_code == 200, opened.text
    mapped = await client.post("/api/v1/referrals", json=body, headers=aps.headers)
    assert mapped.status_code == 201, mapped.text
    assert mapped.json()["oci_code"] == "0901010014"
