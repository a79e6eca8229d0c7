"""The care loop's bookkeeping in the navigation domain (issue 16, decision 21):

* the counter-referral of a concluded OCI delivered to the APS teams, and their acknowledgement of reading
  (Portaria GM/MS 3.492/2024 art. 5 §2; art. 10 §1 IV and VI);
* the navigators' tasks when a counter-referral stays unread or a teleconsultoria answer is late (art. 10 §3 I and
  §4 I: the NGC follows each case), and their closing when the answer comes.

Services flush, never commit: the request, job or command commits.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from regula.access.actor import Actor
from regula.audit.service import record_read
from regula.config import Settings
from regula.core.errors import NotFound
from regula.db.base import utcnow
from regula.navigation import counter_referral_repository as repository
from regula.navigation.counter_referral_repository import CounterReferralRow
from regula.navigation.models import CounterReferral, NavigationTask
from regula.navigation.service import close_tasks_of_entry, open_task_for_entry
from regula.people.models import Citizen
from regula.waitlist import teleconsultation as teleconsultation_rules
from regula.waitlist import teleconsultation_repository
from regula.waitlist.events import EntryTransitioned
from regula.waitlist.models import WaitlistEntry
from regula.waitlist.states import EntryStatus


async def issue_counter_referrals(
    session: AsyncSession,
    entry: WaitlistEntry,
    citizen: Citizen,
    *,
    findings: str,
    conduct: str,
    concluded_by: str,
    sent_at: datetime | None = None,
) -> list[CounterReferral]:
    """Deliver a concluded OCI's contrarreferência to the APS: the team that referred (the entry's requesting
    establishment) and, when different, the team the citizen is registered with (``citizen.aps_cnes``) —
    Portaria GM/MS 3.492/2024 art. 5 §2 (the OCI includes the counter-referral) and art. 10 §1 IV and VI (the
    care returns to APS). Called by the OCI's conclusion, in its transaction."""
    assert entry.id is not None and citizen.id is not None
    recipients = [(entry.requesting_cnes, "solicitante")]
    if citizen.aps_cnes and citizen.aps_cnes != entry.requesting_cnes:
        recipients.append((citizen.aps_cnes, "vinculada"))
    when = sent_at or utcnow()
    rows = [
        CounterReferral(
            entry_id=entry.id,
            citizen_id=citizen.id,
            oci_code=entry.oci_code,
            recipient_cnes=cnes,
            recipient=kind,
            findings=findings,
            conduct=conduct,
            concluded_by=concluded_by,
            sent_at=when,
            municipality_ibge=entry.municipality_ibge,
            uf=entry.uf,
        )
        for cnes, kind in recipients
    ]
    session.add_all(rows)
    await session.flush()
    return rows


async def counter_referral(session: AsyncSession, counter_referral_id: int, actor: Actor) -> CounterReferralRow:
    """One counter-referral for a reader who may see it (404 for others); the read is audited."""
    row = await repository.counter_referral_row(session, actor, counter_referral_id)
    if row is None:
        raise NotFound("Contrarreferência não encontrada.", code="contrarreferencia_nao_encontrada")
    x = row.counter_referral
    await record_read(session, "CounterReferral", str(x.id), uf=x.uf, municipality_ibge=x.municipality_ibge)
    return row


async def acknowledge_counter_referral(
    session: AsyncSession, counter_referral_id: int, actor: Actor, *, now: datetime | None = None
) -> CounterReferralRow:
    """The APS team acknowledges it read the counter-referral (who, when; audited by the flush listener). Reading
    twice keeps the first acknowledgement. When every team of the entry has read it, the navigators' reminder
    closes itself."""
    row = await repository.counter_referral_row(session, actor, counter_referral_id)
    if row is None:
        raise NotFound("Contrarreferência não encontrada.", code="contrarreferencia_nao_encontrada")
    x = row.counter_referral
    locked = (
        await session.execute(
            select(CounterReferral)
            .where(col(CounterReferral.id) == x.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).scalar_one()
    if locked.read_at is None:
        locked.read_at = now or utcnow()
        locked.read_by = actor.username
        locked.read_by_user_id = actor.user_id
        await session.flush()
        unread = (
            await session.execute(
                select(func.count())
                .select_from(CounterReferral)
                .where(col(CounterReferral.entry_id) == locked.entry_id, col(CounterReferral.read_at).is_(None))
            )
        ).scalar_one()
        if not unread:
            await close_tasks_of_entry(
                session, locked.entry_id, ("contrarreferencia_nao_lida",), "Contrarreferência lida pela APS."
            )
    return CounterReferralRow(locked, row.protocol, row.citizen_name, row.birth_date)


async def open_unread_counter_referral_tasks(session: AsyncSession, older_than: datetime) -> int:
    """A navigator task for each entry whose counter-referral some APS team has not read since before
    ``older_than`` (art. 10 §4 I: the NGC follows the case until the care is back with APS). One task per entry,
    ever: a navigator who closed it after calling the team is not asked again."""
    unread = (
        await session.execute(
            select(CounterReferral)
            .where(col(CounterReferral.read_at).is_(None), col(CounterReferral.sent_at) < older_than)
            .where(
                ~select(col(NavigationTask.id))
                .where(
                    col(NavigationTask.entry_id) == col(CounterReferral.entry_id),
                    col(NavigationTask.kind) == "contrarreferencia_nao_lida",
                )
                .exists()
            )
            .order_by(col(CounterReferral.entry_id), col(CounterReferral.id))
        )
    ).scalars()
    by_entry: dict[int, list[CounterReferral]] = {}
    for x in unread:
        by_entry.setdefault(x.entry_id, []).append(x)
    for entry_id, rows in by_entry.items():
        teams = ", ".join(f"CNES {x.recipient_cnes}" for x in rows)
        sent = min(x.sent_at for x in rows)
        await open_task_for_entry(
            session,
            "contrarreferencia_nao_lida",
            entry_id,
            f"Contrarreferência enviada em {sent:%d/%m/%Y} e ainda não lida pela APS ({teams}): contatar a equipe.",
        )
    return len(by_entry)


async def open_late_teleconsultation_tasks(session: AsyncSession, settings: Settings, now: datetime) -> int:
    """A navigator task for each referral waiting for teleconsultoria past the response time
    (``teleconsultation_sla_hours``; Portaria GM/MS 3.492/2024 art. 10 §3 I and §4 I). One task per referral, ever;
    the teleconsultor's answer closes it (``on_entry_transitioned``)."""
    late = await teleconsultation_repository.late_referrals(
        session, now - timedelta(hours=settings.teleconsultation_sla_hours)
    )
    if not late:
        return 0
    asked = set(
        (
            await session.execute(
                select(col(NavigationTask.entry_id)).where(
                    col(NavigationTask.entry_id).in_([r.entry_id for r in late]),
                    col(NavigationTask.kind) == "teleconsulta_atrasada",
                )
            )
        ).scalars()
    )
    opened = 0
    for r in late:
        if r.entry_id in asked:
            continue
        due = teleconsultation_rules.due_at(r.waiting_since, settings.teleconsultation_sla_hours)
        hours = teleconsultation_rules.hours_waiting(r.waiting_since, now)
        await open_task_for_entry(
            session,
            "teleconsulta_atrasada",
            r.entry_id,
            f"Encaminhamento {r.protocol} aguarda a teleconsultoria há {hours} horas (prazo de "
            f"{settings.teleconsultation_sla_hours} horas): cobrar a resposta do teleconsultor ou da regulação.",
            due_at=due,
        )
        opened += 1
    return opened


async def on_entry_transitioned(event: EntryTransitioned) -> None:
    """Subscriber of ``waitlist.events.ENTRY_TRANSITIONED`` (see ``regula.wiring``): the teleconsultor's answer (or
    a cancellation) closes the navigators' task chasing a late teleconsultoria."""
    if event.source is EntryStatus.AGUARDANDO_TELECONSULTA:
        assert event.entry.id is not None
        await close_tasks_of_entry(
            event.session, event.entry.id, ("teleconsulta_atrasada",), "Teleconsultoria respondida ou encerrada."
        )
