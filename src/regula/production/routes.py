"""Production API under /api/v1/production: the procedures of an entry's OCI, its progress and tM clock, the
conclusion and the navigator's closing; authorization numbers and ranges; production import, control findings,
indicators per provider and the APAC export. Jurisdiction is checked by the services on every entry and
establishment touched; reads of a citizen's OCI are audited."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.params import FromQuery, JSONBody, QueryParameter
from litestar.types import ControllerRouterHandler
from sqlalchemy.ext.asyncio import AsyncSession

from regula.access.actor import Actor
from regula.access.policy import Role, allow
from regula.access.service import Principal
from regula.audit.service import record_read
from regula.config import Settings
from regula.core.errors import ValidationFailed
from regula.http.input_guard import EntryId, ProcedureId
from regula.inputs import MAX_IMPORT_BYTES
from regula.production import apac, control, execution, indicators, numbering, provider_day
from regula.production import authorization as auth
from regula.production.schemas import (
    AttendanceIn,
    AttendancePublic,
    AuthorizationIn,
    AuthorizationPublic,
    ClosingIn,
    ConclusionIn,
    ExecutionPublic,
    FindingPublic,
    ImportPublic,
    IndicatorPublic,
    ProcedureIn,
    RangeIn,
    RangePublic,
    ValidationPublic,
    VoidIn,
    authorization_public,
    execution_public,
    finding_public,
    import_public,
    indicator_public,
    range_public,
)

RECORDERS = (Role.EXECUTANTE, Role.NAVEGADOR)
READERS = (Role.EXECUTANTE, Role.NAVEGADOR, Role.REGULADOR, Role.GESTOR, Role.AUDITOR)
CONTROLLERS = (Role.GESTOR, Role.REGULADOR, Role.AUDITOR)


class ProductionController(Controller):
    path = "/api/v1/production"
    tags = ["produção"]

    @get(
        "/entries/{entry_id:int}",
        summary="A execução de uma OCI com seus procedimentos",
        opt=allow(*READERS),
        operation_id="getOciExecution",
    )
    async def get_execution(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        entry_id: EntryId,
    ) -> ExecutionPublic:
        v = await execution.view(db_session, settings, entry_id, Actor.of(request.user))
        await record_read(
            db_session, "oci_execution", str(entry_id), uf=v.entry.uf, municipality_ibge=v.entry.municipality_ibge
        )
        return execution_public(v)

    @post(
        "/entries/{entry_id:int}/procedures",
        summary="Registra um procedimento realizado na OCI",
        opt=allow(*RECORDERS),
        operation_id="recordOciProcedure",
    )
    async def record(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        entry_id: EntryId,
        data: JSONBody[ProcedureIn],
    ) -> ExecutionPublic:
        item = execution.ProcedureInput(
            data.procedure_code, data.performed_on, data.cbo, data.cnes, data.cid_code, data.quantity
        )
        v = await execution.record_procedure(db_session, settings, entry_id, item, Actor.of(request.user))
        return execution_public(v)

    @post(
        "/procedures/{procedure_id:int}/void",
        summary="Anula o registro de um procedimento, com o motivo",
        opt=allow(*RECORDERS),
        operation_id="voidOciProcedure",
    )
    async def void(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        procedure_id: ProcedureId,
        data: JSONBody[VoidIn],
    ) -> ExecutionPublic:
        v = await execution.void_procedure(db_session, settings, procedure_id, data.reason, Actor.of(request.user))
        return execution_public(v)

    @post(
        "/entries/{entry_id:int}/attendance",
        summary="Início do atendimento ou falta em um agendamento (só o estabelecimento executante)",
        opt=allow(*RECORDERS),
        operation_id="moveAttendance",
    )
    async def attendance(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        entry_id: EntryId,
        data: JSONBody[AttendanceIn],
    ) -> AttendancePublic:
        """Check-in (``em_atendimento``) or no-show (``faltou``) of an appointment; a provider's user (cnes:) only
        at its own establishment (the page /prestador makes the same call)."""
        entry = await provider_day.move(db_session, settings, entry_id, data.to, Actor.of(request.user))
        return AttendancePublic(entry.id or 0, entry.protocol, entry.status)

    @post(
        "/entries/{entry_id:int}/conclusion",
        summary="Conclusão da OCI pelo executante",
        opt=allow(*RECORDERS),
        operation_id="concludeOci",
    )
    async def conclude(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        entry_id: EntryId,
        data: JSONBody[ConclusionIn],
    ) -> ExecutionPublic:
        v = await execution.conclude(
            db_session,
            settings,
            entry_id,
            Actor.of(request.user),
            aps_summary=data.aps_summary,
            counter_referral=data.counter_referral,
        )
        return execution_public(v)

    @post(
        "/entries/{entry_id:int}/navigator-closing",
        summary="Encerramento pela navegação de uma OCI sem conclusão",
        opt=allow(Role.NAVEGADOR, Role.REGULADOR),
        operation_id="closeOciNavigation",
    )
    async def close(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        entry_id: EntryId,
        data: JSONBody[ClosingIn],
    ) -> ExecutionPublic:
        v = await execution.close_navigation(db_session, settings, entry_id, Actor.of(request.user), data.note)
        return execution_public(v)

    @post(
        "/entries/{entry_id:int}/authorization",
        summary="Autorização da OCI (APAC) pelo regulador",
        opt=allow(Role.REGULADOR, Role.GESTOR),
        operation_id="authorizeOci",
    )
    async def authorize(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        entry_id: EntryId,
        data: JSONBody[AuthorizationIn],
    ) -> AuthorizationPublic:
        number = await numbering.authorize_entry(
            db_session, settings, entry_id, Actor.of(request.user), number=data.number, cnes=data.cnes
        )
        return authorization_public(number)

    @get(
        "/authorizations/validate",
        summary="Valida um número de autorização (APAC)",
        opt=allow(*Role),
        operation_id="validateAuthorizationNumber",
    )
    async def validate(
        self,
        number: FromQuery[str],
        instrument: FromQuery[str | None] = None,
        program: FromQuery[str | None] = None,
    ) -> ValidationPublic:
        parsed = auth.parse_authorization(number, field="number", instrument=instrument, program=program)
        return ValidationPublic(parsed.number, parsed.formatted, parsed.instrument, parsed.program)

    @post(
        "/ranges",
        summary="Cadastra uma faixa de números de APAC",
        opt=allow(Role.GESTOR),
        operation_id="createAuthorizationRange",
    )
    async def create_range(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        data: JSONBody[RangeIn],
    ) -> RangePublic:
        row = await numbering.create_range(
            db_session,
            numbering.RangeInput(data.cnes, data.instrument, data.program, data.first, data.last, data.note),
            Actor.of(request.user),
        )
        return range_public(row)

    @get(
        "/ranges", summary="Faixas de números de APAC", opt=allow(*CONTROLLERS), operation_id="listAuthorizationRanges"
    )
    async def list_ranges(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        cnes: Annotated[
            str | None, QueryParameter(description="CNES do estabelecimento; sem ele, todos os da sua jurisdição")
        ] = None,
    ) -> list[RangePublic]:
        return [range_public(r) for r in await numbering.list_ranges(db_session, Actor.of(request.user), cnes)]

    @post(
        "/imports",
        opt=allow(Role.GESTOR, Role.REGULADOR),
        operation_id="importProduction",
        status_code=200,
        request_max_body_size=MAX_IMPORT_BYTES,
        summary="Importação de produção (linhas SIA/BPA em CSV)",
    )
    async def import_file(
        self, request: Request[Principal, Any, Any], db_session: NamedDependency[AsyncSession]
    ) -> ImportPublic:
        filename = "producao.csv"
        if (request.headers.get("content-type") or "").lower().startswith("multipart/form-data"):
            form = await request.form()
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise ValidationFailed.for_field("file", "arquivo_ausente", "Envie o arquivo CSV no campo 'file'.")
            data = await upload.read()
            filename = upload.filename or filename
        else:
            data = await request.body()
        actor = Actor.of(request.user)
        report = await control.import_production(
            db_session,
            data,
            filename=filename,
            imported_by=actor.username,
            allowed_cnes=await control.visible_cnes(db_session, actor),
        )
        return import_public(report)

    @get(
        "/findings",
        summary="Achados do controle da produção por competência",
        opt=allow(*CONTROLLERS),
        operation_id="productionFindings",
    )
    async def findings(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        competencia: Annotated[str, QueryParameter(description="AAAAMM")],
        ate: Annotated[str | None, QueryParameter(description="AAAAMM (inclusive)")] = None,
        cnes: Annotated[
            str | None, QueryParameter(description="CNES do estabelecimento; sem ele, todos os da sua jurisdição")
        ] = None,
    ) -> list[FindingPublic]:
        found = await control.check_production(
            db_session, settings, Actor.of(request.user), competencia=competencia, until=ate, cnes=cnes
        )
        return [finding_public(f) for f in found]

    @get(
        "/indicators",
        summary="Indicadores dos estabelecimentos executantes por competência",
        opt=allow(*CONTROLLERS, Role.NAVEGADOR),
        operation_id="providerIndicators",
    )
    async def provider_indicators(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        competencia: Annotated[str, QueryParameter(description="AAAAMM")],
        ate: Annotated[str | None, QueryParameter(description="AAAAMM (inclusive)")] = None,
        cnes: Annotated[
            str | None, QueryParameter(description="CNES do estabelecimento; sem ele, todos os da sua jurisdição")
        ] = None,
    ) -> list[IndicatorPublic]:
        rows = await indicators.provider_indicators(
            db_session, Actor.of(request.user), competencia=competencia, until=ate, cnes=cnes
        )
        return [indicator_public(i) for i in rows]

    @get(
        "/apac",
        opt=allow(Role.GESTOR, Role.REGULADOR, Role.EXECUTANTE, Role.AUDITOR),
        operation_id="apacExport",
        summary="Produção de OCIs em APAC (CSV documentado)",
    )
    async def apac_file(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        competencia: Annotated[str, QueryParameter(description="AAAAMM")],
        cnes: Annotated[str, QueryParameter(description="CNES do estabelecimento executante")],
    ) -> Response[bytes]:
        export = await apac.apac_export(
            db_session, settings, Actor.of(request.user), competencia=competencia, cnes=cnes
        )
        return Response(
            export.csv().encode("utf-8"),
            media_type="text/csv",  # Litestar appends "; charset=utf-8" to text/* types
            headers={
                "Content-Disposition": f'attachment; filename="{export.filename}"',
                "X-Regula-Apacs": str(export.apacs),
                "X-Regula-Pendencias": str(len(export.pending)),
            },
        )


ROUTES: list[ControllerRouterHandler] = [ProductionController]
