"""The navigators' queries, scoped to the caller, for the API and the pages alike.

``readable(actor)`` is the only place the jurisdiction filter on ``navigation_task`` is written: a user sees the
tasks of residents of the municipalities in their jurisdiction (all, nationally).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from regula.access.actor import Actor
from regula.audit.service import record_list_read
from regula.navigation.models import NavigationTask
from regula.people.models import Citizen
from regula.providers.models import AgendaSlot, Establishment, SlotBooking
from regula.waitlist import repository as waitlist
from regula.waitlist.models import WaitlistEntry


def readable(actor: Actor) -> ColumnElement[bool]:
    """The tasks ``actor`` may see."""
    allowed = actor.municipality_filter()
    if allowed is None:
        return true()
    return col(NavigationTask.municipality_ibge).in_(allowed)


@dataclass(frozen=True)
class TaskRow:
    task: NavigationTask
    citizen_name: str
    phone: str | None
    protocol: str | None
    entry_status: str | None


async def list_tasks(
    session: AsyncSession, actor: Actor, *, status: str = "aberta", kind: str | None = None, limit: int = 200
) -> list[TaskRow]:
    stmt = (
        select(NavigationTask, Citizen, WaitlistEntry)
        .join(Citizen, col(Citizen.id) == col(NavigationTask.citizen_id))
        .outerjoin(WaitlistEntry, col(WaitlistEntry.id) == col(NavigationTask.entry_id))
        .where(col(NavigationTask.status) == status)
        .order_by(col(NavigationTask.due_at).asc().nulls_last(), col(NavigationTask.created_at), col(NavigationTask.id))
        .limit(limit)
    )
    if kind is not None:
        stmt = stmt.where(col(NavigationTask.kind) == kind)
    stmt = stmt.where(readable(actor))
    rows = (await session.execute(stmt)).all()
    # Tasks show names and phone numbers: one audit event naming those returned (API and page alike).
    await record_list_read(
        session, "NavigationTask", [t.id for t, _, _ in rows], places=[(c.uf, t.municipality_ibge) for t, c, _ in rows]
    )
    return [
        TaskRow(t, c.social_name or c.name, c.phone, e.protocol if e else None, e.status if e else None)
        for t, c, e in rows
    ]


@dataclass(frozen=True)
class Appointment:
    entry: WaitlistEntry
    citizen: Citizen
    slot: AgendaSlot
    establishment: Establishment


async def unconfirmed_appointments(
    session: AsyncSession, actor: Actor, now: datetime, *, days: int, limit: int = 500
) -> list[Appointment]:
    """Appointments in the coming ``days`` that nobody has confirmed yet, soonest first, among the entries
    ``actor`` sees (audited: the list shows names and phone numbers)."""
    stmt = (
        select(WaitlistEntry, Citizen, AgendaSlot, Establishment)
        .join(Citizen, col(Citizen.id) == col(WaitlistEntry.citizen_id))
        .join(
            SlotBooking,
            (col(SlotBooking.entry_id) == col(WaitlistEntry.id)) & (col(SlotBooking.status) == "ativa"),
        )
        .join(AgendaSlot, col(AgendaSlot.id) == col(SlotBooking.slot_id))
        .join(Establishment, col(Establishment.cnes) == col(AgendaSlot.cnes))
        .where(
            col(WaitlistEntry.status) == "agendada",
            col(AgendaSlot.starts_at) >= now,
            col(AgendaSlot.starts_at) < now + timedelta(days=days),
            waitlist.readable(actor),
        )
        .order_by(col(AgendaSlot.starts_at), col(WaitlistEntry.id))
        .limit(limit)
    )
    rows = [Appointment(e, c, slot, est) for e, c, slot, est in (await session.execute(stmt)).all()]
    await record_list_read(
        session,
        "WaitlistEntry",
        [a.entry.id for a in rows],
        detail={"list": "unconfirmed_appointments"},
        places=[(a.entry.uf, a.entry.municipality_ibge) for a in rows],
    )
    return rows
