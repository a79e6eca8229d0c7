"""In-process token buckets for the public look-up (the page ``/posicao`` and the API ``/public/position``).

A bucket per key: ``capacity`` look-ups at once, refilled at ``capacity`` per ``period`` seconds. The look-up
takes from two: one per client address (regula.http.state.client_address, so a forged X-Forwarded-For buys
nothing) and one per protocol, so that trying birth dates for one known protocol from many addresses is slow too.
Page and API share the same buckets. Kept in the application's state, so each application (and each test's) has
its own. With several web workers each keeps its own buckets, which multiplies the allowance by the number of
workers: still days of trying for one protocol, and the protocol numbers are random
(regula.waitlist.service.new_protocol).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from litestar.datastructures import State

from regula.core.errors import TooManyRequests

MAX_TRACKED = 50_000  # addresses; past that, full buckets (idle addresses) are forgotten


@dataclass
class TokenBucket:
    capacity: int
    period: float  # seconds to refill the whole capacity
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)  # key → (tokens, last update)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, key: str) -> float:
        """Take a token for ``key``: 0 when granted, else the seconds until one is available."""
        with self._lock:
            now = self.clock()
            tokens, last = self._buckets.get(key, (float(self.capacity), now))
            tokens = min(float(self.capacity), tokens + (now - last) * self.capacity / self.period)
            if tokens >= 1:
                self._buckets[key] = (tokens - 1, now)
                self._forget_idle(now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1 - tokens) * self.period / self.capacity

    def _forget_idle(self, now: float) -> None:
        if len(self._buckets) <= MAX_TRACKED:
            return
        for key, (tokens, last) in list(self._buckets.items()):
            if tokens + (now - last) * self.capacity / self.period >= self.capacity:
                del self._buckets[key]


LOOKUPS_PER_ADDRESS = 10  # per minute: a person retyping a date never gets near it
LOOKUPS_PER_PROTOCOL = 5  # per 15 minutes: one birth date tried every 3 minutes, whatever the number of addresses
PROTOCOL_PERIOD = 15 * 60.0
LIMITS_KEY = "public_lookup_limits"


@dataclass(frozen=True)
class Refusal:
    seconds: int
    code: str
    message: str  # Portuguese, for the person

    def error(self) -> TooManyRequests:
        return TooManyRequests(self.message, code=self.code, retry_after=self.seconds)


@dataclass
class PublicLookupLimits:
    clock: Callable[[], float] = time.monotonic
    by_address: TokenBucket = field(init=False)
    by_protocol: TokenBucket = field(init=False)

    def __post_init__(self) -> None:
        self.by_address = TokenBucket(LOOKUPS_PER_ADDRESS, 60.0, self.clock)
        self.by_protocol = TokenBucket(LOOKUPS_PER_PROTOCOL, PROTOCOL_PERIOD, self.clock)

    def check_address(self, address: str) -> Refusal | None:
        wait = self.by_address.take(address)
        if wait <= 0:
            return None
        seconds = max(1, math.ceil(wait))
        return Refusal(
            seconds,
            "muitas_consultas_do_endereco",
            f"Muitas consultas a partir deste endereço. Aguarde {seconds} segundos e tente de novo.",
        )

    def check_protocol(self, protocol: str) -> Refusal | None:
        # The same normalisation as the look-up (upper case, no spaces): another spelling is another bucket only
        # when it could never match an entry.
        key = "".join(protocol.split()).upper()[:32]
        if not key:
            return None
        wait = self.by_protocol.take(key)
        if wait <= 0:
            return None
        seconds = max(1, math.ceil(wait))
        return Refusal(
            seconds,
            "muitas_consultas_do_protocolo",
            f"Muitas consultas para este protocolo. Aguarde {math.ceil(seconds / 60)} minutos e tente de novo.",
        )


def public_lookup_limits(state: State | Any) -> PublicLookupLimits:
    """The application's limits (created on first use)."""
    limits = state.get(LIMITS_KEY)
    if not isinstance(limits, PublicLookupLimits):
        limits = PublicLookupLimits()
        state[LIMITS_KEY] = limits
    return limits
