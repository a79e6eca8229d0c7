"""API types of the production domain (never table models), and their conversion from the services' views."""

from __future__ import annotations

from datetime import date, datetime

from msgspec import Struct

from regula.production import authorization as auth
from regula.production import composition as comp
from regula.production.control import Finding, ImportReport
from regula.production.execution import ExecutionView
from regula.production.indicators import ProviderIndicators
from regula.production.models import AuthorizationNumber, AuthorizationRange, OciProcedure


class ProcedureIn(Struct, forbid_unknown_fields=True):
    """A procedure performed: SIGTAP code, date (AAAA-MM-DD or DD/MM/AAAA), the professional's CBO; CNES defaults
    to the establishment of the appointment, CID to the referral's."""

    procedure_code: str
    performed_on: str
    cbo: str
    cnes: str | None = None
    cid_code: str | None = None
    quantity: int = 1


class VoidIn(Struct, forbid_unknown_fields=True):
    reason: str


class AttendanceIn(Struct, forbid_unknown_fields=True):
    """The provider's day (issue 17): ``em_atendimento`` starts the attendance of a confirmed appointment,
    ``faltou`` records a no-show; the waitlist's state table says who may, from which status."""

    to: str


class AttendancePublic(Struct):
    entry_id: int
    protocol: str
    status: str


class ConclusionIn(Struct, forbid_unknown_fields=True):
    """The return to APS: a summary of the care and the contrarreferência (Portaria 3.492/2024, art. 5 §2)."""

    aps_summary: str
    counter_referral: str


class ClosingIn(Struct, forbid_unknown_fields=True):
    note: str


class AuthorizationIn(Struct, forbid_unknown_fields=True):
    """Give ``number`` to record a number issued elsewhere (validated), or nothing to issue the next number of the
    executing establishment's range."""

    number: str | None = None
    cnes: str | None = None


class RangeIn(Struct, forbid_unknown_fields=True):
    cnes: str
    instrument: str  # apac | aih | cmd
    program: str  # pmae | complementar | reducao_filas
    first: str
    last: str
    note: str | None = None


class ProcedurePublic(Struct):
    id: int
    procedure_code: str
    procedure_name: str
    role: str
    performed_on: date
    cnes: str
    cbo: str
    cid_code: str
    quantity: int
    above_quantity: bool
    status: str
    recorded_by: str
    recorded_at: datetime
    void_reason: str | None


class ChecklistPublic(Struct):
    code: str
    name: str
    qty_allowed: int | None
    done_qty: int
    done: bool


class GroupPublic(Struct):
    source: str
    rule: str
    codes: list[str]
    done_codes: list[str]
    satisfied: bool


class ClockPublic(Struct):
    first_on: date | None
    last_on: date | None
    span_days: int | None
    elapsed_days: int | None
    max_days: int
    recommended_days: int
    remaining_days: int | None
    within_tm: bool | None
    level: str


class ExecutionPublic(Struct):
    entry_id: int
    protocol: str
    entry_status: str
    oci_code: str
    oci_name: str
    competencia: str
    execution_status: str | None
    cnes: str | None
    authorization_number: str | None
    mandatory: list[ChecklistPublic]
    groups: list[GroupPublic]
    min_secondaries: int | None
    distinct_secondaries: int
    pmae_ok: bool
    complete: bool
    missing: list[str]
    over_quantity: list[str]
    clock: ClockPublic
    procedures: list[ProcedurePublic]
    can_conclude: bool
    aps_summary: str | None
    counter_referral: str | None
    concluded_at: datetime | None
    navigator_closed_at: datetime | None
    warnings: list[str]


class AuthorizationPublic(Struct):
    id: int
    number: str
    formatted: str
    instrument: str
    program: str | None
    source: str
    cnes: str | None
    entry_id: int | None
    issued_at: datetime


class ValidationPublic(Struct):
    number: str
    formatted: str
    instrument: str
    program: str | None


class RangePublic(Struct):
    id: int
    cnes: str
    instrument: str
    program: str
    first: str
    last: str
    next_sequence: int
    remaining: int
    status: str


class RowErrorPublic(Struct):
    row: int
    field: str
    code: str
    message: str


class ImportPublic(Struct):
    import_id: int | None
    filename: str
    rows: int
    imported: int
    refused: int
    unchanged: bool
    errors: list[RowErrorPublic]


class FindingPublic(Struct):
    code: str
    label: str
    message: str
    article: str
    person: str
    citizen_id: int | None
    cnes: str
    competencia: str
    procedure_code: str | None
    oci_code: str | None
    authorization_number: str | None
    record_ids: list[int]


class IndicatorPublic(Struct):
    cnes: str
    name: str
    persons: int
    consultations: int
    first: int
    returns: int
    returns_per_first: float | None
    first_share: float | None
    velcro_persons: int
    velcro_share: float | None
    returns_after_conclusion: int


def procedure_public(p: OciProcedure) -> ProcedurePublic:
    return ProcedurePublic(
        p.id or 0,
        p.procedure_code,
        p.procedure_name,
        p.role,
        p.performed_on,
        p.cnes,
        p.cbo,
        p.cid_code,
        p.quantity,
        p.above_quantity,
        p.status,
        p.recorded_by,
        p.recorded_at,
        p.void_reason,
    )


def clock_public(c: comp.Clock) -> ClockPublic:
    return ClockPublic(
        c.first_on,
        c.last_on,
        c.span_days,
        c.elapsed_days,
        c.max_days,
        c.recommended_days,
        c.remaining_days,
        c.within_tm,
        c.level,
    )


def execution_public(v: ExecutionView) -> ExecutionPublic:
    x, p = v.execution, v.progress
    return ExecutionPublic(
        entry_id=v.entry.id or 0,
        protocol=v.entry.protocol,
        entry_status=v.entry.status,
        oci_code=v.oci.code,
        oci_name=v.oci.name,
        competencia=v.oci.competencia,
        execution_status=x.status if x else None,
        cnes=x.cnes if x else None,
        authorization_number=x.authorization_number if x else None,
        mandatory=[ChecklistPublic(i.code, i.name, i.qty_allowed, i.done_qty, i.done) for i in p.mandatory],
        groups=[
            GroupPublic(g.source, g.rule, [c for c, _ in g.codes], list(g.done_codes), g.satisfied) for g in p.groups
        ],
        min_secondaries=p.min_secondaries,
        distinct_secondaries=p.distinct_secondaries,
        pmae_ok=p.pmae_ok,
        complete=p.complete,
        missing=list(p.missing),
        over_quantity=[f"{o.code}: {o.done} de {o.allowed} permitidos" for o in p.over_quantity],
        clock=clock_public(p.clock),
        procedures=[procedure_public(q) for q in v.procedures],
        can_conclude=v.can_conclude,
        aps_summary=x.aps_summary if x else None,
        counter_referral=x.counter_referral if x else None,
        concluded_at=x.concluded_at if x else None,
        navigator_closed_at=x.navigator_closed_at if x else None,
        warnings=v.warnings,
    )


def authorization_public(n: AuthorizationNumber) -> AuthorizationPublic:
    return AuthorizationPublic(
        n.id or 0,
        n.number,
        auth.format_authorization(n.number),
        n.instrument,
        n.program,
        n.source,
        n.cnes,
        n.entry_id,
        n.issued_at,
    )


def range_public(r: AuthorizationRange) -> RangePublic:
    return RangePublic(
        r.id or 0,
        r.cnes,
        r.instrument,
        r.program,
        auth.format_authorization(auth.compose(r.instrument, r.prefix, r.first_seq)),
        auth.format_authorization(auth.compose(r.instrument, r.prefix, r.last_seq)),
        r.next_seq,
        max(0, r.last_seq - r.next_seq + 1),
        r.status,
    )


def import_public(r: ImportReport) -> ImportPublic:
    return ImportPublic(
        r.import_id,
        r.filename,
        r.rows,
        r.imported,
        r.refused,
        r.unchanged,
        [RowErrorPublic(e.row, e.field, e.code, e.message) for e in r.errors],
    )


def finding_public(f: Finding) -> FindingPublic:
    return FindingPublic(
        f.code,
        f.label,
        f.message,
        f.article,
        f.person,
        f.citizen_id,
        f.cnes,
        f.competencia,
        f.procedure_code,
        f.oci_code,
        f.authorization_number,
        list(f.record_ids),
    )


def indicator_public(i: ProviderIndicators) -> IndicatorPublic:
    return IndicatorPublic(
        i.cnes,
        i.name,
        i.persons,
        i.consultations,
        i.first,
        i.returns,
        i.returns_per_first,
        i.first_share,
        i.velcro_persons,
        i.velcro_share,
        i.returns_after_conclusion,
    )
