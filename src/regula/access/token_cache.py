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

from sqlalchemy import event
from sqlalchemy.orm import Session, UOWTransaction

from regula.access.models import ApiToken, User
from regula.access.service import Principal
from regula.core.expiring import ExpiringMap

TOKEN_CACHE_SECONDS = 5.0
MAX_TOKENS = 10_000  # past that the cache starts over: a few thousand active integrations at most

#: The process's cache (each web worker has its own): token digest → who.
TOKENS: ExpiringMap[str, Principal] = ExpiringMap(ttl=TOKEN_CACHE_SECONDS, max_size=MAX_TOKENS)


def _after_flush(session: Session, flush_context: UOWTransaction) -> None:
    if any(isinstance(obj, ApiToken | User) for obj in (*session.new, *session.dirty)):
        TOKENS.clear()


def install() -> None:
    """Empty the cache whenever a token or a user is changed through the ORM in this process (idempotent)."""
    if not event.contains(Session, "after_flush", _after_flush):
        event.listen(Session, "after_flush", _after_flush)
