"""A per-process map whose values expire a fixed time after they were put, however often they are read.

The one mechanism behind the few seconds' memories of request hot paths (``regula.access.token_cache``,
``regula.waitlist.public_answers``): each states its own bound and what empties it early.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@dataclass
class ExpiringMap(Generic[K, V]):
    ttl: float
    max_size: int  # past that the map starts over (cheaper than evicting one by one, and rare by design)
    clock: Callable[[], float] = time.monotonic
    _entries: dict[K, tuple[float, V]] = field(default_factory=dict)  # key → (valid until, value)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, key: K) -> V | None:
        found = self._entries.get(key)
        if found is None:
            return None
        until, value = found
        if self.clock() >= until:
            self._entries.pop(key, None)
            return None
        return value

    def put(self, key: K, value: V) -> None:
        with self._lock:
            if len(self._entries) >= self.max_size:
                self._entries.clear()
            self._entries[key] = (self.clock() + self.ttl, value)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
