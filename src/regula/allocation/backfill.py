"""Backfill: a released place goes to the next person at once.

When a booked entry leaves its slot (cancellation, a "NÃO" to the confirmation, no reply by the deadline, a
suspension), its booking is released and a small allocation offers the place to the best eligible waiting entry:
same OCI, allowed by the provider's restrictions, whose queue reaches the provider (its own scope, or wider once
escalated at 75% of tM), who can be reached (a phone and consent, since the offer is short notice), in queue
order (score, authorization time, id). The scheduler's sweep does the same for places freed in other ways.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import contains_eager
from sqlmodel import col

from regula.config import Settings
from regula.core.errors import Conflict
from regula.people.models import Citizen
from regula.people.service import age_on
from regula.providers import service as providers
from regula.providers.models import AgendaSlot, Establishment, EstablishmentOffer, SlotBooking
from regula.territory.reference import territory
from regula.waitlist import service as wl
from regula.waitlist.events import EntryLeftBooking
from regula.waitlist.models import WaitlistEntry, WaitlistStanding
from regula.waitlist.states import EntryStatus

BOOKED_STATUSES = frozenset({EntryStatus.AGENDADA.value, EntryStatus.CONFIRMADA.value})
# Places starting sooner than this are not offered: nobody can be told and travel in time.
MIN_NOTICE = timedelta(hours=12)


@dataclass(frozen=True, slots=True)
class Place:
    """A released place as the backfill rule sees it: the provider's territory and its restrictions for the OCI."""

    region_code: str | None
    macro_code: str
    uf: str
    sex: str | None  # the offer's sex restriction
    age_min_years: int | None
    age_max_years: int | None


@dataclass(frozen=True, slots=True)
class Candidate:
    """A waiting entry (already of the place's OCI, reachable by phone with consent) as the rule sees it."""

    scope_kind: str
    scope_code: str
    escalated: bool  # past 75% of tM and escalated (``WaitlistEntry.escalated_at``)
    home_macro_code: str
    home_uf: str
    sex: str
    age_years: int


def may_take(place: Place, candidate: Candidate) -> bool:
    """Whether a waiting entry may be offered a released place: its queue reaches the provider (its own scope, or,
    once escalated at 75% of tM, the provider's macro-region or UF: Portaria GM/MS 3.492/2024 art. 14 §3 III as
    amended for tM, SIGIC's 75% transfer rule, ``waitlist.measures``), and the provider's sex and age restrictions
    admit the person. Pure: the database backfill and the policy simulator (``regula.simulation``) both call it."""
    reach = {("region", place.region_code), ("macro", place.macro_code), ("uf", place.uf)}
    own_scope = (candidate.scope_kind, candidate.scope_code) in reach
    widened = candidate.escalated and (
        ("macro", candidate.home_macro_code) in reach or ("uf", candidate.home_uf) in reach
    )
    if not (own_scope or widened):
        return False
    if place.sex and candidate.sex != place.sex:
        return False
    age = candidate.age_years
    return not (
        (place.age_min_years is not None and age < place.age_min_years)
        or (place.age_max_years is not None and age > place.age_max_years)
    )


async def on_entry_left_booking(event: EntryLeftBooking) -> None:
    """Subscriber of ``waitlist.events.ENTRY_LEFT_BOOKING`` (see ``regula.wiring``)."""
    await release_for_entry(event.session, event.settings, event.entry, event.reason)


async def release_for_entry(session: AsyncSession, settings: Settings, entry: WaitlistEntry, reason: str) -> None:
    """Called when an entry leaves a booked status: release its booking and backfill the place."""
    assert entry.id is not None
    booking = await providers.active_booking(session, entry.id)
    if booking is None:
        return
    if reason == EntryStatus.FALTOU.value:
        # A no-show: the place was lost, not freed; the booking records it.
        await providers.release(session, booking, reason, status="faltou")
        return
    await providers.release(session, booking, reason)
    await backfill_slot(session, settings, booking.slot_id, exclude_entry=entry.id)


async def backfill_slot(
    session: AsyncSession, settings: Settings, slot_id: int, *, exclude_entry: int | None = None
) -> int | None:
    """Give one free place of the slot to the best eligible waiting entry; returns its id, or None."""
    row = (
        await session.execute(
            select(AgendaSlot, Establishment, EstablishmentOffer)
            .join(Establishment, col(Establishment.cnes) == col(AgendaSlot.cnes))
            .join(
                EstablishmentOffer,
                (col(EstablishmentOffer.cnes) == col(AgendaSlot.cnes))
                & (col(EstablishmentOffer.oci_code) == col(AgendaSlot.oci_code)),
            )
            .where(col(AgendaSlot.id) == slot_id)
        )
    ).first()
    if row is None:
        return None
    slot, est, offer = row
    if slot.status != "aberta" or slot.booked >= slot.capacity or slot.starts_at < datetime.now(UTC) + MIN_NOTICE:
        return None
    where = territory().municipality(est.municipality_ibge)
    place = Place(
        where.health_region_code, where.macro_code, where.uf, offer.sex, offer.age_min_years, offer.age_max_years
    )
    today = wl.local_today(settings)
    candidates = (
        await session.execute(
            select(WaitlistEntry, Citizen)
            .join(Citizen, col(Citizen.id) == col(WaitlistEntry.citizen_id))
            .join(WaitlistStanding, col(WaitlistStanding.entry_id) == col(WaitlistEntry.id))
            .options(contains_eager(WaitlistEntry.standing))  # type: ignore[arg-type]
            .where(
                col(WaitlistEntry.status) == EntryStatus.AUTORIZADA.value,
                col(WaitlistEntry.oci_code) == slot.oci_code,
                col(Citizen.phone).is_not(None),
                col(Citizen.contact_consent),
                # Whoever already let this place go (declined it, or did not answer the offer) is not asked again.
                ~select(col(SlotBooking.id))
                .where(col(SlotBooking.slot_id) == slot_id, col(SlotBooking.entry_id) == col(WaitlistEntry.id))
                .exists(),
            )
            .order_by(
                col(WaitlistStanding.score).desc().nulls_last(),
                col(WaitlistEntry.authorized_at),
                col(WaitlistEntry.id),
            )
            .limit(500)
        )
    ).all()
    for entry, citizen in candidates:
        if entry.id == exclude_entry:
            continue
        candidate = Candidate(
            entry.scope_kind,
            entry.scope_code,
            entry.escalated_at is not None,
            territory().municipality(entry.municipality_ibge).macro_code,
            entry.uf,
            citizen.sex,
            age_on(citizen.birth_date, today),
        )
        if not may_take(place, candidate):
            continue
        chosen = entry.id
        assert chosen is not None
        # The slot is held here (released just now) or about to be: the entry must not be waited for,
        # since an allocation commit holds its entries and then waits for their slots (issue 11). An entry another
        # transaction holds is being changed right now: the place goes to the next candidate.
        locked = await wl.try_lock_entry(session, chosen)
        if locked is None or locked.status != EntryStatus.AUTORIZADA.value:
            continue
        try:
            async with session.begin_nested():
                await providers.book(session, slot_id, chosen)
                await wl.transition(
                    session,
                    chosen,
                    EntryStatus.AGENDADA.value,
                    wl.Actor.system("backfill"),
                    settings,
                    reason_text="Vaga liberada oferecida à próxima pessoa da fila (encaixe).",
                )
        except Conflict:
            return None
        return chosen
    return None


async def sweep(session: AsyncSession, settings: Settings, horizon_days: int = 14) -> dict[str, int]:
    """Free places in the coming days (released by no-replies, cancelled bookings, new capacity): backfill."""
    now = datetime.now(UTC)
    slots = (
        (
            await session.execute(
                select(col(AgendaSlot.id))
                .where(
                    col(AgendaSlot.status) == "aberta",
                    col(AgendaSlot.booked) < col(AgendaSlot.capacity),
                    col(AgendaSlot.starts_at) >= now + MIN_NOTICE,
                    col(AgendaSlot.starts_at) < now + timedelta(days=horizon_days),
                    col(AgendaSlot.id).in_(
                        select(col(SlotBooking.slot_id)).where(col(SlotBooking.status) == "liberada")
                    ),
                )
                .order_by(col(AgendaSlot.starts_at))
            )
        )
        .scalars()
        .all()
    )
    filled = 0
    for slot_id in slots:
        if slot_id is None:
            continue
        while await backfill_slot(session, settings, slot_id) is not None:
            filled += 1
    return {"slots_checked": len(slots), "places_filled": filled}
