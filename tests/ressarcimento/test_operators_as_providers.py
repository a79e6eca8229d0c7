"""Operators' units are providers like any other (Portaria Conjunta MS/AGU 7.702/2025, art. 15 §6; decision 0018):
an operator unit's slot is allocated through the normal path (API, queued run, approval, commit), and the
production it registers is checked by production control — an OCI without a regulated authorization is flagged
there and, for the attestation, does not count."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from datetime import date, timedelta

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from regula.config import Settings
from regula.people.documents import generate_cpf
from regula.production import control
from regula.ressarcimento import repository as repo
from regula.ressarcimento import service, valuation
from tests.allocation.test_allocation_runs import propose_and_solve
from tests.conftest import Login
from tests.ressarcimento.operators_support import GESTOR, active_operator, prepare
from tests.waitlist.test_waitlist_api import authorize, citizen_body, refer

MakeUser = Callable[..., Awaitable[Login]]
pytestmark = pytest.mark.usefixtures("reference_data")
OCI = "0902010026"
UNIT = "7992001"
rng = random.Random(15)


async def _operator_unit_with_agenda(client: httpx.AsyncClient, gestor: Login) -> int:
    """The unit registered as an establishment of kind ``operadora`` through the providers API, linked to an
    operator through the Ressarcimento API, with two slots of the OCI."""
    r = await client.post(
        "/api/v1/establishments",
        json={"cnes": UNIT, "name": "Clínica da Operadora", "municipality_ibge": "4216602", "kind": "operadora"},
        headers=gestor.headers,
    )
    assert r.status_code == 201, r.text
    r = await client.post(
        "/api/v1/ressarcimento/operators",
        json={
            "ans_registration": "419301",
            "name": "Operadora Prestadora",
            "size": "medio",
            "uf": "SC",
            "technical_capacity": True,
            "ans_reports_regular": True,
        },
        headers=gestor.headers,
    )
    assert r.status_code == 201, r.text
    operator_id = int(r.json()["id"])
    r = await client.post(
        f"/api/v1/ressarcimento/operators/{operator_id}/units",
        json={"cnes": UNIT, "relation": "propria"},
        headers=gestor.headers,
    )
    assert r.status_code == 201, r.text
    assert r.json()["units"][0]["kind"] == "operadora"
    r = await client.put(f"/api/v1/establishments/{UNIT}/offers", json={"oci_code": OCI}, headers=gestor.headers)
    assert r.status_code == 200, r.text
    day = date.today() + timedelta(days=5)
    for i in range(2):
        r = await client.post(
            "/api/v1/slots",
            json={"cnes": UNIT, "oci_code": OCI, "starts_at": f"{day + timedelta(days=i)}T09:00:00-03:00"},
            headers=gestor.headers,
        )
        assert r.status_code == 201, r.text
    return operator_id


async def test_an_operator_units_slots_are_allocated_like_any_providers(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, make_user: MakeUser
) -> None:
    gestor = await make_user("gestor", "uf:SC")
    reg = await make_user("regulador", "uf:SC")
    aps = await make_user("solicitante", "municipality:4205407")
    await _operator_unit_with_agenda(client, gestor)
    entries = []
    for name in ("Ana Operadora", "Beto Operadora"):
        e = await refer(client, aps, citizen_body(name=name, cpf=None) | {"cpf": generate_cpf(rng)})
        await authorize(client, reg, e["id"])
        entries.append(e)
    run = await propose_and_solve(client, session, settings, reg)
    assert run["run"]["status"] == "proposta" and run["run"]["violations"] == 0
    assert run["summary"]["by_provider"] == {UNIT: 2}
    run_id = run["run"]["id"]
    assert (await client.post(f"/api/v1/allocation/runs/{run_id}/approve", headers=reg.headers)).status_code == 201
    committed = await client.post(f"/api/v1/allocation/runs/{run_id}/commit", headers=reg.headers)
    assert committed.status_code == 201, committed.text
    booked = (await session.execute(text(f"SELECT sum(booked) FROM agenda_slot WHERE cnes = '{UNIT}'"))).scalar()
    assert booked == 2


async def test_an_operator_units_production_is_checked_and_unauthorized_care_does_not_count(
    session: AsyncSession, settings: Settings
) -> None:
    prepare(session)
    op = await active_operator(session, settings, cnes=UNIT, municipality="4216602")
    await service.add_matrix_item(session, settings, op.id or 0, service.MatrixInput(UNIT, "oci", OCI, 10, 120), GESTOR)
    # An OCI performed at the operator's unit without any authorization regula issued (care outside regulation).
    content = (
        "cpf;procedimento;data;cnes;competencia;quantidade;autorizacao;instrumento;principal\n"
        f"{generate_cpf(rng)};{OCI};10/01/2025;{UNIT};202501;1;;apac;{OCI}\n"
    )
    report = await control.import_production(session, content, filename="operadora.csv")
    assert report.imported == 1
    findings = await control.check_production(session, settings, GESTOR, competencia="202501", cnes=UNIT)
    assert "sem_autorizacao_regulada" in {f.code for f in findings}
    matrix = await repo.matrix_of(session, op.id or 0)
    lines = await valuation.month_lines(
        session, settings, GESTOR, operator_id=op.id or 0, competencia="202501", matrix=matrix
    )
    assert len(lines) == 1 and lines[0].authorized is False and lines[0].region.value == "S"
    assert lines[0].value == matrix[0].value_brl or lines[0].value == matrix[1].value_brl
    out = await service.attest(session, settings, op.id or 0, "202501", GESTOR, date(2026, 3, 10))
    assert out.attestation.unauthorized_items == 1 and out.attestation.counted_brl == 0
