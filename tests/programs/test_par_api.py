"""The PAR API (/api/v1/programs): create, list, version, approve, ledger, indicators, contracts, reports; roles
and jurisdiction; 422 naming the field with a stable code."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from io import BytesIO
from typing import Any

import httpx
from openpyxl import load_workbook
from sqlalchemy.ext.asyncio import AsyncSession

from regula.config import Settings
from tests.conftest import Login
from tests.production.conftest import PROVIDER_CNES, TODAY, ensure_establishment

OCI = "0902010026"
MakeUser = Callable[..., Awaitable[Login]]


def _month(back: int) -> str:
    y, m = TODAY.year, TODAY.month - back
    while m < 1:
        y, m = y - 1, m + 12
    return f"{y}-{m:02d}"


def _body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "PAR Grande Florianópolis",
        "scope_kind": "region",
        "scope_code": "42007",
        "diagnosis": "Fila de cardiologia longa.",
        "priorities": "Cardiologia.",
        "target_queue_size": 50,
        "target_wait_days": 45,
        "schedule": [{"milestone": "Início da execução", "due_on": TODAY.isoformat()}],
        "responsibilities": [{"ente": "uf:SC", "text": "Regulação e monitoramento."}],
        "lines": [
            {
                "manager": "municipality:4205407",
                "oci_code": OCI,
                "cnes": PROVIDER_CNES,
                "month": _month(b),
                "quantity": 10,
            }
            for b in (1, 0)
        ],
    }
    body.update(overrides)
    return body


async def _approve(client: httpx.AsyncClient, login: Login, par_id: int) -> None:
    day = TODAY - timedelta(days=20)
    for kind in ("resolucao_cir", "ciencia_cib", "aprovacao_saes", "portaria_publicada", "resolucao_cib_executores"):
        r = await client.post(
            f"/api/v1/programs/pars/{par_id}/versions/1/steps",
            json={"kind": kind, "number": f"{kind} 1/2026", "step_date": day.isoformat()},
            headers=login.headers,
        )
        assert r.status_code == 201, r.text
        day += timedelta(days=1)


async def test_gestor_creates_approves_and_reads_the_ledger(
    client: httpx.AsyncClient, make_user: MakeUser, session: AsyncSession, settings: Settings, reference_data: None
) -> None:
    await ensure_establishment(session)
    await session.commit()
    gestor = await make_user("gestor", "region:42007")
    auditor = await make_user("auditor", "uf:SC")
    r = await client.post("/api/v1/programs/pars", json=_body(), headers=gestor.headers)
    assert r.status_code == 201, r.text
    created = r.json()
    par_id = created["id"]
    assert created["versions"][0]["status"] == "rascunho"
    assert created["versions"][0]["planned_quantity"] == 20
    assert isinstance(created["versions"][0]["planned_value"], str)

    r = await client.get(f"/api/v1/programs/pars/{par_id}/ledger", headers=gestor.headers)
    assert r.status_code == 409 and r.json()["code"] == "par_nao_aprovado"

    await _approve(client, gestor, par_id)
    r = await client.get(f"/api/v1/programs/pars/{par_id}", headers=auditor.headers)
    assert r.status_code == 200 and r.json()["versions"][0]["status"] == "aprovada"
    assert [s["kind"] for s in r.json()["versions"][0]["steps"]][:2] == ["resolucao_cir", "ciencia_cib"]

    r = await client.get(f"/api/v1/programs/pars/{par_id}/ledger", headers=auditor.headers)
    assert r.status_code == 200
    ledger = r.json()
    assert ledger["advance_released"] is True
    assert ledger["incentive"]["amount"] == "1200000.00"  # 1,209,818 inhabitants: more than one million
    manager = ledger["managers"][0]
    assert manager["manager"] == "municipality:4205407"
    approved = manager["totals"]["approved"]
    assert ledger["totals"]["approved"] == approved and approved == created["versions"][0]["planned_value"]

    r = await client.get(f"/api/v1/programs/pars/{par_id}/indicators", headers=auditor.headers)
    assert r.status_code == 200 and [m["planned_quantity"] for m in r.json()["months"]] == [10, 10]

    r = await client.get(
        "/api/v1/programs/pars", params={"sort": "title", "status": "aprovada"}, headers=auditor.headers
    )
    assert r.status_code == 200 and r.json()["total"] == 1 and r.json()["items"][0]["id"] == par_id

    # Reports: CSV (pt-BR spreadsheet) and XLSX
    comp = _month(0).replace("-", "")
    r = await client.get(
        f"/api/v1/programs/pars/{par_id}/reports/cib", params={"competencia": comp}, headers=auditor.headers
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert f'filename="par-{par_id}-cib-{comp}.csv"' in r.headers["content-disposition"]
    assert r.content.startswith("\ufeff".encode()) and b";10;" in r.content
    r = await client.get(
        f"/api/v1/programs/pars/{par_id}/reports/cib",
        params={"competencia": comp, "format": "xlsx"},
        headers=auditor.headers,
    )
    assert r.status_code == 200
    sheet = load_workbook(BytesIO(r.content)).active
    assert sheet is not None and "CIB" in str(sheet["A1"].value) and sheet["E4"].value == 10
    quarter = f"{TODAY.year}Q{(TODAY.month + 2) // 3}"
    r = await client.get(
        f"/api/v1/programs/pars/{par_id}/reports/cit", params={"trimestre": quarter}, headers=auditor.headers
    )
    assert r.status_code == 200

    # Contracts
    r = await client.post(
        f"/api/v1/programs/pars/{par_id}/contracts",
        json={
            "contract_number": "CT 9/2026",
            "manager": "municipality:4205407",
            "cnes": PROVIDER_CNES,
            "oci_code": OCI,
            "month": _month(1),
            "quantity": 8,
        },
        headers=gestor.headers,
    )
    assert r.status_code == 201, r.text
    assert r.json()["under_delivered"] is True and r.json()["delivered"] == 0
    r = await client.get(f"/api/v1/programs/pars/{par_id}/contracts", headers=auditor.headers)
    assert [c["contract_number"] for c in r.json()] == ["CT 9/2026"]

    r = await client.get("/api/v1/programs/capacities", params={"month": _month(0)}, headers=auditor.headers)
    assert r.status_code == 200 and r.json()[0]["quantity"] == 10


async def test_bad_input_is_422_naming_the_field(
    client: httpx.AsyncClient, make_user: MakeUser, session: AsyncSession, reference_data: None
) -> None:
    await ensure_establishment(session)
    await session.commit()
    gestor = await make_user("gestor", "uf:SC")
    bad = _body(lines=[{"manager": "uf:SC", "oci_code": OCI, "cnes": "123", "month": "2026-00", "quantity": 1}])
    r = await client.post("/api/v1/programs/pars", json=bad, headers=gestor.headers)
    assert r.status_code == 422
    codes = {(e["field"], e["code"]) for e in r.json()["errors"]}
    assert codes == {("lines[0].cnes", "cnes_invalido"), ("lines[0].month", "mes_invalido")}
    assert all(e["message"] for e in r.json()["errors"])
    r = await client.post("/api/v1/programs/pars", json=_body(scope_kind="galaxy"), headers=gestor.headers)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "scope_kind"
    r = await client.post("/api/v1/programs/pars", json=_body(), headers=gestor.headers)
    par_id = r.json()["id"]
    r = await client.get(
        f"/api/v1/programs/pars/{par_id}/reports/cib", params={"competencia": "2026"}, headers=gestor.headers
    )
    assert r.status_code in (409, 422)  # not approved yet, or a bad competência: never a 500
    r = await client.post(
        f"/api/v1/programs/pars/{par_id}/versions/1/steps",
        json={"kind": "aprovacao_saes", "number": "1", "step_date": "ontem"},
        headers=gestor.headers,
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "step_date"


async def test_roles_and_jurisdiction(
    client: httpx.AsyncClient, make_user: MakeUser, session: AsyncSession, reference_data: None
) -> None:
    await ensure_establishment(session)
    await session.commit()
    gestor = await make_user("gestor", "region:42007")
    elsewhere = await make_user("gestor", "municipality:4209102")
    auditor = await make_user("auditor", "uf:SC")
    regulador = await make_user("regulador", "uf:SC")
    par_id = (await client.post("/api/v1/programs/pars", json=_body(), headers=gestor.headers)).json()["id"]
    assert (await client.post("/api/v1/programs/pars", json=_body(), headers=auditor.headers)).status_code == 403
    assert (await client.post("/api/v1/programs/pars", json=_body(), headers=elsewhere.headers)).status_code == 403
    assert (await client.get(f"/api/v1/programs/pars/{par_id}", headers=elsewhere.headers)).status_code == 404
    assert (await client.get("/api/v1/programs/pars", headers=regulador.headers)).status_code == 403
    r = await client.get("/api/v1/programs/pars", headers=elsewhere.headers)
    assert r.status_code == 200 and r.json()["total"] == 0
    version = {**_body(), "reason": "Ajuste"}
    del version["title"]
    r = await client.post(f"/api/v1/programs/pars/{par_id}/versions", json=version, headers=gestor.headers)
    assert r.status_code == 409 and r.json()["code"] == "versao_em_andamento"  # version 1 is still a draft
