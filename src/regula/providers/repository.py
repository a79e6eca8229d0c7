"""The providers' queries, scoped to the caller, for the API and the pages alike.

``readable_establishments`` is the only place it is decided which establishments a user reaches: those of the
municipalities in their jurisdiction, or their own unit when the jurisdiction is one establishment (CNES).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from regula.access.service import Principal
from regula.providers.models import AgendaSlot, Establishment, SlotBooking
from regula.territory.reference import territory


async def readable_establishments(session: AsyncSession, p: Principal) -> list[Establishment]:
    """The establishments ``p`` reaches, by name."""
    t = territory()
    rows = (await session.execute(select(Establishment).order_by(col(Establishment.name)))).scalars()
    return [est for est in rows if p.covers(t.municipality(est.municipality_ibge), est.cnes)]


async def slots_between(
    session: AsyncSession, cnes: Sequence[str], start: datetime, end: datetime, *, oci: str | None = None
) -> list[AgendaSlot]:
    """The slots of these establishments starting in [start, end), by establishment and time."""
    if not cnes:
        return []
    stmt = (
        select(AgendaSlot)
        .where(
            col(AgendaSlot.cnes).in_(cnes),
            col(AgendaSlot.starts_at) >= start,
            col(AgendaSlot.starts_at) < end,
        )
        .order_by(col(AgendaSlot.cnes), col(AgendaSlot.starts_at), col(AgendaSlot.id))
    )
    if oci:
        stmt = stmt.where(col(AgendaSlot.oci_code) == oci)
    return list((await session.execute(stmt)).scalars())


async def slots_by_id(session: AsyncSession, ids: Sequence[int]) -> dict[int, AgendaSlot]:
    if not ids:
        return {}
    stmt = select(AgendaSlot).where(col(AgendaSlot.id).in_(ids))
    return {s.id or 0: s for s in (await session.execute(stmt)).scalars()}


async def establishments_by_cnes(session: AsyncSession, cnes: Sequence[str]) -> dict[str, Establishment]:
    """Establishments by CNES (public registry data: names and places of health units)."""
    if not cnes:
        return {}
    stmt = select(Establishment).where(col(Establishment.cnes).in_(cnes))
    return {e.cnes: e for e in (await session.execute(stmt)).scalars()}


@dataclass(frozen=True)
class Booking:
    slot: AgendaSlot
    establishment: Establishment


async def active_booking(session: AsyncSession, entry_id: int) -> Booking | None:
    """The slot an entry holds now, with its establishment."""
    row = (
        await session.execute(
            select(AgendaSlot, Establishment)
            .join(SlotBooking, col(SlotBooking.slot_id) == col(AgendaSlot.id))
            .join(Establishment, col(Establishment.cnes) == col(AgendaSlot.cnes))
            .where(col(SlotBooking.entry_id) == entry_id, col(SlotBooking.status) == "ativa")
        )
    ).first()
    return None if row is None else Booking(row[0], row[1])


async def appointment_times(session: AsyncSession, entry_ids: Sequence[int]) -> dict[int, datetime]:
    """When each of these entries is booked (entries holding no slot are left out)."""
    if not entry_ids:
        return {}
    found = await session.execute(
        select(col(SlotBooking.entry_id), col(AgendaSlot.starts_at))
        .join(AgendaSlot, col(AgendaSlot.id) == col(SlotBooking.slot_id))
        .where(col(SlotBooking.entry_id).in_(entry_ids), col(SlotBooking.status) == "ativa")
    )
    return {entry_id: starts_at for entry_id, starts_at in found.all()}
