"""The teleconsultoria API (decision 21): the worklist with its filters and refusals, the answer and its refusals
(wrong role, bad fields, answered twice), and the APS team reading the answer."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession
from tests.conftest import Login
from tests.waitlist.test_teleconsultation import FLORIANOPOLIS, OCI, make_gated

from regula.config import Settings


async def test_api_worklist_answer_and_refusals(
    session: AsyncSession,
    settings: Settings,
    reference_data: None,
    client: httpx.AsyncClient,
    make_user: object,
) -> None:
    entry = await make_gated(session, settings)
    await session.commit()
    tele_user: Login = await make_user("teleconsultor", "uf:SC")  # type: ignore[operator]
    aps_user: Login = await make_user("solicitante", f"municipality:{FLORIANOPOLIS}")  # type: ignore[operator]
    listed = await client.get("/api/v1/teleconsultations", headers=tele_user.headers, params={"oci_code": OCI})
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert body["total"] == 1 and body["items"][0]["entry_id"] == entry.id
    assert body["items"][0]["due_at"] and body["items"][0]["late"] is False
    bad = await client.get("/api/v1/teleconsultations", headers=tele_user.headers, params={"order": "sorte"})
    assert bad.status_code == 422 and "order" in bad.text
    ages = await client.get(
        "/api/v1/teleconsultations", headers=tele_user.headers, params={"age_min": 70, "age_max": 20}
    )
    assert ages.status_code == 422 and "age_max" in ages.text
    # The APS team may not answer; a bad answer names its field; nothing changes.
    refused = await client.post(
        f"/api/v1/teleconsultations/{entry.id}/answer", headers=aps_user.headers, json={"outcome": "seguir_para_fila"}
    )
    assert refused.status_code == 403
    invalid = await client.post(
        f"/api/v1/teleconsultations/{entry.id}/answer",
        headers=tele_user.headers,
        json={"outcome": "seguir_com_classe"},
    )
    assert invalid.status_code == 422
    assert invalid.json()["errors"][0]["field"] == "suggested_risk_class"
    answered = await client.post(
        f"/api/v1/teleconsultations/{entry.id}/answer",
        headers=tele_user.headers,
        json={"outcome": "seguir_com_classe", "suggested_risk_class": "vermelho", "guidance": "Prioridade alta."},
    )
    assert answered.status_code == 201, answered.text
    assert answered.json()["status"] == "solicitada"
    assert answered.json()["risk_class"] == "vermelho"
    # The APS team sees the answer on its referral.
    seen = await client.get(f"/api/v1/teleconsultations/{entry.id}", headers=aps_user.headers)
    assert seen.status_code == 200
    assert seen.json()["answer"]["outcome"] == "seguir_com_classe"
    assert seen.json()["answer"]["answered_by"] == tele_user.username
    again = await client.post(
        f"/api/v1/teleconsultations/{entry.id}/answer", headers=tele_user.headers, json={"outcome": "seguir_para_fila"}
    )
    assert again.status_code == 409
