"""An in-process token bucket per client address, for the public look-up page.

One bucket per address: ``capacity`` look-ups at once, refilled at ``capacity`` per ``period`` seconds. Kept in
the application's state, so each application (and each test's) has its own. With several web workers each keeps
its own buckets, which multiplies the allowance by the number of workers: good enough against someone trying
birth dates by hand, and the protocol numbers are random (regula.waitlist.service.new_protocol).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

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
