"""Which messages a change to an entry causes — run inside the change's own transaction.

:func:`on_entry_transitioned` subscribes to the waitlist's ``ENTRY_TRANSITIONED`` hook (wired in
``regula.wiring``), so it runs after every status change. It writes the messages into the outbox
(``outbox.enqueue``), cancels the ones whose cause went away, and opens navigator tasks. The periodic planners
(position updates, 90-day validation, reply deadlines) live in ``notify.jobs``.

Timeline of an appointment (issue 5, item 3): "marcada" at once (date, time, place, preparation); a confirmation
request seven days before ("responda SIM ou NÃO"); reminders two days and one day before. A place released and
offered to the next person (backfill) is a short-notice offer instead: "responda SIM em até 2 horas".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from regula.config import Settings
from regula.db.base import utcnow
from regula.navigation.service import open_task
from regula.notify.content import when_variables
from regula.notify.outbox import (
    Outgoing,
    cancel_pending,
    close_questions,
    enqueue,
    enqueue_for_citizens,
    enqueue_many,
)
from regula.notify.respect import timezone_for
from regula.people.models import Citizen
from regula.providers.models import AgendaSlot, Establishment, SlotBooking
from regula.territory.reference import territory
from regula.waitlist.events import EntryTransitioned
from regula.waitlist.models import WaitlistEntry
from regula.waitlist.states import EntryStatus

BOOKED = (EntryStatus.AGENDADA.value, EntryStatus.CONFIRMADA.value)
APPOINTMENT_KINDS = ("agendamento", "confirmacao", "lembrete", "oferta", "confirmada")
#: The actor name backfill uses: its bookings are short-notice offers, not ordinary appointments.
BACKFILL_ACTOR = "backfill"
#: Reminders before an appointment: days before, and how the message says it.
REMINDERS = ((2, "depois de amanhã"), (1, "amanhã"))
#: An appointment's questions close this long before it; a short-notice offer closes sooner before.
REPLY_CLOSES_BEFORE = timedelta(hours=24)
OFFER_CLOSES_BEFORE = timedelta(hours=6)


# -- the timeline, as pure rules (the notifier below and the policy simulator, regula.simulation, both use them) --


def confirmation_times(now: datetime, starts: datetime, settings: Settings) -> tuple[datetime, datetime] | None:
    """When an appointment's confirmation is asked and until when it may be answered: ``notify_confirmation_days_
    before`` days before (or now, if that is past), answerable until 24 h before; ``None`` when less than two hours
    would be left to answer (absenteeism is a monitored indicator: Portaria GM/MS 3.492/2024 art. 12 VIII)."""
    ask_at = max(now, starts - timedelta(days=settings.notify_confirmation_days_before))
    reply_deadline = starts - REPLY_CLOSES_BEFORE
    if reply_deadline > ask_at + timedelta(hours=2):
        return ask_at, reply_deadline
    return None


def reminder_times(now: datetime, starts: datetime) -> list[tuple[int, str, datetime]]:
    """The reminders still ahead of ``now``: (days before, how it is said, when)."""
    return [
        (days, when, starts - timedelta(days=days)) for days, when in REMINDERS if starts - timedelta(days=days) > now
    ]


def offer_deadline(starts: datetime) -> datetime:
    """A short-notice offer (backfill) may be answered until this moment."""
    return starts - OFFER_CLOSES_BEFORE


def position_url(settings: Settings) -> str:
    return settings.public_base_url.rstrip("/") + "/posicao"


def base_variables(entry: WaitlistEntry, settings: Settings) -> dict[str, Any]:
    return {"protocol": entry.protocol, "url": position_url(settings)}


async def _citizen(session: AsyncSession, entry: WaitlistEntry) -> Citizen:
    citizen = await session.get(Citizen, entry.citizen_id)
    assert citizen is not None
    return citizen


@dataclass(frozen=True)
class Booked:
    """An active booking as its messages tell it: the booking, when and how (its slot), where (its place). Read as
    plain columns, not as three ORM objects: an allocation run's commit reads thousands at once."""

    booking_id: int
    starts_at: datetime
    modality: str
    place_name: str
    place_municipality_ibge: str


async def _booking(session: AsyncSession, entry_id: int) -> Booked | None:
    return (await _bookings(session, [entry_id])).get(entry_id)


async def _bookings(session: AsyncSession, entry_ids: Sequence[int]) -> dict[int, Booked]:
    """The active booking of each entry, with its slot and place, in one query."""
    rows = await session.execute(
        select(
            col(SlotBooking.entry_id),
            col(SlotBooking.id),
            col(AgendaSlot.starts_at),
            col(AgendaSlot.modality),
            col(Establishment.name),
            col(Establishment.municipality_ibge),
        )
        .join(AgendaSlot, col(AgendaSlot.id) == col(SlotBooking.slot_id))
        .join(Establishment, col(Establishment.cnes) == col(AgendaSlot.cnes))
        .where(col(SlotBooking.entry_id).in_(list(entry_ids)), col(SlotBooking.status) == "ativa")
    )
    found: dict[int, Booked] = {}
    for entry_id, booking_id, starts_at, modality, place_name, place_municipality_ibge in rows.all():
        found.setdefault(
            entry_id, Booked(int(booking_id or 0), starts_at, modality, place_name, place_municipality_ibge)
        )
    return found


async def _last_booking(session: AsyncSession, entry_id: int) -> tuple[SlotBooking, AgendaSlot] | None:
    """The entry's most recent booking, active or not (the place just released, the appointment missed)."""
    row = (
        await session.execute(
            select(SlotBooking, AgendaSlot)
            .join(AgendaSlot, col(AgendaSlot.id) == col(SlotBooking.slot_id))
            .where(col(SlotBooking.entry_id) == entry_id)
            .order_by(col(SlotBooking.id).desc())
            .limit(1)
        )
    ).first()
    return None if row is None else (row[0], row[1])


def appointment_variables(entry: WaitlistEntry, citizen: Citizen, booked: Booked, settings: Settings) -> dict[str, Any]:
    tz = timezone_for(citizen.uf, citizen.municipality_ibge)
    city = territory().find(booked.place_municipality_ibge)
    return {
        **base_variables(entry, settings),
        **when_variables(booked.starts_at, tz),
        "place": booked.place_name,
        "city": city.name if city else booked.place_municipality_ibge,
        "teleconsultation": booked.modality == "teleconsulta",
        "starts_at": booked.starts_at.isoformat(),
    }


async def on_entry_transitioned(event: EntryTransitioned) -> None:
    """Subscriber of ``waitlist.events.ENTRY_TRANSITIONED`` (see ``regula.wiring``)."""
    await on_transition(
        event.session, event.settings, event.entry, event.source.value, event.target.value, event.actor.username
    )


async def on_entries_transitioned(events: Sequence[EntryTransitioned]) -> None:
    """Batch variant of :func:`on_entry_transitioned` (``Hook.emit_many``, wired in ``regula.wiring``): the
    ordinary appointments of the batch — an allocation run's commit — get their messages with one query for the
    bookings, one for the citizens and ONE insert for all the rows; any other event goes through
    :func:`on_entry_transitioned`, one by one."""
    booked = [e for e in events if books_an_appointment(e.target.value, e.actor.username)]
    for event in events:
        if not books_an_appointment(event.target.value, event.actor.username):
            await on_entry_transitioned(event)
    if booked:
        session, settings = booked[0].session, booked[0].settings
        assert all(e.session is session for e in booked), "one batch, one transaction"
        await schedule_appointment_messages_many(session, settings, [e.entry for e in booked])


def books_an_appointment(target: str, actor_name: str) -> bool:
    """A move whose only messages are an ordinary appointment's (notice, confirmation, reminders): to agendada by
    anyone but backfill (whose bookings are short-notice offers). A booked status is its target, so nothing is
    cancelled or closed first."""
    return target == EntryStatus.AGENDADA.value and actor_name != BACKFILL_ACTOR


async def on_transition(
    session: AsyncSession, settings: Settings, entry: WaitlistEntry, source: str, target: str, actor_name: str
) -> None:
    """Messages and tasks caused by moving ``entry`` from ``source`` to ``target``."""
    assert entry.id is not None
    if source in BOOKED and target not in BOOKED and target != EntryStatus.EM_ATENDIMENTO.value:
        await cancel_pending(session, entry.id, APPOINTMENT_KINDS, reason="vaga_liberada")
        await close_questions(session, entry.id, "encerrada")
    if target == EntryStatus.AUTORIZADA.value:
        await _authorized(session, settings, entry, source)
    elif books_an_appointment(target, actor_name):
        await schedule_appointment_messages(session, settings, entry)
    elif target == EntryStatus.AGENDADA.value:  # booked by backfill: a short-notice offer
        await _offer(session, settings, entry)
    elif target == EntryStatus.CONFIRMADA.value:
        await close_questions(session, entry.id, "confirmada")
        await cancel_pending(session, entry.id, ("confirmacao",), reason="ja_confirmada")
    elif target == EntryStatus.FALTOU.value:
        await _no_show(session, settings, entry)
    elif target in (EntryStatus.CANCELADA.value, EntryStatus.NEGADA.value, EntryStatus.TRANSFERIDA.value):
        await cancel_pending(session, entry.id, None, reason="solicitacao_encerrada")
        await close_questions(session, entry.id, "encerrada")


async def _authorized(session: AsyncSession, settings: Settings, entry: WaitlistEntry, source: str) -> None:
    assert entry.id is not None
    citizen = await _citizen(session, entry)
    now = utcnow()
    variables = base_variables(entry, settings)
    if source in BOOKED:
        # The place went back (declined, no answer to an offer, released by the regulation): still in the queue.
        booking = await _last_booking(session, entry.id)
        if booking is None:
            return
        b, slot = booking
        tz = timezone_for(citizen.uf, citizen.municipality_ibge)
        await enqueue(
            session,
            settings,
            citizen,
            Outgoing(
                "liberada",
                f"e{entry.id}:b{b.id}:liberada",
                {**variables, **when_variables(slot.starts_at, tz)},
                valid_until=now + timedelta(days=3),
                entry_id=entry.id,
                booking_id=b.id,
            ),
        )
        return
    if source in (EntryStatus.EM_ANALISE.value, EntryStatus.SOLICITADA.value):
        await enqueue(
            session,
            settings,
            citizen,
            Outgoing(
                "fila_entrada",
                f"e{entry.id}:fila_entrada",
                {**variables, "estimate_from": entry.estimate_from.isoformat() if entry.estimate_from else None},
                valid_until=now + timedelta(days=7),
                entry_id=entry.id,
            ),
        )


async def _appointment(
    session: AsyncSession, settings: Settings, entry: WaitlistEntry
) -> tuple[Citizen, list[Outgoing]] | None:
    """The notice of an entry's active booking (a soft question: NÃO releases it) and its two reminders."""
    assert entry.id is not None
    found = await _booking(session, entry.id)
    if found is None:
        return None
    citizen = await _citizen(session, entry)
    return citizen, _appointment_messages(settings, entry, citizen, found, confirmation=False)


def _appointment_messages(
    settings: Settings,
    entry: WaitlistEntry,
    citizen: Citizen,
    booked: Booked,
    *,
    confirmation: bool,
) -> list[Outgoing]:
    """An appointment's messages: told now (a soft question: NÃO releases it), with ``confirmation`` the
    confirmation asked ``notify_confirmation_days_before`` days before (when there is still time to answer), and
    the reminders at two and one day."""
    variables = appointment_variables(entry, citizen, booked, settings)
    starts = booked.starts_at
    key = f"e{entry.id}:b{booked.booking_id}"
    common: dict[str, Any] = {"entry_id": entry.id, "booking_id": booked.booking_id}
    outs = [
        Outgoing(
            "agendamento",
            f"{key}:agendamento",
            variables,
            valid_until=starts - timedelta(hours=3),
            reply_within=starts - utcnow(),
            reply_deadline=starts - REPLY_CLOSES_BEFORE,
            **common,
        )
    ]
    asked = confirmation_times(utcnow(), starts, settings) if confirmation else None
    if asked is not None:
        ask_at, reply_deadline = asked
        outs.append(
            Outgoing(
                "confirmacao",
                f"{key}:confirmacao",
                variables,
                due_at=ask_at,
                valid_until=reply_deadline - timedelta(hours=2),
                reply_within=timedelta(hours=settings.notify_confirmation_reply_hours),
                reply_deadline=reply_deadline,
                **common,
            )
        )
    return [*outs, *_reminders(variables, starts, key, common)]


async def schedule_appointment_messages(session: AsyncSession, settings: Settings, entry: WaitlistEntry) -> None:
    """An ordinary appointment: told now, confirmation asked seven days before, reminders at two and one day."""
    await schedule_appointment_messages_many(session, settings, [entry])


async def schedule_appointment_messages_many(
    session: AsyncSession, settings: Settings, entries: Sequence[WaitlistEntry]
) -> None:
    """:func:`schedule_appointment_messages` for many entries: their bookings in one query, their citizens in one,
    every message in one insert (``outbox.enqueue_for_citizens``). An entry with no active booking gets none."""
    ids = [e.id for e in entries if e.id is not None]
    bookings = await _bookings(session, ids)
    citizen_ids = sorted({e.citizen_id for e in entries if e.id in bookings})
    citizens = {
        c.id: c for c in (await session.execute(select(Citizen).where(col(Citizen.id).in_(citizen_ids)))).scalars()
    }
    batch: list[tuple[Citizen, Sequence[Outgoing]]] = []
    for entry in entries:
        found = bookings.get(entry.id or 0)
        if found is None:
            continue
        citizen = citizens[entry.citizen_id]
        batch.append((citizen, _appointment_messages(settings, entry, citizen, found, confirmation=True)))
    await enqueue_for_citizens(session, settings, batch)


def _reminders(variables: dict[str, Any], starts: datetime, key: str, common: dict[str, Any]) -> list[Outgoing]:
    outs = []
    for days, when, due in reminder_times(utcnow(), starts):
        outs.append(
            Outgoing(
                "lembrete",
                f"{key}:lembrete{days}",
                {**variables, "when": when},
                due_at=due,
                valid_until=starts - timedelta(hours=3),
                **common,
            )
        )
    return outs


async def _offer(session: AsyncSession, settings: Settings, entry: WaitlistEntry) -> None:
    """A released place offered at short notice: the citizen has two hours to say SIM."""
    assert entry.id is not None
    found = await _booking(session, entry.id)
    if found is None:
        return
    citizen = await _citizen(session, entry)
    window = timedelta(minutes=settings.notify_offer_reply_minutes)
    variables = {
        **appointment_variables(entry, citizen, found, settings),
        "reply_hours": max(1, settings.notify_offer_reply_minutes // 60),
    }
    deadline = offer_deadline(found.starts_at)
    await enqueue(
        session,
        settings,
        citizen,
        Outgoing(
            "oferta",
            f"e{entry.id}:b{found.booking_id}:oferta",
            variables,
            valid_until=min(deadline, utcnow() + timedelta(hours=12)),
            reply_within=window,
            reply_deadline=deadline,
            entry_id=entry.id,
            booking_id=found.booking_id,
        ),
    )


async def offer_accepted(session: AsyncSession, settings: Settings, entry: WaitlistEntry) -> None:
    """After a SIM to an offer the appointment is confirmed: tell where and when, and remind."""
    found = await _appointment(session, settings, entry)
    if found is not None:
        citizen, outs = found
        await enqueue_many(session, settings, citizen, outs)


async def _no_show(session: AsyncSession, settings: Settings, entry: WaitlistEntry) -> None:
    assert entry.id is not None
    citizen = await _citizen(session, entry)
    last = await _last_booking(session, entry.id)
    variables = base_variables(entry, settings)
    key = f"e{entry.id}:falta"
    if last is not None:
        booking, slot = last
        variables |= when_variables(slot.starts_at, timezone_for(citizen.uf, citizen.municipality_ibge))
        key = f"e{entry.id}:b{booking.id}:falta"
    else:
        variables |= {"day": "marcada", "time": ""}
    await enqueue(
        session,
        settings,
        citizen,
        Outgoing("falta", key, variables, valid_until=utcnow() + timedelta(days=3), entry_id=entry.id),
    )
    await open_task(
        session,
        "falta",
        citizen,
        entry.id,
        "Faltou ao atendimento: entender o motivo e, se ainda precisar, devolver à fila.",
    )
