"""Ressarcimento API under /api/v1/ressarcimento (Portaria Conjunta MS/AGU 7.702/2025): operators and their steps,
units, offer matrix and annual maximum; monthly attestations with the expected COR, SAES homologation and the COR
issued; sanctions with their challenge window; caps used per region; CSV/XLSX reports.

Managers (gestor) change, auditors read; every operator is reached through the repository's ``readable(actor)``.
Money is a JSON number with two decimals."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody, Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from regula.access.actor import Actor
from regula.access.policy import Role, allow
from regula.access.service import Principal
from regula.catalog.routes import MoneyAsNumberResponse
from regula.config import Settings
from regula.core.clock import local_today
from regula.core.errors import ValidationFailed
from regula.http.input_guard import MatrixItemId, OperatorId, OptionalId, SanctionId
from regula.ressarcimento import reports, service
from regula.ressarcimento import repository as repo
from regula.ressarcimento.schemas import (
    AnnualMaxIn,
    AnnualMaxPublic,
    AttestationPage,
    AttestationPublic,
    AttestIn,
    CapsPublic,
    ChallengeIn,
    CorIn,
    DateIn,
    DecisionIn,
    FactsIn,
    HomologationIn,
    MatrixChangeIn,
    MatrixItemIn,
    MatrixItemPublic,
    OperatorDetailPublic,
    OperatorIn,
    OperatorPage,
    OperatorPublic,
    SanctionPage,
    SanctionPublic,
    StepIn,
    UnitIn,
    annual_max_public,
    attestation_public,
    caps_public,
    detail_public,
    matrix_public,
    operator_public,
    sanction_public,
)

READERS = (Role.GESTOR, Role.AUDITOR)
MANAGERS = (Role.GESTOR,)
PAGE_SIZE = 50
Page = Annotated[int, Parameter(ge=1, le=1_000_000, description="Página, a partir de 1")]
Year = Annotated[int, Parameter(ge=2025, le=2100, description="Ano")]


def _money(value: Any, field: str, *, positive: bool = False, required: bool = True) -> Any:
    return service.money(value, field, positive=positive, required=required)


def _ivr(value: Any) -> Any:
    if value is None:
        return None
    if not value.is_finite() or value <= 0 or value > 100 or value.as_tuple().exponent < -4:
        raise ValidationFailed.for_field("ivr", "ivr_invalido", "IVR positivo, até 100, com até quatro decimais.")
    return value


def _sort(raw: str | None, default: str) -> tuple[str, bool]:
    text = (raw or default).strip()
    return text.lstrip("-"), text.startswith("-")


class RessarcimentoController(Controller):
    path = "/api/v1/ressarcimento"
    tags = ["ressarcimento"]
    response_class = MoneyAsNumberResponse

    # -- operators ---------------------------------------------------------------------------------------------------

    @get(
        "/operators",
        summary="Operadoras ao seu alcance, com filtros por nome ou registro ANS, situação e porte",
        opt=allow(*READERS),
        operation_id="listOperators",
    )
    async def list_operators(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        q: FromQuery[str | None] = None,
        status: FromQuery[str | None] = None,
        size: FromQuery[str | None] = None,
        sort: FromQuery[str | None] = None,
        page: Page = 1,
    ) -> OperatorPage:
        """Operators the caller reaches, paged (50), filtered by name/ANS (``q``), status and size, sorted by
        ``nome``, ``ans``, ``situacao``, ``porte`` or ``desde`` (``-`` first for descending)."""
        key, desc = _sort(sort, "nome")
        query = repo.OperatorQuery(
            q=q, status=status, size=size, sort=key, descending=desc, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE
        )
        rows, total = await service.list_operators(db_session, Actor.of(request.user), query)
        return OperatorPage([operator_public(o) for o in rows], total, page, PAGE_SIZE)

    @post(
        "/operators",
        summary="Cadastra uma operadora de plano de saúde",
        opt=allow(*MANAGERS),
        operation_id="createOperator",
    )
    async def create_operator(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        data: JSONBody[OperatorIn],
    ) -> OperatorPublic:
        item = service.OperatorInput(
            ans_registration=data.ans_registration,
            name=data.name,
            size=data.size,
            national_reach=data.national_reach,
            uf=data.uf,
            technical_capacity=data.technical_capacity,
            ans_reports_regular=data.ans_reports_regular,
            in_liquidation=data.in_liquidation,
            minimum_exception=data.minimum_exception,
            note=data.note,
        )
        op = await service.create_operator(db_session, item, Actor.of(request.user), local_today(settings))
        return operator_public(op)

    @get(
        "/operators/{operator_id:int}",
        summary="Uma operadora com sua situação",
        opt=allow(*READERS),
        operation_id="getOperator",
    )
    async def get_operator(
        self, request: Request[Principal, Any, Any], db_session: NamedDependency[AsyncSession], operator_id: OperatorId
    ) -> OperatorDetailPublic:
        return detail_public(await service.operator_detail(db_session, operator_id, Actor.of(request.user)))

    @put(
        "/operators/{operator_id:int}/facts",
        summary="Atualiza os dados cadastrais da operadora",
        opt=allow(*MANAGERS),
        operation_id="updateOperatorFacts",
    )
    async def update_facts(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        operator_id: OperatorId,
        data: JSONBody[FactsIn],
    ) -> OperatorPublic:
        facts = service.EligibilityInput(
            technical_capacity=data.technical_capacity,
            ans_reports_regular=data.ans_reports_regular,
            in_liquidation=data.in_liquidation,
            minimum_exception=data.minimum_exception,
            national_reach=data.national_reach,
            size=data.size,
        )
        return operator_public(await service.update_facts(db_session, operator_id, facts, Actor.of(request.user)))

    @post(
        "/operators/{operator_id:int}/steps",
        summary="Registra uma etapa da adesão da operadora",
        opt=allow(*MANAGERS),
        operation_id="stepOperator",
    )
    async def step(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        operator_id: OperatorId,
        data: JSONBody[StepIn],
    ) -> OperatorPublic:
        step = service.StepInput(data.to_status, data.on_date, data.note, data.extend_consultation)
        op = await service.take_step(db_session, operator_id, step, Actor.of(request.user), local_today(settings))
        return operator_public(op)

    @put(
        "/operators/{operator_id:int}/annual-max/{year:int}",
        summary="Define o teto anual da operadora em um ano",
        opt=allow(*MANAGERS),
        operation_id="setAnnualMax",
    )
    async def set_annual_max(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        operator_id: OperatorId,
        year: Year,
        data: JSONBody[AnnualMaxIn],
    ) -> AnnualMaxPublic:
        value = _money(data.value_brl, "value_brl", positive=True)
        found = await service.set_annual_max(db_session, operator_id, year, value, data.act, Actor.of(request.user))
        return annual_max_public(found)

    @post(
        "/operators/{operator_id:int}/units",
        summary="Inclui uma unidade de atendimento da operadora",
        opt=allow(*MANAGERS),
        operation_id="addOperatorUnit",
    )
    async def add_unit(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        operator_id: OperatorId,
        data: JSONBody[UnitIn],
    ) -> OperatorDetailPublic:
        actor = Actor.of(request.user)
        await service.add_unit(db_session, operator_id, data.cnes, data.relation, actor)
        return detail_public(await service.operator_detail(db_session, operator_id, actor))

    # -- matrix -----------------------------------------------------------------------------------------------------

    @get(
        "/operators/{operator_id:int}/matrix",
        summary="Matriz de oferta vigente da operadora (com o histórico, se pedido)",
        opt=allow(*READERS),
        operation_id="getOfferMatrix",
    )
    async def matrix(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        operator_id: OperatorId,
        history: Annotated[bool, Parameter(description="Também as versões substituídas ou encerradas")] = False,
    ) -> list[MatrixItemPublic]:
        """The active offer matrix; with ``history`` also the versions that were replaced or ended."""
        d = await service.operator_detail(db_session, operator_id, Actor.of(request.user))
        items = d.matrix if not history else await repo.matrix_of(db_session, operator_id, active_only=False)
        return [matrix_public(i) for i in items]

    @post(
        "/operators/{operator_id:int}/matrix",
        summary="Inclui um item na matriz de oferta da operadora",
        opt=allow(*MANAGERS),
        operation_id="addOfferMatrixItem",
    )
    async def add_matrix_item(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        operator_id: OperatorId,
        data: JSONBody[MatrixItemIn],
    ) -> MatrixItemPublic:
        item = service.MatrixInput(
            cnes=data.cnes,
            component=data.component,
            procedure_code=data.procedure_code,
            monthly_qty=data.monthly_qty,
            annual_qty=data.annual_qty,
            unit_value_brl=_money(data.unit_value_brl, "unit_value_brl", required=False),
            ivr=_ivr(data.ivr),
            name=data.name,
            sublimit_brl=_money(data.sublimit_brl, "sublimit_brl", required=False),
            strategic=data.strategic,
        )
        added = await service.add_matrix_item(db_session, settings, operator_id, item, Actor.of(request.user))
        return matrix_public(added)

    @put(
        "/operators/{operator_id:int}/matrix/{item_id:int}",
        summary="Altera um item da matriz de oferta da operadora",
        opt=allow(*MANAGERS),
        operation_id="changeOfferMatrixItem",
    )
    async def change_matrix_item(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        operator_id: OperatorId,
        item_id: MatrixItemId,
        data: JSONBody[MatrixChangeIn],
    ) -> MatrixItemPublic | None:
        change = service.MatrixChange(
            monthly_qty=data.monthly_qty,
            annual_qty=data.annual_qty,
            unit_value_brl=_money(data.unit_value_brl, "unit_value_brl", required=False),
            ivr=_ivr(data.ivr),
            sublimit_brl=_money(data.sublimit_brl, "sublimit_brl", required=False),
            strategic=data.strategic,
            active=data.active,
        )
        new = await service.change_matrix_item(
            db_session, settings, operator_id, item_id, change, Actor.of(request.user)
        )
        return matrix_public(new) if new else None

    # -- attestations -----------------------------------------------------------------------------------------------

    @get(
        "/attestations",
        summary="Atestados de produção, paginados e ordenáveis",
        opt=allow(*READERS),
        operation_id="listAttestations",
    )
    async def list_attestations(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        operator_id: OptionalId = None,
        competencia: FromQuery[str | None] = None,
        status: FromQuery[str | None] = None,
        below_90: FromQuery[bool] = False,
        sort: FromQuery[str | None] = None,
        page: Page = 1,
    ) -> AttestationPage:
        """Attestations, paged (50); sorted by ``competencia``, ``operadora``, ``execucao``, ``cor`` or ``multa``."""
        key, desc = _sort(sort, "-competencia")
        comp = service.competencia(competencia) if competencia else None
        query = repo.AttestationQuery(
            operator_id=operator_id,
            competencia=comp,
            status=status,
            below_90=below_90,
            sort=key,
            descending=desc,
            offset=(page - 1) * PAGE_SIZE,
            limit=PAGE_SIZE,
        )
        rows, total = await service.list_attestations(db_session, Actor.of(request.user), query)
        return AttestationPage([attestation_public(a, o) for a, o in rows], total, page, PAGE_SIZE)

    @post(
        "/operators/{operator_id:int}/attestations",
        summary="Registra o atestado mensal de produção da operadora",
        opt=allow(*MANAGERS),
        operation_id="attestMonth",
    )
    async def attest(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        operator_id: OperatorId,
        data: JSONBody[AttestIn],
    ) -> AttestationPublic:
        actor = Actor.of(request.user)
        out = await service.attest(
            db_session, settings, operator_id, data.competencia, actor, local_today(settings), data.note
        )
        op = await repo.operator_for(db_session, actor, operator_id)
        return attestation_public(out.attestation, op, out.sanction)

    @get(
        "/operators/{operator_id:int}/attestations/{competencia:str}",
        summary="O atestado de uma competência da operadora",
        opt=allow(*READERS),
        operation_id="getAttestation",
    )
    async def get_attestation(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        operator_id: OperatorId,
        competencia: FromPath[str],
    ) -> AttestationPublic:
        d = await service.attestation_detail(db_session, operator_id, competencia, Actor.of(request.user))
        return attestation_public(d.attestation, d.operator, d.sanction)

    @post(
        "/operators/{operator_id:int}/attestations/{competencia:str}/homologation",
        summary="Homologa o atestado de uma competência",
        opt=allow(*MANAGERS),
        operation_id="recordHomologation",
    )
    async def homologation(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        operator_id: OperatorId,
        competencia: FromPath[str],
        data: JSONBody[HomologationIn],
    ) -> AttestationPublic:
        actor = Actor.of(request.user)
        a = await service.record_homologation(
            db_session, operator_id, competencia, data.on, data.act, actor, local_today(settings)
        )
        return attestation_public(a, await repo.operator_for(db_session, actor, operator_id))

    @post(
        "/operators/{operator_id:int}/attestations/{competencia:str}/cor",
        summary="Registra o Certificado de Obrigação de Ressarcimento (COR) emitido para uma competência",
        opt=allow(*MANAGERS),
        operation_id="recordCor",
    )
    async def cor(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        operator_id: OperatorId,
        competencia: FromPath[str],
        data: JSONBody[CorIn],
    ) -> AttestationPublic:
        actor = Actor.of(request.user)
        a = await service.record_cor(
            db_session,
            operator_id,
            competencia,
            number=data.number,
            issued_on=data.issued_on,
            value=_money(data.value_brl, "value_brl"),
            actor=actor,
            today=local_today(settings),
        )
        return attestation_public(a, await repo.operator_for(db_session, actor, operator_id))

    @get(
        "/operators/{operator_id:int}/caps",
        summary="Teto anual e limites (art. 4º, §3º) usados pela produção atestada no ano",
        opt=allow(*READERS),
        operation_id="getRegionalCaps",
    )
    async def caps(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        operator_id: OperatorId,
        year: Annotated[int | None, Parameter(ge=2025, le=2100)] = None,
    ) -> CapsPublic:
        """The annual maximum and the caps of art. 4 §3 used by the attested production of ``year``."""
        y = year or local_today(settings).year
        return caps_public(await service.caps_used(db_session, operator_id, y, Actor.of(request.user)))

    # -- sanctions --------------------------------------------------------------------------------------------------

    @get("/sanctions", summary="Sanções às operadoras", opt=allow(*READERS), operation_id="listSanctions")
    async def list_sanctions(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        operator_id: OptionalId = None,
        status: FromQuery[str | None] = None,
        kind: FromQuery[str | None] = None,
        sort: FromQuery[str | None] = None,
        page: Page = 1,
    ) -> SanctionPage:
        key, desc = _sort(sort, "-competencia")
        query = repo.SanctionQuery(
            operator_id=operator_id,
            status=status,
            kind=kind,
            sort=key,
            descending=desc,
            offset=(page - 1) * PAGE_SIZE,
            limit=PAGE_SIZE,
        )
        rows, total = await service.list_sanctions(db_session, Actor.of(request.user), query)
        return SanctionPage([sanction_public(s) for s, _o in rows], total, page, PAGE_SIZE)

    @post(
        "/sanctions/{sanction_id:int}/notification",
        summary="Registra a notificação de uma sanção à operadora",
        opt=allow(*MANAGERS),
        operation_id="notifySanction",
    )
    async def notify(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        sanction_id: SanctionId,
        data: JSONBody[DateIn],
    ) -> SanctionPublic:
        s = await service.notify_sanction(
            db_session, sanction_id, data.on, Actor.of(request.user), local_today(settings)
        )
        return sanction_public(s)

    @post(
        "/sanctions/{sanction_id:int}/challenge",
        summary="Registra a contestação de uma sanção",
        opt=allow(*MANAGERS),
        operation_id="challengeSanction",
    )
    async def challenge(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        sanction_id: SanctionId,
        data: JSONBody[ChallengeIn],
    ) -> SanctionPublic:
        s = await service.record_challenge(
            db_session, sanction_id, data.on, data.note, Actor.of(request.user), local_today(settings)
        )
        return sanction_public(s)

    @post(
        "/sanctions/{sanction_id:int}/decision",
        summary="Registra a decisão sobre uma sanção contestada",
        opt=allow(*MANAGERS),
        operation_id="decideSanctionChallenge",
    )
    async def decide(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        sanction_id: SanctionId,
        data: JSONBody[DecisionIn],
    ) -> SanctionPublic:
        s = await service.decide_challenge(
            db_session, sanction_id, data.outcome, data.note, Actor.of(request.user), local_today(settings)
        )
        return sanction_public(s)

    @post(
        "/sanctions/finalize",
        summary="Torna definitivas as sanções notificadas sem contestação no prazo de 15 dias (art. 17, §1º)",
        opt=allow(*MANAGERS),
        operation_id="finalizeUnchallengedSanctions",
    )
    async def finalize(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
    ) -> list[SanctionPublic]:
        """Notified sanctions whose 15-day window ended without a challenge become final (art. 17 §1)."""
        done = await service.finalize_unchallenged(db_session, Actor.of(request.user), local_today(settings))
        return [sanction_public(s) for s in done]

    # -- reports ----------------------------------------------------------------------------------------------------

    @get(
        "/reports/{kind:str}",
        summary="Relatório do ressarcimento (operadoras, atestados, sanções ou tetos) em CSV ou XLSX",
        opt=allow(*READERS),
        operation_id="ressarcimentoReport",
    )
    async def report(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        kind: FromPath[str],
        format: FromQuery[str] = "csv",
        year: Annotated[int | None, Parameter(ge=2025, le=2100)] = None,
    ) -> Response[bytes]:
        """``operadoras``, ``atestados``, ``sancoes`` or ``tetos`` (of ``year``) as ``csv`` or ``xlsx``."""
        if format not in reports.FORMATS:
            raise ValidationFailed.for_field("format", "formato_invalido", "Formato: csv ou xlsx.")
        report = await service.build_report(
            db_session, Actor.of(request.user), kind, year or local_today(settings).year
        )
        content, media_type, filename = reports.render(report, format)
        return Response(
            content, media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{filename}"'}
        )


ROUTES = [RessarcimentoController]
