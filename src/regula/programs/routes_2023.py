"""API of the 2023 queue-reduction program under /api/v1/programs/queue-reduction-2023 (Portaria GM/MS 90/2023):
the Annex's per-capita distribution, the state plans (versions, approval) and the payments. Gestores of a UF write
its plan; auditors and gestores inside the UF read it; the services check the jurisdiction on every call."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, PathParameter, QueryParameter
from litestar.types import ControllerRouterHandler
from sqlalchemy.ext.asyncio import AsyncSession

from regula.access.actor import Actor
from regula.access.policy import Role, allow
from regula.access.service import Principal
from regula.config import Settings
from regula.core.clock import local_today
from regula.programs import percapita_2023, service_2023
from regula.programs.schemas_2023 import (
    ApprovalIn,
    PaymentIn,
    PlanIn,
    PlanPublic,
    SharePublic,
    UfRowPublic,
    plan_public,
    row_public,
    share_public,
)

READERS = (Role.GESTOR, Role.AUDITOR)
Uf = Annotated[str, PathParameter(min_length=2, max_length=2, description="Sigla da UF, por exemplo SC")]


class QueueReduction2023Controller(Controller):
    path = "/api/v1/programs/queue-reduction-2023"
    tags = ["programas"]

    @get(
        "/distribution",
        summary="Distribuição dos recursos de 2023 entre as UFs (Anexo) e a parcela antecipada de cada uma",
        opt=allow(*READERS, Role.REGULADOR),
        operation_id="getQueueReduction2023Distribution",
    )
    async def distribution(self) -> list[SharePublic]:
        """The Annex: each UF's share of R$ 600,000,000 and its up-front third."""
        return [share_public(s) for s in percapita_2023.per_capita()]

    @get(
        "/plans",
        summary="Planos estaduais de redução de filas de 2023",
        opt=allow(*READERS),
        operation_id="listQueueReduction2023Plans",
    )
    async def plans(
        self, request: Request[Principal, Any, Any], db_session: NamedDependency[AsyncSession]
    ) -> list[UfRowPublic]:
        rows = await service_2023.overview(db_session, Actor.of(request.user))
        return [row_public(r) for r in rows]

    @get(
        "/plans/{uf:str}",
        summary="O plano estadual de 2023 de uma UF, com suas versões",
        opt=allow(*READERS),
        operation_id="getQueueReduction2023Plan",
    )
    async def plan(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        uf: Uf,
        version: Annotated[int | None, QueryParameter(ge=1, le=10_000)] = None,
    ) -> PlanPublic:
        return plan_public(await service_2023.view(db_session, Actor.of(request.user), uf, version=version))

    @post(
        "/plans/{uf:str}",
        summary="Envia uma nova versão do plano estadual de 2023 da UF (com o motivo, se substitui o vigente)",
        opt=allow(Role.GESTOR),
        operation_id="submitQueueReduction2023Plan",
    )
    async def submit(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        uf: Uf,
        data: JSONBody[PlanIn],
    ) -> PlanPublic:
        """A new version of the UF's plan (the first, or one that supersedes the plan in force, with a reason)."""
        plan = service_2023.PlanInput(
            target_reduction=data.target_reduction,
            target_note=data.target_note,
            schedule=[service_2023.ScheduleInput(s.month, s.amount) for s in data.schedule],
            items=[
                service_2023.ItemInput(i.procedure_code, i.cnes, i.instrument, i.quantity, i.table_value, i.complement)
                for i in data.items
            ],
            reason=data.reason,
        )
        return plan_public(await service_2023.submit_plan(db_session, Actor.of(request.user), uf, plan))

    @post(
        "/plans/{uf:str}/approval",
        summary="Aprova o plano estadual de redução de filas de 2023 de uma UF",
        opt=allow(Role.GESTOR),
        operation_id="approveQueueReduction2023Plan",
    )
    async def approve(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        uf: Uf,
        data: JSONBody[ApprovalIn],
    ) -> PlanPublic:
        view = await service_2023.approve(
            db_session,
            Actor.of(request.user),
            uf,
            cib_resolution=data.cib_resolution,
            cib_resolution_on=data.cib_resolution_on,
            saes_approved_on=data.saes_approved_on,
            today=local_today(settings),
        )
        return plan_public(view)

    @post(
        "/plans/{uf:str}/payments",
        summary="Registra um pagamento ao plano estadual de 2023 de uma UF",
        opt=allow(Role.GESTOR),
        operation_id="recordQueueReduction2023Payment",
    )
    async def payment(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        uf: Uf,
        data: JSONBody[PaymentIn],
    ) -> PlanPublic:
        view = await service_2023.record_payment(
            db_session,
            Actor.of(request.user),
            uf,
            kind=data.kind,
            paid_on=data.paid_on,
            amount=data.amount,
            competencia=data.competencia,
            instrument=data.instrument,
            note=data.note,
            today=local_today(settings),
        )
        return plan_public(view)


ROUTES: list[ControllerRouterHandler] = [QueueReduction2023Controller]
