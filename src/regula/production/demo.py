"""Demonstration of care navigation and production control on the Santa Catarina demo data (``regula demo``).

``seed_demo_production`` takes entries the demo left in atendimento and, through the same services a navigator
and a provider use:

* records the procedures of one OCI and concludes it within tM, with the return to APS;
* records the procedures of another OCI across more than tM and concludes it late (the clock says so);
* records the first procedure of a third OCI long enough ago that it is past tR: the navigators get the alert;
* gives the executing establishments an APAC range (a demo range, as the state would distribute), so the OCIs get
  their APAC numbers;
* imports the production the SIA would return for the two concluded OCIs, plus one of their exams billed alone in
  BPA for the same person — the duplicate billing the production check flags.

Idempotent: once the demo production is there (its import file), it does nothing and says so.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from regula.access.policy import Jurisdiction
from regula.audit import service as audit
from regula.catalog.schemas import OciSummary
from regula.config import Settings
from regula.core.errors import DomainError
from regula.people.models import Citizen
from regula.production import alerts, apac, control, execution, numbering, service
from regula.production import composition as comp
from regula.production.models import AuthorizationRange, ProductionImport
from regula.providers.models import Establishment, EstablishmentOffer
from regula.waitlist import measures
from regula.waitlist import service as wl
from regula.waitlist.models import WaitlistEntry

DEMO_IMPORT: Final = "demo-producao-sia.csv"
NAVIGATOR: Final = wl.Actor("navegadora", "navegador", jurisdiction=Jurisdiction.parse("uf:SC"))
PROVIDER: Final = wl.Actor("prestador.demo", "executante", jurisdiction=Jurisdiction.parse("uf:SC"))
MANAGER: Final = wl.Actor("gestor.estadual", "gestor", jurisdiction=Jurisdiction.parse("uf:SC"))
CBO_SPECIALIST: Final = "225125"  # médico clínico
CBO_EXAMS: Final = "225320"  # médico em radiologia e diagnóstico por imagem
RANGE_SIZE: Final = 9999


@dataclass
class DemoProduction:
    created: bool
    within_tm: str | None = None  # protocols
    late: str | None = None
    past_tr: str | None = None
    duplicate_procedure: str | None = None
    competencia: str | None = None
    findings: dict[str, int] = field(default_factory=dict)

    def lines(self) -> list[str]:
        if not self.created:
            return ["Produção de demonstração já carregada; nada foi alterado."]
        out = []
        if self.within_tm:
            out.append(f"OCI concluída dentro do tM: protocolo {self.within_tm}.")
        if self.late:
            out.append(f"OCI concluída fora do tM: protocolo {self.late}.")
        if self.past_tr:
            out.append(f"OCI em execução além do tR (alerta para a navegação): protocolo {self.past_tr}.")
        if self.duplicate_procedure and self.competencia:
            out.append(
                f"Cobrança em duplicidade semeada ({self.duplicate_procedure}): "
                f"`regula production check --competencia {self.competencia}`."
            )
        return out


def completion_plan(oci: OciSummary) -> list[str]:
    """The fewest procedures that conclude the OCI: its mandatory set, one of each required group (the PMAE
    consultation first), and optional exams until the PMAE minimum of different secondaries."""
    codes = [i.code for i in oci.mandatory]
    for group in oci.one_of_groups:
        if not any(i.code in codes for i in group.codes) and group.codes:
            codes.append(group.codes[0].code)
    for item in oci.optional:
        if oci.min_secondaries is None or len(set(codes)) >= oci.min_secondaries:
            break
        if item.code not in codes:
            codes.append(item.code)
    return codes


def _cbo(code: str) -> str:
    return CBO_SPECIALIST if code.startswith("0301") else CBO_EXAMS


async def _executing_cnes(session: AsyncSession, entry: WaitlistEntry) -> str | None:
    found = await service.entry_cnes(session, entry.id or 0)
    if found and await session.get(Establishment, found) is not None:
        return found
    stmt = (
        select(col(EstablishmentOffer.cnes))
        .join(Establishment, col(Establishment.cnes) == col(EstablishmentOffer.cnes))
        .where(col(EstablishmentOffer.oci_code) == entry.oci_code, col(Establishment.uf) == entry.uf)
        .order_by(col(EstablishmentOffer.cnes))
        .limit(1)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def _ensure_range(session: AsyncSession, cnes: str, today: date) -> None:
    existing = (await session.execute(select(AuthorizationRange).where(col(AuthorizationRange.cnes) == cnes))).first()
    if existing is not None:
        return
    # One demo range per establishment: UF 42, this year, digit 7 (PMAE/OCI), a block of sequences per CNES.
    base = (int(hashlib.sha256(cnes.encode()).hexdigest(), 16) % 900 + 1) * 10_000
    first, last = f"42{today:%y}7{base:07d}", f"42{today:%y}7{base + RANGE_SIZE - 1:07d}"
    try:
        await numbering.create_range(
            session,
            numbering.RangeInput(cnes, "apac", "pmae", first, last, "Faixa de demonstração"),
            MANAGER,
        )
    except DomainError:
        return  # an overlapping block: the OCI simply gets no number in the demo


async def _record(
    session: AsyncSession,
    settings: Settings,
    entry: WaitlistEntry,
    cnes: str,
    days: list[tuple[str, int]],
    today: date,
) -> execution.ExecutionView:
    view: execution.ExecutionView | None = None
    for code, days_ago in days:
        data = execution.ProcedureInput(code, today - timedelta(days=days_ago), _cbo(code), cnes=cnes)
        view = await execution.record_procedure(session, settings, entry.id or 0, data, NAVIGATOR, today=today)
    assert view is not None
    return view


async def seed_demo_production(
    session: AsyncSession, settings: Settings, *, today: date | None = None
) -> DemoProduction:
    """See the module docstring. Needs the demo data (entries in atendimento) and the catalog. ``today`` is the
    demo's day — the one ``load_demo_data`` was given — so that tests pin it (nothing may depend on the day they
    run); by default the local date."""
    if audit.get_context(session).source == "unknown":
        audit.set_context(session, audit.AuditContext.system("cli", "regula demo"))
    done = (
        await session.execute(select(ProductionImport).where(col(ProductionImport.filename) == DEMO_IMPORT))
    ).first()
    if done is not None:
        return DemoProduction(created=False)
    today = today or wl.local_today(settings)
    stmt = (
        select(WaitlistEntry)
        .where(col(WaitlistEntry.status) == "em_atendimento", col(WaitlistEntry.authorized_at).is_not(None))
        .order_by(col(WaitlistEntry.authorized_at), col(WaitlistEntry.id))
    )
    candidates = list((await session.execute(stmt)).scalars())
    result = DemoProduction(created=True)
    used: set[int] = set()

    async def pick(min_days: int) -> tuple[WaitlistEntry, str, OciSummary] | None:
        for entry in candidates:
            if entry.id in used or entry.authorized_at is None:
                continue
            if (today - measures.local_date(entry.authorized_at, settings.timezone)).days < min_days:
                continue
            if await service.get_execution(session, entry.id or 0) is not None:
                continue  # the provider's day of the demo (regula.demo.provider_day) already records this one
            cnes = await _executing_cnes(session, entry)
            if cnes is None:
                continue
            used.add(entry.id or 0)
            return entry, cnes, await service.load_oci(session, settings, entry.oci_code, entry.catalog_competencia)
        return None

    concluded: list[tuple[WaitlistEntry, str, execution.ExecutionView]] = []
    # 1. Within tM: the OCI's procedures over a few days, concluded.
    chosen = await pick(12)
    if chosen is not None:
        entry, cnes, oci = chosen
        await _ensure_range(session, cnes, today)
        plan = completion_plan(oci)
        last = max(1, len(plan) - 1)
        schedule = [(c, 10 - (9 * i) // last) for i, c in enumerate(plan)]  # from 10 days ago to yesterday
        view = await _record(session, settings, entry, cnes, schedule, today)
        view = await execution.conclude(
            session,
            settings,
            entry.id or 0,
            PROVIDER,
            aps_summary="Exames e consulta especializada realizados; resultados anexados ao prontuário.",
            counter_referral="Acompanhamento na UBS de origem; reencaminhar se houver piora dos sintomas.",
            today=today,
        )
        result.within_tm = entry.protocol
        concluded.append((entry, cnes, view))
    # 2. Beyond tM: the first exam long ago, the consultation only recently.
    chosen = await pick(75)
    if chosen is not None:
        entry, cnes, oci = chosen
        await _ensure_range(session, cnes, today)
        plan = completion_plan(oci)
        first_day = oci.max_days + 8
        schedule = [(plan[0], first_day)] + [(c, 2) for c in plan[1:]]
        await _record(session, settings, entry, cnes, schedule, today)
        view = await execution.conclude(
            session,
            settings,
            entry.id or 0,
            PROVIDER,
            aps_summary="OCI concluída com atraso: a consulta especializada demorou por falta de agenda.",
            counter_referral="Seguimento na UBS; orientações entregues ao paciente e à equipe.",
            today=today,
        )
        result.late = entry.protocol
        concluded.append((entry, cnes, view))
    # 3. Open, past tR: the navigators' worklist shows the alert.
    chosen = await pick(45)
    if chosen is not None:
        entry, cnes, oci = chosen
        plan = completion_plan(oci)
        await _record(session, settings, entry, cnes, [(plan[0], comp.recommended_days(entry.max_days) + 2)], today)
        await alerts.sweep_alerts(session, settings, today=today)
        result.past_tr = entry.protocol
    # The production the SIA would return for the concluded OCIs, and one exam billed alone as well.
    lines: list[str] = []
    header = ""
    for entry, cnes, view in concluded:
        if view.execution is None or view.execution.last_on is None:
            continue
        export = await apac.apac_lines(session, settings, f"{view.execution.last_on:%Y%m}", cnes)
        mine = [line for line in export.lines if line["protocolo_regula"] == entry.protocol]
        if not mine:
            continue
        export.lines = mine
        text_ = export.production_csv().splitlines()
        header = text_[0]
        lines += text_[1:]
        if result.duplicate_procedure is None:
            exam = next((p for p in view.valid_procedures if not p.procedure_code.startswith("0301")), None)
            exam = exam or view.valid_procedures[0]
            citizen = await session.get(Citizen, entry.citizen_id)
            assert citizen is not None
            competencia = f"{exam.performed_on:%Y%m}"
            lines.append(
                f"{citizen.cns or ''};{citizen.cpf or ''};{exam.procedure_code};{exam.performed_on:%Y-%m-%d};"
                f"{exam.cnes};{competencia};1;;bpa;;{exam.cbo};{exam.cid_code}"
            )
            result.duplicate_procedure = exam.procedure_code
            result.competencia = f"{view.execution.last_on:%Y%m}"
    content = "\r\n".join([header or ";".join(control.COLUMNS), *lines]) + "\r\n"
    await control.import_production(session, content, filename=DEMO_IMPORT, imported_by="regula demo")
    if result.competencia:
        first = min(result.competencia, f"{today - timedelta(days=120):%Y%m}")
        found = await control.check_production(session, settings, MANAGER, competencia=first, until=f"{today:%Y%m}")
        for f in found:
            result.findings[f.code] = result.findings.get(f.code, 0) + 1
    return result
