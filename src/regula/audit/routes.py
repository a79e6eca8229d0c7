"""The audit log, read by auditors and admins, limited to the reader's jurisdiction."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.params import FromQuery, QueryParameter
from msgspec import Struct
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from regula.access.policy import JurisdictionKind, Role, allow
from regula.access.service import Principal
from regula.audit.models import AuditEvent
from regula.inputs import BIGINT_MAX


class AuditEventPublic(Struct):
    id: int
    occurred_at: datetime
    actor_username: str | None
    actor_role: str | None
    action: str
    entity_type: str | None
    entity_id: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    reason: str | None
    ip: str | None
    method: str | None
    path: str | None
    status_code: int | None
    source: str


class AuditPage(Struct):
    items: list[AuditEventPublic]
    next_before_id: int | None


class AuditController(Controller):
    path = "/api/v1/audit"
    tags = ["auditoria"]

    @get(
        "/",
        opt=allow(Role.AUDITOR),
        operation_id="listAudit",
        summary="Eventos de auditoria (mais recentes primeiro)",
    )
    async def list_events(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        entity_type: FromQuery[str | None] = None,
        entity_id: FromQuery[str | None] = None,
        action: FromQuery[str | None] = None,
        before_id: Annotated[
            int | None, QueryParameter(gt=0, le=BIGINT_MAX, description="Página: eventos com id menor que este")
        ] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 100,
    ) -> AuditPage:
        t = AuditEvent.__table__  # type: ignore[attr-defined]
        stmt = select(t).order_by(t.c.id.desc()).limit(limit)
        for column, value in (("entity_type", entity_type), ("entity_id", entity_id), ("action", action)):
            if value is not None:
                stmt = stmt.where(t.c[column] == value)
        if before_id is not None:
            stmt = stmt.where(t.c.id < before_id)
        j = request.user.jurisdiction
        # Events about a place outside the reader's jurisdiction are not shown; events without a place
        # (logins, denials, configuration) are shown only to national readers.
        if j.kind is JurisdictionKind.UF:
            stmt = stmt.where(t.c.uf == j.code)
        elif j.kind is JurisdictionKind.MUNICIPALITY:
            stmt = stmt.where(t.c.municipality_ibge == j.code)
        elif j.kind is not JurisdictionKind.NATIONAL:
            from regula.territory.reference import territory

            codes = [m.ibge_code for m in territory().all() if j.covers_place(m)]
            stmt = stmt.where(or_(t.c.municipality_ibge.in_(codes)))
        rows = (await db_session.execute(stmt)).mappings().all()
        items = [AuditEventPublic(**{f: row[f] for f in AuditEventPublic.__struct_fields__}) for row in rows]
        return AuditPage(items=items, next_before_id=items[-1].id if len(items) == limit else None)


ROUTES = [AuditController]
