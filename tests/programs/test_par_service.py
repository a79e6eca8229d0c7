"""The PAR as versioned data (regula.programs.service): content and validation, jurisdiction, approval steps,
immutable versions, the queues an approved PAR feeds (six-month window, capacities), the ledger fed by production
control, contracts and the CIB/CIT reports. Real database, real catalog (SIGTAP 2026-01), real production control."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from regula.access.policy import Jurisdiction
from regula.audit.models import AuditEvent
from regula.audit.service import AuditContext, install, set_context
from regula.config import Settings
from regula.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from regula.people.models import Citizen
from regula.production import execution, numbering
from regula.programs import reports
from regula.programs import service as par
from regula.programs.schemas import (
    CommitmentIn,
    ContractIn,
    LineIn,
    ParCreate,
    StepIn,
    TransferIn,
    VersionCreate,
)
from regula.waitlist import service as wl
from regula.waitlist.models import QueueCapacity, RegulationScope
from tests.production.conftest import (
    EXECUTANTE,
    NAVEGADOR,
    PROVIDER_CNES,
    TODAY,
    MakeEntry,
    ensure_establishment,
    make_entry,
    procedure,
)
from tests.production.test_execution import CONSULTA, ECG, RETURN

__all__ = ["make_entry"]  # the production tests' fixture, used here

GRANDE_FLORIANOPOLIS = "42007"
OCI = "0902010026"  # cardiology (ECG + consultation), tM 60
GESTOR = wl.Actor("gestor.sc", "gestor", jurisdiction=Jurisdiction.parse("uf:SC"))
GESTOR_REGION = wl.Actor("gestor.gf", "gestor", jurisdiction=Jurisdiction.parse(f"region:{GRANDE_FLORIANOPOLIS}"))
GESTOR_JOINVILLE = wl.Actor("gestor.jve", "gestor", jurisdiction=Jurisdiction.parse("municipality:4209102"))
AUDITOR = wl.Actor("auditor.sc", "auditor", jurisdiction=Jurisdiction.parse("uf:SC"))
REGULADOR = wl.Actor("regulador.sc", "regulador", jurisdiction=Jurisdiction.parse("uf:SC"))


def _month(back: int) -> date:
    """The first day of the month ``back`` months before today's."""
    y, m = TODAY.year, TODAY.month - back
    while m < 1:
        y, m = y - 1, m + 12
    return date(y, m, 1)


def _content(**overrides: object) -> ParCreate:
    lines = [LineIn("municipality:4205407", OCI, PROVIDER_CNES, f"{_month(back):%Y-%m}", 20) for back in (2, 1, 0)]
    data: dict[str, object] = {
        "title": "PAR Grande Florianópolis",
        "scope_kind": "region",
        "scope_code": GRANDE_FLORIANOPOLIS,
        "diagnosis": "Fila de cardiologia acima de 120 dias.",
        "priorities": "Cardiologia e oftalmologia.",
        "target_queue_size": 100,
        "target_wait_days": 60,
        "schedule": [],
        "responsibilities": [],
        "lines": lines,
    }
    data.update(overrides)
    return ParCreate(**data)  # type: ignore[arg-type]


async def _approve(session: AsyncSession, settings: Settings, par_id: int, version: int, first: date) -> None:
    day = first
    for kind in ("resolucao_cir", "ciencia_cib", "aprovacao_saes", "portaria_publicada", "resolucao_cib_executores"):
        await par.record_step(
            session, settings, par_id, version, StepIn(kind, f"{kind}-{version}", day.isoformat()), GESTOR, TODAY
        )
        day += timedelta(days=2)


@pytest.fixture(autouse=True)
def _audited(session: AsyncSession) -> None:
    install()  # the audit listener, as the app installs it
    set_context(session, AuditContext.system("test", "tests/programs"))


@pytest.fixture
async def provider(session: AsyncSession, reference_data: None) -> None:
    await ensure_establishment(session)


async def test_a_par_records_coverage_population_and_line_values(session: AsyncSession, provider: None) -> None:
    created = await par.create_par(session, _content(), GESTOR_REGION)
    bundle = await par.detail(session, created.id or 0, GESTOR_REGION)
    v1 = bundle.bundle.latest
    assert v1.status == "rascunho" and v1.version == 1
    assert "4205407" in v1.municipalities and "4216602" in v1.municipalities and "4209102" not in v1.municipalities
    assert v1.population == 1_209_818  # the shipped table's 22 municipalities of the region
    assert "IBGE" in v1.population_source
    assert v1.catalog_competencia == "202601"
    lines = bundle.lines_by_version[v1.id or 0]
    assert len(lines) == 3
    # quantity × the SIGTAP value of the competência, kept with the plan
    assert all(x.value == x.unit_value * 20 and x.unit_value > 0 for x in lines)
    assert isinstance(lines[0].value, Decimal)
    # audited by the flush listener
    audited = await session.execute(select(AuditEvent).where(col(AuditEvent.entity_type) == "ParLine"))
    assert len(list(audited.scalars())) == 3


async def test_invalid_content_names_every_field(session: AsyncSession, provider: None) -> None:
    bad = _content(
        title="",
        scope_code="99999",
        lines=[LineIn("municipality:4205407", "0000000000", "12", "2026-13", 0)],
    )
    with pytest.raises(ValidationFailed) as exc:
        await par.create_par(session, bad, GESTOR)
    fields = {(e.field, e.code) for e in exc.value.errors}
    assert ("title", "campo_obrigatorio") in fields
    assert ("scope_code", "regiao_desconhecida") in fields
    # The lines are checked against the region's UF once the scope is valid:
    bad = _content(lines=[LineIn("municipality:4106902", "0000000000", "12", "2026-13", 0)])
    with pytest.raises(ValidationFailed) as exc:
        await par.create_par(session, bad, GESTOR)
    fields = {(e.field, e.code) for e in exc.value.errors}
    assert fields >= {
        ("lines[0].manager", "gestor_invalido"),  # Curitiba is not in SC
        ("lines[0].oci_code", "oci_desconhecida"),
        ("lines[0].cnes", "cnes_invalido"),
        ("lines[0].month", "mes_invalido"),
        ("lines[0].quantity", "quantidade_invalida"),
    }


async def test_jurisdiction_decides_who_reads_and_who_edits(session: AsyncSession, provider: None) -> None:
    with pytest.raises(PermissionDenied):
        await par.create_par(session, _content(), GESTOR_JOINVILLE)  # the region is not theirs
    with pytest.raises(PermissionDenied):
        await par.create_par(session, _content(), AUDITOR)  # auditors read only
    created = await par.create_par(session, _content(), GESTOR_REGION)
    par_id = created.id or 0
    assert (await par.detail(session, par_id, AUDITOR)).editable is False
    assert (await par.detail(session, par_id, GESTOR)).editable is True
    with pytest.raises(NotFound):
        await par.detail(session, par_id, GESTOR_JOINVILLE)
    with pytest.raises(NotFound):
        await par.detail(session, par_id, REGULADOR)
    with pytest.raises(PermissionDenied):
        await par.list_pars(session, REGULADOR)
    assert [b.par.id for b in await par.list_pars(session, AUDITOR)] == [par_id]
    assert await par.list_pars(session, GESTOR_JOINVILLE) == []


async def test_approval_freezes_the_version_and_feeds_the_queues(
    session: AsyncSession, settings: Settings, provider: None
) -> None:
    par_id = (await par.create_par(session, _content(), GESTOR)).id or 0
    approved_on = TODAY - timedelta(days=40)
    await par.record_step(
        session, settings, par_id, 1, StepIn("resolucao_cir", "CIR 12/2026", approved_on.isoformat()), GESTOR, TODAY
    )
    with pytest.raises(Conflict) as exc:  # under pactuação: the content the CIR approved may not change
        await par.put_lines(session, par_id, 1, [LineIn("uf:SC", OCI, PROVIDER_CNES, "2026-01", 5)], GESTOR)
    assert exc.value.code == "versao_imutavel"
    with pytest.raises(ValidationFailed) as exc_v:
        await par.record_step(
            session, settings, par_id, 1, StepIn("aprovacao_saes", "SAES 1", approved_on.isoformat()), GESTOR, TODAY
        )
    assert exc_v.value.errors[0].code == "etapa_fora_de_ordem"
    await par.record_step(
        session, settings, par_id, 1, StepIn("ciencia_cib", "CIB 3/2026", approved_on.isoformat()), GESTOR, TODAY
    )
    await par.record_step(
        session, settings, par_id, 1, StepIn("aprovacao_saes", "SAES 77", approved_on.isoformat()), GESTOR, TODAY
    )
    detail = await par.detail(session, par_id, GESTOR)
    assert detail.bundle.latest.status == "aprovada"
    assert detail.bundle.par.first_approved_on == approved_on
    # The queue scope and the weekly capacity the plan gives the OCI: 20 a month → round(20 / (52/12)) = 5.
    capacity = await session.get(QueueCapacity, (OCI, "region", GRANDE_FLORIANOPOLIS))
    assert capacity is not None and capacity.weekly_capacity == 5 and capacity.source == "par"
    scope = await session.get(RegulationScope, GRANDE_FLORIANOPOLIS)
    assert scope is not None and scope.scope_kind == "region"
    # The plan's monthly quantities as capacity information per establishment
    caps = await par.planned_capacities(session, GESTOR, _month(0))
    assert [(c.cnes, c.oci_code, c.quantity) for c in caps] == [(PROVIDER_CNES, OCI, 20)]
    assert await par.planned_capacities(session, GESTOR_JOINVILLE, _month(0)) == []


async def test_adjustments_are_new_versions_with_a_reason(
    session: AsyncSession, settings: Settings, provider: None
) -> None:
    par_id = (await par.create_par(session, _content(), GESTOR)).id or 0
    first = TODAY - timedelta(days=60)
    await _approve(session, settings, par_id, 1, first)
    base = _content()
    data = VersionCreate(
        scope_kind=base.scope_kind,
        scope_code=base.scope_code,
        diagnosis=base.diagnosis,
        priorities=base.priorities,
        lines=[LineIn("municipality:4205407", OCI, PROVIDER_CNES, f"{_month(0):%Y-%m}", 40)],
    )
    with pytest.raises(ValidationFailed) as exc:
        await par.new_version(session, par_id, data, GESTOR)
    assert exc.value.errors[0].field == "reason"
    data.reason = "Ampliação da oferta de cardiologia após credenciamento."
    v2 = await par.new_version(session, par_id, data, GESTOR)
    assert v2.version == 2 and v2.status == "rascunho"
    with pytest.raises(Conflict):  # one version in preparation at a time
        await par.new_version(session, par_id, data, GESTOR)
    await par.put_lines(
        session, par_id, 2, [LineIn("municipality:4205407", OCI, PROVIDER_CNES, f"{_month(0):%Y-%m}", 52)], GESTOR
    )
    second = TODAY - timedelta(days=5)
    for kind in ("resolucao_cir", "ciencia_cib", "aprovacao_saes"):
        await par.record_step(session, settings, par_id, 2, StepIn(kind, "x", second.isoformat()), GESTOR, TODAY)
    detail = await par.detail(session, par_id, GESTOR)
    assert [v.status for v in detail.bundle.versions] == ["substituida", "aprovada"]
    # the SAES approval of version 1 (two steps after the CIR): an adjustment does not reopen the six-month window
    assert detail.bundle.par.first_approved_on == first + timedelta(days=4)
    assert detail.lines_by_version[detail.bundle.versions[0].id or 0][0].quantity == 20  # the old plan stays
    capacity = await session.get(QueueCapacity, (OCI, "region", GRANDE_FLORIANOPOLIS))
    assert capacity is not None and capacity.weekly_capacity == 12  # 52 a month


async def test_six_month_window_counts_from_the_par_covering_the_municipality(
    session: AsyncSession, settings: Settings, provider: None
) -> None:
    florianopolis = Citizen(
        municipality_ibge="4205407",
        birth_date=date(1970, 1, 1),
        sex="F",
        name="A",
        search_name="A",
        race_color="parda",
        uf="SC",
    )
    joinville = Citizen(
        municipality_ibge="4209102",
        birth_date=date(1970, 1, 1),
        sex="F",
        name="B",
        search_name="B",
        race_color="parda",
        uf="SC",
    )
    await wl.set_scope(session, GRANDE_FLORIANOPOLIS, "region", None)
    assert not await wl.procedure_referrals_open(session, florianopolis, TODAY)
    par_id = (await par.create_par(session, _content(), GESTOR)).id or 0
    await _approve(session, settings, par_id, 1, TODAY - timedelta(days=100))
    assert await wl.procedure_referrals_open(session, florianopolis, TODAY)
    assert not await wl.procedure_referrals_open(session, florianopolis, TODAY + timedelta(days=120))
    # Joinville has no PAR: the region's own configuration still decides (today's behaviour)
    assert not await wl.procedure_referrals_open(session, joinville, TODAY)
    await wl.set_scope(session, "42011", "region", TODAY - timedelta(days=10))
    assert await wl.procedure_referrals_open(session, joinville, TODAY)


async def _range(session: AsyncSession, cnes: str) -> None:
    base = 555_0000
    await numbering.create_range(
        session,
        numbering.RangeInput(cnes, "apac", "pmae", f"42{TODAY:%y}7{base:07d}", f"42{TODAY:%y}7{base + 99:07d}"),
        GESTOR,
    )


async def test_the_ledger_is_fed_by_production_control(
    session: AsyncSession, settings: Settings, make_entry: MakeEntry
) -> None:
    await ensure_establishment(session)
    await _range(session, PROVIDER_CNES)
    par_id = (await par.create_par(session, _content(), GESTOR)).id or 0
    with pytest.raises(Conflict):  # no ledger before approval
        await par.ledger_view(session, par_id, GESTOR, TODAY)
    await _approve(session, settings, par_id, 1, TODAY - timedelta(days=30))
    # Two OCIs concluded at the provider: one within tM, one beyond (tM 60 days).
    for first, last in ((10, 2), (75, 1)):
        care = await make_entry(OCI, authorized_days_ago=first + 5)
        entry_id = care.entry.id or 0
        await execution.record_procedure(session, settings, entry_id, procedure(ECG, first, cbo="225120"), NAVEGADOR)
        await execution.record_procedure(session, settings, entry_id, procedure(CONSULTA, last), NAVEGADOR)
        await execution.conclude(session, settings, entry_id, EXECUTANTE, **RETURN)
    view = await par.ledger_view(session, par_id, GESTOR, TODAY)
    line = view.lines[0]
    ledger = view.ledger
    assert ledger.advance_released and not ledger.commitments_met
    manager = ledger.manager("municipality:4205407")
    assert manager.adequate_value == line.unit_value  # only the OCI concluded within tM
    assert manager.inadequate_value == line.unit_value
    assert ledger.totals.approved == sum(x.value for x in view.lines)
    # The adequate OCI first proves the 30% advance; nothing is earned beyond it yet.
    assert manager.proven == line.unit_value and ledger.totals.earned == 0
    assert view.to_json()["totals"]["approved"] == f"{ledger.totals.approved:.2f}"
    # Transfers and the commitments' assessment reach the ledger
    await par.record_transfer(
        session,
        par_id,
        TransferIn("municipality:4205407", "adiantamento", TODAY.isoformat(), Decimal("100.00")),
        GESTOR,
        TODAY,
    )
    await par.record_commitment(session, par_id, CommitmentIn(TODAY.isoformat(), True), GESTOR, TODAY)
    view = await par.ledger_view(session, par_id, GESTOR, TODAY)
    assert view.ledger.commitments_met
    assert view.ledger.manager("municipality:4205407").advance_paid == Decimal("100.00")
    # Indicators: planned vs executed, tM compliance over the plan's concluded OCIs
    ind = await par.indicators(session, settings, par_id, GESTOR, TODAY)
    assert sum(x.planned_quantity for x in ind.months) == 60
    assert sum(x.executed_quantity for x in ind.months) == 2
    assert sum(x.adequate_quantity for x in ind.months) == 1
    assert (ind.tm.part, ind.tm.whole) == (1, 2)
    assert ind.queue_target == 100 and ind.wait_target_days == 60


async def test_transfers_are_validated_field_by_field(
    session: AsyncSession, settings: Settings, provider: None
) -> None:
    par_id = (await par.create_par(session, _content(), GESTOR)).id or 0
    await _approve(session, settings, par_id, 1, TODAY - timedelta(days=30))
    with pytest.raises(ValidationFailed) as exc:
        await par.record_transfer(
            session,
            par_id,
            TransferIn("municipality:4209102", "bonus", (TODAY + timedelta(days=1)).isoformat(), Decimal("-1")),
            GESTOR,
            TODAY,
        )
    assert {e.field for e in exc.value.errors} == {"kind", "paid_on", "amount"}
    with pytest.raises(ValidationFailed) as exc:  # Joinville executes nothing in this PAR
        await par.record_transfer(
            session,
            par_id,
            TransferIn("municipality:4209102", "producao", TODAY.isoformat(), Decimal("10.005")),
            GESTOR,
            TODAY,
        )
    assert {(e.field, e.code) for e in exc.value.errors} == {
        ("manager", "gestor_nao_executor"),
        ("amount", "valor_invalido"),
    }
    with pytest.raises(PermissionDenied):
        await par.record_transfer(
            session, par_id, TransferIn("uf:SC", "incentivo_1", TODAY.isoformat(), Decimal("180000.00")), AUDITOR, TODAY
        )


async def test_contracts_compare_contracted_delivered_and_regulated(
    session: AsyncSession, settings: Settings, make_entry: MakeEntry
) -> None:
    await ensure_establishment(session)
    await _range(session, PROVIDER_CNES)
    par_id = (await par.create_par(session, _content(), GESTOR)).id or 0
    await _approve(session, settings, par_id, 1, TODAY - timedelta(days=70))
    care = await make_entry(OCI, authorized_days_ago=20)
    entry_id = care.entry.id or 0
    await execution.record_procedure(session, settings, entry_id, procedure(ECG, 3, cbo="225120"), NAVEGADOR)
    await execution.record_procedure(session, settings, entry_id, procedure(CONSULTA, 0), NAVEGADOR)
    await execution.conclude(session, settings, entry_id, EXECUTANTE, **RETURN)
    this_month, last_month = _month(0), _month(1)
    for month, quantity in ((last_month, 10), (this_month, 1)):
        await par.put_contract(
            session,
            par_id,
            ContractIn("CT-1/2026", "municipality:4205407", PROVIDER_CNES, OCI, f"{month:%Y-%m}", quantity),
            GESTOR,
        )
    views = {v.contract.month: v for v in await par.contracts(session, settings, par_id, GESTOR, TODAY)}
    assert views[last_month].month_closed and views[last_month].under_delivered  # 0 of 10
    assert not views[this_month].month_closed and not views[this_month].under_delivered
    assert views[this_month].delivered == 1
    assert views[this_month].regulated == 1  # the entry's booking at the provider this month
    assert views[this_month].contract.value == views[this_month].contract.unit_value
    with pytest.raises(ValidationFailed) as exc:
        await par.put_contract(
            session, par_id, ContractIn("", "municipality:4205407", "7777777", OCI, "2026", -1), GESTOR
        )
    assert {e.field for e in exc.value.errors} == {"contract_number", "cnes", "month", "quantity"}


async def test_cib_and_cit_reports(session: AsyncSession, settings: Settings, provider: None) -> None:
    par_id = (await par.create_par(session, _content(), GESTOR)).id or 0
    await _approve(session, settings, par_id, 1, TODAY - timedelta(days=30))
    file = await par.cib_report(session, settings, par_id, AUDITOR, f"{_month(0):%Y%m}", TODAY)
    assert file.filename == f"par-{par_id}-cib-{_month(0):%Y%m}"
    assert len(file.report.rows) == 1 and file.report.rows[0][4] == 20
    csv_text = reports.to_csv(file.report).decode("utf-8-sig")
    assert csv_text.splitlines()[0].startswith("Gestor executor;OCI;CNES")
    assert reports.to_xlsx(file.report)[:2] == b"PK"
    with pytest.raises(ValidationFailed) as exc:
        await par.cib_report(session, settings, par_id, AUDITOR, "2026-13", TODAY)
    assert exc.value.errors[0].field == "competencia"
    quarter = f"{_month(0).year}Q{(_month(0).month + 2) // 3}"
    cit = await par.cit_report(session, settings, par_id, AUDITOR, quarter, TODAY)
    assert cit.report.rows and any("Fila em" in n for n in cit.report.notes)
    with pytest.raises(ValidationFailed) as exc:
        await par.cit_report(session, settings, par_id, AUDITOR, "2026T5", TODAY)
    assert exc.value.errors[0].field == "trimestre"
