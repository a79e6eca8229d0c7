"""Referral protocols through the API (issue 16 item 2; decision 0020): a state manager writes a version, everyone
reads it, and the referral service enforces it for the API, the page and the import alike."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from tests.conftest import Login

from regula.config import Settings
from regula.core.clock import local_today
from regula.people.documents import generate_cpf

MakeUser = Callable[..., Awaitable[Login]]
pytestmark = pytest.mark.usefixtures("reference_data")

FLORIANOPOLIS = "4205407"
OCI = "0902010026"  # OCI AVALIAÇÃO CARDIOLÓGICA: CIDs Z136, Z848…
rng = random.Random(16_2)


def version_body(settings: Settings, **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "effective_from": local_today(settings).isoformat(),
        "reason": "Protocolo revisto pela câmara técnica de cardiologia",
        "checklist": [
            {"key": "ecg_anexado", "label": "ECG recente anexado", "required": True},
            {"key": "dor_toracica_descrita", "label": "Dor torácica descrita (tipo, duração)", "required": True},
            {"key": "mapa_realizado", "label": "MAPA realizado", "required": False},
        ],
        "required_exams": ["Eletrocardiograma"],
        "accepted_cids": ["Z136"],
        "priority_hints": ["Vermelho: dor típica aos mínimos esforços"],
        "tm_days": 45,
    }
    return body | over


def referral_body(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "citizen": {
            "cpf": generate_cpf(rng),
            "name": "Maria das Dores Silva",
            "birth_date": "1960-05-17",
            "sex": "F",
            "race_color": "parda",
            "municipality_ibge": FLORIANOPOLIS,
            "preferred_channel": "nenhum",
        },
        "oci_code": OCI,
        "cid_code": "Z136",
        "risk_class": "amarelo",
        "risk_justification": "Dor torácica aos esforços há três meses.",
        "requesting_cnes": "2691868",
    }
    return body | over


async def test_manager_writes_versions_everyone_reads(
    client: httpx.AsyncClient, make_user: MakeUser, settings: Settings
) -> None:
    gestor = await make_user("gestor", "uf:SC")
    aps = await make_user("solicitante", f"municipality:{FLORIANOPOLIS}")
    today = local_today(settings)

    before = await client.get(f"/api/v1/protocols/{OCI}", headers=aps.headers)
    assert before.status_code == 200 and before.json()["version"] == 0 and before.json()["checklist"] == []
    assert before.json()["care_tm_days"] == 60 and before.json()["care_times_source"] == "padrao"

    made = await client.post(f"/api/v1/protocols/{OCI}/versions", json=version_body(settings), headers=gestor.headers)
    assert made.status_code == 201, made.text
    v1 = made.json()
    assert v1["version"] == 1 and v1["in_force"] and v1["created_by"] == gestor.username
    assert (v1["care_tm_days"], v1["care_tr_days"], v1["care_times_source"]) == (45, 23, "protocolo")

    later = version_body(settings, effective_from=(today + timedelta(days=10)).isoformat(), checklist=[])
    v2 = (await client.post(f"/api/v1/protocols/{OCI}/versions", json=later, headers=gestor.headers)).json()
    assert v2["version"] == 2 and not v2["in_force"]

    now = (await client.get(f"/api/v1/protocols/{OCI}", headers=aps.headers)).json()
    assert now["version"] == 1
    then = await client.get(
        f"/api/v1/protocols/{OCI}",
        params={"data_vigencia": (today + timedelta(days=10)).isoformat()},
        headers=aps.headers,
    )
    assert then.json()["version"] == 2
    one = await client.get(f"/api/v1/protocols/{OCI}/versions/1", headers=aps.headers)
    assert one.status_code == 200 and one.json()["in_force"] and len(one.json()["checklist"]) == 3
    missing = await client.get(f"/api/v1/protocols/{OCI}/versions/9", headers=aps.headers)
    assert missing.status_code == 404 and missing.json()["code"] == "versao_nao_encontrada"

    listed = (await client.get("/api/v1/protocols", params={"oci": OCI, "limit": 1}, headers=aps.headers)).json()
    assert listed["total"] == 2 and [i["version"] for i in listed["items"]] == [2]
    oldest = await client.get("/api/v1/protocols", params={"oci": OCI, "ordem": "antigas"}, headers=aps.headers)
    assert [i["version"] for i in oldest.json()["items"]] == [1, 2]
    in_force = await client.get("/api/v1/protocols", params={"vigentes": "true"}, headers=aps.headers)
    assert [(i["oci_code"], i["version"]) for i in in_force.json()["items"]] == [(OCI, 1)]


async def test_who_may_write_and_what_is_refused(
    client: httpx.AsyncClient, make_user: MakeUser, settings: Settings, session: AsyncSession
) -> None:
    url = f"/api/v1/protocols/{OCI}/versions"
    aps = await make_user("solicitante", f"municipality:{FLORIANOPOLIS}")
    municipal = await make_user("gestor", f"municipality:{FLORIANOPOLIS}")
    gestor = await make_user("gestor", "uf:SC")
    assert (await client.post(url, json=version_body(settings), headers=aps.headers)).status_code == 403
    refused = await client.post(url, json=version_body(settings), headers=municipal.headers)
    assert refused.status_code == 403 and refused.json()["code"] == "gestao_estadual_exigida"
    unknown = await client.post(
        "/api/v1/protocols/0999999999/versions", json=version_body(settings), headers=gestor.headers
    )
    assert unknown.status_code == 404

    yesterday = (local_today(settings) - timedelta(days=1)).isoformat()
    bad = await client.post(
        url,
        json=version_body(settings, effective_from=yesterday, reason="x", accepted_cids=["ZZ"], tr_days=50),
        headers=gestor.headers,
    )
    assert bad.status_code == 422
    codes = {e["field"]: e["code"] for e in bad.json()["errors"]}
    assert codes == {
        "effective_from": "vigencia_no_passado",
        "reason": "motivo_curto",
        "accepted_cids[0]": "cid_formato",
        "tr_days": "tr_maior_que_tm",
    }
    # Nothing half-saved.
    count = await session.execute(text("SELECT count(*) FROM referral_protocol WHERE oci_code = :c"), {"c": OCI})
    assert count.scalar_one() == 0


async def test_referral_is_checked_against_the_protocol_in_force(
    client: httpx.AsyncClient, make_user: MakeUser, settings: Settings
) -> None:
    """Done when: through the API, a referral with an empty checklist for an OCI whose protocol requires items is
    refused with 422 naming the first missing item."""
    gestor = await make_user("gestor", "uf:SC")
    aps = await make_user("solicitante", f"municipality:{FLORIANOPOLIS}")
    made = await client.post(f"/api/v1/protocols/{OCI}/versions", json=version_body(settings), headers=gestor.headers)
    assert made.status_code == 201, made.text

    empty = await client.post("/api/v1/referrals", json=referral_body(), headers=aps.headers)
    assert empty.status_code == 422
    errors = empty.json()["errors"]
    assert [(e["field"], e["code"]) for e in errors] == [
        ("checklist.ecg_anexado", "protocolo_item_obrigatorio"),
        ("exams", "exame_obrigatorio"),
    ]
    assert "ECG recente anexado" in errors[0]["message"]

    said_no = referral_body(
        checklist={"ecg_anexado": True, "dor_toracica_descrita": False}, exams=["Eletrocardiograma"]
    )
    second = await client.post("/api/v1/referrals", json=said_no, headers=aps.headers)
    assert [e["field"] for e in second.json()["errors"]] == ["checklist.dor_toracica_descrita"]

    wrong_cid = referral_body(
        cid_code="Z848", checklist={"ecg_anexado": True, "dor_toracica_descrita": True}, exams=["Eletrocardiograma"]
    )
    cid = await client.post("/api/v1/referrals", json=wrong_cid, headers=aps.headers)
    assert [(e["field"], e["code"]) for e in cid.json()["errors"]] == [("cid_code", "cid_fora_do_protocolo")]

    ok = referral_body(
        checklist={"ecg_anexado": True, "dor_toracica_descrita": True, "mapa_realizado": False},
        exams=["eletrocardiograma"],
    )
    created = await client.post("/api/v1/referrals", json=ok, headers=aps.headers)
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "solicitada"


async def test_teleconsultation_gate_comes_from_the_protocol(
    client: httpx.AsyncClient, make_user: MakeUser, settings: Settings
) -> None:
    gestor = await make_user("gestor", "uf:SC")
    aps = await make_user("solicitante", f"municipality:{FLORIANOPOLIS}")
    gated = version_body(settings, checklist=[], required_exams=[], teleconsultation_required=True)
    assert (
        await client.post(f"/api/v1/protocols/{OCI}/versions", json=gated, headers=gestor.headers)
    ).status_code == 201
    created = await client.post("/api/v1/referrals", json=referral_body(), headers=aps.headers)
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "aguardando_teleconsulta"
