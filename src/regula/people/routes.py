"""People API for managers: the records that break the identification rule of Portaria SAES art. 11, reported and
never changed (decision 0020). Citizens' own records are under ``/api/v1/citizens`` (waitlist.routes)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.params import QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from regula.access.actor import Actor
from regula.access.policy import Role, allow
from regula.people import service
from regula.people.schemas import IdentificationIssueOut, IdentificationIssuePage

#: Who sees the list: managers fix their network's records; auditors check them.
VIEWERS = (Role.GESTOR, Role.AUDITOR)


class PeopleController(Controller):
    path = "/api/v1/people"
    tags = ["cidadãos"]

    @get(
        "/identification-issues",
        opt=allow(*VIEWERS),
        operation_id="listIdentificationIssues",
        summary="Cadastros fora da regra de identificação (Portaria SAES art. 11)",
    )
    async def identification_issues(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        pendencia: Annotated[
            str | None,
            QueryParameter(pattern="^(indigena_sem_cns)$", required=False),
        ] = None,
        municipio: Annotated[
            str | None,
            QueryParameter(
                pattern=r"^\d{7}$", required=False, description="Município de residência (código IBGE, 7 dígitos)"
            ),
        ] = None,
        ordem: Annotated[
            str, QueryParameter(pattern="^(id|name|municipality)$", description="Ordenação: id, name ou municipality")
        ] = "id",
        offset: Annotated[int, QueryParameter(ge=0, le=1_000_000, description="Quantos itens pular (paginação)")] = 0,
        limit: Annotated[int, QueryParameter(ge=1, le=200, description="Número máximo de itens na resposta")] = 50,
    ) -> IdentificationIssuePage:
        report = await service.identification_report(
            db_session,
            Actor.of(request.user),
            issue=pendencia,
            municipality_ibge=municipio,
            order=ordem,
            offset=offset,
            limit=limit,
        )
        items = [
            IdentificationIssueOut(
                r.citizen_id,
                r.issue,
                r.issue_label,
                r.name,
                r.race_color,
                r.municipality_ibge,
                r.uf,
                r.cpf_masked,
                r.cns_masked,
            )
            for r in report.rows
        ]
        return IdentificationIssuePage(items, report.total, report.by_issue, offset, limit)


ROUTES = [PeopleController]
