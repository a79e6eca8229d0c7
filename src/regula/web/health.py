"""Liveness with meaning: ``ok`` only when the database answers and the schema is at the migrations' head.

The database is asked at most once per ``health_check_seconds`` (1 s by default) per process, and callers that
arrive while it is being asked wait for that one answer (decision 0033): a load balancer, an orchestrator and a
monitor polling every worker must not add a database round trip per poll, and during an outage they must not
pile up connection attempts. Every answer says when the database was asked (``checked_at``), so it is never
older than the setting says; ``health_check_seconds = 0`` asks on every call.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from litestar import Request, Response, get
from litestar.datastructures import State

from regula import __version__
from regula.access.policy import public
from regula.core.clock import Clock, utcnow
from regula.core.expiring import ExpiringMap
from regula.db import migrate
from regula.http.state import driver_connection

HEALTH_KEY = "health"

Verdict = tuple[int, dict[str, Any]]
"""The status code and the body of one check of the database."""


class HealthMemory:
    """The last check of the database, repeated for ``ttl`` seconds; one check in flight at a time.

    ``monotonic`` measures the ``ttl`` (tests pass a hand-moved one); ``clock`` stamps ``checked_at``."""

    def __init__(self, ttl: float, *, monotonic: Callable[[], float] = time.monotonic, clock: Clock = utcnow) -> None:
        self._last: ExpiringMap[str, Verdict] = ExpiringMap(ttl=ttl, max_size=1, clock=monotonic)
        self._lock = asyncio.Lock()
        self.clock = clock

    async def verdict(self, check: Callable[[], Awaitable[Verdict]]) -> Verdict:
        found = self._last.get(HEALTH_KEY)
        if found is not None:
            return found
        async with self._lock:  # the callers queued behind a check take its answer, not one check each
            found = self._last.get(HEALTH_KEY)
            if found is not None:
                return found
            verdict = await check()
            self._last.put(HEALTH_KEY, verdict)
            return verdict


def health_memory_from(state: State) -> HealthMemory:
    memory = state.get(HEALTH_KEY)
    if not isinstance(memory, HealthMemory):
        raise RuntimeError("the application was built without its health memory (regula.web.app.create_app)")
    return memory


async def _check(state: State, clock: Clock) -> Verdict:
    checked_at = clock().isoformat(timespec="milliseconds")
    body: dict[str, Any] = {
        "status": "ok",
        "version": __version__,
        "database": "ok",
        "migrations": "head",
        "checked_at": checked_at,
    }
    try:
        # One statement on a connection of the application's pool (so the check sees what requests see), outside
        # any transaction and sent by the driver itself (decision 0030): one round trip, where a session took four
        # (BEGIN, SELECT 1, this, ROLLBACK).
        async with driver_connection(state) as connection:
            current = await migrate.applied_revisions(connection)
    except Exception as exc:
        body |= {
            "status": "error",
            "database": "unreachable",
            "migrations": "unknown",
            "detail": type(exc).__name__,
        }
        return 503, body
    heads = migrate.head_revisions()
    if current != heads:
        body |= {
            "status": "error",
            "migrations": "behind",
            "current": sorted(current),
            "expected": sorted(heads),
        }
        return 503, body
    return 200, body


@get(
    "/health",
    opt=public(),
    include_in_schema=True,
    tags=["sistema"],
    summary="Saúde do serviço",
    description=(
        "200 quando o banco de dados responde e o esquema está na última migração; 503 caso contrário. "
        "O banco é consultado no máximo uma vez por REGULA_HEALTH_CHECK_SECONDS (1 s por padrão) em cada "
        "processo; checked_at diz quando foi consultado."
    ),
)
async def health(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    state = request.app.state
    memory = health_memory_from(state)
    status_code, body = await memory.verdict(lambda: _check(state, memory.clock))
    return Response(body, status_code=status_code)
