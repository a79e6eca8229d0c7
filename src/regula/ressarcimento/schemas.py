"""API types of the Ressarcimento domain. Money is ``Decimal``: in requests a JSON number or a string in reais,
in responses a JSON number with its two decimals (``MoneyAsNumberResponse``)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

from litestar.params import KwargDefinition
from msgspec import Struct

from regula.catalog.schemas import Money
from regula.ressarcimento import service
from regula.ressarcimento.models import AnnualMaximum, Attestation, MatrixItem, Operator, OperatorStep, Sanction

MoneyIn = Money
#: An amount that may be absent: a JSON number or null (``Money | None`` cannot be written: its metadata is a dict).
MaybeMoney = Annotated[Decimal | None, KwargDefinition(schema_extra={"oneOf": [{"type": "number"}, {"type": "null"}]})]


class OperatorIn(Struct, forbid_unknown_fields=True):
    ans_registration: str
    name: str
    size: str
    uf: str
    national_reach: bool = False
    technical_capacity: bool = False
    ans_reports_regular: bool = False
    in_liquidation: bool = False
    minimum_exception: bool = False
    note: str | None = None


class FactsIn(Struct, forbid_unknown_fields=True):
    size: str
    national_reach: bool
    technical_capacity: bool
    ans_reports_regular: bool
    in_liquidation: bool
    minimum_exception: bool


class StepIn(Struct, forbid_unknown_fields=True):
    to_status: str = ""
    on_date: date | None = None
    note: str | None = None
    extend_consultation: bool = False


class AnnualMaxIn(Struct, forbid_unknown_fields=True):
    value_brl: MoneyIn
    act: str | None = None


class UnitIn(Struct, forbid_unknown_fields=True):
    cnes: str
    relation: str


class MatrixItemIn(Struct, forbid_unknown_fields=True):
    cnes: str
    component: str
    procedure_code: str
    monthly_qty: int
    annual_qty: int
    unit_value_brl: MaybeMoney = None
    ivr: MaybeMoney = None
    name: str | None = None
    sublimit_brl: MaybeMoney = None
    strategic: bool = False


class MatrixChangeIn(Struct, forbid_unknown_fields=True):
    monthly_qty: int
    annual_qty: int
    unit_value_brl: MaybeMoney = None
    ivr: MaybeMoney = None
    sublimit_brl: MaybeMoney = None
    strategic: bool = False
    active: bool = True


class AttestIn(Struct, forbid_unknown_fields=True):
    competencia: str
    note: str | None = None


class HomologationIn(Struct, forbid_unknown_fields=True):
    on: date
    act: str | None = None


class CorIn(Struct, forbid_unknown_fields=True):
    number: str
    issued_on: date
    value_brl: MoneyIn


class DateIn(Struct, forbid_unknown_fields=True):
    on: date


class ChallengeIn(Struct, forbid_unknown_fields=True):
    on: date
    note: str


class DecisionIn(Struct, forbid_unknown_fields=True):
    outcome: str
    note: str | None = None


class StepPublic(Struct):
    from_status: str | None
    to_status: str
    on_date: date
    note: str | None
    actor: str


class OperatorPublic(Struct):
    id: int
    ans_registration: str
    name: str
    size: str
    national_reach: bool
    technical_capacity: bool
    ans_reports_regular: bool
    in_liquidation: bool
    minimum_exception: bool
    status: str
    status_label: str
    status_since: date
    consultation_sent_on: date | None
    consultation_deadline: date | None
    consultation_extended: bool
    uf: str


class OperatorPage(Struct):
    items: list[OperatorPublic]
    total: int
    page: int
    page_size: int


class UnitPublic(Struct):
    cnes: str
    name: str
    municipality_ibge: str
    uf: str
    kind: str
    relation: str
    active: bool


class MatrixItemPublic(Struct):
    id: int
    cnes: str
    component: str
    procedure_code: str
    name: str
    unit_value_brl: Money
    ivr: MaybeMoney
    value_brl: Money
    monthly_qty: int
    annual_qty: int
    sublimit_brl: MaybeMoney
    strategic: bool
    active: bool
    replaced_by: int | None


class AnnualMaxPublic(Struct):
    year: int
    value_brl: Money
    act: str | None
    set_by: str


class OperatorDetailPublic(Struct):
    operator: OperatorPublic
    steps: list[StepPublic]
    units: list[UnitPublic]
    matrix: list[MatrixItemPublic]
    annual_maxima: list[AnnualMaxPublic]
    planned_month_brl: Money
    eligible: bool
    eligibility_reasons: list[str]
    next_statuses: list[str]


class SanctionPublic(Struct):
    id: int
    operator_id: int
    competencia: str
    kind: str
    amount_brl: Money
    months_below_90: int
    status: str
    proposed_on: date
    notified_on: date | None
    challenge_deadline: date | None
    challenged_on: date | None
    challenge_note: str | None
    outcome: str | None
    final_on: date | None


class AttestationPublic(Struct):
    id: int
    operator_id: int
    operator_name: str
    competencia: str
    status: str
    planned_brl: Money
    registered_brl: Money
    unauthorized_brl: Money
    items: int
    unauthorized_items: int
    counted_brl: Money
    carried_in_brl: Money
    available_brl: Money
    cor_expected: bool
    expected_cor_brl: Money
    carried_out_brl: Money
    expired_brl: Money
    execution_pct: Money
    months_below_90: int
    sanction: str
    fine_brl: Money
    annual_max_brl: Money
    attested_by: str
    attested_at: datetime
    homologated_on: date | None
    homologation_act: str | None
    cor_number: str | None
    cor_issued_on: date | None
    cor_issued_brl: MaybeMoney
    cor_difference_brl: MaybeMoney
    proposed_sanction: SanctionPublic | None = None


class AttestationPage(Struct):
    items: list[AttestationPublic]
    total: int
    page: int
    page_size: int


class SanctionPage(Struct):
    items: list[SanctionPublic]
    total: int
    page: int
    page_size: int


class CapPublic(Struct):
    cap: str
    label: str
    share: Money
    limit_brl: Money
    used_brl: Money
    produced_brl: Money


class CapsPublic(Struct):
    operator_id: int
    year: int
    annual_max_brl: MaybeMoney
    national_large: bool
    used_total_brl: Money
    caps: list[CapPublic]


def operator_public(o: Operator) -> OperatorPublic:
    return OperatorPublic(
        id=o.id or 0,
        ans_registration=o.ans_registration,
        name=o.name,
        size=o.size,
        national_reach=o.national_reach,
        technical_capacity=o.technical_capacity,
        ans_reports_regular=o.ans_reports_regular,
        in_liquidation=o.in_liquidation,
        minimum_exception=o.minimum_exception,
        status=o.status,
        status_label=service.status_label(o.status),
        status_since=o.status_since,
        consultation_sent_on=o.consultation_sent_on,
        consultation_deadline=o.consultation_deadline,
        consultation_extended=o.consultation_extended,
        uf=o.uf,
    )


def step_public(s: OperatorStep) -> StepPublic:
    return StepPublic(s.from_status, s.to_status, s.on_date, s.note, s.actor)


def matrix_public(i: MatrixItem) -> MatrixItemPublic:
    return MatrixItemPublic(
        id=i.id or 0,
        cnes=i.cnes,
        component=i.component,
        procedure_code=i.procedure_code,
        name=i.name,
        unit_value_brl=i.unit_value_brl,
        ivr=i.ivr,
        value_brl=i.value_brl,
        monthly_qty=i.monthly_qty,
        annual_qty=i.annual_qty,
        sublimit_brl=i.sublimit_brl,
        strategic=i.strategic,
        active=i.active,
        replaced_by=i.replaced_by,
    )


def annual_max_public(m: AnnualMaximum) -> AnnualMaxPublic:
    return AnnualMaxPublic(m.year, m.value_brl, m.act, m.set_by)


def detail_public(d: service.OperatorDetail) -> OperatorDetailPublic:
    return OperatorDetailPublic(
        operator=operator_public(d.operator),
        steps=[step_public(s) for s in d.steps],
        units=[
            UnitPublic(
                u.establishment.cnes,
                u.establishment.name,
                u.establishment.municipality_ibge,
                u.establishment.uf,
                u.establishment.kind,
                u.unit.relation,
                u.unit.active,
            )
            for u in d.units
        ],
        matrix=[matrix_public(i) for i in d.matrix],
        annual_maxima=[annual_max_public(m) for m in d.maxima],
        planned_month_brl=d.planned,
        eligible=d.eligibility.eligible,
        eligibility_reasons=list(d.eligibility.reasons_pt),
        next_statuses=list(d.next_statuses),
    )


def sanction_public(s: Sanction) -> SanctionPublic:
    return SanctionPublic(
        id=s.id or 0,
        operator_id=s.operator_id,
        competencia=s.competencia,
        kind=s.kind,
        amount_brl=s.amount_brl,
        months_below_90=s.months_below_90,
        status=s.status,
        proposed_on=s.proposed_on,
        notified_on=s.notified_on,
        challenge_deadline=s.challenge_deadline,
        challenged_on=s.challenged_on,
        challenge_note=s.challenge_note,
        outcome=s.outcome,
        final_on=s.final_on,
    )


def attestation_public(a: Attestation, o: Operator, sanction: Sanction | None = None) -> AttestationPublic:
    return AttestationPublic(
        id=a.id or 0,
        operator_id=a.operator_id,
        operator_name=o.name,
        competencia=a.competencia,
        status=a.status,
        planned_brl=a.planned_brl,
        registered_brl=a.registered_brl,
        unauthorized_brl=a.unauthorized_brl,
        items=a.items,
        unauthorized_items=a.unauthorized_items,
        counted_brl=a.counted_brl,
        carried_in_brl=a.carried_in_brl,
        available_brl=a.available_brl,
        cor_expected=a.cor_expected,
        expected_cor_brl=a.expected_cor_brl,
        carried_out_brl=a.carried_out_brl,
        expired_brl=a.expired_brl,
        execution_pct=a.execution_pct,
        months_below_90=a.months_below_90,
        sanction=a.sanction,
        fine_brl=a.fine_brl,
        annual_max_brl=a.annual_max_brl,
        attested_by=a.attested_by,
        attested_at=a.attested_at,
        homologated_on=a.homologated_on,
        homologation_act=a.homologation_act,
        cor_number=a.cor_number,
        cor_issued_on=a.cor_issued_on,
        cor_issued_brl=a.cor_issued_brl,
        cor_difference_brl=service.cor_difference(a),
        proposed_sanction=sanction_public(sanction) if sanction else None,
    )


def caps_public(v: service.CapsView) -> CapsPublic:
    return CapsPublic(
        operator_id=v.operator.id or 0,
        year=v.year,
        annual_max_brl=v.annual_max,
        national_large=v.national_large,
        used_total_brl=v.used_total,
        caps=[CapPublic(c.cap, c.label, c.share, c.limit, c.used, c.produced) for c in v.caps],
    )
