"""The provider's day: the appointments booked at an establishment between two instants, with the patient's name,
paged by cursor (decision 23), scoped to the caller (decision 12) and audited as a read of personal data.

Who sees which establishment's appointments (``readable``): a provider's user (``cnes:`` jurisdiction) only its
own establishment's — the patients it receives, never another establishment's; any other user the establishments
located in their jurisdiction. An appointment is a booking of the place (``slot_booking``) that is or was held:
``ativa`` (agendada, confirmada, em atendimento), ``realizada`` (concluded) and ``faltou`` (no-show) — released
places (``liberada``) are no longer the provider's patients.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy import ColumnElement, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from regula.access.actor import Actor
from regula.access.policy import JurisdictionKind
from regula.audit.service import record_list_read
from regula.db.listing import Slice, SortKey, Sorts, Window, fetch
from regula.people.models import Citizen
from regula.providers.models import AgendaSlot, Establishment, SlotBooking
from regula.waitlist.models import WaitlistEntry

#: Booking statuses that make a person the establishment's patient that day.
HELD: Final = ("ativa", "realizada", "faltou")


def readable(actor: Actor) -> ColumnElement[bool]:
    """The establishments whose appointments ``actor`` may see (the query joins ``establishment``)."""
    if actor.jurisdiction.kind is JurisdictionKind.CNES:
        return col(Establishment.cnes) == actor.jurisdiction.code
    municipalities = actor.municipality_filter()
    if municipalities is None:
        return true()
    return col(Establishment.municipality_ibge).in_(municipalities)


@dataclass(frozen=True)
class AppointmentFilter:
    cnes: str | None  # one establishment (a provider's user: always its own)
    start: datetime
    end: datetime  # exclusive
    statuses: tuple[str, ...] | None = None  # the entries' statuses
    oci: str | None = None


@dataclass(frozen=True)
class Appointment:
    booking: SlotBooking
    slot: AgendaSlot
    establishment: Establishment
    entry: WaitlistEntry
    citizen_name: str


#: The day's sort keys: the time (default), the patient, the OCI, the entry's status; each then the booking's id.
APPOINTMENT_SORTS: Final = Sorts(
    keys=(
        SortKey("horario", col(AgendaSlot.starts_at), datetime),
        SortKey("paciente", col(Citizen.search_name), str),
        SortKey("oci", col(WaitlistEntry.oci_code), str),
        SortKey("situacao", col(WaitlistEntry.status), str),
    ),
    default="horario",
    default_descending=False,
    tiebreak=col(SlotBooking.id),
)


async def establishments_of(session: AsyncSession, actor: Actor) -> list[Establishment]:
    """The establishments whose day ``actor`` may open, by name."""
    stmt = select(Establishment).where(readable(actor)).order_by(col(Establishment.name), col(Establishment.cnes))
    return list((await session.execute(stmt)).scalars())


async def appointments_page(
    session: AsyncSession, actor: Actor, f: AppointmentFilter, window: Window
) -> Slice[Appointment]:
    """One window of the appointments ``actor`` may see between ``f.start`` and ``f.end``, with the true total;
    the patients' names it returns are recorded as read."""
    base = (
        select(SlotBooking, AgendaSlot, Establishment, WaitlistEntry, Citizen)
        .join(AgendaSlot, col(AgendaSlot.id) == col(SlotBooking.slot_id))
        .join(Establishment, col(Establishment.cnes) == col(AgendaSlot.cnes))
        .join(WaitlistEntry, col(WaitlistEntry.id) == col(SlotBooking.entry_id))
        .join(Citizen, col(Citizen.id) == col(WaitlistEntry.citizen_id))
        .where(
            readable(actor),
            col(SlotBooking.status).in_(HELD),
            col(AgendaSlot.starts_at) >= f.start,
            col(AgendaSlot.starts_at) < f.end,
        )
    )
    if f.cnes:
        base = base.where(col(AgendaSlot.cnes) == f.cnes)
    if f.statuses:
        base = base.where(col(WaitlistEntry.status).in_(f.statuses))
    if f.oci:
        base = base.where(col(WaitlistEntry.oci_code) == f.oci)
    found = await fetch(session, base, APPOINTMENT_SORTS, window)
    rows = [Appointment(b, s, est, e, c.social_name or c.name) for b, s, est, e, c, *_ in found.rows]
    await record_list_read(
        session,
        "WaitlistEntry",
        [r.entry.id for r in rows],
        detail={"list": "provider_day", "cnes": f.cnes},
        places=[(r.entry.uf, r.entry.municipality_ibge) for r in rows],
    )
    return found.map(rows)
