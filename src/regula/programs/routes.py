"""Program management API under /api/v1/programs: PARs (list, create, get, new versions, lines, approval steps),
transfers, the commitments' assessment, contracts, the ledger, the monitoring indicators, the CIB/CIT reports and
the planned capacities. A gestor edits the PARs of their jurisdiction, auditors read; the services check both.
Money goes out as exact text with two decimals."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromQuery, JSONBody, QueryParameter
from litestar.types import ControllerRouterHandler
from msgspec import Struct
from sqlalchemy.ext.asyncio import AsyncSession

from regula.access.actor import Actor
from regula.access.policy import Role, allow
from regula.access.service import Principal
from regula.config import Settings
from regula.core.clock import local_today
from regula.core.errors import FieldError, ValidationFailed
from regula.http.input_guard import Id, ParId
from regula.programs import reports, service
from regula.programs.schemas import (
    CommitmentIn,
    ContractIn,
    ContractOut,
    LineOut,
    LinesIn,
    ParCreate,
    ParOut,
    ParPage,
    StepIn,
    StepOut,
    TransferIn,
    TransferOut,
    VersionCreate,
    VersionOut,
    contract_out,
    line_out,
    step_out,
    summary_out,
    transfer_out,
    version_out,
)

READERS = (Role.GESTOR, Role.AUDITOR)
EDITORS = (Role.GESTOR,)


class CapacityOut(Struct):
    par_id: int
    cnes: str
    oci_code: str
    month: str
    quantity: int
    manager: str


async def _par_out(session: AsyncSession, par_id: int, actor: Actor) -> ParOut:
    d = await service.detail(session, par_id, actor)
    versions = [
        version_out(v, d.steps_by_version.get(v.id or 0, []), d.lines_by_version.get(v.id or 0, []))
        for v in d.bundle.versions
    ]
    p = d.bundle.par
    return ParOut(p.id or 0, p.title, p.uf, p.first_approved_on, versions)


def _file(file: service.ReportFile, fmt: str) -> Response[bytes]:
    if fmt == "xlsx":
        body, media, ext = reports.to_xlsx(file.report), reports.XLSX_MEDIA_TYPE, "xlsx"
    else:
        body, media, ext = reports.to_csv(file.report), reports.CSV_MEDIA_TYPE, "csv"
    return Response(
        body, media_type=media, headers={"Content-Disposition": f'attachment; filename="{file.filename}.{ext}"'}
    )


class ProgramsController(Controller):
    path = "/api/v1/programs"
    tags = ["programas"]

    @get("/pars", opt=allow(*READERS), operation_id="listPars", summary="PARs da jurisdição")
    async def list_pars(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        status: FromQuery[Literal["rascunho", "em_pactuacao", "aprovada"] | None] = None,
        scope_kind: FromQuery[Literal["region", "macro", "uf", "municipalities"] | None] = None,
        uf: Annotated[str | None, QueryParameter(max_length=2, description="Sigla da UF, por exemplo SC")] = None,
        q: Annotated[str | None, QueryParameter(max_length=200, description="Parte do título")] = None,
        sort: FromQuery[Literal["id", "title", "status", "population", "approved_on", "updated_at"]] = "id",
        descending: FromQuery[bool] = False,
        offset: Annotated[int, QueryParameter(ge=0, le=1_000_000, description="Quantos itens pular (paginação)")] = 0,
        limit: Annotated[int, QueryParameter(ge=1, le=500, description="Número máximo de itens na resposta")] = 50,
    ) -> ParPage:
        found = await service.list_pars(
            db_session,
            Actor.of(request.user),
            status=status,
            scope_kind=scope_kind,
            uf=uf,
            q=q,
            sort=sort,
            descending=descending,
        )
        items = [summary_out(b.par, b.latest) for b in found[offset : offset + limit]]
        return ParPage(items, len(found), offset, limit)

    @post("/pars", opt=allow(*EDITORS), operation_id="createPar", summary="Cria um PAR (versão 1, rascunho)")
    async def create_par(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        data: JSONBody[ParCreate],
    ) -> ParOut:
        actor = Actor.of(request.user)
        par = await service.create_par(db_session, data, actor)
        return await _par_out(db_session, par.id or 0, actor)

    @get("/pars/{par_id:int}", opt=allow(*READERS), operation_id="getPar", summary="Um PAR com todas as versões")
    async def get_par(
        self, request: Request[Principal, Any, Any], db_session: NamedDependency[AsyncSession], par_id: ParId
    ) -> ParOut:
        return await _par_out(db_session, par_id, Actor.of(request.user))

    @post(
        "/pars/{par_id:int}/versions",
        opt=allow(*EDITORS),
        operation_id="createParVersion",
        summary="Ajuste do PAR: nova versão com o motivo",
    )
    async def new_version(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        par_id: ParId,
        data: JSONBody[VersionCreate],
    ) -> VersionOut:
        actor = Actor.of(request.user)
        version = await service.new_version(db_session, par_id, data, actor)
        d = await service.detail(db_session, par_id, actor)
        return version_out(version, [], d.lines_by_version.get(version.id or 0, []))

    @get(
        "/pars/{par_id:int}/versions/{version:int}/lines",
        opt=allow(*READERS),
        operation_id="listParLines",
        summary="Linhas planejadas de uma versão",
    )
    async def lines(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        par_id: ParId,
        version: Id,
    ) -> list[LineOut]:
        d = await service.detail(db_session, par_id, Actor.of(request.user))
        v = d.bundle.version(version)
        return [line_out(x) for x in d.lines_by_version.get(v.id or 0, [])]

    @post(
        "/pars/{par_id:int}/versions/{version:int}/lines",
        opt=allow(*EDITORS),
        operation_id="putParLines",
        summary="Inclui ou altera linhas de uma versão em rascunho",
    )
    async def put_lines(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        par_id: ParId,
        version: Id,
        data: JSONBody[LinesIn],
    ) -> list[LineOut]:
        actor = Actor.of(request.user)
        await service.put_lines(db_session, par_id, version, data.lines, actor)
        d = await service.detail(db_session, par_id, actor)
        return [line_out(x) for x in d.lines_by_version.get(d.bundle.version(version).id or 0, [])]

    @post(
        "/pars/{par_id:int}/versions/{version:int}/steps",
        opt=allow(*EDITORS),
        operation_id="recordParStep",
        summary="Registra uma etapa de aprovação (CIR, CIB, SAES, portaria, executores)",
    )
    async def record_step(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        par_id: ParId,
        version: Id,
        data: JSONBody[StepIn],
    ) -> StepOut:
        step = await service.record_step(
            db_session, settings, par_id, version, data, Actor.of(request.user), local_today(settings)
        )
        return step_out(step)

    @get(
        "/pars/{par_id:int}/transfers",
        summary="Repasses do financiamento de um PAR",
        opt=allow(*READERS),
        operation_id="listParTransfers",
    )
    async def transfers(
        self, request: Request[Principal, Any, Any], db_session: NamedDependency[AsyncSession], par_id: ParId
    ) -> list[TransferOut]:
        d = await service.detail(db_session, par_id, Actor.of(request.user))
        return [transfer_out(t) for t in d.transfers]

    @post(
        "/pars/{par_id:int}/transfers",
        summary="Registra um repasse do financiamento do PAR",
        opt=allow(*EDITORS),
        operation_id="recordParTransfer",
    )
    async def record_transfer(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        par_id: ParId,
        data: JSONBody[TransferIn],
    ) -> TransferOut:
        row = await service.record_transfer(db_session, par_id, data, Actor.of(request.user), local_today(settings))
        return transfer_out(row)

    @post(
        "/pars/{par_id:int}/commitments",
        opt=allow(*EDITORS),
        operation_id="recordParCommitments",
        summary="Avaliação dos compromissos do PAR (art. 16, §4º)",
    )
    async def record_commitment(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        par_id: ParId,
        data: JSONBody[CommitmentIn],
    ) -> dict[str, Any]:
        row = await service.record_commitment(db_session, par_id, data, Actor.of(request.user), local_today(settings))
        return {"assessed_on": row.assessed_on.isoformat(), "met": row.met, "note": row.note}

    @get(
        "/pars/{par_id:int}/contracts",
        summary="Contratos dos executantes de um PAR",
        opt=allow(*READERS),
        operation_id="listParContracts",
    )
    async def contracts(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        par_id: ParId,
    ) -> list[ContractOut]:
        views = await service.contracts(db_session, settings, par_id, Actor.of(request.user), local_today(settings))
        return [contract_out(v.contract, v.delivered, v.regulated, v.month_closed, v.under_delivered) for v in views]

    @post(
        "/pars/{par_id:int}/contracts",
        summary="Inclui ou altera o contrato de um executante no PAR",
        opt=allow(*EDITORS),
        operation_id="putParContract",
    )
    async def put_contract(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        par_id: ParId,
        data: JSONBody[ContractIn],
    ) -> ContractOut:
        actor = Actor.of(request.user)
        row = await service.put_contract(db_session, par_id, data, actor)
        views = await service.contracts(db_session, settings, par_id, actor, local_today(settings))
        v = next(v for v in views if v.contract.id == row.id)
        return contract_out(v.contract, v.delivered, v.regulated, v.month_closed, v.under_delivered)

    @get(
        "/pars/{par_id:int}/ledger",
        opt=allow(*READERS),
        operation_id="getParLedger",
        summary="Razão do financiamento das OCIs: aprovado, adiantado, ganho, devido, em risco",
    )
    async def ledger(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        par_id: ParId,
    ) -> dict[str, Any]:
        view = await service.ledger_view(db_session, par_id, Actor.of(request.user), local_today(settings))
        return view.to_json()

    @get(
        "/pars/{par_id:int}/indicators",
        opt=allow(*READERS),
        operation_id="getParIndicators",
        summary="Indicadores de monitoramento do PAR (art. 13)",
    )
    async def indicators(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        par_id: ParId,
    ) -> dict[str, Any]:
        ind = await service.indicators(db_session, settings, par_id, Actor.of(request.user), local_today(settings))
        return ind.to_json()

    @get(
        "/pars/{par_id:int}/reports/cib",
        opt=allow(*READERS),
        operation_id="getParCibReport",
        summary="Relatório mensal à CIB (CSV ou XLSX)",
    )
    async def cib_report(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        par_id: ParId,
        competencia: Annotated[str, QueryParameter(description="AAAAMM", max_length=6)],
        format: Annotated[
            Literal["csv", "xlsx"], QueryParameter(description="Formato do arquivo: csv ou xlsx")
        ] = "csv",
    ) -> Response[bytes]:
        file = await service.cib_report(
            db_session, settings, par_id, Actor.of(request.user), competencia, local_today(settings)
        )
        return _file(file, format)

    @get(
        "/pars/{par_id:int}/reports/cit",
        opt=allow(*READERS),
        operation_id="getParCitReport",
        summary="Resumo trimestral à CIT (CSV ou XLSX)",
    )
    async def cit_report(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        par_id: ParId,
        trimestre: Annotated[str, QueryParameter(description="AAAAQn, ex.: 2026Q1", max_length=6)],
        format: Annotated[
            Literal["csv", "xlsx"], QueryParameter(description="Formato do arquivo: csv ou xlsx")
        ] = "csv",
    ) -> Response[bytes]:
        file = await service.cit_report(
            db_session, settings, par_id, Actor.of(request.user), trimestre, local_today(settings)
        )
        return _file(file, format)

    @get(
        "/capacities",
        opt=allow(*READERS, Role.REGULADOR),
        operation_id="listParPlannedCapacities",
        summary="Quantidades mensais planejadas nos PARs aprovados, por estabelecimento e OCI",
    )
    async def capacities(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        month: Annotated[str, QueryParameter(description="AAAA-MM", max_length=7)],
        cnes: Annotated[str | None, QueryParameter(max_length=7, description="CNES do estabelecimento")] = None,
        oci_code: Annotated[str | None, QueryParameter(max_length=10, description="Código da OCI (10 dígitos)")] = None,
    ) -> list[CapacityOut]:
        errors: list[FieldError] = []
        first = service.parse_month(month, "month", errors)
        if errors or first is None:
            raise ValidationFailed("Mês inválido.", errors=errors)
        rows = await service.planned_capacities(db_session, Actor.of(request.user), first, cnes=cnes, oci_code=oci_code)
        return [
            CapacityOut(r.par_id, r.cnes, r.oci_code, r.month.strftime("%Y-%m"), r.quantity, r.manager) for r in rows
        ]


ROUTES: list[ControllerRouterHandler] = [ProgramsController]
