"""The audit log, read by auditors and admins, limited to the reader's jurisdiction."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.params import QueryParameter
from msgspec import Struct
from sqlalchemy.ext.asyncio import AsyncSession

from regula.access.actor import Actor
from regula.access.policy import Role, allow
from regula.access.service import Principal
from regula.audit import repository
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
        entity_type: Annotated[
            str | None, QueryParameter(description="Tipo do registro (ex.: WaitlistEntry, Citizen)")
        ] = None,
        entity_id: Annotated[str | None, QueryParameter(description="Identificador do registro")] = None,
        action: Annotated[
            str | None, QueryParameter(description="Código da ação registrada (o campo action dos eventos)")
        ] = None,
        before_id: Annotated[
            int | None, QueryParameter(gt=0, le=BIGINT_MAX, description="Página: eventos com id menor que este")
        ] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=1000, description="Número máximo de eventos na resposta")] = 100,
    ) -> AuditPage:
        rows = await repository.events(
            db_session,
            Actor.of(request.user),
            limit=limit,
            before_id=before_id,
            entity_type=entity_type,
            entity_id=entity_id,
            action=action,
        )
        items = [AuditEventPublic(**{f: row[f] for f in AuditEventPublic.__struct_fields__}) for row in rows]
        return AuditPage(items=items, next_before_id=items[-1].id if len(items) == limit else None)


ROUTES = [AuditController]
