"""The 2023 queue-reduction state plans (Portaria GM/MS 90/2023): versions, approval, payments within the Annex's
share, jurisdiction and roles — through the service on the real database and through the API as served."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from regula.access.actor import Actor
from regula.access.policy import Jurisdiction
from regula.audit.models import AuditEvent
from regula.audit.service import AuditContext, install, set_context
from regula.config import Settings
from regula.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from regula.programs import service_2023 as svc
from regula.programs.models_2023 import QueuePlan2023
from tests.conftest import Login, app_client
from tests.web.conftest import Browser, browser_for, field_error, web_app

__all__ = ["browser_for", "web_app"]  # fixtures of the page tests

D = Decimal
TODAY = date(2023, 6, 30)
GESTOR_SC = Actor("gestor.sc", "gestor", 1, Jurisdiction.parse("uf:SC"))
GESTOR_REGION = Actor("gestor.regiao", "gestor", 2, Jurisdiction.parse("region:42007"))
AUDITOR_SC = Actor("auditor.sc", "auditor", 3, Jurisdiction.parse("uf:SC"))
GESTOR_PR = Actor("gestor.pr", "gestor", 4, Jurisdiction.parse("uf:PR"))
NATIONAL = Actor("admin", "admin", 5)
CATARACT = "0405050372"  # facoemulsificação (AIH)
ECHO = "0205010032"  # ecocardiografia transtorácica (APAC)


def plan_input(**changes: Any) -> svc.PlanInput:
    base: dict[str, Any] = {
        "target_reduction": 12_000,
        "target_note": "Reduzir em 40% a fila de cirurgias de catarata e de ecocardiografias até dezembro de 2023.",
        "schedule": [svc.ScheduleInput("2023-03", "6880324.60"), svc.ScheduleInput("2023-06", "13760649,21")],
        "items": [
            svc.ItemInput(CATARACT, "2691868", "aih", 3000, "771.60", "771.60"),
            svc.ItemInput(ECHO, "0019283", "APAC", 9000, "165,00", "0"),
        ],
    }
    return svc.PlanInput(**(base | changes))


@pytest.fixture(autouse=True)
def _audited(session: AsyncSession) -> None:
    install()
    set_context(session, AuditContext.system("test", "tests/programs/2023"))


async def test_first_version_keeps_the_annex_share_and_is_audited(session: AsyncSession) -> None:
    v = await svc.submit_plan(session, GESTOR_SC, "sc", plan_input())
    p = v.plan
    assert (p.uf, p.version, p.status) == ("SC", 1, "rascunho")
    assert p.population == 7_338_473
    assert (p.amount, p.upfront) == (D("20640973.81"), D("6880324.60"))
    assert [(i.procedure_code, i.instrument, i.quantity) for i in v.items] == [
        (ECHO, "apac", 9000),
        (CATARACT, "aih", 3000),
    ]
    assert v.totals.procedures == 12_000
    assert v.totals.table_value == D("3000") * D("771.60") + D("9000") * D("165.00")
    assert v.totals.complement == D("3000") * D("771.60")
    assert v.totals.scheduled == D("20640973.81")
    assert v.totals.upfront_left == D("6880324.60")
    assert v.totals.production_left == D("13760649.21")
    assert v.editable
    audited = await session.execute(
        select(AuditEvent).where(col(AuditEvent.entity_type).in_(["QueuePlan2023", "QueuePlan2023Item"]))
    )
    assert len(list(audited.scalars())) == 3


async def test_invalid_plan_names_every_field_and_saves_nothing(session: AsyncSession) -> None:
    bad = plan_input(
        target_reduction=-1,
        target_note=" ",
        schedule=[svc.ScheduleInput("2023-13", "1"), svc.ScheduleInput("2023-04", "abc")],
        items=[
            svc.ItemInput("04050503", "123", "bpa", 0, "100.00", "100.01"),
            svc.ItemInput(ECHO, "0019283", "apac", 1, "10.001", "0"),
            svc.ItemInput(ECHO, "0019283", "apac", 1, "10", "0"),
        ],
    )
    with pytest.raises(ValidationFailed) as info:
        await svc.submit_plan(session, GESTOR_SC, "SC", bad)
    codes = {(e.field, e.code) for e in info.value.errors}
    assert codes == {
        ("target_reduction", "meta_invalida"),
        ("target_note", "obrigatorio"),
        ("schedule[0].month", "mes_invalido"),
        ("schedule[1].amount", "valor_invalido"),
        ("items[0].procedure_code", "procedimento_invalido"),
        ("items[0].cnes", "cnes_invalido"),
        ("items[0].instrument", "instrumento_invalido"),
        ("items[0].quantity", "quantidade_invalida"),
        ("items[0].complement", "complemento_acima_do_limite"),  # art. 9: up to 100% of the table value
        ("items[1].table_value", "valor_invalido"),
        ("items[2].procedure_code", "item_repetido"),
    }
    assert all(e.message for e in info.value.errors)
    assert (await session.execute(select(QueuePlan2023))).first() is None


async def test_schedule_cannot_exceed_the_share(session: AsyncSession) -> None:
    with pytest.raises(ValidationFailed) as info:
        await svc.submit_plan(
            session, GESTOR_SC, "SC", plan_input(schedule=[svc.ScheduleInput("2023-03", "20640973.82")])
        )
    assert info.value.errors[0].code == "cronograma_acima_do_recurso"
    assert "R$ 20.640.973,81" in info.value.errors[0].message


async def test_new_version_needs_a_reason_and_keeps_the_old(session: AsyncSession) -> None:
    await svc.submit_plan(session, GESTOR_SC, "SC", plan_input())
    with pytest.raises(ValidationFailed) as info:
        await svc.submit_plan(session, GESTOR_SC, "SC", plan_input(target_reduction=15_000))
    assert info.value.errors[0].code == "motivo_obrigatorio"
    v2 = await svc.submit_plan(
        session, GESTOR_SC, "SC", plan_input(target_reduction=15_000, reason="Ampliação pactuada na CIB.")
    )
    assert (v2.plan.version, v2.plan.target_reduction, v2.versions) == (2, 15_000, [1, 2])
    v1 = await svc.view(session, AUDITOR_SC, "SC", version=1)
    assert v1.plan.status == "substituido" and v1.plan.target_reduction == 12_000 and not v1.editable
    assert len(v1.items) == 2  # the old version keeps its items


async def test_jurisdiction_and_roles(session: AsyncSession) -> None:
    await svc.submit_plan(session, GESTOR_SC, "SC", plan_input())
    # A gestor of a region inside SC and an auditor read; neither writes.
    assert (await svc.view(session, GESTOR_REGION, "SC")).editable is False
    assert (await svc.view(session, AUDITOR_SC, "SC")).plan.uf == "SC"
    for actor in (GESTOR_REGION, AUDITOR_SC, GESTOR_PR):
        with pytest.raises(PermissionDenied):
            await svc.submit_plan(session, actor, "SC", plan_input(reason="x"))
    # Another UF's plan does not exist for PR's gestor.
    with pytest.raises(NotFound):
        await svc.view(session, GESTOR_PR, "SC")
    rows = await svc.overview(session, GESTOR_PR)
    assert [r.share.uf for r in rows] == ["PR"] and rows[0].plan is None
    rows = await svc.overview(session, NATIONAL)
    assert len(rows) == 27
    assert next(r for r in rows if r.share.uf == "SC").plan is not None
    with pytest.raises(ValidationFailed):
        await svc.view(session, NATIONAL, "XX")


async def test_approval_then_payments_within_the_third_and_the_rest(session: AsyncSession) -> None:
    await svc.submit_plan(session, GESTOR_SC, "SC", plan_input())
    # Art. 8 §2: no transfer before the approved plan and the CIB resolution.
    with pytest.raises(Conflict) as refused:
        await svc.record_payment(
            session, GESTOR_SC, "SC", kind="antecipacao", paid_on=date(2023, 3, 1), amount="100", today=TODAY
        )
    assert refused.value.code == "plano_nao_aprovado"
    with pytest.raises(ValidationFailed) as info:
        await svc.approve(
            session,
            GESTOR_SC,
            "SC",
            cib_resolution="CIB 45/2023",
            cib_resolution_on=date(2023, 3, 10),
            saes_approved_on=date(2023, 3, 1),
            today=TODAY,
        )
    assert info.value.errors[0].code == "aprovacao_antes_da_cib"
    approved = await svc.approve(
        session,
        GESTOR_SC,
        "SC",
        cib_resolution="Deliberação CIB/SC 45/2023",
        cib_resolution_on=date(2023, 2, 20),
        saes_approved_on=date(2023, 3, 1),
        today=TODAY,
    )
    assert approved.plan.status == "aprovado"
    with pytest.raises(Conflict):
        await svc.approve(
            session,
            GESTOR_SC,
            "SC",
            cib_resolution="x",
            cib_resolution_on=date(2023, 2, 20),
            saes_approved_on=date(2023, 3, 1),
            today=TODAY,
        )

    v = await svc.record_payment(
        session, GESTOR_SC, "SC", kind="antecipacao", paid_on=date(2023, 3, 15), amount="6880324.60", today=TODAY
    )
    assert v.totals.paid_upfront == D("6880324.60") and v.totals.upfront_left == D("0.00")
    with pytest.raises(ValidationFailed) as info:
        await svc.record_payment(
            session, GESTOR_SC, "SC", kind="antecipacao", paid_on=date(2023, 3, 16), amount="0.01", today=TODAY
        )
    assert info.value.errors[0].code == "acima_do_previsto"
    # Production: needs its competência and instrument (art. 10), up to the rest of the share.
    with pytest.raises(ValidationFailed) as info:
        await svc.record_payment(
            session, GESTOR_SC, "SC", kind="producao", paid_on=date(2023, 5, 10), amount="1000", today=TODAY
        )
    assert {e.field for e in info.value.errors} == {"competencia", "instrument"}
    v = await svc.record_payment(
        session,
        GESTOR_SC,
        "SC",
        kind="producao",
        paid_on=date(2023, 5, 10),
        amount="1.234.567,89",
        competencia="202303",
        instrument="aih",
        today=TODAY,
    )
    assert v.totals.paid_production == D("1234567.89")
    assert v.totals.production_left == D("13760649.21") - D("1234567.89")
    # A reversal is a negative payment; never below zero in total.
    v = await svc.record_payment(
        session,
        GESTOR_SC,
        "SC",
        kind="producao",
        paid_on=date(2023, 5, 11),
        amount="-1000.00",
        competencia="202303",
        instrument="aih",
        today=TODAY,
    )
    assert v.totals.paid_production == D("1233567.89")
    with pytest.raises(ValidationFailed) as info:
        await svc.record_payment(
            session,
            GESTOR_SC,
            "SC",
            kind="producao",
            paid_on=date(2023, 5, 12),
            amount="-1233567.90",
            competencia="202303",
            instrument="aih",
            today=TODAY,
        )
    assert info.value.errors[0].code == "estorno_maior_que_pago"
    with pytest.raises(ValidationFailed) as info:
        await svc.record_payment(
            session, GESTOR_SC, "SC", kind="antecipacao", paid_on=date(2023, 7, 1), amount="1", today=TODAY
        )
    assert info.value.errors[0].code == "data_futura"
    assert len(v.payments) == 3


# --- API ----------------------------------------------------------------------------------------------------------

MakeUser = Callable[..., Awaitable[Login]]
BASE = "/api/v1/programs/queue-reduction-2023"


@pytest.fixture
async def api(settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[httpx.AsyncClient]:
    from regula.web.app import create_app

    async with app_client(create_app(settings, sessionmaker)) as client:
        yield client


PLAN_JSON = {
    "target_reduction": 12000,
    "target_note": "Reduzir a fila de catarata.",
    "schedule": [{"month": "2023-03", "amount": "6880324.60"}],
    "items": [
        {
            "procedure_code": CATARACT,
            "cnes": "2691868",
            "instrument": "aih",
            "quantity": 3000,
            "table_value": "771.60",
            "complement": "771.60",
        }
    ],
}


async def test_api_roles_and_field_errors(api: httpx.AsyncClient, make_user: MakeUser) -> None:
    gestor = await make_user("gestor", "uf:SC")
    auditor = await make_user("auditor", "uf:SC")
    regional = await make_user("gestor", "region:42007")
    other = await make_user("gestor", "uf:PR")
    regulador = await make_user("regulador", "uf:SC")

    r = await api.get(f"{BASE}/distribution", headers=regulador.headers)
    assert r.status_code == 200, r.text
    rows = r.json()
    assert len(rows) == 27
    assert rows[21] == {
        "uf_code": "42",
        "uf": "SC",
        "name": "Santa Catarina",
        "population": 7338473,
        "amount_brl": "20640973.81",
        "upfront_brl": "6880324.60",
        "on_production_brl": "13760649.21",
    }

    r = await api.post(f"{BASE}/plans/SC", json=PLAN_JSON, headers=gestor.headers)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["version"] == 1 and body["amount_brl"] == "20640973.81"
    assert body["items"][0]["numbering_digit"] == "5"  # AIH, art. 10 II a
    assert body["totals"]["complement_brl"] == "2314800.00"

    r = await api.post(f"{BASE}/plans/SC", json=PLAN_JSON, headers=auditor.headers)
    assert r.status_code == 403
    r = await api.post(f"{BASE}/plans/SC", json=PLAN_JSON | {"reason": "x"}, headers=regional.headers)
    assert r.status_code == 403
    assert r.json()["code"] == "plano_so_gestor_da_uf"
    r = await api.get(f"{BASE}/plans/SC", headers=other.headers)
    assert r.status_code == 404
    r = await api.get(f"{BASE}/plans/SC", headers=auditor.headers)
    assert r.status_code == 200 and r.json()["editable"] is False
    r = await api.get(f"{BASE}/plans", headers=regional.headers)
    assert [row["share"]["uf"] for row in r.json()] == ["SC"]
    assert r.json()[0]["plan_version"] == 1

    bad = PLAN_JSON | {"reason": "ajuste", "items": [PLAN_JSON["items"][0] | {"complement": "800.00"}]}  # type: ignore[index]
    r = await api.post(f"{BASE}/plans/SC", json=bad, headers=gestor.headers)
    assert r.status_code == 422, r.text
    problem = r.json()
    assert problem["errors"][0]["field"] == "items[0].complement"
    assert problem["errors"][0]["code"] == "complemento_acima_do_limite"
    assert "100%" in problem["errors"][0]["message"]

    r = await api.post(
        f"{BASE}/plans/SC/approval",
        json={"cib_resolution": "CIB 45/2023", "cib_resolution_on": "2023-02-20", "saes_approved_on": "2023-03-01"},
        headers=gestor.headers,
    )
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "aprovado"
    r = await api.post(
        f"{BASE}/plans/SC/payments",
        json={"kind": "antecipacao", "paid_on": "2023-03-15", "amount": "6880324.60"},
        headers=gestor.headers,
    )
    assert r.status_code == 201, r.text
    assert r.json()["totals"]["upfront_left_brl"] == "0.00"
    r = await api.post(
        f"{BASE}/plans/SC/payments",
        json={"kind": "bonus", "paid_on": "2023-03-15", "amount": "1"},
        headers=gestor.headers,
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "kind"
    r = await api.get(f"{BASE}/plans/ZZ", headers=auditor.headers)
    assert r.status_code in (404, 422)


# --- pages --------------------------------------------------------------------------------------------------------

PAGE = "/programas/reducao-filas-2023"


async def test_pages_overview_detail_forms_and_downloads(
    session: AsyncSession, make_user: MakeUser, browser_for: Callable[[Login | None], Awaitable[Browser]]
) -> None:
    await svc.submit_plan(session, GESTOR_SC, "SC", plan_input())
    await session.commit()
    gestor = await browser_for(await make_user("gestor", "uf:SC"))
    auditor = await browser_for(await make_user("auditor", "uf:SC"))

    r = await gestor.get(PAGE)
    assert r.status_code == 200, r.text
    assert "SC — Santa Catarina" in r.text and "R$ 20.640.973,81" in r.text
    assert "Paraná" not in r.text  # only the UF the gestor reads
    r = await auditor.get(PAGE + "?ordem=-valor&situacao=sem")
    assert r.status_code == 200 and "Nenhuma UF com estes filtros." in r.text

    r = await gestor.get(PAGE + "/SC")
    assert r.status_code == 200, r.text
    assert "Em elaboração" in r.text and "Registrar aprovação" in r.text
    assert "AIH (5º dígito 5)" in r.text
    r = await auditor.get(PAGE + "/SC")
    assert r.status_code == 200 and "Registrar aprovação" not in r.text

    # A refused approval shows the form again with the error next to its field, and saves nothing.
    r = await gestor.post(
        PAGE + "/SC/aprovacao", {"resolucao_cib": "CIB 45/2023", "data_cib": "10/03/2023", "data_saes": "01/03/2023"}
    )
    assert r.status_code == 422, r.text
    assert field_error(r.text, "data_saes") is not None
    assert "depois da pactuação na CIB" in (field_error(r.text, "data_saes") or "")
    r = await gestor.post(PAGE + "/SC/aprovacao", {"resolucao_cib": "x", "data_cib": "31/02/2023", "data_saes": ""})
    assert r.status_code == 422 and field_error(r.text, "data_cib") is not None
    r = await auditor.post(
        PAGE + "/SC/aprovacao", {"resolucao_cib": "CIB 45/2023", "data_cib": "20/02/2023", "data_saes": "01/03/2023"}
    )
    assert r.status_code == 403
    r = await gestor.post(
        PAGE + "/SC/aprovacao", {"resolucao_cib": "CIB 45/2023", "data_cib": "20/02/2023", "data_saes": "01/03/2023"}
    )
    assert r.status_code == 303 and r.headers["location"].endswith("?feito=aprovado")

    r = await gestor.post(
        PAGE + "/SC/pagamentos", {"tipo": "producao", "data": "10/05/2023", "valor": "1.000,00", "competencia": "2023"}
    )
    assert r.status_code == 422
    assert field_error(r.text, "competencia") and field_error(r.text, "instrumento")
    r = await gestor.post(
        PAGE + "/SC/pagamentos",
        {"tipo": "antecipacao", "data": "15/03/2023", "valor": "6.880.324,60", "competencia": "", "instrumento": ""},
    )
    assert r.status_code == 303, r.text
    r = await gestor.get(PAGE + "/SC?feito=pagamento")
    assert "Pagamento registrado." in r.text and "R$ 6.880.324,60 antecipados (faltam R$ 0,00)" in r.text

    csv_file = await auditor.get(PAGE + "/SC?formato=csv")
    assert csv_file.status_code == 200
    assert csv_file.headers["content-type"].startswith("text/csv")
    text = csv_file.content.decode("utf-8-sig")
    assert text.splitlines()[1] == f"{ECHO};0019283;APAC;6;9000;165,00;0,00;1485000,00"
    xlsx = await auditor.get(PAGE + "?formato=xlsx")
    assert xlsx.status_code == 200
    ws = load_workbook(io.BytesIO(xlsx.content)).active
    assert ws is not None
    assert ws["B4"].value == "SC" and ws["D4"].value == pytest.approx(20640973.81)
    assert (await auditor.get(PAGE + "?formato=pdf")).status_code in (400, 422)
    other = await browser_for(await make_user("gestor", "uf:PR"))
    assert (await other.get(PAGE + "/SC")).status_code == 404


async def test_page_forms_carry_their_limits_and_refuse_overlong_text_by_label_keeping_the_rest(
    session: AsyncSession, make_user: MakeUser, browser_for: Callable[[Login | None], Awaitable[Browser]]
) -> None:
    """Issue 17 item 4: a CIB resolution beyond its 60 characters was cut and saved; now it is refused naming
    "Resolução CIB", the dates typed stay, nothing is saved; the payment's note likewise."""
    from tests.web.test_forms_limits import check_page

    await svc.submit_plan(session, GESTOR_SC, "SC", plan_input())
    await session.commit()
    gestor = await browser_for(await make_user("gestor", "uf:SC"))
    page = await gestor.get(PAGE + "/SC")
    assert "reducao_filas_2023_aprovacao" in check_page(page.text, PAGE + "/SC")
    resolution = "Resolução CIB/SC nº 45, de 20 de fevereiro de 2023, que aprova o plano estadual"
    r = await gestor.post(
        PAGE + "/SC/aprovacao", {"resolucao_cib": resolution, "data_cib": "20/02/2023", "data_saes": "01/03/2023"}
    )
    assert r.status_code == 422
    assert f"Resolução CIB: Texto longo demais: no máximo 60 caracteres (foram {len(resolution)})." in r.text
    assert f'value="{resolution}"' in r.text and 'value="20/02/2023"' in r.text and 'value="01/03/2023"' in r.text
    assert (await svc.view(session, GESTOR_SC, "SC")).plan.status != "aprovado"
    r = await gestor.post(
        PAGE + "/SC/aprovacao", {"resolucao_cib": "CIB 45/2023", "data_cib": "20/02/2023", "data_saes": "01/03/2023"}
    )
    assert r.status_code == 303
    page = await gestor.get(PAGE + "/SC")
    assert "reducao_filas_2023_pagamento" in check_page(page.text, PAGE + "/SC")
    note = "Observação " * 400  # 4,400 characters
    r = await gestor.post(
        PAGE + "/SC/pagamentos",
        {"tipo": "antecipacao", "data": "15/03/2023", "valor": "6.880.324,60", "competencia": "", "observacao": note},
    )
    assert r.status_code == 422
    assert "Observação: Texto longo demais: no máximo 4000 caracteres" in r.text
    assert note.strip() in r.text and 'value="6.880.324,60"' in r.text and 'value="15/03/2023"' in r.text
    assert (await svc.view(session, GESTOR_SC, "SC")).payments == []
