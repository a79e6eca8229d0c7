"""Liveness with meaning: ``ok`` only when the database answers and the schema is at the migrations' head."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get

from regula import __version__
from regula.access.policy import public
from regula.db import migrate
from regula.http.state import driver_connection


@get("/health", opt=public(), include_in_schema=True, tags=["sistema"], summary="Saúde do serviço")
async def health(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    body: dict[str, Any] = {"status": "ok", "version": __version__, "database": "ok", "migrations": "head"}
    try:
        # One statement on a connection of the application's pool (so the check sees what requests see), outside
        # any transaction and sent by the driver itself (decision 0030): one round trip, where a session took four
        # (BEGIN, SELECT 1, this, ROLLBACK).
        async with driver_connection(request.app.state) as connection:
            current = await migrate.applied_revisions(connection)
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
