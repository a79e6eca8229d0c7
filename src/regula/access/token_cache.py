"""A few seconds' memory of which API token belongs to whom, per process (issue 18 item 3).

Resolving a bearer token took its own pooled connection and transaction on every API request (a connection
check, BEGIN, the token and user look-up, COMMIT): about as many round trips to PostgreSQL as the request's own
work. ``authenticate`` in ``regula.web.guards`` asks this cache first and the database only on a miss.

What a cached answer may cost, and the bound on it:

* A token revoked, expired, or whose user was deactivated or changed role **in another process** (another web
  worker, ``regula users deactivate``) keeps working in this one for at most ``TOKEN_CACHE_SECONDS`` (5 s) after
  this process last read it from the database. A token is never kept longer: each entry expires
  ``TOKEN_CACHE_SECONDS`` after it was read, however often it is used.
* **In this process**, any ORM change to a token or a user (revoking a token, deactivating a user, changing a
  role, jurisdiction or password) empties the cache as it is flushed, so the change applies to the next request
  here at once (a request of this process that reads the token while that change is being committed may still
  remember the old state, for the same 5 s at most).
* Only valid tokens are remembered: an unknown or revoked token goes to the database every time (and its denial
  is audited every time). Keys are the tokens' SHA-256 digests (as stored), never the secrets.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import event
from sqlalchemy.orm import Session, UOWTransaction

from regula.access.models import ApiToken, User
from regula.access.service import Principal

TOKEN_CACHE_SECONDS = 5.0
MAX_TOKENS = 10_000  # past that the cache starts over: a few thousand active integrations at most


@dataclass
class TokenCache:
    ttl: float = TOKEN_CACHE_SECONDS
    clock: Callable[[], float] = time.monotonic
    _entries: dict[str, tuple[float, Principal]] = field(default_factory=dict)  # digest → (valid until, who)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, token_digest: str) -> Principal | None:
        found = self._entries.get(token_digest)
        if found is None:
            return None
        until, principal = found
        if self.clock() >= until:
            self._entries.pop(token_digest, None)
            return None
        return principal

    def put(self, token_digest: str, principal: Principal) -> None:
        with self._lock:
            if len(self._entries) >= MAX_TOKENS:
                self._entries.clear()
            self._entries[token_digest] = (self.clock() + self.ttl, principal)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


#: The process's cache (each web worker has its own).
TOKENS = TokenCache()


def _after_flush(session: Session, flush_context: UOWTransaction) -> None:
    if any(isinstance(obj, ApiToken | User) for obj in (*session.new, *session.dirty)):
        TOKENS.clear()


def install() -> None:
    """Empty the cache whenever a token or a user is changed through the ORM in this process (idempotent)."""
    if not event.contains(Session, "after_flush", _after_flush):
        event.listen(Session, "after_flush", _after_flush)
