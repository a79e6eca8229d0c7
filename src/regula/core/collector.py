"""Pausing Python's cyclic garbage collector around a bulk build.

Building a million small objects (the allocation instance's entries) triggers the cyclic collector every few
hundred allocations, and each of its older-generation passes walks every object built so far: at a million entries
that was ~10 s of the instance build's 60 s and a quarter of the solve's time (docs/benchmarks.md, the weekly
cycle's allocate phase). Reference counting still frees everything that is not in a cycle, so a section that
builds plain data and makes no cycles loses nothing by pausing the collector, which runs again as usual once the
section ends.

The collector is process-wide. Pause it only around synchronous, bounded CPU work (no ``await`` inside). Where that
work runs in a thread (``allocation.service.solve_queued_now``), the process's event loop also runs without the
cyclic collector for that long; reference counting still frees its garbage, and the pause ends with the section.
Nested and concurrent pauses (threads) are counted: the collector comes back when the last one ends, and only if it
was enabled when the first began.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_depth = 0
_was_enabled = False


@contextmanager
def paused() -> Iterator[None]:
    global _depth, _was_enabled
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _was_enabled:
                gc.enable()
