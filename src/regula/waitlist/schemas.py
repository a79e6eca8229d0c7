"""API types of the waitlist (never table models)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from msgspec import Struct

from regula.people.schemas import CitizenCreate


class ReferralCreate(Struct, forbid_unknown_fields=True):
    """A referral from an APS team. Give ``citizen_id`` of a registered citizen or the ``citizen`` data (found by
    CPF/CNS or registered). Give ``oci_code``, or — during the six months after the region's PAR approval —
    ``procedure_code`` of a secondary procedure compatible with exactly one OCI (amendment, art. 14 §2)."""

    cid_code: str
    risk_class: str
    risk_justification: str
    requesting_cnes: str
    oci_code: str | None = None
    procedure_code: str | None = None
    citizen_id: int | None = None
    citizen: CitizenCreate | None = None
    checklist: dict[str, bool] = {}
    # Exams the APS team declares done (names as the OCI's protocol lists them; art. 10 §1 III).
    exams: list[str] = []
    requesting_ine: str | None = None
    professional_cns: str | None = None
    professional_cbo: str | None = None
    external_source: str | None = None
    external_id: str | None = None
    requested_at: datetime | None = None


class TransitionRequest(Struct, forbid_unknown_fields=True):
    to: str
    reason_code: str | None = None
    reason_text: str | None = None


class EventPublic(Struct):
    id: int
    occurred_at: datetime
    kind: str
    from_status: str | None
    to_status: str | None
    reason_code: str | None
    reason_text: str | None
    data: dict[str, Any] | None
    actor_username: str | None
    actor_role: str | None


class EntryPublic(Struct):
    id: int
    protocol: str
    citizen_id: int
    citizen_name: str
    oci_code: str
    cid_code: str
    risk_class: str
    status: str
    status_label: str
    municipality_ibge: str
    uf: str
    queue: str
    requested_at: datetime
    authorized_at: datetime | None
    deadline_date: date | None
    max_days: int
    days_waiting: int | None
    score: int | None
    score_breakdown: dict[str, Any] | None
    position: int | None
    queue_size: int | None
    estimate_from: date | None
    estimate_to: date | None
    position_updated_at: datetime | None


class EntryDetail(EntryPublic):
    risk_justification: str = ""
    checklist: dict[str, Any] = {}
    requesting_cnes: str = ""
    requested_procedure_code: str | None = None
    explanation: list[str] = []
    allowed_transitions: list[str] = []
    history: list[EventPublic] = []


class EntryPage(Struct):
    items: list[EntryPublic]
    next_cursor: str | None
    total: int | None = None  # the list's true total, when it is sorted by ``sort`` (decision 23)


class PolicyPublic(Struct):
    id: int
    queue_key: str
    version: int
    params: dict[str, Any]
    note: str | None
    created_by: str | None
    created_at: datetime


class PolicyUpdate(Struct, forbid_unknown_fields=True):
    params: dict[str, Any]
    note: str | None = None


class PolicyChangeResult(Struct):
    policy: PolicyPublic
    rescored: int
    changed: int


class CapacityUpdate(Struct, forbid_unknown_fields=True):
    oci_code: str
    scope_kind: str
    scope_code: str
    weekly_capacity: int


class ScopeUpdate(Struct, forbid_unknown_fields=True):
    scope_kind: str
    par_approved_on: date | None = None


class PublicPosition(Struct):
    protocol: str
    name: str
    status: str
    position: int | None
    queue_size: int | None
    estimate_from: date | None
    estimate_to: date | None
    updated_at: datetime | None
