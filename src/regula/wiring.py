"""The composition root of the domain events: which domains react to which event, in which order.

The waitlist announces status changes (``waitlist.events``) without importing the domains that react, so the
dependencies point one way (decision 0011). This is the ONE place where the reactions are connected; every
process that changes entries calls :func:`wire` at start: the app factory (``web.app.create_app``), the CLI
entry (``cli.main``) and the jobs process (``jobs.process``). Emitting a hook that was never wired raises
``core.hooks.HookNotWired`` rather than dropping the reactions silently.
"""

from __future__ import annotations

from regula.allocation import backfill
from regula.navigation import care_loop
from regula.navigation import service as navigation
from regula.notify import events as notify
from regula.programs import service as programs
from regula.waitlist.events import ENTRY_LEFT_BOOKING, ENTRY_TRANSITIONED
from regula.waitlist.plans import PAR_APPROVAL


def wire() -> None:
    """Connect every subscriber. Idempotent: wiring again replaces the same subscribers in the same order."""
    # A booked entry leaving its place: release the booking and offer the place to the next person at once.
    ENTRY_LEFT_BOOKING.connect(backfill.on_entry_left_booking)
    # After every status change, in this order: the messages (outbox rows, cancellations of stale ones, the
    # tasks a message's failure opens), then navigation's own bookkeeping (tasks a confirmation settles, the late
    # teleconsultoria's task the answer settles).
    # Many changes at once (an allocation run's commit): notify writes all their messages in one insert; the other
    # two only look at each event (no statement for a booking) and run per event.
    ENTRY_TRANSITIONED.connect(
        notify.on_entry_transitioned,
        navigation.on_entry_transitioned,
        care_loop.on_entry_transitioned,
        batches={notify.on_entry_transitioned: notify.on_entries_transitioned},
    )
    # The six-month window of referrals by procedure (art. 14 §2 as amended) counts from the approval of the PAR
    # covering the citizen's municipality: program management answers (decision 0016).
    PAR_APPROVAL.connect(programs.par_approval_for_municipality)
