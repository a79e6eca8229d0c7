"""Reads of waitlist entries shared by the operator's and the APS team's pages: filtered lists limited to the
user's territory, one entry with everything a person needs to decide about it, and the workflow actions the
user's role may take, as forms."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from regula.access.service import Principal
from regula.audit.service import record_read
from regula.catalog.protocols import protocol_version
from regula.catalog.service import get_oci
from regula.config import Settings
from regula.core.errors import DomainError, NotFound
from regula.people import documents
from regula.people.models import Citizen
from regula.people.service import age_on, legal_priorities
from regula.production import provider_day
from regula.providers import repository as providers
from regula.waitlist import priority, standing
from regula.waitlist import repository as repo
from regula.waitlist import service as wl
from regula.waitlist.models import EntryEvent, WaitlistEntry
from regula.waitlist.standing import Standing
from regula.waitlist.states import (
    CANCEL_REASON_LABELS_PT,
    STATUS_LABELS_PT,
    SUSPEND_REASON_LABELS_PT,
    EntryStatus,
    ReasonKind,
    requestable_rules,
)
from regula.web import common

S = EntryStatus

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


def _search(f: EntryFilters) -> repo.EntrySearch:
    """The page's filters as the repository's search; a queue that does not parse filters nothing."""
    key = None
    if f.queue:
        try:
            key = wl.QueueKey.parse(f.queue)
        except DomainError:
            key = None
    return repo.EntrySearch(
        oci=f.oci or None,
        statuses=status_values(f.status),
        municipality=f.municipality or None,
        risk=f.risk or None,
        queue=key,
        created_by=f.created_by or None,
        text=f.search or None,
    )


async def list_entries(
    session: AsyncSession,
    settings: Settings,
    p: Principal,
    f: EntryFilters,
    page: int,
    order: str = "queue",
) -> tuple[list[EntryRow], common.Page]:
    actor, search = wl.Actor.of(p), _search(f)
    pg = common.Page(page, common.PAGE_SIZE, await repo.count_entries(session, actor, search))
    hits = await repo.search_entries(session, actor, search, order=order, offset=pg.offset, limit=pg.size)
    today = wl.local_today(settings)
    booked = [h.entry.id or 0 for h in hits if h.entry.status in (S.AGENDADA.value, S.CONFIRMADA.value)]
    appointments = await providers.appointment_times(session, booked)
    out = []
    for h in hits:
        days = wl.days_waiting(h.entry, today, settings.timezone)
        clock = common.entry_tm_clock(h.entry, today, settings.timezone)
        out.append(EntryRow(h.entry, h.social_name or h.name, days, clock, appointments.get(h.entry.id or 0)))
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
    #: the total the page shows: today's score (decision 0031), the provisional one under review, else the stored
    score: int | None
    score_rows: list[tuple[str, int]]
    explanation: list[str]
    checklist: list[tuple[str, bool]]
    history: list[dict[str, Any]]
    actions: list[ActionForm]
    booking: dict[str, Any] | None
    pendency: str | None  # the last pendência text, while the entry is devolvida
    extra: dict[str, Any] = field(default_factory=dict)
    # Under review: where the referral would stand if authorized today, as the analysis list shows it.
    standing: Standing | None = None
    #: the day the shown score is computed for when it is not today: the entry left the queue that day
    #: (``standing.score_day``), so its score and "days waited" in the explanation stop there while the tM clock
    #: beside them may still run
    score_day: date | None = None


def action_forms(status: str, role: str) -> list[ActionForm]:
    """The actions this role may ask for from ``status`` (``states.requestable_rules``: a referral just sent can
    be decided at once, the service starting its analysis first, as the API does)."""
    current = EntryStatus(status)
    forms: list[ActionForm] = []
    for rule in requestable_rules(current, role):
        source, target = rule.source, rule.target
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
    found = await repo.fresh_entry(session, entry_id)
    if found is None:
        raise NotFound("Solicitação não encontrada.", code="entrada_nao_encontrada")
    entry, citizen = found
    # A territorial user reads the residents of their jurisdiction; a provider's user (cnes:) only the entries booked
    # or performed at its establishment (issue 17: the executante opens its own patients' entries, no one else's).
    await provider_day.require_entry_access(session, wl.Actor.of(p), entry)
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
    provisional: Standing | None = None
    shown: priority.Score | None = None
    score_day: date | None = None
    if entry.status in repo.UNDER_REVIEW and entry.id is not None:
        # Not scored until authorized: the page shows the provisional figures the analysis list shows, from the
        # same rule (waitlist.standing), labelled as such.
        provisional = (await standing.provisional(session, settings, [entry], today)).get(entry.id)
        if provisional is not None:
            breakdown = {k: v for k, v in provisional.breakdown.items() if k != "politica"}
            shown = priority.Score(provisional.score, breakdown)
    elif entry.id is not None:
        # The score with its explanation, computed now from the rule (decision 0031): never a stored explanation
        # beside a score the nightly refresh has moved on since.
        shown = (await standing.shown_scores(session, settings, [entry], today)).get(entry.id)
        if shown is not None and (day := standing.score_day(entry, today, settings.timezone)) != today:
            score_day = day
    breakdown = dict(shown.breakdown) if shown is not None else {}
    score_rows = [
        (label, int(breakdown.get(key, 0)))
        for key, label in common.SCORE_COMPONENT_LABELS_PT
        if isinstance(breakdown.get(key, 0), int) and (key in breakdown)
    ]
    explanation = priority.explain(shown) if shown is not None else []
    events = await wl.history(session, entry_id)
    days = wl.days_waiting(entry, today, settings.timezone)
    pendency = None
    if entry.status == S.DEVOLVIDA.value:
        pendency = next((ev.reason_text for ev in reversed(events) if ev.to_status == S.DEVOLVIDA.value), None)
    # The protocol version the referral was checked against names its items (decision 0020).
    protocol = await protocol_version(session, entry.oci_code, entry.protocol_version, settings)
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
        clock=common.entry_tm_clock(entry, today, settings.timezone),
        score=shown.value if shown is not None else entry.score,
        score_rows=score_rows,
        explanation=explanation,
        checklist=[(protocol.label_of(k), v is True) for k, v in (entry.checklist or {}).items()],
        history=[_event_view(ev) for ev in events],
        actions=action_forms(entry.status, p.role.value),
        booking=await active_booking(session, entry_id),
        score_day=score_day,
        pendency=pendency,
        standing=provisional,
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
        "role": common.role_label(ev.actor_role),
    }


async def active_booking(session: AsyncSession, entry_id: int) -> dict[str, Any] | None:
    booking = await providers.active_booking(session, entry_id)
    if booking is None:
        return None
    slot, est = booking.slot, booking.establishment
    return {
        "starts_at": slot.starts_at,
        "modality": slot.modality,
        "cnes": est.cnes,
        "establishment": est.name,
        "municipality": common.municipality_label(est.municipality_ibge),
    }
