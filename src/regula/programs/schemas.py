"""API input and output types of program management (never table models). Dates are text (``AAAA-MM-DD``), months
``AAAA-MM``; the services validate them field by field. Money goes out as exact text with two decimals
(``"1234.50"``) so no client reads money through a float."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from msgspec import Struct

from regula.programs.models import Par, ParContract, ParLine, ParStep, ParTransfer, ParVersion
from regula.programs.money import money_text
from regula.programs.steps import STEP_LABELS_PT, VERSION_STATUS_LABELS_PT, VersionStatus


class LineIn(Struct, forbid_unknown_fields=True):
    """One planned line: ``quantity`` OCIs ``oci_code`` by establishment ``cnes`` in ``month`` (AAAA-MM), under the
    executing manager ``manager`` (``uf:SC`` or ``municipality:4205407``)."""

    manager: str
    oci_code: str
    cnes: str
    month: str
    quantity: int


class MilestoneIn(Struct, forbid_unknown_fields=True):
    milestone: str
    due_on: str


class ResponsibilityIn(Struct, forbid_unknown_fields=True):
    ente: str  # "uf:SC", "municipality:4205407" or a name
    text: str


class ParContentIn(Struct, forbid_unknown_fields=True):
    """The content of a PAR version (Portaria GM/MS 3.492/2024 art. 9 as amended). ``scope_kind``: region, macro,
    uf or municipalities (then ``municipalities`` lists the IBGE codes); ``scope_code`` the region/macro code or
    the UF. ``catalog_competencia`` (AAAAMM): the SIGTAP values of the lines; the newest when omitted."""

    scope_kind: str
    diagnosis: str
    priorities: str
    scope_code: str = ""
    municipalities: list[str] = []
    catalog_competencia: str | None = None
    target_queue_size: int | None = None
    target_wait_days: int | None = None
    target_date: str | None = None
    schedule: list[MilestoneIn] = []
    responsibilities: list[ResponsibilityIn] = []
    lines: list[LineIn] = []


class ParCreate(ParContentIn, forbid_unknown_fields=True):
    title: str = ""


class VersionCreate(ParContentIn, forbid_unknown_fields=True):
    """An adjustment: a new version with the reason for it (art. 11)."""

    reason: str = ""


class LinesIn(Struct, forbid_unknown_fields=True):
    lines: list[LineIn]


class StepIn(Struct, forbid_unknown_fields=True):
    kind: str
    number: str
    step_date: str
    note: str | None = None


class TransferIn(Struct, forbid_unknown_fields=True):
    """Money received: ``kind`` incentivo_1 / incentivo_2 (art. 15 §2), adiantamento (art. 16 I), producao (II)."""

    manager: str
    kind: str
    paid_on: str
    amount: Decimal
    reference: str | None = None


class CommitmentIn(Struct, forbid_unknown_fields=True):
    """The assessment of the PAR's commitments that conditions the 70% (art. 16 §4 as amended)."""

    assessed_on: str
    met: bool
    note: str | None = None


class ContractIn(Struct, forbid_unknown_fields=True):
    """Contracted quantity of an OCI from an establishment in a month (art. 12 VII); the value is quantity × the
    unit value (the PAR's SIGTAP value when omitted)."""

    contract_number: str
    manager: str
    cnes: str
    oci_code: str
    month: str
    quantity: int
    unit_value: Decimal | None = None


# -- output ----------------------------------------------------------------------------------------------------------


class LineOut(Struct):
    manager: str
    oci_code: str
    cnes: str
    month: str
    quantity: int
    unit_value: str
    value: str


class StepOut(Struct):
    kind: str
    label: str
    number: str
    step_date: date
    note: str | None
    created_by: str


class VersionOut(Struct):
    version: int
    status: str
    status_label: str
    reason: str | None
    scope_kind: str
    scope_code: str
    municipalities: list[str]
    population: int
    population_source: str
    catalog_competencia: str
    diagnosis: str
    priorities: str
    target_queue_size: int | None
    target_wait_days: int | None
    target_date: date | None
    schedule: list[dict[str, Any]]
    responsibilities: list[dict[str, Any]]
    approved_on: date | None
    planned_quantity: int
    planned_value: str
    created_by: str
    created_at: datetime
    steps: list[StepOut]


class ParSummary(Struct):
    id: int
    title: str
    uf: str
    status: str
    version: int
    scope_kind: str
    scope_code: str
    population: int
    first_approved_on: date | None
    updated_at: datetime


class ParPage(Struct):
    items: list[ParSummary]
    total: int
    offset: int
    limit: int


class ParOut(Struct):
    id: int
    title: str
    uf: str
    first_approved_on: date | None
    versions: list[VersionOut]


class TransferOut(Struct):
    id: int
    manager: str
    kind: str
    paid_on: date
    amount: str
    reference: str | None


class ContractOut(Struct):
    id: int
    contract_number: str
    manager: str
    cnes: str
    oci_code: str
    month: str
    quantity: int
    unit_value: str
    value: str
    delivered: int
    regulated: int
    month_closed: bool
    under_delivered: bool


def line_out(line: ParLine) -> LineOut:
    return LineOut(
        line.manager,
        line.oci_code,
        line.cnes,
        line.month.strftime("%Y-%m"),
        line.quantity,
        money_text(line.unit_value),
        money_text(line.value),
    )


def step_out(step: ParStep) -> StepOut:
    return StepOut(
        step.kind, STEP_LABELS_PT.get(step.kind, step.kind), step.number, step.step_date, step.note, step.created_by
    )


def version_out(v: ParVersion, steps: list[ParStep], lines: list[ParLine]) -> VersionOut:
    return VersionOut(
        version=v.version,
        status=v.status,
        status_label=VERSION_STATUS_LABELS_PT[VersionStatus(v.status)],
        reason=v.reason,
        scope_kind=v.scope_kind,
        scope_code=v.scope_code,
        municipalities=list(v.municipalities),
        population=v.population,
        population_source=v.population_source,
        catalog_competencia=v.catalog_competencia,
        diagnosis=v.diagnosis,
        priorities=v.priorities,
        target_queue_size=v.target_queue_size,
        target_wait_days=v.target_wait_days,
        target_date=v.target_date,
        schedule=list(v.schedule),
        responsibilities=list(v.responsibilities),
        approved_on=v.approved_on,
        planned_quantity=sum(x.quantity for x in lines),
        planned_value=money_text(sum((x.value for x in lines), Decimal("0"))),
        created_by=v.created_by,
        created_at=v.created_at,
        steps=[step_out(s) for s in steps],
    )


def summary_out(par: Par, latest: ParVersion) -> ParSummary:
    return ParSummary(
        par.id or 0,
        par.title,
        par.uf,
        latest.status,
        latest.version,
        latest.scope_kind,
        latest.scope_code,
        latest.population,
        par.first_approved_on,
        par.updated_at,
    )


def transfer_out(t: ParTransfer) -> TransferOut:
    return TransferOut(t.id or 0, t.manager, t.kind, t.paid_on, money_text(t.amount), t.reference)


def contract_out(c: ParContract, delivered: int, regulated: int, closed: bool, under: bool) -> ContractOut:
    return ContractOut(
        c.id or 0,
        c.contract_number,
        c.manager,
        c.cnes,
        c.oci_code,
        c.month.strftime("%Y-%m"),
        c.quantity,
        money_text(c.unit_value),
        money_text(c.value),
        delivered,
        regulated,
        closed,
        under,
    )
