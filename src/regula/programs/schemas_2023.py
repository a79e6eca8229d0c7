"""API types of the 2023 queue-reduction program (never table models). Money goes out as exact strings with two
decimals (``"1234.50"``) and comes in as strings, never through a float (docs/programs.md)."""

from __future__ import annotations

from datetime import date

from msgspec import Struct

from regula.programs.money import money_text
from regula.programs.percapita_2023 import NUMBERING_DIGIT, UfShare
from regula.programs.service_2023 import PlanView, UfRow


class ItemIn(Struct, forbid_unknown_fields=True):
    procedure_code: str  # SIGTAP, 10 digits (art. 6 I)
    cnes: str  # executing service (art. 6 II)
    instrument: str  # apac | aih (art. 10 I)
    quantity: int
    table_value: str  # SUS table value per procedure, e.g. "150.00"
    complement: str = "0"  # federal complement per procedure, ≤ table value (art. 9)


class ScheduleIn(Struct, forbid_unknown_fields=True):
    month: str  # AAAA-MM
    amount: str


class PlanIn(Struct, forbid_unknown_fields=True):
    target_reduction: int
    target_note: str
    schedule: list[ScheduleIn]
    items: list[ItemIn]
    reason: str | None = None


class ApprovalIn(Struct, forbid_unknown_fields=True):
    cib_resolution: str
    cib_resolution_on: date
    saes_approved_on: date


class PaymentIn(Struct, forbid_unknown_fields=True):
    kind: str  # antecipacao | producao
    paid_on: date
    amount: str  # negative for a reversal
    competencia: str | None = None  # AAAAMM, for production
    instrument: str | None = None  # apac | aih, for production
    note: str | None = None


class SharePublic(Struct):
    uf_code: str
    uf: str
    name: str
    population: int
    amount_brl: str
    upfront_brl: str
    on_production_brl: str


class ItemPublic(Struct):
    procedure_code: str
    cnes: str
    instrument: str
    numbering_digit: str  # 5th digit of the authorization number (art. 10 II)
    quantity: int
    table_value_brl: str
    complement_brl: str


class PaymentPublic(Struct):
    id: int
    kind: str
    paid_on: date
    amount_brl: str
    competencia: str | None
    instrument: str | None
    note: str | None
    created_by: str


class TotalsPublic(Struct):
    procedures: int
    table_value_brl: str
    complement_brl: str
    scheduled_brl: str
    paid_upfront_brl: str
    paid_production_brl: str
    upfront_left_brl: str
    production_left_brl: str


class PlanPublic(Struct):
    uf: str
    version: int
    versions: list[int]
    status: str
    reason: str | None
    target_reduction: int
    target_note: str
    schedule: list[dict[str, str]]
    population: int
    amount_brl: str
    upfront_brl: str
    cib_resolution: str | None
    cib_resolution_on: date | None
    saes_approved_on: date | None
    created_by: str
    items: list[ItemPublic]
    payments: list[PaymentPublic]
    totals: TotalsPublic
    editable: bool


class UfRowPublic(Struct):
    share: SharePublic
    plan_version: int | None
    plan_status: str | None
    paid_upfront_brl: str
    paid_production_brl: str


def share_public(s: UfShare) -> SharePublic:
    return SharePublic(
        s.uf_code,
        s.uf,
        s.name,
        s.population,
        money_text(s.amount),
        money_text(s.upfront),
        money_text(s.on_production),
    )


def plan_public(v: PlanView) -> PlanPublic:
    p, t = v.plan, v.totals
    return PlanPublic(
        uf=p.uf,
        version=p.version,
        versions=v.versions,
        status=p.status,
        reason=p.reason,
        target_reduction=p.target_reduction,
        target_note=p.target_note,
        schedule=p.schedule,
        population=p.population,
        amount_brl=money_text(p.amount),
        upfront_brl=money_text(p.upfront),
        cib_resolution=p.cib_resolution,
        cib_resolution_on=p.cib_resolution_on,
        saes_approved_on=p.saes_approved_on,
        created_by=p.created_by,
        items=[
            ItemPublic(
                i.procedure_code,
                i.cnes,
                i.instrument,
                NUMBERING_DIGIT[i.instrument],
                i.quantity,
                money_text(i.table_value),
                money_text(i.complement),
            )
            for i in v.items
        ],
        payments=[
            PaymentPublic(
                pay.id or 0,
                pay.kind,
                pay.paid_on,
                money_text(pay.amount),
                pay.competencia,
                pay.instrument,
                pay.note,
                pay.created_by,
            )
            for pay in v.payments
        ],
        totals=TotalsPublic(
            t.procedures,
            money_text(t.table_value),
            money_text(t.complement),
            money_text(t.scheduled),
            money_text(t.paid_upfront),
            money_text(t.paid_production),
            money_text(t.upfront_left),
            money_text(t.production_left),
        ),
        editable=v.editable,
    )


def row_public(r: UfRow) -> UfRowPublic:
    return UfRowPublic(
        share_public(r.share),
        r.plan.version if r.plan else None,
        r.plan.status if r.plan else None,
        money_text(r.paid_upfront),
        money_text(r.paid_production),
    )
