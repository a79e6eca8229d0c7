"""Care navigation to the end of an OCI: procedures performed, the tM clock, alerts, conclusion and the return to
APS; and the authorization numbers issued from the state's ranges.

Rules and their sources:

* The NGC follows each OCI until it concludes in the recommended time and the care returns to APS (Portaria GM/MS
  3.492/2024, art. 10 §4 I); the OCI always includes referral and counter-referral and the transition back to APS
  (art. 5 §2; art. 10 §1 IV and VI) — hence the conclusion records the APS summary and the contrarreferência, and
  the navigator's closing is a step of its own.
* Each procedure is checked against the OCI's composition in SIGTAP (amendment, art. 14 §3 I–II) and the OCI
  concludes under the rule of :mod:`regula.production.composition` (mandatory set + PMAE rule).
* The tM clock runs from the first to the last procedure (amendment, art. 14 §3 III); navigators are alerted at tR
  and before tM (art. 10 §4 I and IV).
* Care delivered under the complementary component needs an authorization with special numbering (Portaria SAES,
  componente complementar, art. 13–17); the OCI's APAC has its own numbering (art. 16 §2 as amended). Numbers are
  validated when typed in and issued from the ranges the state distributes, never twice.

Who: executante and navegador record procedures (the NGC records what providers report); the conclusion follows
the waitlist's state table (``em_atendimento → concluida``); navegador and regulador close the navigation.
Services flush, never commit: the request, job or command commits.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from regula.access.policy import Jurisdiction, JurisdictionKind
from regula.catalog import service as catalog
from regula.catalog.schemas import OciSummary
from regula.config import Settings
from regula.core.errors import Conflict, FieldError, NotFound, PermissionDenied, ValidationFailed
from regula.db.base import utcnow
from regula.navigation.service import close_tasks_of_entry, open_task_for_entry
from regula.people.models import Citizen
from regula.production import authorization as auth
from regula.production import composition as comp
from regula.production.models import (
    AuthorizationNumber,
    AuthorizationRange,
    OciExecution,
    OciProcedure,
)
from regula.providers.models import AgendaSlot, Establishment, SlotBooking
from regula.territory.reference import UFS, territory
from regula.waitlist import measures
from regula.waitlist import repository as waitlist_repo
from regula.waitlist import service as wl
from regula.waitlist.models import EntryEvent, WaitlistEntry
from regula.waitlist.states import EntryStatus, allowed_targets, check_transition

#: The navigation-task kind of the OCI alerts. The navigation domain has no OCI-specific kind yet (its CHECK
#: constraint lists them): until ``oci_tr`` / ``oci_tm`` are added there, alerts use the tM kind that exists.
ALERT_TASK_KIND_TR: Final = "oci_tr"
ALERT_TASK_KIND_TM: Final = "oci_tm"
ALERT_TASK_KINDS: Final = tuple(dict.fromkeys((ALERT_TASK_KIND_TR, ALERT_TASK_KIND_TM)))

MIN_RETURN_TEXT: Final = 10
MAX_TEXT: Final = 4000
MAX_QUANTITY: Final = 99
_CID: Final = re.compile(r"^[A-Z][0-9]{2}[0-9X]?$")
_PROCEDURE_SEPARATORS: Final = re.compile(r"[\s.\-]")
# Statuses in which an authorization may still be issued for an entry (after authorization, before the end).
AUTHORIZABLE: Final = frozenset({"autorizada", "agendada", "confirmada", "em_atendimento"})
ISSUE_ATTEMPTS: Final = 24


# -- inputs and views ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProcedureInput:
    procedure_code: str
    performed_on: date | str
    cbo: str
    cnes: str | None = None
    cid_code: str | None = None
    quantity: int = 1


@dataclass(frozen=True)
class ExecutionView:
    """Everything a page or the API shows about an entry's OCI."""

    entry: WaitlistEntry
    citizen: Citizen
    oci: OciSummary
    execution: OciExecution | None
    procedures: list[OciProcedure]
    progress: comp.Progress
    can_conclude: bool  # the actor's role may move the entry to concluida now (state table)
    warnings: list[str] = field(default_factory=list)

    @property
    def valid_procedures(self) -> list[OciProcedure]:
        return [p for p in self.procedures if p.status == "valido"]


# -- loading ---------------------------------------------------------------------------------------------------------


async def load_oci(session: AsyncSession, settings: Settings, oci_code: str, competencia: str) -> OciSummary:
    """The OCI as the entry's catalog version defines it; the current version when that one is not stored."""
    try:
        return await catalog.get_oci(session, oci_code, settings, competencia)
    except NotFound as exc:
        if exc.code != "competencia_nao_encontrada":
            raise
        return await catalog.get_oci(session, oci_code, settings)


async def get_execution(session: AsyncSession, entry_id: int, *, for_update: bool = False) -> OciExecution | None:
    stmt = select(OciExecution).where(col(OciExecution.entry_id) == entry_id)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def procedures_of(session: AsyncSession, execution_id: int) -> list[OciProcedure]:
    stmt = (
        select(OciProcedure)
        .where(col(OciProcedure.execution_id) == execution_id)
        .order_by(col(OciProcedure.performed_on), col(OciProcedure.id))
    )
    return list((await session.execute(stmt)).scalars())


async def entry_cnes(session: AsyncSession, entry_id: int) -> str | None:
    """The establishment of the entry's appointment: its latest booking, else the CNES the scheduling event named."""
    stmt = (
        select(col(AgendaSlot.cnes))
        .join(SlotBooking, col(SlotBooking.slot_id) == col(AgendaSlot.id))
        .where(col(SlotBooking.entry_id) == entry_id, col(SlotBooking.status).in_(("ativa", "realizada")))
        .order_by(col(SlotBooking.booked_at).desc())
        .limit(1)
    )
    found = (await session.execute(stmt)).scalar_one_or_none()
    if found:
        return str(found)
    events = (
        select(col(EntryEvent.data))
        .where(col(EntryEvent.entry_id) == entry_id, col(EntryEvent.to_status) == "agendada")
        .order_by(col(EntryEvent.id).desc())
        .limit(1)
    )
    data = (await session.execute(events)).scalar_one_or_none()
    if isinstance(data, dict) and isinstance(data.get("cnes"), str):
        return str(data["cnes"])
    return None


def _covers(actor: wl.Actor, entry: WaitlistEntry, cnes: Sequence[str | None]) -> bool:
    """A user sees an entry of their territory; a provider (CNES jurisdiction) the entries it performs."""
    if actor.jurisdiction.kind is JurisdictionKind.CNES:
        return actor.jurisdiction.code in {c for c in cnes if c}
    return actor.covers(entry.municipality_ibge)


def _territorial(actor: wl.Actor, entry: WaitlistEntry) -> wl.Actor:
    """The actor as the waitlist's transition checks it. The waitlist knows territorial jurisdictions only; a
    provider's CNES jurisdiction was checked here (``_require``: the entry is performed at its establishment), so
    the transition runs with the entry's municipality as the provider's jurisdiction — same person, same role."""
    if actor.jurisdiction.kind is not JurisdictionKind.CNES:
        return actor
    place = Jurisdiction(JurisdictionKind.MUNICIPALITY, entry.municipality_ibge)
    return wl.Actor(actor.username, actor.role, actor.user_id, place)


async def _require(
    session: AsyncSession, actor: wl.Actor, entry: WaitlistEntry, execution: OciExecution | None
) -> None:
    candidates = [execution.cnes if execution else None]
    if actor.jurisdiction.kind is JurisdictionKind.CNES:
        candidates.append(await entry_cnes(session, entry.id or 0))
    if not _covers(actor, entry, candidates):
        raise PermissionDenied(f"Solicitação fora da sua jurisdição ({actor.jurisdiction}).", code="fora_da_jurisdicao")


async def view(
    session: AsyncSession, settings: Settings, entry_id: int, actor: wl.Actor, *, today: date | None = None
) -> ExecutionView:
    """The entry's OCI: composition checklist, PMAE rule, procedures, clock (first → last procedure)."""
    entry = await wl.get_entry(session, entry_id)
    execution = await get_execution(session, entry_id)
    await _require(session, actor, entry, execution)
    return await _view(session, settings, entry, execution, actor, today or wl.local_today(settings))


async def _view(
    session: AsyncSession,
    settings: Settings,
    entry: WaitlistEntry,
    execution: OciExecution | None,
    actor: wl.Actor,
    today: date,
    warnings: list[str] | None = None,
) -> ExecutionView:
    oci = await load_oci(session, settings, entry.oci_code, entry.catalog_competencia)
    procedures = await procedures_of(session, execution.id or 0) if execution else []
    valid = [p for p in procedures if p.status == "valido"]
    progress = comp.evaluate(
        oci,
        [comp.Performed(p.procedure_code, p.quantity, p.performed_on) for p in valid],
        today=today,
        concluded=execution is not None and execution.status == "concluida",
        max_days=execution.max_days if execution else entry.max_days,
    )
    citizen = await session.get(Citizen, entry.citizen_id)
    assert citizen is not None
    can_conclude = EntryStatus.CONCLUIDA in allowed_targets(entry.status, actor.role)
    return ExecutionView(entry, citizen, oci, execution, procedures, progress, can_conclude, warnings or [])


# -- recording procedures ------------------------------------------------------------------------------------------


def parse_date(raw: date | str, field_name: str = "performed_on") -> date:
    if isinstance(raw, date):
        return raw
    text_ = (raw or "").strip()
    try:
        if len(text_) == 10 and text_[2] == "/" and text_[5] == "/":
            return date(int(text_[6:]), int(text_[3:5]), int(text_[:2]))
        return date.fromisoformat(text_)
    except ValueError:
        raise ValidationFailed.for_field(
            field_name, "data_invalida", "Data inválida: use DD/MM/AAAA (ou AAAA-MM-DD)."
        ) from None


def clean_procedure_code(raw: str) -> str:
    return _PROCEDURE_SEPARATORS.sub("", raw or "")


def clean_cid(raw: str) -> str:
    return (raw or "").strip().upper().replace(".", "")


def _check_procedure(
    data: ProcedureInput,
    oci: OciSummary,
    entry: WaitlistEntry,
    default_cnes: str | None,
    today: date,
    tz: str,
) -> tuple[str, str, date, str, str, str, int, list[FieldError]]:
    """Field errors for a procedure, all at once (not the first only)."""
    errors: list[FieldError] = []
    code = clean_procedure_code(data.procedure_code)
    role = ""
    if not (code.isdigit() and len(code) == 10):
        errors.append(
            FieldError("procedure_code", "procedimento_formato", "O código SIGTAP do procedimento tem 10 dígitos.")
        )
    else:
        found = comp.role_of(oci, code)
        if found is None:
            errors.append(
                FieldError(
                    "procedure_code",
                    "procedimento_fora_da_oci",
                    f"O procedimento {code} não faz parte da composição da OCI {oci.code} ({oci.name}) na "
                    f"competência {oci.competencia} do SIGTAP.",
                )
            )
        else:
            role = found
    performed = today
    try:
        performed = parse_date(data.performed_on)
        if performed > today:
            errors.append(FieldError("performed_on", "data_futura", "A data de realização não pode estar no futuro."))
        # the local authorization date (waitlist.measures): a procedure that evening is not "before" it
        authorized = measures.local_date(entry.authorized_at, tz) if entry.authorized_at else None
        if authorized is not None and performed < authorized:
            errors.append(
                FieldError(
                    "performed_on",
                    "data_anterior_a_autorizacao",
                    f"A data de realização ({performed:%d/%m/%Y}) é anterior à autorização da solicitação "
                    f"({authorized:%d/%m/%Y}).",
                )
            )
    except ValidationFailed as exc:
        errors.extend(exc.errors)
    cnes = (data.cnes or "").strip() or (default_cnes or "")
    if not cnes:
        errors.append(FieldError("cnes", "obrigatorio", "Informe o CNES do estabelecimento que realizou."))
    elif not (cnes.isdigit() and len(cnes) == 7):
        errors.append(FieldError("cnes", "cnes_formato", "CNES tem 7 dígitos."))
    cbo = (data.cbo or "").strip().replace("-", "").replace(".", "")
    if not cbo:
        errors.append(FieldError("cbo", "obrigatorio", "Informe o CBO do profissional que realizou."))
    elif not (cbo.isdigit() and len(cbo) == 6):
        errors.append(FieldError("cbo", "cbo_formato", "CBO tem 6 dígitos (por exemplo, 225125)."))
    cid = clean_cid(data.cid_code or "") or entry.cid_code
    if not _CID.match(cid):
        errors.append(FieldError("cid_code", "cid_formato", "CID-10 no formato letra e números, por exemplo N63."))
    elif oci.cids and not any(cid == c or cid.startswith(c) for c in oci.cids):
        errors.append(
            FieldError("cid_code", "cid_nao_aceito", f"O CID {cid} não é aceito pela OCI {oci.code} no SIGTAP.")
        )
    if not 1 <= data.quantity <= MAX_QUANTITY:
        errors.append(FieldError("quantity", "quantidade_invalida", f"A quantidade vai de 1 a {MAX_QUANTITY}."))
    return code, role, performed, cnes, cbo, cid, data.quantity, errors


async def _ensure_execution(
    session: AsyncSession, entry: WaitlistEntry, oci: OciSummary, cnes: str | None
) -> OciExecution:
    existing = await get_execution(session, entry.id or 0, for_update=True)
    if existing is not None:
        if existing.cnes is None and cnes:
            existing.cnes = cnes
        return existing
    execution = OciExecution(
        entry_id=entry.id or 0,
        citizen_id=entry.citizen_id,
        oci_code=entry.oci_code,
        catalog_competencia=oci.competencia,
        cnes=cnes,
        max_days=entry.max_days,
        recommended_days=comp.recommended_days(entry.max_days),
        aps_cnes=entry.requesting_cnes,
        municipality_ibge=entry.municipality_ibge,
        uf=entry.uf,
    )
    session.add(execution)
    await session.flush()
    return execution


async def record_procedure(
    session: AsyncSession,
    settings: Settings,
    entry_id: int,
    data: ProcedureInput,
    actor: wl.Actor,
    *,
    today: date | None = None,
) -> ExecutionView:
    """Record a procedure performed for an entry in atendimento. Refused (field errors) when the procedure is not
    part of the OCI's composition; accepted but flagged when it goes beyond SIGTAP's allowed quantity."""
    today = today or wl.local_today(settings)
    entry = await wl.get_entry(session, entry_id, for_update=True)
    execution = await get_execution(session, entry_id)
    booked_cnes = await entry_cnes(session, entry_id)
    await _require(session, actor, entry, execution)
    if entry.status != EntryStatus.EM_ATENDIMENTO.value:
        raise Conflict(
            "Os procedimentos da OCI são registrados com a solicitação em atendimento "
            f"(situação atual: {entry.status}). Inicie o atendimento primeiro.",
            code="entrada_fora_de_atendimento",
            extra={"status": entry.status},
        )
    if execution is not None and execution.status != "em_execucao":
        raise Conflict("Esta OCI já foi encerrada.", code="oci_encerrada")
    oci = await load_oci(session, settings, entry.oci_code, entry.catalog_competencia)
    default_cnes = (execution.cnes if execution else None) or booked_cnes
    code, role, performed, cnes, cbo, cid, quantity, errors = _check_procedure(
        data, oci, entry, default_cnes, today, settings.timezone
    )
    if errors:
        raise ValidationFailed("Procedimento inválido.", errors=errors)
    execution = await _ensure_execution(session, entry, oci, default_cnes or cnes)
    if execution.authorization_number is None:
        # The APAC of the OCI: issued from the executing establishment's range when the state gave it one.
        await _issue_for_execution(session, entry, execution, actor, quiet=True)
    previous = [p for p in await procedures_of(session, execution.id or 0) if p.status == "valido"]
    item = comp.composition_items(oci)[code]
    done = sum(p.quantity for p in previous if p.procedure_code == code) + quantity
    above = item.qty is not None and done > item.qty
    procedure = OciProcedure(
        execution_id=execution.id or 0,
        entry_id=entry_id,
        procedure_code=code,
        procedure_name=item.name,
        role=role,
        performed_on=performed,
        cnes=cnes,
        cbo=cbo,
        cid_code=cid,
        quantity=quantity,
        above_quantity=above,
        recorded_by=actor.username,
        municipality_ibge=entry.municipality_ibge,
        uf=entry.uf,
    )
    session.add(procedure)
    await session.flush()
    _refresh_dates(execution, [*previous, procedure])
    await session.flush()
    await _alerts_for(session, settings, execution, today)
    warnings = []
    if above:
        warnings.append(
            f"O procedimento {code} foi registrado {done} vezes; o SIGTAP permite {item.qty} nesta OCI. "
            "O registro foi aceito e sinalizado para o controle da produção."
        )
    return await _view(session, settings, entry, execution, actor, today, warnings)


def _refresh_dates(execution: OciExecution, valid: Sequence[OciProcedure]) -> None:
    dates = [p.performed_on for p in valid if p.status == "valido"]
    execution.first_on = min(dates) if dates else None
    execution.last_on = max(dates) if dates else None
    execution.updated_at = utcnow()


async def void_procedure(
    session: AsyncSession,
    settings: Settings,
    procedure_id: int,
    reason: str,
    actor: wl.Actor,
    *,
    today: date | None = None,
) -> ExecutionView:
    """Void a procedure recorded by mistake (it stays, marked ``anulado``, with who, when and why)."""
    procedure = await session.get(OciProcedure, procedure_id, with_for_update=True)
    if procedure is None:
        raise NotFound("Procedimento não encontrado.", code="procedimento_nao_encontrado")
    entry = await wl.get_entry(session, procedure.entry_id)
    execution = await get_execution(session, procedure.entry_id, for_update=True)
    assert execution is not None
    await _require(session, actor, entry, execution)
    if execution.status != "em_execucao":
        raise Conflict("Esta OCI já foi encerrada; seus procedimentos não mudam mais.", code="oci_encerrada")
    if procedure.status != "valido":
        raise Conflict("Este procedimento já foi anulado.", code="procedimento_ja_anulado")
    why = (reason or "").strip()
    if len(why) < 5:
        raise ValidationFailed.for_field("reason", "motivo_obrigatorio", "Informe por que o registro é anulado.")
    procedure.status = "anulado"
    procedure.voided_by = actor.username
    procedure.voided_at = utcnow()
    procedure.void_reason = why[:MAX_TEXT]
    await session.flush()
    _refresh_dates(execution, await procedures_of(session, execution.id or 0))
    await session.flush()
    return await _view(session, settings, entry, execution, actor, today or wl.local_today(settings))


# -- conclusion and the return to APS --------------------------------------------------------------------------------


async def conclude(
    session: AsyncSession,
    settings: Settings,
    entry_id: int,
    actor: wl.Actor,
    *,
    aps_summary: str,
    counter_referral: str,
    today: date | None = None,
) -> ExecutionView:
    """Conclude the OCI: its mandatory set is complete and the PMAE rule holds. Records the summary for APS and
    the contrarreferência (art. 5 §2), the first-to-last span against tM (amendment, art. 14 §3 III), and moves
    the entry to ``concluida`` through the waitlist's state table."""
    today = today or wl.local_today(settings)
    entry = await wl.get_entry(session, entry_id, for_update=True)
    execution = await get_execution(session, entry_id, for_update=True)
    await _require(session, actor, entry, execution)
    if execution is not None and execution.status == "concluida":
        raise Conflict("Esta OCI já foi concluída.", code="oci_ja_concluida")
    # Who may conclude is the state table's decision; ask it before writing anything.
    check_transition(entry.status, EntryStatus.CONCLUIDA, actor.role)
    errors: list[FieldError] = []
    summary = (aps_summary or "").strip()
    counter = (counter_referral or "").strip()
    if len(summary) < MIN_RETURN_TEXT:
        errors.append(
            FieldError(
                "aps_summary",
                "resumo_obrigatorio",
                "Escreva o resumo do cuidado para a APS (mínimo de 10 letras): o que foi feito e o resultado.",
            )
        )
    if len(counter) < MIN_RETURN_TEXT:
        errors.append(
            FieldError(
                "counter_referral",
                "contrarreferencia_obrigatoria",
                "Escreva a contrarreferência para a equipe da APS (mínimo de 10 letras): conduta e seguimento.",
            )
        )
    current = await _view(session, settings, entry, execution, actor, today)
    if not current.valid_procedures:
        errors.append(FieldError("procedimentos", "oci_incompleta", "Nenhum procedimento da OCI foi registrado ainda."))
    elif not current.progress.complete:
        errors.extend(FieldError("procedimentos", "oci_incompleta", message) for message in current.progress.missing)
    if errors:
        incomplete = any(e.code == "oci_incompleta" for e in errors)
        raise ValidationFailed(
            "A OCI ainda não pode ser concluída." if incomplete else "Dados da conclusão incompletos.",
            code="oci_incompleta" if incomplete else "dados_invalidos",
            errors=errors,
        )
    assert execution is not None  # complete implies procedures, which imply an execution
    if execution.authorization_number is None:
        await _issue_for_execution(session, entry, execution, actor, quiet=True)
    clock = current.progress.clock
    execution.status = "concluida"
    execution.concluded_at = utcnow()
    execution.concluded_by = actor.username
    execution.span_days = clock.span_days
    # Amendment to Portaria GM/MS 3.492/2024, art. 14 §3 III: first → last procedure within tM (waitlist.measures,
    # the definition the manager's dashboard counts too).
    execution.within_tm = (
        clock.first_on is not None
        and clock.last_on is not None
        and measures.within_tm(clock.first_on, clock.last_on, execution.max_days)
    )
    execution.aps_summary = summary[:MAX_TEXT]
    execution.counter_referral = counter[:MAX_TEXT]
    execution.aps_cnes = execution.aps_cnes or entry.requesting_cnes
    execution.updated_at = utcnow()
    await session.flush()
    timing = "dentro" if execution.within_tm else "fora"
    note = (
        f"OCI concluída: {clock.span_days} dias do primeiro ao último procedimento ({timing} do tM de "
        f"{execution.max_days} dias). Contrarreferência enviada à APS (CNES {execution.aps_cnes})."
    )
    entry = await wl.transition(
        session, entry_id, EntryStatus.CONCLUIDA.value, _territorial(actor, entry), settings, reason_text=note
    )
    await close_tasks_of_entry(session, entry_id, ALERT_TASK_KINDS, "OCI concluída")
    booking = (
        await session.execute(
            select(SlotBooking).where(col(SlotBooking.entry_id) == entry_id, col(SlotBooking.status) == "ativa")
        )
    ).scalar_one_or_none()
    if booking is not None:
        booking.status = "realizada"  # the place was used: it stays counted in the slot
        await session.flush()
    return await _view(session, settings, entry, execution, actor, today)


async def close_navigation(
    session: AsyncSession,
    settings: Settings,
    entry_id: int,
    actor: wl.Actor,
    note: str,
    *,
    today: date | None = None,
) -> ExecutionView:
    """The navigator's closing: the care is back with the APS team (art. 10 §1 VI, §4 I)."""
    entry = await wl.get_entry(session, entry_id)
    execution = await get_execution(session, entry_id, for_update=True)
    await _require(session, actor, entry, execution)
    if execution is None or execution.status != "concluida":
        raise Conflict("O encerramento da navegação vem depois da conclusão da OCI.", code="oci_nao_concluida")
    if execution.navigator_closed_at is not None:
        raise Conflict("A navegação desta OCI já foi encerrada.", code="navegacao_ja_encerrada")
    text_ = (note or "").strip()
    if len(text_) < MIN_RETURN_TEXT:
        raise ValidationFailed.for_field(
            "note",
            "encerramento_obrigatorio",
            "Registre como o cuidado voltou à APS (contato com a equipe, próxima consulta na UBS), mínimo de 10 "
            "letras.",
        )
    execution.navigator_closed_at = utcnow()
    execution.navigator_closed_by = actor.username
    execution.navigator_note = text_[:MAX_TEXT]
    execution.updated_at = utcnow()
    await session.flush()
    await close_tasks_of_entry(session, entry_id, ALERT_TASK_KINDS, "Navegação encerrada: cuidado de volta à APS")
    return await _view(session, settings, entry, execution, actor, today or wl.local_today(settings))


# -- alerts ------------------------------------------------------------------------------------------------------------


def _due(settings: Settings, day: date) -> datetime:
    return datetime.combine(day, time(23, 59), ZoneInfo(settings.timezone))


async def _alerts_for(session: AsyncSession, settings: Settings, execution: OciExecution, today: date) -> int:
    """Open (or refresh) the navigators' task for an open OCI past tR, close to tM or past tM. Each level is
    announced once (the timestamps on the execution)."""
    if execution.status != "em_execucao" or execution.first_on is None:
        return 0
    elapsed = (today - execution.first_on).days
    tm, tr = execution.max_days, execution.recommended_days
    deadline = execution.first_on + timedelta(days=tm)
    now = utcnow()
    kind: str | None = None
    detail = ""
    if elapsed > tm and execution.tm_exceeded_at is None:
        kind, detail = (
            ALERT_TASK_KIND_TM,
            f"OCI {execution.oci_code} passou do tempo máximo (tM de {tm} dias): {elapsed} dias desde o primeiro "
            "procedimento sem conclusão. Verifique o que falta e registre o motivo.",
        )
        execution.tm_exceeded_at = now
        execution.tm_warning_at = execution.tm_warning_at or now
        execution.tr_alert_at = execution.tr_alert_at or now
    elif elapsed >= comp.tm_warning_day(tm) and elapsed <= tm and execution.tm_warning_at is None:
        kind, detail = (
            ALERT_TASK_KIND_TM,
            f"OCI {execution.oci_code} perto do tempo máximo: faltam {tm - elapsed} dias para o tM de {tm} dias "
            f"(prazo {deadline:%d/%m/%Y}).",
        )
        execution.tm_warning_at = now
        execution.tr_alert_at = execution.tr_alert_at or now
    elif tr <= elapsed < comp.tm_warning_day(tm) and execution.tr_alert_at is None:
        kind, detail = (
            ALERT_TASK_KIND_TR,
            f"OCI {execution.oci_code} passou do tempo recomendado (tR de {tr} dias) sem conclusão: {elapsed} dias "
            f"desde o primeiro procedimento; tM em {deadline:%d/%m/%Y}.",
        )
        execution.tr_alert_at = now
    if kind is None:
        return 0
    await session.flush()
    if kind == ALERT_TASK_KIND_TM:
        # One alert per OCI on the worklist: the tM alert supersedes the tR one.
        await close_tasks_of_entry(session, execution.entry_id, (ALERT_TASK_KIND_TR,), "Substituída pelo alerta de tM")
    await open_task_for_entry(session, kind, execution.entry_id, detail, due_at=_due(settings, deadline))
    return 1


async def sweep_alerts(session: AsyncSession, settings: Settings, *, today: date | None = None) -> dict[str, int]:
    """The daily pass over open OCIs (``production.jobs.oci_alerts``)."""
    today = today or wl.local_today(settings)
    stmt = (
        select(OciExecution)
        .where(col(OciExecution.status) == "em_execucao", col(OciExecution.first_on).is_not(None))
        .where(col(OciExecution.tm_exceeded_at).is_(None))
        .order_by(col(OciExecution.id))
        .with_for_update(skip_locked=True)
    )
    executions = list((await session.execute(stmt)).scalars())
    opened = 0
    for execution in executions:
        opened += await _alerts_for(session, settings, execution, today)
    return {"open_ocis": len(executions), "alerts": opened}


# -- listing -----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExecutionRow:
    entry: WaitlistEntry
    citizen_name: str
    execution: OciExecution | None


async def list_in_care(
    session: AsyncSession, actor: wl.Actor, *, status: str = "em_atendimento", limit: int = 300
) -> list[ExecutionRow]:
    """Entries in atendimento (or concluded) in the actor's territory, with their OCI execution if any."""
    stmt = (
        select(WaitlistEntry, Citizen, OciExecution)
        .join(Citizen, col(Citizen.id) == col(WaitlistEntry.citizen_id))
        .outerjoin(OciExecution, col(OciExecution.entry_id) == col(WaitlistEntry.id))
        .where(col(WaitlistEntry.status) == status)
        .limit(limit)
    )
    if status == "em_atendimento":  # the oldest clocks first
        stmt = stmt.order_by(col(OciExecution.first_on).asc().nulls_last(), col(WaitlistEntry.status_changed_at))
    else:  # the latest conclusions first
        stmt = stmt.order_by(col(WaitlistEntry.status_changed_at).desc())
    if actor.jurisdiction.kind is JurisdictionKind.CNES:
        code = actor.jurisdiction.code
        booked = (
            select(col(SlotBooking.entry_id))
            .join(AgendaSlot, col(AgendaSlot.id) == col(SlotBooking.slot_id))
            .where(col(AgendaSlot.cnes) == code)
        )
        stmt = stmt.where((col(OciExecution.cnes) == code) | col(WaitlistEntry.id).in_(booked))
    else:
        stmt = stmt.where(waitlist_repo.readable(actor))
    rows = (await session.execute(stmt)).all()
    return [ExecutionRow(e, c.social_name or c.name, x) for e, c, x in rows]


# -- authorization numbers -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RangeInput:
    cnes: str
    instrument: str
    program: str
    first: str  # whole numbers (13 / 25 characters) or without the check digit (12 / 24)
    last: str
    note: str | None = None


def _uf_code(uf: str) -> str | None:
    found = UFS.get(uf)
    return found[0] if found else None


async def create_range(session: AsyncSession, data: RangeInput, actor: wl.Actor) -> AuthorizationRange:
    """Register a range the state gave an establishment. Ranges never overlap (one lock, one check)."""
    est = await session.get(Establishment, (data.cnes or "").strip())
    if est is None:
        raise ValidationFailed.for_field("cnes", "estabelecimento_desconhecido", "Estabelecimento não cadastrado.")
    place = territory().municipality(est.municipality_ibge)
    if actor.jurisdiction.kind is not JurisdictionKind.NATIONAL and not actor.jurisdiction.covers_place(
        place, est.cnes
    ):
        raise PermissionDenied("Estabelecimento fora da sua jurisdição.", code="fora_da_jurisdicao")
    bounds = auth.range_bounds(
        data.instrument,
        data.program,
        data.first,
        data.last,
        uf_code=_uf_code(est.uf) if data.instrument != "cmd" else None,
    )
    # Ranges are rare and small: a table lock makes the overlap check exact under concurrency.
    await session.execute(text("LOCK TABLE authorization_range IN SHARE ROW EXCLUSIVE MODE"))
    overlap = (
        await session.execute(
            select(AuthorizationRange).where(
                col(AuthorizationRange.prefix) == bounds.prefix,
                col(AuthorizationRange.first_seq) <= bounds.last_seq,
                col(AuthorizationRange.last_seq) >= bounds.first_seq,
            )
        )
    ).scalar_one_or_none()
    if overlap is not None:
        raise Conflict(
            f"A faixa se sobrepõe a outra já cadastrada (CNES {overlap.cnes}).",
            code="faixa_sobreposta",
            extra={"range_id": overlap.id},
        )
    row = AuthorizationRange(
        instrument=data.instrument,
        program=data.program,
        cnes=est.cnes,
        uf=est.uf,
        prefix=bounds.prefix,
        first_seq=bounds.first_seq,
        last_seq=bounds.last_seq,
        next_seq=bounds.first_seq,
        note=(data.note or "").strip() or None,
        created_by=actor.username,
    )
    session.add(row)
    await session.flush()
    return row


async def list_ranges(session: AsyncSession, actor: wl.Actor, cnes: str | None = None) -> list[AuthorizationRange]:
    stmt = select(AuthorizationRange).order_by(col(AuthorizationRange.cnes), col(AuthorizationRange.id))
    if cnes:
        stmt = stmt.where(col(AuthorizationRange.cnes) == cnes)
    rows = list((await session.execute(stmt)).scalars())
    if actor.jurisdiction.kind is JurisdictionKind.NATIONAL:
        return rows
    ests = {e.cnes: e for e in (await session.execute(select(Establishment))).scalars()}
    t = territory()
    return [
        r
        for r in rows
        if r.cnes in ests and actor.jurisdiction.covers_place(t.municipality(ests[r.cnes].municipality_ibge), r.cnes)
    ]


def program_for(est: Establishment | None) -> str:
    """The program of an establishment's OCI authorizations: the complementary component for its modalities
    (habilitações 38.02–38.04), PMAE otherwise."""
    return "complementar" if est is not None and est.kind.startswith("complementar") else "pmae"


async def pick_range(session: AsyncSession, cnes: str, instrument: str, program: str) -> AuthorizationRange | None:
    stmt = (
        select(AuthorizationRange)
        .where(
            col(AuthorizationRange.cnes) == cnes,
            col(AuthorizationRange.instrument) == instrument,
            col(AuthorizationRange.program) == program,
            col(AuthorizationRange.status) == "ativa",
            col(AuthorizationRange.next_seq) <= col(AuthorizationRange.last_seq),
        )
        .order_by(col(AuthorizationRange.id))
        .limit(1)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def issue_number(
    session: AsyncSession,
    range_id: int,
    actor: wl.Actor,
    *,
    entry: WaitlistEntry | None = None,
) -> AuthorizationNumber:
    """The next number of a range. The sequence is taken with one conditional UPDATE (row lock), so concurrent
    callers get different sequences; a number already known (typed in by hand earlier) is skipped, and so are
    APAC/AIH sequences whose check digit would be the ambiguous remainder 10."""
    for _ in range(ISSUE_ATTEMPTS):
        taken = (
            await session.execute(
                text(
                    "UPDATE authorization_range SET next_seq = next_seq + 1, updated_at = now() "
                    "WHERE id = :id AND status = 'ativa' AND next_seq <= last_seq "
                    "RETURNING next_seq - 1 AS seq, prefix, instrument, program, cnes, uf"
                ),
                {"id": range_id},
            )
        ).first()
        if taken is None:
            exists = await session.get(AuthorizationRange, range_id)
            if exists is None:
                raise NotFound("Faixa de numeração não encontrada.", code="faixa_nao_encontrada")
            raise Conflict(
                "A faixa de numeração se esgotou (ou foi encerrada): peça uma nova faixa ao gestor estadual.",
                code="faixa_esgotada",
                extra={"range_id": range_id},
            )
        if not auth.issuable(taken.instrument, taken.prefix, int(taken.seq)):
            continue
        number = AuthorizationNumber(
            number=auth.compose(taken.instrument, taken.prefix, int(taken.seq)),
            instrument=taken.instrument,
            program=taken.program,
            source="emitida",
            range_id=range_id,
            cnes=taken.cnes,
            entry_id=entry.id if entry else None,
            citizen_id=entry.citizen_id if entry else None,
            oci_code=entry.oci_code if entry else None,
            issued_by=actor.username,
            uf=entry.uf if entry else taken.uf,
            municipality_ibge=entry.municipality_ibge if entry else None,
        )
        try:
            async with session.begin_nested():
                session.add(number)
                await session.flush()
        except IntegrityError:
            continue  # someone typed this number in by hand: take the next one
        return number
    raise Conflict("Não foi possível emitir um número nesta faixa.", code="faixa_sem_numero_livre")


async def _issue_for_execution(
    session: AsyncSession,
    entry: WaitlistEntry,
    execution: OciExecution,
    actor: wl.Actor,
    *,
    quiet: bool,
) -> AuthorizationNumber | None:
    """The OCI's APAC number from the executing establishment's range; None (quiet) when there is none."""
    if execution.cnes is None:
        if quiet:
            return None
        raise ValidationFailed.for_field("cnes", "obrigatorio", "Informe o estabelecimento executante (CNES).")
    est = await session.get(Establishment, execution.cnes)
    found = await pick_range(session, execution.cnes, "apac", program_for(est))
    if found is None:
        if quiet:
            return None
        raise Conflict(
            f"O estabelecimento {execution.cnes} não tem faixa de numeração APAC ativa do programa "
            f"{auth.PROGRAM_LABELS_PT[program_for(est)]}.",
            code="faixa_inexistente",
        )
    number = await issue_number(session, found.id or 0, actor, entry=entry)
    execution.authorization_number = number.number
    execution.updated_at = utcnow()
    await session.flush()
    return number


async def authorize_entry(
    session: AsyncSession,
    settings: Settings,
    entry_id: int,
    actor: wl.Actor,
    *,
    number: str | None = None,
    cnes: str | None = None,
) -> AuthorizationNumber:
    """The APAC authorization of an entry's OCI: a number typed in from another system (validated: format, check
    digit, program digit, never used before) or the next number of the executing establishment's range."""
    entry = await wl.get_entry(session, entry_id, for_update=True)
    execution = await get_execution(session, entry_id, for_update=True)
    await _require(session, actor, entry, execution)
    if entry.status not in AUTHORIZABLE:
        raise Conflict(
            f"Só se emite autorização para solicitações autorizadas ou em andamento (situação: {entry.status}).",
            code="entrada_nao_autorizavel",
        )
    if execution is not None and execution.authorization_number is not None:
        raise Conflict(
            "A OCI desta solicitação já tem autorização "
            f"({auth.format_authorization(execution.authorization_number)}).",
            code="autorizacao_existente",
        )
    if cnes is not None and not (cnes.isdigit() and len(cnes) == 7):
        raise ValidationFailed.for_field("cnes", "cnes_formato", "CNES tem 7 dígitos.")
    where = cnes or (execution.cnes if execution else None) or await entry_cnes(session, entry_id)
    oci = await load_oci(session, settings, entry.oci_code, entry.catalog_competencia)
    execution = await _ensure_execution(session, entry, oci, where)
    if number is None:
        issued = await _issue_for_execution(session, entry, execution, actor, quiet=False)
        assert issued is not None
        return issued
    est = await session.get(Establishment, where) if where else None
    parsed = auth.parse_authorization(number, field="number", instrument="apac", program=program_for(est))
    taken = (
        await session.execute(select(AuthorizationNumber).where(col(AuthorizationNumber.number) == parsed.number))
    ).scalar_one_or_none()
    if taken is not None:
        raise Conflict(
            f"O número {parsed.formatted} já está em uso.", code="autorizacao_duplicada", extra={"id": taken.id}
        )
    row = AuthorizationNumber(
        number=parsed.number,
        instrument=parsed.instrument,
        program=parsed.program,
        source="informada",
        cnes=where,
        entry_id=entry.id,
        citizen_id=entry.citizen_id,
        oci_code=entry.oci_code,
        issued_by=actor.username,
        uf=entry.uf,
        municipality_ibge=entry.municipality_ibge,
    )
    session.add(row)
    await session.flush()
    execution.authorization_number = parsed.number
    execution.updated_at = utcnow()
    await session.flush()
    return row


def execution_summary(v: ExecutionView) -> dict[str, Any]:
    """A plain dict of the view (CLI, logs)."""
    clock = v.progress.clock
    return {
        "entry_id": v.entry.id,
        "protocol": v.entry.protocol,
        "oci": v.oci.code,
        "status": v.execution.status if v.execution else None,
        "complete": v.progress.complete,
        "first_on": clock.first_on,
        "last_on": clock.last_on,
        "span_days": clock.span_days,
        "tm": clock.max_days,
        "within_tm": clock.within_tm,
    }
