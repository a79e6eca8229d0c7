"""Login throttling per (account, client address), with exponential backoff.

A hard lock of the account after N failures lets anyone lock anyone out by typing wrong passwords for their
username. Here failures count per pair (username, address): after ``FREE_FAILURES`` in a row from one address,
that address waits ``BASE_DELAY`` seconds before its next try for that account, doubling with each further
failure up to ``MAX_DELAY``. The owner, from their own address, is not affected; an attacker guessing from one
address is slowed to a few dozen tries an hour, and argon2 makes each try cost as much from many addresses.

In-process, like the look-up buckets (regula.core.ratelimit): ``regula serve`` runs one web process. A success
clears the pair; a pair idle for ``FORGET_AFTER`` seconds starts over.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

FREE_FAILURES = 3
BASE_DELAY = 2.0  # seconds, after the first failure past the free ones
MAX_DELAY = 15 * 60.0
FORGET_AFTER = 60 * 60.0
MAX_TRACKED = 50_000
THROTTLE_KEY = "login_throttle"


@dataclass
class _Failures:
    count: int
    blocked_until: float
    last: float


@dataclass
class LoginThrottle:
    clock: Callable[[], float] = time.monotonic
    _pairs: dict[tuple[str, str], _Failures] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @staticmethod
    def _key(username: str, address: str) -> tuple[str, str]:
        return (username.strip().lower()[:64], address)

    def wait(self, username: str, address: str) -> float:
        """Seconds before ``address`` may try ``username`` again (0: now)."""
        with self._lock:
            entry = self._pairs.get(self._key(username, address))
            if entry is None:
                return 0.0
            return max(0.0, entry.blocked_until - self.clock())

    def failed(self, username: str, address: str) -> float:
        """Count a failure; return the delay it imposes on the next try."""
        with self._lock:
            now = self.clock()
            key = self._key(username, address)
            entry = self._pairs.get(key)
            if entry is None or now - entry.last > FORGET_AFTER:
                entry = _Failures(0, now, now)
            entry.count += 1
            entry.last = now
            excess = entry.count - FREE_FAILURES
            delay = 0.0 if excess <= 0 else min(MAX_DELAY, BASE_DELAY * 2 ** (excess - 1))
            entry.blocked_until = now + delay
            self._pairs[key] = entry
            self._forget_idle(now)
            return delay

    def succeeded(self, username: str, address: str) -> None:
        with self._lock:
            self._pairs.pop(self._key(username, address), None)

    def _forget_idle(self, now: float) -> None:
        if len(self._pairs) <= MAX_TRACKED:
            return
        for key, entry in list(self._pairs.items()):
            if now - entry.last > FORGET_AFTER and entry.blocked_until <= now:
                del self._pairs[key]


def login_throttle(state: Any) -> LoginThrottle:
    """The application's throttle (created on first use), kept in its state."""
    throttle = state.get(THROTTLE_KEY)
    if not isinstance(throttle, LoginThrottle):
        throttle = LoginThrottle()
        state[THROTTLE_KEY] = throttle
    return throttle
