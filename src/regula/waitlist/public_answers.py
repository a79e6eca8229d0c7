"""A few seconds' memory of the public look-up's answers, per process (issue 18 item 3, decision 0026).

``GET /public/position`` answers a protocol and a birth date with a masked name, the entry's status, its position
and the estimate. Those change when the queue is recomputed (the nightly refresh, a policy or capacity change) or
the entry moves through the workflow; between those moments every look-up of the same protocol gets the same
answer. A found answer is remembered here, keyed on the protocol and the birth date together (the birth date is
what the caller proves; an answer is never served for a protocol alone), and served without a database round trip.

What a remembered answer may cost, and the bound on it:

* A change made **in another process** (another web worker, the scheduler's nightly refresh, the CLI) shows in
  this process's answers at most ``PUBLIC_ANSWER_SECONDS`` (5 s) after it was committed: each answer expires 5 s
  after it was read from the database, however often it is served. So a position is never older than the last
  recompute by more than 5 s — well inside the refresh's own granularity (once a night) and the ``updated_at``
  the answer carries.
* **In this process**, a write to ``waitlist_entry`` or ``waitlist_standing`` (the entry's position and estimates,
  decision 0034) through a session (an ORM flush of an entry, a Core or textual INSERT/UPDATE/DELETE of either
  table run through a session) empties the memory when it is run and again
  when it is committed, so a transition or a recompute made here shows on the next look-up here. This is a
  courtesy; the 5 s above is the bound that holds whatever wrote the row.
* Only found answers are remembered: a wrong protocol or birth date goes to the database every time, so probing
  gains nothing. The rate limits are checked before the memory, on every request, exactly as before.
* Nothing is kept but what the answer shows (the masked name, never the full name) and its key, in this
  process's memory only.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import date
from typing import Any, Generic, TypeVar

from sqlalchemy import TextClause, event
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from regula.core.expiring import ExpiringMap
from regula.waitlist.models import WaitlistEntry, WaitlistStanding

PUBLIC_ANSWER_SECONDS = 5.0
MAX_ANSWERS = 100_000  # past that the memory starts over (5 s of look-ups at 1,000/s is 5,000)
_TOUCHED = "regula.public_answers.touched"
#: The tables an answer is read from: the entry and its standing row (position, queue size, estimates).
_TABLES = frozenset({WaitlistEntry.__tablename__, WaitlistStanding.__tablename__})
#: A textual statement that writes either (the queue recomputes are SQL text).
_WRITES_ENTRIES = re.compile(r"\b(?:update|insert\s+into|delete\s+from)\s+waitlist_(?:entry|standing)\b", re.IGNORECASE)

V = TypeVar("V")


class AnswerCache(Generic[V]):
    """Answers keyed on the protocol and the birth date together, each forgotten ``ttl`` seconds after it was put."""

    def __init__(self, ttl: float = PUBLIC_ANSWER_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self._map: ExpiringMap[tuple[str, date], V] = ExpiringMap(ttl=ttl, max_size=MAX_ANSWERS, clock=clock)

    @property
    def clock(self) -> Callable[[], float]:
        return self._map.clock

    @clock.setter
    def clock(self, clock: Callable[[], float]) -> None:
        self._map.clock = clock

    def get(self, protocol: str, birth_date: date) -> V | None:
        return self._map.get((protocol, birth_date))

    def put(self, protocol: str, birth_date: date, answer: V) -> None:
        self._map.put((protocol, birth_date), answer)

    def clear(self) -> None:
        self._map.clear()


#: The process's memory (each web worker has its own).
ANSWERS: AnswerCache[Any] = AnswerCache()


def _after_flush(session: Session, flush_context: UOWTransaction) -> None:
    if any(
        isinstance(obj, WaitlistEntry | WaitlistStanding) for obj in (*session.new, *session.dirty, *session.deleted)
    ):
        session.info[_TOUCHED] = True
        ANSWERS.clear()


def _on_execute(state: ORMExecuteState) -> None:
    statement = state.statement
    if state.is_insert or state.is_update or state.is_delete:
        # An ORM ``update(WaitlistEntry)`` names an annotated copy of the table: compare names, not identities.
        touched = getattr(getattr(statement, "table", None), "name", None) in _TABLES
    else:
        touched = isinstance(statement, TextClause) and _WRITES_ENTRIES.search(statement.text) is not None
    if touched:
        state.session.info[_TOUCHED] = True
        ANSWERS.clear()


def _after_commit(session: Session) -> None:
    # Again at commit: a look-up of this process that read the old row between the flush and the commit would
    # otherwise keep it for the whole ``ttl``.
    if session.info.pop(_TOUCHED, False):
        ANSWERS.clear()


def _after_rollback(session: Session) -> None:
    session.info.pop(_TOUCHED, None)


def install() -> None:
    """Empty the memory whenever an entry is written through a session in this process (idempotent)."""
    for name, listener in (
        ("after_flush", _after_flush),
        ("do_orm_execute", _on_execute),
        ("after_commit", _after_commit),
        ("after_rollback", _after_rollback),
    ):
        if not event.contains(Session, name, listener):
            event.listen(Session, name, listener)


__all__ = ["ANSWERS", "MAX_ANSWERS", "PUBLIC_ANSWER_SECONDS", "AnswerCache", "install"]
