"""Ressarcimento services (Portaria Conjunta MS/AGU 7.702/2025): operators and their adhesion steps, units, the
offer matrix, the annual maximum, the monthly attestation with its expected COR, SAES homologation, the COR the FNS
issued, and the sanctions of art. 17 with their challenge window.

The rules of the COR and the sanctions are :mod:`regula.ressarcimento.evaluation` (pure, shared with the CLI); the
operator workflow, eligibility, matrix values and the challenge window are :mod:`regula.ressarcimento.rules`.
These services only gather what the rules need from the database, call them and store what they say. Services flush,
never commit; every change is audited by the flush listener (every table here is ``__audited__``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Final

from sqlalchemy.ext.asyncio import AsyncSession

from regula.access.actor import Actor
from regula.audit.service import record_list_read
from regula.catalog import service as catalog
from regula.config import Settings
from regula.core.clock import utcnow
from regula.core.errors import Conflict, FieldError, NotFound, PermissionDenied, ValidationFailed
from regula.providers.models import Establishment
from regula.ressarcimento import evaluation as ev
from regula.ressarcimento import reports, rules, valuation
from regula.ressarcimento import repository as repo
from regula.ressarcimento.models import (
    MATRIX_COMPONENTS,
    OPERATOR_SIZES,
    UNIT_RELATIONS,
    AnnualMaximum,
    Attestation,
    AttestedItem,
    MatrixItem,
    Operator,
    OperatorStep,
    OperatorUnit,
    Sanction,
)
from regula.territory.reference import UF_NAMES

MANAGE_ROLES: Final = frozenset({"gestor", "admin"})
_MAX_MONEY: Final = Decimal("1000000000000")  # R$ 10¹², the evaluation's own bound


# -- input helpers ---------------------------------------------------------------------------------------------------


def money(raw: object, field: str, *, positive: bool = False, required: bool = True) -> Decimal | None:
    """A value in reais as people type it (``1234,56``, ``1.234,56``, ``1234.56``) or a JSON number; at most two
    decimal places (centavos), non-negative, below R$ 10¹²."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        if required:
            raise ValidationFailed.for_field(field, "valor_obrigatorio", "Informe o valor em reais.")
        return None
    if isinstance(raw, bool):
        raise ValidationFailed.for_field(field, "valor_invalido", "Valor em reais inválido.")
    text = str(raw).strip().replace("R$", "").replace(" ", "")
    if isinstance(raw, str) and "," in text:
        text = text.replace(".", "").replace(",", ".")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValidationFailed.for_field(
            field, "valor_invalido", "Valor em reais inválido: use, por exemplo, 1234,56."
        ) from None
    if not value.is_finite() or value < 0 or value >= _MAX_MONEY:
        raise ValidationFailed.for_field(field, "valor_fora_do_intervalo", "O valor deve ser positivo e realista.")
    if value.as_tuple().exponent < -2:  # type: ignore[operator]
        raise ValidationFailed.for_field(field, "valor_centavos", "Informe o valor com até dois decimais (centavos).")
    if positive and value == 0:
        raise ValidationFailed.for_field(field, "valor_positivo", "O valor deve ser maior que zero.")
    return value


def competencia(raw: str, field: str = "competencia") -> str:
    text = (raw or "").strip()
    if "/" in text:
        month, _, year = text.partition("/")
        text = f"{year.strip()}{month.strip().zfill(2)}"
    try:
        return ev.check_competencia(text, field)
    except ValidationFailed:
        raise ValidationFailed.for_field(
            field, "competencia_invalida", "Competência no formato AAAAMM (por exemplo 202601) ou MM/AAAA."
        ) from None


def _require_manager(actor: Actor) -> None:
    if actor.role not in MANAGE_ROLES:
        raise PermissionDenied(
            "Só o gestor do ente gerencia as operadoras e atesta a produção; o auditor consulta.",
            code="apenas_gestor",
        )


# -- operators -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OperatorInput:
    ans_registration: str
    name: str
    size: str
    national_reach: bool
    uf: str
    technical_capacity: bool = False
    ans_reports_regular: bool = False
    in_liquidation: bool = False
    minimum_exception: bool = False
    note: str | None = None


def _check_operator(data: OperatorInput) -> list[FieldError]:
    errors: list[FieldError] = []
    ans = (data.ans_registration or "").strip()
    if not (ans.isdigit() and len(ans) == 6):
        errors.append(FieldError("ans_registration", "registro_ans_formato", "O registro ANS tem 6 dígitos."))
    if not (data.name or "").strip():
        errors.append(FieldError("name", "nome_obrigatorio", "Informe o nome da operadora."))
    elif len(data.name.strip()) > 200:
        errors.append(FieldError("name", "nome_longo", "O nome tem no máximo 200 caracteres."))
    if data.size not in OPERATOR_SIZES:
        errors.append(FieldError("size", "porte_invalido", "Porte deve ser pequeno, médio ou grande."))
    if (data.uf or "").upper() not in UF_NAMES:
        errors.append(FieldError("uf", "uf_invalida", "UF inválida."))
    return errors


async def create_operator(session: AsyncSession, data: OperatorInput, actor: Actor, today: date) -> Operator:
    """Register an operator's manifestation of interest (art. 2 §5), in the ente's UF. Eligibility (art. 3) is
    recorded as facts; the workflow refuses SAES approval while it is not met."""
    _require_manager(actor)
    errors = _check_operator(data)
    if errors:
        raise ValidationFailed("Confira os dados da operadora.", errors=errors)
    uf = data.uf.upper()
    if not repo.covers_uf(actor, uf):
        raise PermissionDenied(
            f"A operadora é registrada pelo ente da UF {uf}, fora da sua jurisdição ({actor.jurisdiction}).",
            code="fora_da_jurisdicao",
        )
    ans = data.ans_registration.strip()
    if await repo.by_ans(session, ans) is not None:
        raise Conflict(
            f"Já existe uma operadora com o registro ANS {ans}.",
            code="operadora_duplicada",
            errors=[FieldError("ans_registration", "operadora_duplicada", "Registro ANS já cadastrado.")],
        )
    first = rules.INITIAL_STATUS
    operator = Operator(
        ans_registration=ans,
        name=data.name.strip(),
        size=data.size,
        national_reach=data.national_reach,
        technical_capacity=data.technical_capacity,
        ans_reports_regular=data.ans_reports_regular,
        in_liquidation=data.in_liquidation,
        minimum_exception=data.minimum_exception,
        status=str(first),
        status_since=today,
        uf=uf,
        created_by=actor.username,
    )
    session.add(operator)
    await session.flush()
    session.add(
        OperatorStep(
            operator_id=operator.id or 0,
            from_status=None,
            to_status=str(first),
            on_date=today,
            note=data.note,
            actor=actor.username,
        )
    )
    await session.flush()
    return operator


@dataclass(frozen=True)
class EligibilityInput:
    technical_capacity: bool
    ans_reports_regular: bool
    in_liquidation: bool
    minimum_exception: bool
    national_reach: bool
    size: str


async def update_facts(session: AsyncSession, operator_id: int, data: EligibilityInput, actor: Actor) -> Operator:
    """Record the facts of art. 3 (eligibility), art. 4 §3 (size, national reach) and art. 15 §2 (minimum
    exception) as SAES and the ANS state them. The audit keeps the previous values."""
    _require_manager(actor)
    if data.size not in OPERATOR_SIZES:
        raise ValidationFailed.for_field("size", "porte_invalido", "Porte deve ser pequeno, médio ou grande.")
    op = await repo.operator_for(session, actor, operator_id, managing=True, for_update=True)
    op.technical_capacity = data.technical_capacity
    op.ans_reports_regular = data.ans_reports_regular
    op.in_liquidation = data.in_liquidation
    op.minimum_exception = data.minimum_exception
    op.national_reach = data.national_reach
    op.size = data.size
    op.updated_at = utcnow()
    await session.flush()
    return op


@dataclass(frozen=True)
class StepInput:
    to_status: str
    on_date: date | None = None
    note: str | None = None
    extend_consultation: bool = False


async def take_step(session: AsyncSession, operator_id: int, data: StepInput, actor: Actor, today: date) -> Operator:
    """Move the operator one step along the adhesion workflow (art. 2–9, 17 II), as the workflow table allows;
    the step is recorded with its date. Entering the consultation of entes sets the answer deadline (art. 6: ten
    business days from the communication); ``extend_consultation`` extends it once by five business days."""
    _require_manager(actor)
    op = await repo.operator_for(session, actor, operator_id, managing=True, for_update=True)
    on = data.on_date or today
    if on > today:
        raise ValidationFailed.for_field("on_date", "data_futura", "A data do passo não pode ser futura.")
    if data.extend_consultation:
        return await _extend_consultation(session, op, actor, on, data.note)
    rules.check_transition(op.status, data.to_status, rules.eligibility(_facts(op)), note=data.note)
    before = op.status
    op.status = data.to_status
    op.status_since = on
    if data.to_status == rules.CONSULTATION_STATUS:
        op.consultation_sent_on = on
        op.consultation_deadline = rules.consultation_deadline(on)
        op.consultation_extended = False
    op.updated_at = utcnow()
    session.add(
        OperatorStep(
            operator_id=op.id or 0,
            from_status=before,
            to_status=op.status,
            on_date=on,
            note=data.note,
            actor=actor.username,
        )
    )
    await session.flush()
    return op


async def _extend_consultation(
    session: AsyncSession, op: Operator, actor: Actor, on: date, note: str | None
) -> Operator:
    if op.status != rules.CONSULTATION_STATUS or op.consultation_sent_on is None:
        raise Conflict("Só se prorroga o prazo durante a consulta aos entes.", code="prorrogacao_fora_da_consulta")
    if op.consultation_extended:
        raise Conflict("O prazo da consulta já foi prorrogado uma vez (art. 6).", code="prorrogacao_repetida")
    op.consultation_deadline = rules.consultation_deadline(op.consultation_sent_on, extended=True)
    op.consultation_extended = True
    op.updated_at = utcnow()
    session.add(
        OperatorStep(
            operator_id=op.id or 0,
            from_status=op.status,
            to_status=op.status,
            on_date=on,
            note=note or "Prazo da consulta prorrogado por cinco dias úteis (art. 6).",
            actor=actor.username,
        )
    )
    await session.flush()
    return op


def _facts(op: Operator) -> rules.EligibilityFacts:
    return rules.EligibilityFacts(
        technical_capacity=op.technical_capacity,
        ans_reports_regular=op.ans_reports_regular,
        in_liquidation=op.in_liquidation,
    )


@dataclass(frozen=True)
class OperatorDetail:
    operator: Operator
    steps: list[OperatorStep]
    units: list[repo.UnitRow]
    matrix: list[MatrixItem]
    maxima: list[AnnualMaximum]
    planned: Decimal
    eligibility: rules.Eligibility
    next_statuses: tuple[str, ...]
    can_manage: bool


async def operator_detail(session: AsyncSession, operator_id: int, actor: Actor) -> OperatorDetail:
    op = await repo.operator_for(session, actor, operator_id)
    matrix = await repo.matrix_of(session, operator_id)
    return OperatorDetail(
        operator=op,
        steps=await repo.steps_of(session, operator_id),
        units=await repo.units_of(session, operator_id, active_only=False),
        matrix=matrix,
        maxima=await repo.annual_maxima(session, operator_id),
        planned=ev.round_money(valuation.planned_value(matrix)),
        eligibility=rules.eligibility(_facts(op)),
        next_statuses=tuple(str(s) for s in rules.next_statuses(op.status)),
        can_manage=actor.role in MANAGE_ROLES and await repo.manageable(session, actor, op),
    )


async def list_operators(session: AsyncSession, actor: Actor, query: repo.OperatorQuery) -> tuple[list[Operator], int]:
    return await repo.list_operators(session, actor, query)


async def set_annual_max(
    session: AsyncSession, operator_id: int, year: int, value: Decimal, act: str | None, actor: Actor
) -> AnnualMaximum:
    """Art. 15 §5: the annual maximum SAES set for the operator in ``year``. A correction keeps the audit trail
    (the flush listener records the previous value)."""
    _require_manager(actor)
    if not 2025 <= year <= 2100:
        raise ValidationFailed.for_field("year", "ano_invalido", "Ano entre 2025 e 2100.")
    if value <= 0:
        raise ValidationFailed.for_field("value_brl", "valor_positivo", "O valor máximo anual deve ser positivo.")
    await repo.operator_for(session, actor, operator_id, managing=True, for_update=True)
    found = await repo.annual_max(session, operator_id, year)
    if found is None:
        found = AnnualMaximum(operator_id=operator_id, year=year, value_brl=value, act=act, set_by=actor.username)
        session.add(found)
    else:
        found.value_brl, found.act, found.set_by, found.set_at = value, act, actor.username, utcnow()
    await session.flush()
    return found


# -- units and matrix ------------------------------------------------------------------------------------------------


async def add_unit(session: AsyncSession, operator_id: int, cnes: str, relation: str, actor: Actor) -> OperatorUnit:
    """Link an establishment (own or contracted, art. 9 §1 V) to the operator. The establishment is an ordinary
    provider of ``providers`` (kind ``operadora`` for the operator's own units): its agenda enters allocation and
    its production control like any other's."""
    _require_manager(actor)
    op = await repo.operator_for(session, actor, operator_id, managing=True, for_update=True)
    if relation not in UNIT_RELATIONS:
        raise ValidationFailed.for_field("relation", "vinculo_invalido", "Vínculo deve ser própria ou contratada.")
    est = await session.get(Establishment, (cnes or "").strip())
    if est is None:
        raise ValidationFailed.for_field(
            "cnes", "estabelecimento_desconhecido", "Estabelecimento não cadastrado: cadastre-o como prestador."
        )
    if not (repo.covers_uf(actor, op.uf) or actor.covers(est.municipality_ibge)):
        raise PermissionDenied("Estabelecimento fora da sua jurisdição.", code="fora_da_jurisdicao")
    unit = await repo.unit_of(session, operator_id, est.cnes)
    if unit is not None and unit.active:
        raise Conflict("A unidade já está vinculada à operadora.", code="unidade_ja_vinculada")
    if unit is None:
        unit = OperatorUnit(operator_id=operator_id, cnes=est.cnes, relation=relation, created_by=actor.username)
        session.add(unit)
    else:
        unit.active, unit.relation = True, relation
    await session.flush()
    return unit


@dataclass(frozen=True)
class MatrixInput:
    cnes: str
    component: str
    procedure_code: str
    monthly_qty: int
    annual_qty: int
    unit_value_brl: Decimal | None = None  # surgeries: the principal's SIGTAP value; OCIs: taken from the catalog
    ivr: Decimal | None = None
    name: str | None = None
    sublimit_brl: Decimal | None = None
    strategic: bool = False


async def _matrix_values(
    session: AsyncSession, settings: Settings, data: MatrixInput
) -> tuple[str, Decimal, Decimal | None, Decimal]:
    """(name, unit value, IVR, value) per art. 10 through the rules' matrix value."""
    code = (data.procedure_code or "").strip().replace(".", "").replace("-", "")
    if not (code.isdigit() and len(code) == 10):
        raise ValidationFailed.for_field("procedure_code", "procedimento_formato", "O código SIGTAP tem 10 dígitos.")
    if data.component == "oci":
        try:
            oci = await catalog.get_oci(session, code, settings)
        except NotFound:
            raise ValidationFailed.for_field(
                "procedure_code", "oci_desconhecida", f"{code} não é uma OCI do SIGTAP vigente."
            ) from None
        unit_value = Decimal(oci.value_brl)
        return oci.name, unit_value, None, rules.matrix_value("oci", unit_value, None)
    if data.unit_value_brl is None:
        raise ValidationFailed.for_field(
            "unit_value_brl", "valor_obrigatorio", "Informe o valor SIGTAP do procedimento principal."
        )
    if data.ivr is None or data.ivr <= 0:
        raise ValidationFailed.for_field("ivr", "ivr_obrigatorio", "Informe o IVR (maior que zero) da cirurgia.")
    name = (data.name or "").strip()
    if not name:
        raise ValidationFailed.for_field("name", "nome_obrigatorio", "Informe o nome do procedimento.")
    return name, data.unit_value_brl, data.ivr, rules.matrix_value("cirurgia", data.unit_value_brl, data.ivr)


def _check_quantities(data: MatrixInput) -> None:
    """Art. 4 §1 through the rules' own check (quantities non-negative, annual at most 12 × monthly)."""
    errors: list[FieldError] = []
    if data.component not in MATRIX_COMPONENTS:
        errors.append(FieldError("component", "componente_invalido", "Componente deve ser OCI ou cirurgia."))
    line = rules.MatrixLine(data.procedure_code, "", ev.Region.S, Decimal(0), data.monthly_qty, data.annual_qty)
    for e in rules.check_quantities([line]):
        errors.append(FieldError(e.field.removeprefix("lines[0]."), e.code, e.message))
    if errors:
        raise ValidationFailed("Confira o item da matriz de oferta.", errors=errors)


async def _check_sublimits(session: AsyncSession, operator_id: int) -> None:
    """Art. 4 §2: an item's sublimit bounds the annual value of that procedure in the operator's matrix (the rules'
    ``procedimento`` sublimit); a matrix that passes one is refused, naming the field."""
    matrix = await repo.matrix_of(session, operator_id)
    units = {u.establishment.cnes: u.establishment.uf for u in await repo.units_of(session, operator_id)}
    lines = [
        rules.MatrixLine(
            i.procedure_code, "", valuation.region_of(units.get(i.cnes, "SC")), i.value_brl, i.monthly_qty, i.annual_qty
        )
        for i in matrix
    ]
    subs = [
        rules.Sublimit("procedimento", i.procedure_code, i.sublimit_brl) for i in matrix if i.sublimit_brl is not None
    ]
    errors = rules.check_sublimits(lines, subs)
    if errors:
        raise ValidationFailed(
            errors[0].message,
            code="sublimite_excedido",
            errors=[FieldError("sublimit_brl", e.code, e.message) for e in errors],
        )


async def add_matrix_item(
    session: AsyncSession, settings: Settings, operator_id: int, data: MatrixInput, actor: Actor
) -> MatrixItem:
    """Add an item to the offer matrix (art. 4 §1–2, art. 10) at one of the operator's units."""
    _require_manager(actor)
    _check_quantities(data)
    await repo.operator_for(session, actor, operator_id, managing=True, for_update=True)
    unit = await repo.unit_of(session, operator_id, (data.cnes or "").strip())
    if unit is None or not unit.active:
        raise ValidationFailed.for_field(
            "cnes", "unidade_nao_vinculada", "O estabelecimento não é uma unidade ativa desta operadora."
        )
    name, unit_value, ivr, value = await _matrix_values(session, settings, data)
    code = data.procedure_code.strip().replace(".", "").replace("-", "")
    if any(i.cnes == unit.cnes and i.procedure_code == code for i in await repo.matrix_of(session, operator_id)):
        raise Conflict(
            "Este procedimento já está na matriz desta unidade: altere o item existente.", code="item_duplicado"
        )
    item = MatrixItem(
        operator_id=operator_id,
        cnes=unit.cnes,
        component=data.component,
        procedure_code=code,
        name=name,
        unit_value_brl=unit_value,
        ivr=ivr,
        value_brl=value,
        monthly_qty=data.monthly_qty,
        annual_qty=data.annual_qty,
        sublimit_brl=data.sublimit_brl,
        strategic=data.strategic,
        created_by=actor.username,
    )
    session.add(item)
    await session.flush()
    await _check_sublimits(session, operator_id)
    return item


@dataclass(frozen=True)
class MatrixChange:
    monthly_qty: int
    annual_qty: int
    unit_value_brl: Decimal | None = None
    ivr: Decimal | None = None
    sublimit_brl: Decimal | None = None
    strategic: bool = False
    active: bool = True


async def change_matrix_item(
    session: AsyncSession, settings: Settings, operator_id: int, item_id: int, data: MatrixChange, actor: Actor
) -> MatrixItem | None:
    """A change ends the current version and adds a new one (the old one stays, inactive, pointing to its
    successor); ``active`` false only ends it. Returns the new version (None when ended)."""
    _require_manager(actor)
    await repo.operator_for(session, actor, operator_id, managing=True, for_update=True)
    current = await repo.matrix_item(session, operator_id, item_id, for_update=True)
    if not current.active:
        raise Conflict("Este item já foi substituído ou encerrado.", code="item_inativo")
    current.active = False
    current.updated_at = utcnow()
    await session.flush()
    if not data.active:
        return None
    new_input = MatrixInput(
        cnes=current.cnes,
        component=current.component,
        procedure_code=current.procedure_code,
        monthly_qty=data.monthly_qty,
        annual_qty=data.annual_qty,
        unit_value_brl=data.unit_value_brl if data.unit_value_brl is not None else current.unit_value_brl,
        ivr=data.ivr if data.ivr is not None else current.ivr,
        name=current.name,
        sublimit_brl=data.sublimit_brl,
        strategic=data.strategic,
    )
    _check_quantities(new_input)
    name, unit_value, ivr, value = await _matrix_values(session, settings, new_input)
    item = MatrixItem(
        operator_id=operator_id,
        cnes=current.cnes,
        component=current.component,
        procedure_code=current.procedure_code,
        name=name,
        unit_value_brl=unit_value,
        ivr=ivr,
        value_brl=value,
        monthly_qty=new_input.monthly_qty,
        annual_qty=new_input.annual_qty,
        sublimit_brl=new_input.sublimit_brl,
        strategic=new_input.strategic,
        created_by=actor.username,
    )
    session.add(item)
    await session.flush()
    current.replaced_by = item.id
    await session.flush()
    await _check_sublimits(session, operator_id)
    return item


# -- attestation -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AttestationOutcome:
    attestation: Attestation
    result: ev.MonthResult
    sanction: Sanction | None
    lines: list[valuation.ValuedLine]


def evaluation_window(before: Sequence[Attestation], competencia_: str, annual_max: Decimal) -> list[Attestation]:
    """The attested months the evaluation replays before ``competencia_`` (decision 0018): all of the operator's
    consecutive attested months, so that carry-over (art. 15 §4) and runs below 90% (art. 17) cross 1 January —
    unless an earlier year had another annual maximum: the evaluation takes one annual maximum, so the window then
    starts in January of this year (the earlier year's caps would otherwise be replayed with this year's value)."""
    start = 0
    for i, a in enumerate(before):
        if a.competencia[:4] != competencia_[:4] and a.annual_max_brl != annual_max:
            start = i + 1
    return list(before[start:])


def _month_input(a: Attestation, items: Sequence[AttestedItem]) -> ev.MonthInput:
    return ev.MonthInput(
        competencia=a.competencia,
        planned=a.planned_brl,
        production=tuple(
            ev.Item(value=i.value_brl, authorized=i.authorized, region=ev.Region(i.region), strategic=i.strategic)
            for i in items
        ),
    )


async def attest(
    session: AsyncSession,
    settings: Settings,
    operator_id: int,
    competencia_: str,
    actor: Actor,
    today: date,
    note: str | None = None,
) -> AttestationOutcome:
    """The ente attests the operator's month (art. 12): regula gathers the checked production of its units,
    values it, runs the evaluation over the operator's earlier attested months plus this one (art. 15, 17;
    :func:`evaluation_window`),
    stores the expected COR and, when the evaluation says so, proposes the sanction (art. 17 I–II).

    Months are attested in order, each once: the evaluation needs consecutive months, and an attested month is
    frozen (its items are stored) so that what SAES homologates is what the ente attested."""
    _require_manager(actor)
    comp = competencia(competencia_)
    op = await repo.operator_for(session, actor, operator_id, managing=True, for_update=True)
    if op.status != rules.ACTIVE_STATUS:
        raise Conflict(
            "Só se atesta a produção de operadora ativa (Termo de Compromisso celebrado, art. 9).",
            code="operadora_nao_ativa",
        )
    if (comp[:4], comp[4:]) > (f"{today:%Y}", f"{today:%m}") or comp == f"{today:%Y%m}":
        raise ValidationFailed.for_field(
            "competencia", "competencia_em_aberto", "Só se atesta competência encerrada (anterior ao mês atual)."
        )
    if await repo.attestation(session, operator_id, comp) is not None:
        raise Conflict(f"A competência {comp} já foi atestada.", code="competencia_ja_atestada")
    year = int(comp[:4])
    attested = await repo.attestations_of(session, operator_id)
    later = [a for a in attested if a.competencia > comp]
    if later:
        raise Conflict(
            f"Já há competência posterior atestada ({later[0].competencia}); as competências são atestadas em ordem.",
            code="competencia_fora_de_ordem",
        )
    before = [a for a in attested if a.competencia < comp]
    if before and ev.month_index(before[-1].competencia) != ev.month_index(comp) - 1:
        missing = ev.competencia_of(ev.month_index(before[-1].competencia) + 1)
        raise Conflict(
            f"Atestar antes a competência {missing}: os meses são consecutivos.",
            code="competencia_anterior_pendente",
            errors=[FieldError("competencia", "competencia_anterior_pendente", f"Falta atestar {missing}.")],
        )
    maximum = await repo.annual_max(session, operator_id, year)
    if maximum is None:
        raise ValidationFailed.for_field(
            "annual_max", "valor_maximo_ausente", f"Registre o valor máximo anual de {year} definido pela SAES."
        )
    before = evaluation_window(before, comp, maximum.value_brl)
    matrix = await repo.matrix_of(session, operator_id)
    planned = valuation.planned_value(matrix)
    lines = await valuation.month_lines(
        session, settings, actor, operator_id=operator_id, competencia=comp, matrix=matrix
    )
    stored = await repo.attested_items(session, [a.id or 0 for a in before])
    months = [_month_input(a, stored[a.id or 0]) for a in before]
    months.append(ev.MonthInput(competencia=comp, planned=planned, production=tuple(x.as_item() for x in lines)))
    data = ev.EvaluationInput(
        minimum_exception=op.minimum_exception,
        annual_max=maximum.value_brl,
        national_large=rules.national_large(op.size, op.national_reach),
        months=tuple(months),
    )
    result = ev.evaluate(data)[-1]
    unauthorized = [x for x in lines if not x.authorized]
    attestation = Attestation(
        operator_id=operator_id,
        competencia=comp,
        planned_brl=ev.round_money(planned),
        registered_brl=ev.round_money(sum((x.value for x in lines), Decimal(0))),
        unauthorized_brl=ev.round_money(sum((x.value for x in unauthorized), Decimal(0))),
        items=len(lines),
        unauthorized_items=len(unauthorized),
        counted_brl=result.counted,
        carried_in_brl=result.carried_in,
        available_brl=result.available,
        cor_expected=result.cor_issued,
        expected_cor_brl=result.cor,
        carried_out_brl=result.carried_out,
        expired_brl=result.expired,
        execution_pct=result.execution_pct,
        months_below_90=result.months_below_90,
        sanction=result.sanction,
        fine_brl=result.fine,
        annual_max_brl=maximum.value_brl,
        attested_by=actor.username,
        note=note,
        uf=op.uf,
    )
    session.add(attestation)
    await session.flush()
    for seq, x in enumerate(lines, start=1):
        session.add(
            AttestedItem(
                attestation_id=attestation.id or 0,
                seq=seq,
                production_record_id=x.record.id or 0,
                matrix_item_id=x.matrix_item.id or 0,
                cnes=x.record.cnes,
                procedure_code=x.record.procedure_code,
                quantity=x.record.quantity,
                value_brl=x.value,
                authorized=x.authorized,
                region=x.region.value,
                strategic=x.strategic,
            )
        )
    sanction = None
    if result.sanction != "nenhuma":
        sanction = Sanction(
            operator_id=operator_id,
            attestation_id=attestation.id or 0,
            competencia=comp,
            kind=result.sanction,
            amount_brl=result.fine,
            months_below_90=result.months_below_90,
            proposed_on=today,
            uf=op.uf,
        )
        session.add(sanction)
    await session.flush()
    return AttestationOutcome(attestation, result, sanction, lines)


async def _attestation_for(
    session: AsyncSession, operator_id: int, competencia_: str, actor: Actor
) -> tuple[Operator, Attestation]:
    _require_manager(actor)
    comp = competencia(competencia_)
    op = await repo.operator_for(session, actor, operator_id, managing=True)
    found = await repo.attestation(session, operator_id, comp, for_update=True)
    if found is None:
        raise NotFound(f"A competência {comp} não foi atestada.", code="atestado_nao_encontrado")
    return op, found


async def record_homologation(
    session: AsyncSession, operator_id: int, competencia_: str, on: date, act: str | None, actor: Actor, today: date
) -> Attestation:
    """Art. 14: SAES (DRAC) homologated the services of the month."""
    _op, a = await _attestation_for(session, operator_id, competencia_, actor)
    if a.status != "atestada":
        raise Conflict("A homologação desta competência já foi registrada.", code="ja_homologada")
    if on > today:
        raise ValidationFailed.for_field("on", "data_futura", "A data da homologação não pode ser futura.")
    a.status, a.homologated_on, a.homologation_act, a.homologated_by = "homologada", on, act, actor.username
    a.updated_at = utcnow()
    await session.flush()
    return a


async def record_cor(
    session: AsyncSession,
    operator_id: int,
    competencia_: str,
    *,
    number: str,
    issued_on: date,
    value: Decimal,
    actor: Actor,
    today: date,
) -> Attestation:
    """Art. 15: the COR the FNS issued for the month, recorded against regula's expected value (the page and the
    report show the difference)."""
    _op, a = await _attestation_for(session, operator_id, competencia_, actor)
    if a.status == "atestada":
        raise Conflict("Registre antes a homologação da SAES (art. 14 e 15).", code="sem_homologacao")
    if a.status == "cor_emitido":
        raise Conflict("O COR desta competência já foi registrado.", code="cor_ja_registrado")
    errors: list[FieldError] = []
    if not (number or "").strip():
        errors.append(FieldError("number", "numero_obrigatorio", "Informe o número do COR."))
    if issued_on > today:
        errors.append(FieldError("issued_on", "data_futura", "A data de emissão não pode ser futura."))
    elif a.homologated_on is not None and issued_on < a.homologated_on:
        errors.append(FieldError("issued_on", "antes_da_homologacao", "O COR não pode preceder a homologação."))
    if errors:
        raise ValidationFailed("Confira os dados do COR.", errors=errors)
    a.status, a.cor_number, a.cor_issued_on, a.cor_issued_brl = "cor_emitido", number.strip()[:64], issued_on, value
    a.cor_recorded_by = actor.username
    a.updated_at = utcnow()
    await session.flush()
    return a


def cor_difference(a: Attestation) -> Decimal | None:
    """Issued minus expected (positive: the FNS issued more than regula expects)."""
    return None if a.cor_issued_brl is None else a.cor_issued_brl - a.expected_cor_brl


@dataclass(frozen=True)
class AttestationDetail:
    operator: Operator
    attestation: Attestation
    items: list[AttestedItem]
    sanction: Sanction | None


async def attestation_detail(
    session: AsyncSession, operator_id: int, competencia_: str, actor: Actor
) -> AttestationDetail:
    comp = competencia(competencia_)
    op = await repo.operator_for(session, actor, operator_id)
    a = await repo.attestation(session, operator_id, comp)
    if a is None:
        raise NotFound(f"A competência {comp} não foi atestada.", code="atestado_nao_encontrado")
    items = (await repo.attested_items(session, [a.id or 0]))[a.id or 0]
    return AttestationDetail(op, a, items, await repo.sanction_of_attestation(session, a.id or 0))


async def preview(
    session: AsyncSession, settings: Settings, operator_id: int, competencia_: str, actor: Actor
) -> tuple[Decimal, list[valuation.ValuedLine]]:
    """What an attestation of the month would gather now (planned value and lines), without storing anything."""
    comp = competencia(competencia_)
    await repo.operator_for(session, actor, operator_id)
    matrix = await repo.matrix_of(session, operator_id)
    lines = await valuation.month_lines(
        session, settings, actor, operator_id=operator_id, competencia=comp, matrix=matrix
    )
    return ev.round_money(valuation.planned_value(matrix)), lines


async def list_attestations(
    session: AsyncSession, actor: Actor, query: repo.AttestationQuery
) -> tuple[list[tuple[Attestation, Operator]], int]:
    return await repo.list_attestations(session, actor, query)


# -- caps per region -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CapUse:
    cap: str  # a Region value, or "strategic"
    label: str
    share: Decimal
    limit: Decimal
    used: Decimal
    produced: Decimal  # authorized production before caps


@dataclass(frozen=True)
class CapsView:
    operator: Operator
    year: int
    annual_max: Decimal | None
    national_large: bool
    used_total: Decimal
    caps: list[CapUse]


async def caps_used(session: AsyncSession, operator_id: int, year: int, actor: Actor) -> CapsView:
    """What the operator's attested production of ``year`` used of its annual maximum and, for a large operator
    of national reach, of each regional cap and the strategic one (art. 4 §3, art. 15 §5), by replaying the
    evaluation's own counting over the attested items, in order."""
    op = await repo.operator_for(session, actor, operator_id)
    maximum = await repo.annual_max(session, operator_id, year)
    large = rules.national_large(op.size, op.national_reach)
    attested = await repo.attestations_of(session, operator_id, year=year)
    stored = await repo.attested_items(session, [a.id or 0 for a in attested])
    year_caps = ev.YearCaps()
    produced: dict[str, Decimal] = {}
    if maximum is not None:
        for a in attested:
            items = _month_input(a, stored[a.id or 0]).production
            ev.count_month(items, maximum.value_brl, large, year_caps)
            for it in items:
                if it.authorized:
                    key = ev.cap_share(it)[0] if large else it.region.value
                    produced[key] = produced.get(key, Decimal(0)) + it.value
    caps: list[CapUse] = []
    if maximum is not None:
        for region, share in ev.REGION_SHARES.items():
            caps.append(
                CapUse(
                    region.value,
                    ev.REGION_LABELS_PT[region],
                    share,
                    ev.round_money(share * maximum.value_brl),
                    ev.round_money(year_caps.used(region.value)) if large else Decimal("0.00"),
                    ev.round_money(produced.get(region.value, Decimal(0))),
                )
            )
        caps.append(
            CapUse(
                "strategic",
                "Serviços estratégicos (qualquer região)",
                ev.STRATEGIC_SHARE,
                ev.round_money(ev.STRATEGIC_SHARE * maximum.value_brl),
                ev.round_money(year_caps.used("strategic")) if large else Decimal("0.00"),
                ev.round_money(produced.get("strategic", Decimal(0))),
            )
        )
    return CapsView(
        op,
        year,
        maximum.value_brl if maximum else None,
        large,
        ev.round_money(year_caps.total),
        caps,
    )


# -- sanctions -------------------------------------------------------------------------------------------------------


def _window(s: Sanction, today: date, **changes: object) -> rules.SanctionWindow:
    """Where the sanction stands on ``today`` by the rules of art. 17 §1, with ``changes`` applied to its dates."""
    dates: dict[str, object] = {
        "proposed_on": s.proposed_on,
        "notified_on": s.notified_on,
        "challenged_on": s.challenged_on,
        "decided_on": s.final_on if s.outcome in ("mantida", "revogada") else None,
        "challenge_upheld": None if s.outcome not in ("mantida", "revogada") else s.outcome == "revogada",
    }
    dates.update(changes)
    return rules.sanction_window(today=today, **dates)  # type: ignore[arg-type]


def _apply(s: Sanction, w: rules.SanctionWindow, actor: Actor) -> None:
    s.status = w.status.value
    s.notified_on, s.challenge_deadline, s.challenged_on = w.notified_on, w.challenge_deadline, w.challenged_on
    s.outcome = w.outcome.value if w.outcome is not None else None
    s.final_on = w.final_on
    if w.final_on is not None:
        s.decided_by = actor.username
    s.updated_at = utcnow()


async def _sanction_to_change(session: AsyncSession, sanction_id: int, actor: Actor) -> Sanction:
    _require_manager(actor)
    s = await repo.sanction_for(session, actor, sanction_id, for_update=True)
    await repo.operator_for(session, actor, s.operator_id, managing=True)
    return s


async def notify_sanction(session: AsyncSession, sanction_id: int, on: date, actor: Actor, today: date) -> Sanction:
    """Art. 17 §1: the operator is notified; the 15-day challenge window (Lei 9.784/1999, art. 66) starts."""
    s = await _sanction_to_change(session, sanction_id, actor)
    if s.status != "proposta":
        raise Conflict("A sanção já foi notificada.", code="sancao_ja_notificada")
    _apply(s, _window(s, today, notified_on=on), actor)
    await session.flush()
    return s


async def record_challenge(
    session: AsyncSession, sanction_id: int, on: date, note: str, actor: Actor, today: date
) -> Sanction:
    """The operator challenged the sanction inside the window (art. 17 §1); a challenge after it is refused."""
    s = await _sanction_to_change(session, sanction_id, actor)
    if s.status != "notificada":
        raise Conflict("Só se impugna sanção notificada e ainda não definitiva.", code="sancao_nao_impugnavel")
    if not (note or "").strip():
        raise ValidationFailed.for_field("note", "motivo_obrigatorio", "Resuma a impugnação apresentada.")
    _apply(s, _window(s, today, challenged_on=on), actor)
    s.challenge_note = note.strip()
    await session.flush()
    return s


async def decide_challenge(
    session: AsyncSession, sanction_id: int, outcome: str, note: str | None, actor: Actor, today: date
) -> Sanction:
    """The challenge's outcome, decided today: the sanction is upheld (``mantida``: final) or revoked."""
    s = await _sanction_to_change(session, sanction_id, actor)
    if s.status != "impugnada":
        raise Conflict("Não há impugnação pendente de decisão.", code="sem_impugnacao_pendente")
    if outcome not in ("mantida", "revogada"):
        raise ValidationFailed.for_field("outcome", "resultado_invalido", "Resultado: mantida ou revogada.")
    _apply(s, _window(s, today, decided_on=today, challenge_upheld=outcome == "revogada"), actor)
    s.outcome_note = note
    await session.flush()
    return s


async def finalize_unchallenged(session: AsyncSession, actor: Actor, today: date) -> list[Sanction]:
    """Sanctions notified whose 15-day window ended before ``today`` without a challenge become final (art. 17
    §1), dated the day after the deadline."""
    _require_manager(actor)
    done = []
    for s in await repo.open_sanctions_due(session, actor, today):
        w = _window(s, today)
        if w.status is rules.SanctionStatus.DEFINITIVA:
            _apply(s, w, actor)
            done.append(s)
    await session.flush()
    return done


async def list_sanctions(
    session: AsyncSession, actor: Actor, query: repo.SanctionQuery
) -> tuple[list[tuple[Sanction, Operator]], int]:
    return await repo.list_sanctions(session, actor, query)


async def audit_operator_list(session: AsyncSession, operators: Sequence[Operator]) -> None:
    """Operators are legal entities, not people: their lists hold no personal data, but an export is still
    recorded (who took which operators' figures)."""
    await record_list_read(
        session,
        "ressarcimento_operator",
        [o.id for o in operators],
        places=[(o.uf, None) for o in operators],
        action="export",
        even_if_empty=True,
    )


# -- reports ---------------------------------------------------------------------------------------------------------

SIZE_LABELS_PT: Final[dict[str, str]] = {"pequeno": "Pequeno", "medio": "Médio", "grande": "Grande"}
ATTESTATION_STATUS_LABELS_PT: Final[dict[str, str]] = {
    "atestada": "Atestada pelo ente",
    "homologada": "Homologada pela SAES",
    "cor_emitido": "COR emitido pelo FNS",
}
SANCTION_STATUS_LABELS_PT: Final[dict[str, str]] = {k.value: v for k, v in rules.SANCTION_STATUS_LABELS_PT.items()}
SANCTION_KIND_LABELS_PT: Final[dict[str, str]] = {"multa": "Multa (art. 17 I)", "exclusao": "Exclusão (art. 17 II)"}


STATUS_LABELS_PT: Final[dict[str, str]] = {k.value: v for k, v in rules.STATUS_LABELS_PT.items()}


def status_label(status: str) -> str:
    return STATUS_LABELS_PT.get(status, status)


def operators_report(operators: Sequence[Operator]) -> reports.Report:
    return reports.Report(
        "operadoras",
        "Operadoras",
        (
            "Registro ANS",
            "Operadora",
            "Porte",
            "Abrangência nacional",
            "UF do ente",
            "Situação",
            "Desde",
            "Exceção do mínimo (art. 15 §2)",
        ),
        [
            (
                o.ans_registration,
                o.name,
                SIZE_LABELS_PT.get(o.size, o.size),
                o.national_reach,
                o.uf,
                status_label(o.status),
                o.status_since,
                o.minimum_exception,
            )
            for o in operators
        ],
    )


def attestations_report(rows: Sequence[tuple[Attestation, Operator]]) -> reports.Report:
    return reports.Report(
        "atestados-ressarcimento",
        "Atestados mensais",
        (
            "Registro ANS",
            "Operadora",
            "Competência",
            "Situação",
            "Previsto na matriz (R$)",
            "Produção registrada (R$)",
            "Não autorizada (R$)",
            "Computado (R$)",
            "Saldo anterior (R$)",
            "Disponível (R$)",
            "COR esperado (R$)",
            "COR emitido (R$)",
            "Diferença (R$)",
            "Número do COR",
            "Saldo transportado (R$)",
            "Expirado (R$)",
            "Execução (%)",
            "Meses abaixo de 90%",
            "Sanção",
            "Multa proposta (R$)",
            "Atestado por",
            "Homologado em",
        ),
        [
            (
                o.ans_registration,
                o.name,
                a.competencia,
                ATTESTATION_STATUS_LABELS_PT.get(a.status, a.status),
                a.planned_brl,
                a.registered_brl,
                a.unauthorized_brl,
                a.counted_brl,
                a.carried_in_brl,
                a.available_brl,
                a.expected_cor_brl,
                a.cor_issued_brl,
                cor_difference(a),
                a.cor_number,
                a.carried_out_brl,
                a.expired_brl,
                a.execution_pct,
                a.months_below_90,
                a.sanction,
                a.fine_brl,
                a.attested_by,
                a.homologated_on,
            )
            for a, o in rows
        ],
    )


def sanctions_report(rows: Sequence[tuple[Sanction, Operator]]) -> reports.Report:
    return reports.Report(
        "sancoes-ressarcimento",
        "Sanções",
        (
            "Registro ANS",
            "Operadora",
            "Competência",
            "Sanção",
            "Valor (R$)",
            "Meses abaixo de 90%",
            "Situação",
            "Proposta em",
            "Notificada em",
            "Prazo de impugnação",
            "Impugnada em",
            "Resultado",
            "Definitiva em",
        ),
        [
            (
                o.ans_registration,
                o.name,
                s.competencia,
                SANCTION_KIND_LABELS_PT.get(s.kind, s.kind),
                s.amount_brl,
                s.months_below_90,
                SANCTION_STATUS_LABELS_PT.get(s.status, s.status),
                s.proposed_on,
                s.notified_on,
                s.challenge_deadline,
                s.challenged_on,
                s.outcome,
                s.final_on,
            )
            for s, o in rows
        ],
    )


def caps_report(views: Sequence[CapsView]) -> reports.Report:
    rows: list[tuple[reports.Cell, ...]] = []
    for v in views:
        rows.append(
            (
                v.operator.ans_registration,
                v.operator.name,
                v.year,
                "Valor máximo anual",
                None,
                v.annual_max,
                v.used_total,
                None,
            )
        )
        for c in v.caps:
            rows.append(
                (
                    v.operator.ans_registration,
                    v.operator.name,
                    v.year,
                    c.label,
                    c.share * 100,
                    c.limit,
                    c.used if v.national_large else None,
                    c.produced,
                )
            )
    return reports.Report(
        "tetos-regionais",
        "Tetos por região",
        (
            "Registro ANS",
            "Operadora",
            "Ano",
            "Teto",
            "Percentual (%)",
            "Limite (R$)",
            "Computado (R$)",
            "Produção autorizada (R$)",
        ),
        rows,
    )


REPORT_KINDS = ("operadoras", "atestados", "sancoes", "tetos")


async def build_report(session: AsyncSession, actor: Actor, kind: str, year: int) -> reports.Report:
    """A whole report (every row the actor reaches, not one page), recorded as an export."""
    if kind not in REPORT_KINDS:
        raise ValidationFailed.for_field(
            "kind", "relatorio_desconhecido", f"Relatório desconhecido; use um de: {', '.join(REPORT_KINDS)}."
        )
    operators = await repo.all_readable_operators(session, actor)
    await audit_operator_list(session, operators)
    if kind == "operadoras":
        return operators_report(operators)
    if kind == "atestados":
        rows, _ = await list_attestations(session, actor, repo.AttestationQuery(limit=100_000))
        return attestations_report(rows)
    if kind == "sancoes":
        srows, _ = await list_sanctions(session, actor, repo.SanctionQuery(limit=100_000))
        return sanctions_report(srows)
    return caps_report([await caps_used(session, o.id or 0, year, actor) for o in operators])
