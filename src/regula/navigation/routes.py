"""The navigators' worklist API: open tasks in the user's jurisdiction, and the contacts logged against them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromQuery, JSONBody
from msgspec import Struct
from sqlalchemy.ext.asyncio import AsyncSession

from regula.access.actor import Actor
from regula.access.policy import Role, allow
from regula.access.service import Principal
from regula.http.input_guard import Id
from regula.navigation import repository, service
from regula.navigation.models import TASK_KIND_LABELS_PT, ContactAttempt


class TaskPublic(Struct):
    id: int
    kind: str
    kind_label: str
    status: str
    entry_id: int | None
    protocol: str | None
    entry_status: str | None
    citizen_name: str
    phone: str | None
    municipality_ibge: str
    detail: str
    due_at: datetime | None
    created_at: datetime
    closed_at: datetime | None
    closed_by: str | None
    outcome: str | None


class ContactCreate(Struct, forbid_unknown_fields=True):
    outcome: str
    notes: str | None = None
    channel: str = "telefone"
    close: bool = False


class ContactPublic(Struct):
    id: int
    task_id: int | None
    outcome: str
    channel: str
    notes: str | None
    made_by: str
    made_at: datetime


def _contact(c: ContactAttempt) -> ContactPublic:
    return ContactPublic(c.id or 0, c.task_id, c.outcome, c.channel, c.notes, c.made_by, c.made_at)


class NavigationController(Controller):
    path = "/api/v1/navigation/tasks"
    tags = ["navegação"]

    @get("/", opt=allow(Role.NAVEGADOR, Role.REGULADOR, Role.GESTOR), operation_id="listNavigationTasks")
    async def list_tasks(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        status: FromQuery[str] = "aberta",
        kind: FromQuery[str | None] = None,
    ) -> list[TaskPublic]:
        rows = await repository.list_tasks(db_session, Actor.of(request.user), status=status, kind=kind)
        return [
            TaskPublic(
                r.task.id or 0,
                r.task.kind,
                TASK_KIND_LABELS_PT.get(r.task.kind, r.task.kind),
                r.task.status,
                r.task.entry_id,
                r.protocol,
                r.entry_status,
                r.citizen_name,
                r.phone,
                r.task.municipality_ibge,
                r.task.detail,
                r.task.due_at,
                r.task.created_at,
                r.task.closed_at,
                r.task.closed_by,
                r.task.outcome,
            )
            for r in rows
        ]

    @post("/{task_id:int}/contacts", opt=allow(Role.NAVEGADOR, Role.REGULADOR), operation_id="logContact")
    async def log_contact(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        task_id: Id,
        data: JSONBody[ContactCreate],
    ) -> ContactPublic:
        attempt = await service.log_contact(
            db_session, task_id, Actor.of(request.user), data.outcome, data.notes, data.channel, close=data.close
        )
        return _contact(attempt)

    @get("/{task_id:int}/contacts", opt=allow(Role.NAVEGADOR, Role.REGULADOR, Role.GESTOR))
    async def contacts(
        self, request: Request[Principal, Any, Any], db_session: NamedDependency[AsyncSession], task_id: Id
    ) -> list[ContactPublic]:
        await service.get_task(db_session, task_id, Actor.of(request.user))
        return [_contact(c) for c in await service.contacts_of_task(db_session, task_id)]


ROUTES = [NavigationController]
