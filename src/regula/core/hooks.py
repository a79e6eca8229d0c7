"""Typed domain-event hooks. A lower domain announces what happened (an entry changed status) without importing
the domains that react to it (allocation backfills the place, notify writes the messages, navigation opens
tasks); the reactions are wired in ONE place, in order, by ``regula.wiring`` (decision 0011).

Subscribers are awaited one after another in the caller's session and transaction: the outbox rows they write
commit, or roll back, together with the change that caused them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

E = TypeVar("E")

Subscriber = Callable[[E], Awaitable[None]]


class HookNotWired(RuntimeError):
    """Emitting a hook that was never wired would silently drop its reactions (no message, no backfill)."""


class Hook(Generic[E]):
    """One event type and its ordered subscribers."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._subscribers: tuple[Subscriber[E], ...] | None = None

    def connect(self, *subscribers: Subscriber[E]) -> None:
        """Set the subscribers, in the order they run. Replaces any earlier wiring, so wiring twice (an app
        factory called per test) is harmless; an empty call wires the hook to nothing on purpose."""
        self._subscribers = subscribers

    @property
    def subscribers(self) -> tuple[Subscriber[E], ...]:
        return self._subscribers or ()

    async def emit(self, event: E) -> None:
        if self._subscribers is None:
            raise HookNotWired(f"hook {self.name!r} was emitted before regula.wiring.wire() connected it")
        for subscriber in self._subscribers:
            await subscriber(event)
