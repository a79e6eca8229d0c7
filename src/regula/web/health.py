"""Liveness with meaning: ``ok`` only when the database answers and the schema is at the migrations' head."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from regula import __version__
from regula.access.policy import public
from regula.db import migrate
from regula.http.state import sessionmaker_from

_REVISIONS = text("SELECT version_num FROM alembic_version")


async def _revisions(sessionmaker: async_sessionmaker[AsyncSession]) -> set[str]:
    """The database's revisions through the application's own pool (so the check sees what requests see), in one
    round trip: one statement on an autocommit connection, no BEGIN and no ROLLBACK around it (a session took
    four: BEGIN, ``SELECT 1``, this, ROLLBACK). A sessionmaker bound to one connection (the tests') gets a session."""
    engine = sessionmaker.kw.get("bind")
    if not isinstance(engine, AsyncEngine):
        async with sessionmaker() as session:
            return set((await session.execute(_REVISIONS)).scalars())
    async with engine.connect() as connection:
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        return set((await autocommit.execute(_REVISIONS)).scalars())


@get("/health", opt=public(), include_in_schema=True, tags=["sistema"], summary="Saúde do serviço")
async def health(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    body: dict[str, Any] = {"status": "ok", "version": __version__, "database": "ok", "migrations": "head"}
    try:
        current = await _revisions(sessionmaker_from(request.app.state))
    except Exception as exc:
        body |= {
            "status": "error",
            "database": "unreachable",
            "migrations": "unknown",
            "detail": type(exc).__name__,
        }
        return Response(body, status_code=503)
    heads = migrate.head_revisions()
    if current != heads:
        body |= {
            "status": "error",
            "migrations": "behind",
            "current": sorted(current),
            "expected": sorted(heads),
        }
        return Response(body, status_code=503)
    return Response(body, status_code=200)
