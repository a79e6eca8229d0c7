"""What the waitlist announces when an entry changes status. The waitlist does not know who reacts: backfill
(allocation), messages (notify) and navigator tasks (navigation) subscribe in ``regula.wiring``, in order.

Both events carry the caller's session: subscribers run inside the transaction of the change, so a message put
into the outbox, a place released or a task opened commits (or rolls back) with the status change itself."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from regula.access.actor import Actor
from regula.config import Settings
from regula.core.hooks import Hook
from regula.waitlist.models import WaitlistEntry
from regula.waitlist.states import EntryStatus


@dataclass(frozen=True)
class EntryLeftBooking:
    """A booked entry (agendada/confirmada) moved to a status that gives its place up; emitted before the
    queue positions are recomputed, so the place is offered while the entry's own move is still in progress."""

    session: AsyncSession
    settings: Settings
    entry: WaitlistEntry
    reason: str  # the reason code of the move, or the target status ("faltou", "suspensa"...)


@dataclass(frozen=True)
class EntryTransitioned:
    """An entry moved from ``source`` to ``target``; emitted last, after positions are up to date."""

    session: AsyncSession
    settings: Settings
    entry: WaitlistEntry
    source: EntryStatus
    target: EntryStatus
    actor: Actor


ENTRY_LEFT_BOOKING: Hook[EntryLeftBooking] = Hook("waitlist.entry_left_booking")
ENTRY_TRANSITIONED: Hook[EntryTransitioned] = Hook("waitlist.entry_transitioned")
