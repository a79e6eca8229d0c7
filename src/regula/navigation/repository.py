"""The navigators' queries, scoped to the caller, for the API and the pages alike.

``readable(actor)`` is the only place the jurisdiction filter on ``navigation_task`` is written: a user sees the
tasks of residents of the municipalities in their jurisdiction (all, nationally).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from regula.access.actor import Actor
from regula.audit.service import record_list_read
from regula.db.listing import Slice, SortKey, Sorts, Window, fetch
from regula.navigation.models import ContactAttempt, NavigationTask
from regula.people.models import Citizen
from regula.providers.models import AgendaSlot, Establishment, SlotBooking
from regula.territory.models import MunicipalityRecord
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


# -- the worklist, paged, sorted and filtered (issue 17 item 1, decision 23) -----------------------------------------

#: A task without a due date sorts after every dated one (sort expressions are never NULL: ``db.listing``).
_NO_DUE_DATE = datetime(9999, 12, 31, tzinfo=UTC)


@dataclass(frozen=True)
class TaskFilter:
    """What a navigator narrows the worklist by (already read and checked by the adapter)."""

    status: str = "aberta"
    kind: str | None = None
    municipality: str | None = None
    municipalities: tuple[str, ...] | None = None  # a health region's
    due_before: datetime | None = None  # due strictly before this instant (the day after "vence até")


def _task_conditions(actor: Actor, f: TaskFilter, *, with_kind: bool = True) -> list[ColumnElement[bool]]:
    t = NavigationTask
    where: list[ColumnElement[bool]] = [readable(actor), col(t.status) == f.status]
    if with_kind and f.kind:
        where.append(col(t.kind) == f.kind)
    if f.municipality:
        where.append(col(t.municipality_ibge) == f.municipality)
    if f.municipalities is not None:
        where.append(col(t.municipality_ibge).in_(f.municipalities))
    if f.due_before is not None:
        where.append(col(t.due_at) < f.due_before)
    return where


def _municipality_name(ibge: Any) -> Any:
    name = select(col(MunicipalityRecord.search_name)).where(col(MunicipalityRecord.ibge_code) == ibge)
    return func.coalesce(name.scalar_subquery(), ibge)


#: The worklist's sort keys (the URL's ``ordem``): due date (default, soonest first), opened, kind, municipality
#: (by name), citizen (by name); each followed by the task's id.
TASK_SORTS = Sorts(
    keys=(
        SortKey("prazo", func.coalesce(col(NavigationTask.due_at), _NO_DUE_DATE), datetime),
        SortKey("aberta_em", col(NavigationTask.created_at), datetime),
        SortKey("tipo", col(NavigationTask.kind), str),
        SortKey("municipio", _municipality_name(col(NavigationTask.municipality_ibge)), str),
        SortKey("cidadao", col(Citizen.search_name), str),
    ),
    default="prazo",
    default_descending=False,
    tiebreak=col(NavigationTask.id),
)


async def task_page(session: AsyncSession, actor: Actor, f: TaskFilter, window: Window) -> Slice[TaskRow]:
    """One window of the worklist ``actor`` may see, with the true total (audited: it shows names and phones)."""
    base = (
        select(NavigationTask, Citizen, WaitlistEntry)
        .join(Citizen, col(Citizen.id) == col(NavigationTask.citizen_id))
        .outerjoin(WaitlistEntry, col(WaitlistEntry.id) == col(NavigationTask.entry_id))
        .where(*_task_conditions(actor, f))
    )
    found = await fetch(session, base, TASK_SORTS, window)
    await record_list_read(
        session,
        "NavigationTask",
        [row[0].id for row in found.rows],
        places=[(row[1].uf, row[0].municipality_ibge) for row in found.rows],
    )
    return found.map(
        [
            TaskRow(t, c.social_name or c.name, c.phone, e.protocol if e else None, e.status if e else None)
            for t, c, e, *_ in found.rows
        ]
    )


async def count_tasks_by_kind(session: AsyncSession, actor: Actor, f: TaskFilter) -> dict[str, int]:
    """How many tasks of each kind match the other filters (the kind filter's own counts)."""
    stmt = (
        select(col(NavigationTask.kind), func.count())
        .where(*_task_conditions(actor, f, with_kind=False))
        .group_by(col(NavigationTask.kind))
    )
    return {kind: int(n) for kind, n in (await session.execute(stmt)).all()}


async def contacts_of_tasks(session: AsyncSession, task_ids: list[int]) -> dict[int, list[ContactAttempt]]:
    """The contacts logged against each task, oldest first: one query for a page of tasks."""
    if not task_ids:
        return {}
    stmt = (
        select(ContactAttempt)
        .where(col(ContactAttempt.task_id).in_(task_ids))
        .order_by(col(ContactAttempt.task_id), col(ContactAttempt.made_at), col(ContactAttempt.id))
    )
    out: dict[int, list[ContactAttempt]] = {}
    for c in (await session.execute(stmt)).scalars():
        out.setdefault(c.task_id or 0, []).append(c)
    return out


@dataclass(frozen=True)
class Appointment:
    entry: WaitlistEntry
    citizen: Citizen
    slot: AgendaSlot
    establishment: Establishment


def _unconfirmed_conditions(
    actor: Actor, now: datetime, days: int, place: TaskFilter | None = None
) -> list[ColumnElement[bool]]:
    where = [
        col(WaitlistEntry.status) == "agendada",
        col(AgendaSlot.starts_at) >= now,
        col(AgendaSlot.starts_at) < now + timedelta(days=days),
        waitlist.readable(actor),
    ]
    # The worklist's municipality / health region filter narrows the appointments to confirm too: a navigator
    # calling one municipality's residents must not get the whole state's phone list.
    if place is not None and place.municipality:
        where.append(col(WaitlistEntry.municipality_ibge) == place.municipality)
    if place is not None and place.municipalities is not None:
        where.append(col(WaitlistEntry.municipality_ibge).in_(place.municipalities))
    return where


async def count_unconfirmed_appointments(
    session: AsyncSession, actor: Actor, now: datetime, *, days: int, place: TaskFilter | None = None
) -> int:
    """How many appointments in the coming ``days`` nobody has confirmed yet (the box's true total)."""
    stmt = (
        select(func.count())
        .select_from(WaitlistEntry)
        .join(
            SlotBooking,
            (col(SlotBooking.entry_id) == col(WaitlistEntry.id)) & (col(SlotBooking.status) == "ativa"),
        )
        .join(AgendaSlot, col(AgendaSlot.id) == col(SlotBooking.slot_id))
        .where(*_unconfirmed_conditions(actor, now, days, place))
    )
    return int((await session.execute(stmt)).scalar_one())


async def unconfirmed_appointments(
    session: AsyncSession,
    actor: Actor,
    now: datetime,
    *,
    days: int,
    limit: int = 500,
    place: TaskFilter | None = None,
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
        .where(*_unconfirmed_conditions(actor, now, days, place))
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
