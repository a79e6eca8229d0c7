"""Reads of waitlist entries shared by the operator's and the APS team's pages: filtered lists limited to the
user's territory, one entry with everything a person needs to decide about it, and the workflow actions the
user's role may take, as forms."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from regula.access.service import Principal
from regula.audit.service import record_list_read, record_read
from regula.catalog.service import get_oci
from regula.config import Settings
from regula.core.errors import DomainError, NotFound
from regula.people import documents
from regula.people.models import Citizen
from regula.people.service import age_on, legal_priorities
from regula.providers.models import AgendaSlot, Establishment, SlotBooking
from regula.territory.reference import search_key
from regula.waitlist import priority
from regula.waitlist import service as wl
from regula.waitlist.models import EntryEvent, WaitlistEntry
from regula.waitlist.states import (
    CANCEL_REASON_LABELS_PT,
    STATUS_LABELS_PT,
    SUSPEND_REASON_LABELS_PT,
    TRANSITIONS,
    EntryStatus,
    ReasonKind,
    TransitionRule,
    allowed_targets,
)
from regula.web import common
from regula.web.protocols import item_label

S = EntryStatus
_RULES: dict[tuple[EntryStatus, EntryStatus], TransitionRule] = {(r.source, r.target): r for r in TRANSITIONS}

# Status filters people use: one status, or a group of them.
STATUS_GROUPS: dict[str, tuple[str, tuple[str, ...]]] = {
    "analise": ("Para análise (solicitada ou em análise)", (S.SOLICITADA.value, S.EM_ANALISE.value)),
    "agendadas": ("Agendadas ou confirmadas", (S.AGENDADA.value, S.CONFIRMADA.value)),
    "em_regulacao": (
        "Em regulação (enviadas, em análise ou aguardando teleconsultoria)",
        (S.AGUARDANDO_TELECONSULTA.value, S.SOLICITADA.value, S.EM_ANALISE.value),
    ),
    "em_cuidado": (
        "Agendadas, confirmadas ou em atendimento",
        (S.AGENDADA.value, S.CONFIRMADA.value, S.EM_ATENDIMENTO.value),
    ),
    "encerradas": (
        "Encerradas (concluídas, negadas, canceladas ou transferidas)",
        (S.CONCLUIDA.value, S.NEGADA.value, S.CANCELADA.value, S.TRANSFERIDA.value),
    ),
}
ALL = "todas"


def status_values(choice: str | None) -> tuple[str, ...] | None:
    """The statuses a filter value stands for; None for every status."""
    if not choice or choice == ALL:
        return None
    if choice in STATUS_GROUPS:
        return STATUS_GROUPS[choice][1]
    try:
        return (EntryStatus(choice).value,)
    except ValueError:
        return None


def status_options(groups: tuple[str, ...]) -> list[tuple[str, str]]:
    return [(g, STATUS_GROUPS[g][0]) for g in groups] + [(s.value, STATUS_LABELS_PT[s]) for s in EntryStatus]


@dataclass(frozen=True)
class EntryFilters:
    oci: str | None = None
    municipality: str | None = None
    status: str | None = None
    risk: str | None = None
    queue: str | None = None
    created_by: str | None = None
    search: str | None = None  # protocol or part of the name


@dataclass(frozen=True)
class EntryRow:
    entry: WaitlistEntry
    citizen_name: str
    days_waiting: int | None
    clock: dict[str, Any] | None
    appointment: datetime | None = None  # the booked slot, while the entry holds one


def _conditions(p: Principal, f: EntryFilters) -> list[ColumnElement[bool]]:
    e, c = WaitlistEntry, Citizen
    where: list[ColumnElement[bool]] = []
    allowed = wl.Actor.of(p).municipality_filter()
    if allowed is not None:
        # Pages list only residents of the user's territory (the services check each record as well).
        where.append(col(e.municipality_ibge).in_(allowed))
    if f.oci:
        where.append(col(e.oci_code) == f.oci)
    if f.municipality:
        where.append(col(e.municipality_ibge) == f.municipality)
    statuses = status_values(f.status)
    if statuses is not None:
        where.append(col(e.status).in_(statuses))
    if f.risk:
        where.append(col(e.risk_class) == f.risk)
    if f.queue:
        try:
            key = wl.QueueKey.parse(f.queue)
        except DomainError:
            key = None
        if key is not None:
            where += [
                col(e.oci_code) == key.oci_code,
                col(e.scope_kind) == key.scope_kind,
                col(e.scope_code) == key.scope_code,
            ]
    if f.created_by:
        where.append(col(e.created_by) == f.created_by)
    if f.search:
        text = f.search.strip()
        if text.upper().isalnum() and any(ch.isdigit() for ch in text):
            where.append(col(e.protocol) == text.upper())
        else:
            where.append(col(c.search_name).contains(search_key(text)))
    return where


async def list_entries(
    session: AsyncSession,
    settings: Settings,
    p: Principal,
    f: EntryFilters,
    page: int,
    order: str = "queue",
) -> tuple[list[EntryRow], common.Page]:
    e, c = WaitlistEntry, Citizen
    base = select(e, col(c.name), col(c.social_name)).join(c, col(c.id) == col(e.citizen_id))
    where = _conditions(p, f)
    stmt = base.where(*where)
    count_stmt = select(func.count()).select_from(e).join(c, col(c.id) == col(e.citizen_id)).where(*where)
    total = int((await session.execute(count_stmt)).scalar_one())
    match order:
        case "queue":  # the queue's own order: position, then (for entries without one) newest first
            stmt = stmt.order_by(
                col(e.oci_code), col(e.scope_kind), col(e.scope_code), col(e.position).asc().nulls_last(), col(e.id)
            )
        case "oldest":
            stmt = stmt.order_by(col(e.requested_at), col(e.id))
        case _:
            stmt = stmt.order_by(col(e.status_changed_at).desc(), col(e.id).desc())
    pg = common.Page(page, common.PAGE_SIZE, total)
    rows = (await session.execute(stmt.offset(pg.offset).limit(pg.size))).all()
    # The pages show names: one audit event naming the entries shown (the API's list does the same).
    await record_list_read(
        session, "WaitlistEntry", [r[0].id for r in rows], places=[(r[0].uf, r[0].municipality_ibge) for r in rows]
    )
    today = wl.local_today(settings)
    booked = [r[0].id for r in rows if r[0].status in (S.AGENDADA.value, S.CONFIRMADA.value)]
    appointments: dict[int, datetime] = {}
    if booked:
        found = await session.execute(
            select(col(SlotBooking.entry_id), col(AgendaSlot.starts_at))
            .join(AgendaSlot, col(AgendaSlot.id) == col(SlotBooking.slot_id))
            .where(col(SlotBooking.entry_id).in_(booked), col(SlotBooking.status) == "ativa")
        )
        appointments = {entry_id: starts_at for entry_id, starts_at in found.all()}
    out = []
    for entry, name, social in rows:
        days = wl.days_waiting(entry, today)
        clock = common.tm_clock(days, entry.max_days)
        out.append(EntryRow(entry, social or name, days, clock, appointments.get(entry.id or 0)))
    return out, pg


# -- one entry -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ActionForm:
    """A workflow action the user may take, with what it asks for."""

    target: str
    label: str
    reason: str  # none | text | cancel | suspend
    reason_options: list[tuple[str, str]]
    primary: bool = False


@dataclass
class EntryView:
    entry: WaitlistEntry
    citizen: Citizen
    oci_name: str
    cid_name: str | None
    age: int
    legal: list[str]
    cpf_masked: str | None
    cns_masked: str | None
    days_waiting: int | None
    clock: dict[str, Any] | None
    score_rows: list[tuple[str, int]]
    explanation: list[str]
    checklist: list[tuple[str, bool]]
    history: list[dict[str, Any]]
    actions: list[ActionForm]
    booking: dict[str, Any] | None
    pendency: str | None  # the last pendência text, while the entry is devolvida
    extra: dict[str, Any] = field(default_factory=dict)


def action_forms(status: str, role: str, *, shortcut_review: bool = True) -> list[ActionForm]:
    """The actions this role may take from ``status``. A referral just sent (solicitada) can be decided at once:
    the page moves it to em_analise first, on the operator's behalf (the history shows both steps)."""
    current = EntryStatus(status)
    targets = allowed_targets(current, role)
    pairs = [(current, t) for t in targets]
    if shortcut_review and current is S.SOLICITADA and S.EM_ANALISE in targets:
        pairs = [(S.EM_ANALISE, t) for t in allowed_targets(S.EM_ANALISE, role) if t is not S.CANCELADA] + pairs
    forms: list[ActionForm] = []
    seen: set[EntryStatus] = set()
    for source, target in pairs:
        if target in seen:
            continue
        seen.add(target)
        rule = _RULES[(source, target)]
        options: list[tuple[str, str]] = []
        if rule.reason is ReasonKind.CANCEL:
            options = [(k.value, v) for k, v in CANCEL_REASON_LABELS_PT.items()]
            allowed = rule.reason_roles.get(role)
            if allowed is not None:
                options = [o for o in options if o[0] in allowed]
        elif rule.reason is ReasonKind.SUSPEND:
            options = [(k.value, v) for k, v in SUSPEND_REASON_LABELS_PT.items()]
        primary = source is S.EM_ANALISE and target in (S.AUTORIZADA, S.DEVOLVIDA, S.NEGADA)
        primary = primary or (current is S.DEVOLVIDA and target is S.SOLICITADA)
        forms.append(ActionForm(target.value, rule.action_pt, rule.reason.value, options, primary))
    # The decision people take most often comes first.
    preferred = {S.AUTORIZADA.value: 0, S.DEVOLVIDA.value: 1, S.NEGADA.value: 2}
    return sorted(forms, key=lambda a: (not a.primary, preferred.get(a.target, 9)))


async def load_entry_view(
    session: AsyncSession, settings: Settings, p: Principal, entry_id: int, *, audit: bool = True
) -> EntryView:
    entry = (
        await session.execute(
            select(WaitlistEntry).where(col(WaitlistEntry.id) == entry_id).execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()
    if entry is None:
        raise NotFound("Solicitação não encontrada.", code="entrada_nao_encontrada")
    wl.Actor.of(p).require(entry.municipality_ibge)
    citizen = (
        await session.execute(
            select(Citizen).where(col(Citizen.id) == entry.citizen_id).execution_options(populate_existing=True)
        )
    ).scalar_one()
    if audit:
        # Every read of a citizen's record is audited, as in the API.
        await record_read(
            session, "WaitlistEntry", str(entry_id), uf=entry.uf, municipality_ibge=entry.municipality_ibge
        )
    today = wl.local_today(settings)
    oci_name, cid_name = entry.oci_code, None
    try:
        oci = await get_oci(session, entry.oci_code, settings, entry.catalog_competencia)
        oci_name = oci.name
        cid_name = next(
            (c.name for c in oci.cid_details if entry.cid_code == c.code or entry.cid_code.startswith(c.code)), None
        )
    except DomainError:
        pass
    breakdown = entry.score_breakdown or {}
    score_rows = [
        (label, int(breakdown.get(key, 0)))
        for key, label in common.SCORE_COMPONENT_LABELS_PT
        if isinstance(breakdown.get(key, 0), int) and (key in breakdown)
    ]
    explanation: list[str] = []
    if breakdown:
        score = priority.Score(entry.score or 0, {k: v for k, v in breakdown.items() if isinstance(v, int | str)})
        explanation = priority.explain(score)
    events = await wl.history(session, entry_id)
    days = wl.days_waiting(entry, today)
    pendency = None
    if entry.status == S.DEVOLVIDA.value:
        pendency = next((ev.reason_text for ev in reversed(events) if ev.to_status == S.DEVOLVIDA.value), None)
    return EntryView(
        entry=entry,
        citizen=citizen,
        oci_name=oci_name,
        cid_name=cid_name,
        age=age_on(citizen.birth_date, today),
        legal=[common.LEGAL_PRIORITY_LABELS_PT.get(x, x) for x in legal_priorities(citizen, today)],
        cpf_masked=documents.mask_cpf(citizen.cpf) if citizen.cpf else None,
        cns_masked=documents.mask_cns(citizen.cns) if citizen.cns else None,
        days_waiting=days,
        clock=common.tm_clock(days, entry.max_days),
        score_rows=score_rows,
        explanation=explanation,
        checklist=[(item_label(k), v is True) for k, v in (entry.checklist or {}).items()],
        history=[_event_view(ev) for ev in events],
        actions=action_forms(entry.status, p.role.value),
        booking=await active_booking(session, entry_id),
        pendency=pendency,
    )


def _event_view(ev: EntryEvent) -> dict[str, Any]:
    if ev.kind == "created":
        what = f"Solicitação criada ({common.status_label(ev.to_status or '')})"
    elif ev.kind == "transition":
        what = f"{common.status_label(ev.from_status or '')} → {common.status_label(ev.to_status or '')}"
    elif ev.kind == "score":
        data = ev.data or {}
        what = (
            f"Pontuação {common.fmt_int(data.get('score_anterior'))} → {common.fmt_int(data.get('score_novo'))} "
            f"({data.get('politica_nova') or 'política'})"
        )
    else:
        what = ev.kind
    reason = ev.reason_code
    if reason:
        labels = {k.value: v for k, v in CANCEL_REASON_LABELS_PT.items()} | {
            k.value: v for k, v in SUSPEND_REASON_LABELS_PT.items()
        }
        reason = labels.get(reason, reason)
    return {
        "at": ev.occurred_at,
        "what": what,
        "reason": reason,
        "text": ev.reason_text,
        "who": ev.actor_username,
        "role": ev.actor_role,
    }


async def active_booking(session: AsyncSession, entry_id: int) -> dict[str, Any] | None:
    row = (
        await session.execute(
            select(AgendaSlot, Establishment)
            .join(SlotBooking, col(SlotBooking.slot_id) == col(AgendaSlot.id))
            .join(Establishment, col(Establishment.cnes) == col(AgendaSlot.cnes))
            .where(col(SlotBooking.entry_id) == entry_id, col(SlotBooking.status) == "ativa")
        )
    ).first()
    if row is None:
        return None
    slot, est = row
    return {
        "starts_at": slot.starts_at,
        "modality": slot.modality,
        "cnes": est.cnes,
        "establishment": est.name,
        "municipality": common.municipality_label(est.municipality_ibge),
    }
