"""Care navigation to the end of an OCI: procedures performed, the tM clock, conclusion and the return to APS.

Rules and their sources:

* The NGC follows each OCI until it concludes in the recommended time and the care returns to APS (Portaria GM/MS
  3.492/2024, art. 10 §4 I); the OCI always includes referral and counter-referral and the transition back to APS
  (art. 5 §2; art. 10 §1 IV and VI) — hence the conclusion records the APS summary and the contrarreferência, and
  the navigator's closing is a step of its own.
* Each procedure is checked against the OCI's composition in SIGTAP (amendment, art. 14 §3 I–II) and the OCI
  concludes under the rule of :mod:`regula.production.composition` (mandatory set + PMAE rule).
* The tM clock runs from the first to the last procedure (amendment, art. 14 §3 III); each procedure recorded
  refreshes the navigators' tR/tM alerts (:mod:`regula.production.alerts`), and recording or concluding issues the
  OCI's APAC number when the establishment has a range (:mod:`regula.production.numbering`).

Who: executante and navegador record procedures (the NGC records what providers report); the conclusion follows
the waitlist's state table (``em_atendimento → concluida``); navegador and regulador close the navigation.
Services flush, never commit: the request, job or command commits.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from regula.access.policy import Jurisdiction, JurisdictionKind
from regula.catalog.schemas import OciSummary
from regula.config import Settings
from regula.core.errors import Conflict, FieldError, NotFound, ValidationFailed
from regula.db.base import utcnow
from regula.navigation.care_loop import issue_counter_referrals
from regula.navigation.service import close_tasks_of_entry
from regula.people.models import Citizen
from regula.production import composition as comp
from regula.production.alerts import ALERT_TASK_KINDS, alerts_for
from regula.production.models import OciExecution, OciProcedure
from regula.production.numbering import issue_for_execution
from regula.production.service import (
    care_times_of,
    ensure_execution,
    entry_cnes,
    get_execution,
    load_oci,
    procedures_of,
    require_access,
)
from regula.providers.models import AgendaSlot, SlotBooking
from regula.waitlist import measures
from regula.waitlist import repository as waitlist_repo
from regula.waitlist import service as wl
from regula.waitlist.models import WaitlistEntry
from regula.waitlist.states import EntryStatus, allowed_targets, check_transition

MIN_RETURN_TEXT: Final = 10
MAX_TEXT: Final = 4000
MAX_QUANTITY: Final = 99
_CID: Final = re.compile(r"^[A-Z][0-9]{2}[0-9X]?$")
_PROCEDURE_SEPARATORS: Final = re.compile(r"[\s.\-]")


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


def territorial(actor: wl.Actor, entry: WaitlistEntry) -> wl.Actor:
    """The actor as the waitlist's transition checks it. The waitlist knows territorial jurisdictions only; a
    provider's CNES jurisdiction was checked before (``service.require_access``: the entry is performed at its
    establishment), so the transition runs with the entry's municipality as the provider's jurisdiction — same person,
    same role."""
    if actor.jurisdiction.kind is not JurisdictionKind.CNES:
        return actor
    place = Jurisdiction(JurisdictionKind.MUNICIPALITY, entry.municipality_ibge)
    return wl.Actor(actor.username, actor.role, actor.user_id, place)


async def view(
    session: AsyncSession, settings: Settings, entry_id: int, actor: wl.Actor, *, today: date | None = None
) -> ExecutionView:
    """The entry's OCI: composition checklist, PMAE rule, procedures, clock (first → last procedure)."""
    entry = await wl.get_entry(session, entry_id)
    execution = await get_execution(session, entry_id)
    await require_access(session, actor, entry, execution)
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
        tr_days=execution.recommended_days if execution else (await care_times_of(session, entry, settings))[0],
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
    await require_access(session, actor, entry, execution)
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
    execution = await ensure_execution(session, entry, oci, default_cnes or cnes, settings)
    if execution.authorization_number is None:
        # The APAC of the OCI: issued from the executing establishment's range when the state gave it one.
        await issue_for_execution(session, entry, execution, actor, quiet=True)
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
    await alerts_for(session, settings, execution, today)
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
    await require_access(session, actor, entry, execution)
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
    await require_access(session, actor, entry, execution)
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
        await issue_for_execution(session, entry, execution, actor, quiet=True)
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
        session, entry_id, EntryStatus.CONCLUIDA.value, territorial(actor, entry), settings, reason_text=note
    )
    await close_tasks_of_entry(session, entry_id, ALERT_TASK_KINDS, "OCI concluída")
    # The contrarreferência reaches the APS teams' worklists (art. 5 §2; art. 10 §1 IV and VI; decision 21).
    citizen = await session.get(Citizen, entry.citizen_id)
    assert citizen is not None
    await issue_counter_referrals(
        session,
        entry,
        citizen,
        findings=summary[:MAX_TEXT],
        conduct=counter[:MAX_TEXT],
        concluded_by=actor.username,
        sent_at=execution.concluded_at,
    )
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
    await require_access(session, actor, entry, execution)
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
