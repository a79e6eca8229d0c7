"""The one clock. Nothing may depend on today's date implicitly: code that needs "now" or "today" takes it from
here (or is handed a value by its caller), so a test can pass a fixed instant instead of waiting for a date."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Protocol
from zoneinfo import ZoneInfo

Clock = Callable[[], datetime]
"""Anything returning the current aware instant; ``utcnow`` is the real one, tests pass a fixed lambda."""


class HasTimezone(Protocol):
    """What the clock needs from the settings (``regula.config.Settings`` satisfies it): the IANA zone of the
    regulation centre, whose calendar day the deadlines count in."""

    @property
    def timezone(self) -> str: ...


def utcnow() -> datetime:
    return datetime.now(UTC)


def now() -> datetime:
    """The current instant, timezone-aware (UTC)."""
    return utcnow()


def local_today(settings: HasTimezone, clock: Clock = utcnow) -> date:
    """Today's date where the regulation centre is, not on the server: a deadline counted in days (tM, replies)
    ends at the local midnight people see."""
    return clock().astimezone(ZoneInfo(settings.timezone)).date()
