"""The audit log's queries, scoped to the reader, in one place.

``readable(actor)`` is the only place the jurisdiction filter on ``audit_event`` is written. Events about a place
outside the reader's jurisdiction are not shown; events without a place (logins, denials, configuration) are
shown only to national readers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, RowMapping, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from regula.access.actor import Actor
from regula.access.policy import JurisdictionKind
from regula.audit.models import AuditEvent

_T = AuditEvent.__table__  # type: ignore[attr-defined]


def readable(actor: Actor) -> ColumnElement[bool]:
    j = actor.jurisdiction
    if j.kind is JurisdictionKind.NATIONAL:
        return true()
    if j.kind is JurisdictionKind.UF:
        return _T.c.uf == j.code  # type: ignore[no-any-return]
    if j.kind is JurisdictionKind.MUNICIPALITY:
        return _T.c.municipality_ibge == j.code  # type: ignore[no-any-return]
    return _T.c.municipality_ibge.in_(actor.municipality_filter() or [])  # type: ignore[no-any-return]


async def events(
    session: AsyncSession,
    actor: Actor,
    *,
    limit: int,
    before_id: int | None = None,
    entity_type: str | None = None,
    entity_id: str | None = None,
    action: str | None = None,
) -> Sequence[RowMapping]:
    """The events ``actor`` may read, newest first, before the cursor ``before_id``."""
    stmt = select(_T).where(readable(actor)).order_by(_T.c.id.desc()).limit(limit)
    filters: tuple[tuple[str, Any], ...] = (("entity_type", entity_type), ("entity_id", entity_id), ("action", action))
    for column, value in filters:
        if value is not None:
            stmt = stmt.where(_T.c[column] == value)
    if before_id is not None:
        stmt = stmt.where(_T.c.id < before_id)
    return (await session.execute(stmt)).mappings().all()
