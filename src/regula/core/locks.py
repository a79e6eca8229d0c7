"""PostgreSQL advisory-lock keys. Several processes (jobs, dispatchers) coordinate through session-level advisory
locks; the key of a name is computed here once so two modules never disagree on it."""

from __future__ import annotations

import hashlib


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for ``pg_try_advisory_lock``."""
    return int.from_bytes(hashlib.sha256(f"regula.job.{name}".encode()).digest()[:8], "big", signed=True)
