"""The teleconsultoria step as a service: a teleconsultor answers a referral waiting in ``aguardando_teleconsulta``
and only that answer moves it on (Portaria GM/MS 3.492/2024, art. 10 §3 I; rules in ``waitlist.teleconsultation``;
decision 21).

An answer is recorded (who, when, the outcome, the guidance, the suggested risk class, whether it came after the
response time) and applied through the state table in the same transaction: resolved in APS closes the referral
(``cancelada`` with ``resolvido_na_aps``), the other answers send it to regulation (``solicitada``). A suggested
risk class replaces the APS team's class before the referral reaches the regulator; the APS team's class stays in
the answer and in the history. Services flush, never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from regula.access.actor import Actor
from regula.audit.service import record_read
from regula.config import Settings
from regula.core.errors import Conflict, NotFound
from regula.db.base import utcnow
from regula.people.models import Citizen
from regula.waitlist import service as wl
from regula.waitlist import teleconsultation as rules
from regula.waitlist import teleconsultation_repository as repo
from regula.waitlist.models import EntryEvent, WaitlistEntry
from regula.waitlist.states import EntryStatus, check_transition
from regula.waitlist.teleconsultation_models import TeleconsultationAnswer


@dataclass(frozen=True)
class ReferralView:
    """A referral as the teleconsultor (or the APS team) sees it around the teleconsultoria."""

    entry: WaitlistEntry
    citizen: Citizen
    answer: TeleconsultationAnswer | None
    due_at: datetime | None  # while it waits: when the answer is due
    late: bool  # while it waits: past the response time; once answered: the answer came late


def waiting_since(entry: WaitlistEntry) -> datetime:
    """When the referral started waiting: the status change into ``aguardando_teleconsulta`` (it is created in it)."""
    return entry.status_changed_at


def waiting_view(entry: WaitlistEntry, citizen: Citizen, settings: Settings, now: datetime) -> ReferralView:
    """A referral still waiting, with its response clock (a worklist row)."""
    since = waiting_since(entry)
    sla = settings.teleconsultation_sla_hours
    return ReferralView(entry, citizen, None, rules.due_at(since, sla), rules.is_late(since, now, sla))


async def view(
    session: AsyncSession, settings: Settings, entry_id: int, actor: Actor, *, now: datetime | None = None
) -> ReferralView:
    """One referral with its teleconsultoria answer, for a reader whose jurisdiction covers the citizen (404 for
    others: the referral's existence is not revealed). The read is audited."""
    try:
        entry = await wl.get_entry(session, entry_id)
    except NotFound:
        raise NotFound("Encaminhamento não encontrado.", code="entrada_nao_encontrada") from None
    if not actor.covers(entry.municipality_ibge):
        raise NotFound("Encaminhamento não encontrado.", code="entrada_nao_encontrada")
    citizen = await session.get(Citizen, entry.citizen_id)
    assert citizen is not None
    await record_read(session, "WaitlistEntry", str(entry.id), uf=entry.uf, municipality_ibge=entry.municipality_ibge)
    answer = await repo.answer_of(session, entry_id)
    if entry.status == EntryStatus.AGUARDANDO_TELECONSULTA.value:
        since = waiting_since(entry)
        now = now or utcnow()
        return ReferralView(
            entry,
            citizen,
            answer,
            rules.due_at(since, settings.teleconsultation_sla_hours),
            rules.is_late(since, now, settings.teleconsultation_sla_hours),
        )
    return ReferralView(entry, citizen, answer, None, bool(answer and answer.late))


async def answer(
    session: AsyncSession,
    settings: Settings,
    entry_id: int,
    actor: Actor,
    *,
    outcome: str | None,
    guidance: str | None = None,
    suggested_risk_class: str | None = None,
    now: datetime | None = None,
) -> ReferralView:
    """Record the teleconsultor's answer and move the referral on. Raises, before writing anything:
    :class:`NotFound` (no such referral in the actor's jurisdiction), :class:`Conflict` ``teleconsulta_nao_pendente``
    (it does not wait for teleconsultoria: already answered, cancelled…), :class:`PermissionDenied` from the state
    table (only the teleconsultor — and admin — may answer), :class:`ValidationFailed` naming the bad fields."""
    now = now or utcnow()
    try:
        entry = await wl.get_entry(session, entry_id, for_update=True)
    except NotFound:
        raise NotFound("Encaminhamento não encontrado.", code="entrada_nao_encontrada") from None
    if not actor.covers(entry.municipality_ibge):
        raise NotFound("Encaminhamento não encontrado.", code="entrada_nao_encontrada")
    if entry.status != EntryStatus.AGUARDANDO_TELECONSULTA.value:
        raise Conflict(
            "Este encaminhamento não aguarda teleconsultoria (já foi respondido ou encerrado).",
            code="teleconsulta_nao_pendente",
            extra={"status": entry.status},
        )
    checked = rules.check_answer(outcome, guidance, suggested_risk_class)
    # Who may answer is the state table's decision (teleconsultor; admin), asked before anything is written.
    check_transition(entry.status, checked.target, actor.role, checked.reason_code, checked.reason_text)
    since = waiting_since(entry)
    row = TeleconsultationAnswer(
        entry_id=entry_id,
        oci_code=entry.oci_code,
        outcome=checked.outcome.value,
        guidance=checked.guidance,
        suggested_risk_class=checked.suggested_risk_class,
        previous_risk_class=entry.risk_class,
        waiting_since=since,
        due_at=rules.due_at(since, settings.teleconsultation_sla_hours),
        late=rules.is_late(since, now, settings.teleconsultation_sla_hours),
        answered_by=actor.username,
        answered_by_user_id=actor.user_id,
        answered_at=now,
        municipality_ibge=entry.municipality_ibge,
        uf=entry.uf,
    )
    session.add(row)
    if checked.suggested_risk_class is not None and checked.suggested_risk_class != entry.risk_class:
        previous = entry.risk_class
        entry.risk_class = checked.suggested_risk_class
        entry.updated_at = now
        session.add(
            EntryEvent(
                entry_id=entry_id,
                kind="note",
                reason_text=(
                    f"Classe de risco sugerida pela teleconsultoria: {checked.suggested_risk_class} "
                    f"(a APS havia classificado como {previous})."
                ),
                data={"risk_class": {"from": previous, "to": checked.suggested_risk_class}},
                actor_user_id=actor.user_id,
                actor_username=actor.username,
                actor_role=actor.role,
            )
        )
    await session.flush()
    moved = await wl.transition(
        session,
        entry_id,
        checked.target.value,
        actor,
        settings,
        reason_code=checked.reason_code,
        reason_text=checked.reason_text,
    )
    citizen = await session.get(Citizen, moved.citizen_id)
    assert citizen is not None
    return ReferralView(moved, citizen, row, None, row.late)
