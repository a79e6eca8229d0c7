"""Typed domain-event hooks. A lower domain announces what happened (an entry changed status) without importing
the domains that react to it (allocation backfills the place, notify writes the messages, navigation opens
tasks); the reactions are wired in ONE place, in order, by ``regula.wiring`` (decision 0011).

Subscribers are awaited one after another in the caller's session and transaction: the outbox rows they write
commit, or roll back, together with the change that caused them.

Many events at once (an allocation run's commit moves thousands of entries): :meth:`Hook.emit_many` gives each
subscriber, in the wired order, the whole batch — through its batch variant when the wiring names one (one query
and one insert for all the events instead of some per event), else one event after another. A batch variant
must do exactly what its subscriber does for each event; only the number of statements differs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Generic, TypeVar

E = TypeVar("E")

Subscriber = Callable[[E], Awaitable[None]]
BatchSubscriber = Callable[[Sequence[E]], Awaitable[None]]


class HookNotWired(RuntimeError):
    """Emitting a hook that was never wired would silently drop its reactions (no message, no backfill)."""


class Hook(Generic[E]):
    """One event type and its ordered subscribers."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._subscribers: tuple[Subscriber[E], ...] | None = None
        self._batches: dict[Subscriber[E], BatchSubscriber[E]] = {}

    def connect(
        self, *subscribers: Subscriber[E], batches: Mapping[Subscriber[E], BatchSubscriber[E]] | None = None
    ) -> None:
        """Set the subscribers, in the order they run, and the batch variants of some of them (``batches``: a
        subscriber → the function that reacts to many of its events at once). Replaces any earlier wiring, so
        wiring twice (an app factory called per test) is harmless; an empty call wires the hook to nothing on
        purpose."""
        unknown = set(batches or {}) - set(subscribers)
        if unknown:
            raise ValueError(f"hook {self.name!r}: batch variants of subscribers not connected: {unknown!r}")
        self._subscribers = subscribers
        self._batches = dict(batches or {})

    @property
    def subscribers(self) -> tuple[Subscriber[E], ...]:
        return self._subscribers or ()

    def batch_of(self, subscriber: Subscriber[E]) -> BatchSubscriber[E] | None:
        return self._batches.get(subscriber)

    async def emit(self, event: E) -> None:
        for subscriber in self._wired():
            await subscriber(event)

    async def emit_many(self, events: Sequence[E]) -> None:
        """Each subscriber, in order, reacts to all ``events`` (its batch variant when it has one): the same
        reactions as emitting them one by one, ordered by subscriber rather than by event."""
        subscribers = self._wired()
        if not events:
            return
        for subscriber in subscribers:
            batch = self._batches.get(subscriber)
            if batch is not None:
                await batch(events)
            else:
                for event in events:
                    await subscriber(event)

    def _wired(self) -> tuple[Subscriber[E], ...]:
        if self._subscribers is None:
            raise HookNotWired(f"hook {self.name!r} was emitted before regula.wiring.wire() connected it")
        return self._subscribers
