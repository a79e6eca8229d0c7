"""Teleconsultoria API under /api/v1/teleconsultations (Portaria GM/MS 3.492/2024 art. 10 §3 I; decision 21): the
teleconsultor's worklist of referrals waiting for an answer, one referral with its answer, and the answer itself.
The APS team and the regulators read; only the teleconsultor (and admin) answers."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, QueryParameter
from msgspec import Struct
from sqlalchemy.ext.asyncio import AsyncSession

from regula.access.actor import Actor
from regula.access.policy import Role, allow
from regula.access.service import Principal
from regula.config import Settings
from regula.core.clock import local_today
from regula.core.errors import ValidationFailed
from regula.db.base import utcnow
from regula.http.input_guard import EntryId
from regula.inputs import MAX_AGE_YEARS
from regula.people.service import age_on
from regula.territory.reference import territory
from regula.waitlist import teleconsultation_repository as repo
from regula.waitlist import teleconsultation_service as service
from regula.waitlist.teleconsultation import OUTCOME_LABELS_PT, Outcome
from regula.waitlist.teleconsultation_models import TeleconsultationAnswer

READERS = (Role.TELECONSULTOR, Role.REGULADOR, Role.SOLICITANTE, Role.NAVEGADOR, Role.GESTOR, Role.AUDITOR)
ANSWERERS = (Role.TELECONSULTOR,)


class AnswerPublic(Struct):
    outcome: str
    outcome_label: str
    guidance: str | None
    suggested_risk_class: str | None
    previous_risk_class: str
    answered_by: str
    answered_at: datetime
    due_at: datetime
    late: bool


class TeleconsultationReferral(Struct):
    entry_id: int
    protocol: str
    status: str
    oci_code: str
    cid_code: str
    risk_class: str
    risk_justification: str
    checklist: dict[str, Any]
    requesting_cnes: str
    municipality_ibge: str
    citizen_name: str
    age: int
    sex: str
    waiting_since: datetime | None
    due_at: datetime | None
    late: bool
    answer: AnswerPublic | None


class TeleconsultationPage(Struct):
    items: list[TeleconsultationReferral]
    page: int
    page_size: int
    total: int


class AnswerCreate(Struct, forbid_unknown_fields=True):
    outcome: str
    guidance: str | None = None
    suggested_risk_class: str | None = None


def answer_public(a: TeleconsultationAnswer) -> AnswerPublic:
    return AnswerPublic(
        a.outcome,
        OUTCOME_LABELS_PT.get(Outcome(a.outcome), a.outcome),
        a.guidance,
        a.suggested_risk_class,
        a.previous_risk_class,
        a.answered_by,
        a.answered_at,
        a.due_at,
        a.late,
    )


def _public(v: service.ReferralView, today: date) -> TeleconsultationReferral:
    e, c = v.entry, v.citizen
    assert e.id is not None
    waiting = e.status == "aguardando_teleconsulta"
    return TeleconsultationReferral(
        entry_id=e.id,
        protocol=e.protocol,
        status=e.status,
        oci_code=e.oci_code,
        cid_code=e.cid_code,
        risk_class=e.risk_class,
        risk_justification=e.risk_justification,
        checklist=dict(e.checklist or {}),
        requesting_cnes=e.requesting_cnes,
        municipality_ibge=e.municipality_ibge,
        citizen_name=c.social_name or c.name,
        age=age_on(c.birth_date, today),
        sex=c.sex,
        waiting_since=service.waiting_since(e) if waiting else (v.answer.waiting_since if v.answer else None),
        due_at=v.due_at if waiting else (v.answer.due_at if v.answer else None),
        late=v.late,
        answer=answer_public(v.answer) if v.answer else None,
    )


def worklist_filter(
    today: date, oci_code: str | None, municipality: str | None, age_min: int | None, age_max: int | None
) -> repo.WorklistFilter:
    """The worklist's filters, checked (the API and the page alike): a known municipality, ages in order."""
    if age_min is not None and age_max is not None and age_min > age_max:
        raise ValidationFailed.for_field("age_max", "faixa_etaria_invalida", "A idade máxima é menor que a mínima.")
    ibge = territory().municipality(municipality, "municipality").ibge_code if municipality else None
    return repo.WorklistFilter(
        oci=(oci_code or "").strip() or None, municipality=ibge, age_min=age_min, age_max=age_max, today=today
    )


def check_order(order: str) -> str:
    if order not in repo.ORDERS:
        raise ValidationFailed.for_field(
            "order", "ordem_invalida", f"Ordem inválida; use uma de: {', '.join(repo.ORDERS)}."
        )
    return order


class TeleconsultationController(Controller):
    path = "/api/v1/teleconsultations"
    tags = ["teleconsultoria"]

    @get(
        "/",
        opt=allow(Role.TELECONSULTOR, Role.REGULADOR, Role.NAVEGADOR, Role.GESTOR, Role.AUDITOR),
        operation_id="listTeleconsultations",
        summary="Encaminhamentos aguardando teleconsultoria (fila do teleconsultor)",
    )
    async def list_waiting(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        oci_code: Annotated[str | None, QueryParameter(max_length=10, description="Código da OCI (10 dígitos)")] = None,
        municipality: Annotated[str | None, QueryParameter(description="IBGE de residência (6 ou 7 dígitos)")] = None,
        age_min: Annotated[
            int | None, QueryParameter(ge=0, le=MAX_AGE_YEARS, description="Idade mínima, em anos")
        ] = None,
        age_max: Annotated[
            int | None, QueryParameter(ge=0, le=MAX_AGE_YEARS, description="Idade máxima, em anos")
        ] = None,
        order: Annotated[str, QueryParameter(description="espera, recentes, oci ou idade")] = "espera",
        page: Annotated[int, QueryParameter(ge=1, le=1_000_000)] = 1,
        page_size: Annotated[int, QueryParameter(ge=1, le=200)] = 50,
    ) -> TeleconsultationPage:
        today = local_today(settings)
        actor = Actor.of(request.user)
        f = worklist_filter(today, oci_code, municipality, age_min, age_max)
        order = check_order(order)
        total = await repo.count_waiting(db_session, actor, f)
        rows = await repo.list_waiting(
            db_session, actor, f, order=order, offset=(page - 1) * page_size, limit=page_size
        )
        now = utcnow()
        items = [_public(service.waiting_view(r.entry, r.citizen, settings, now), today) for r in rows]
        return TeleconsultationPage(items=items, page=page, page_size=page_size, total=total)

    @get(
        "/{entry_id:int}",
        summary="Um encaminhamento aguardando teleconsultoria",
        opt=allow(*READERS),
        operation_id="getTeleconsultation",
    )
    async def get_one(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        entry_id: EntryId,
    ) -> TeleconsultationReferral:
        v = await service.view(db_session, settings, entry_id, Actor.of(request.user))
        return _public(v, local_today(settings))

    @post(
        "/{entry_id:int}/answer",
        opt=allow(*ANSWERERS),
        operation_id="answerTeleconsultation",
        summary="Resposta do teleconsultor: resolvido na APS, seguir para a regulação ou seguir com classe sugerida",
        status_code=201,
    )
    async def answer(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        entry_id: EntryId,
        data: JSONBody[AnswerCreate],
    ) -> TeleconsultationReferral:
        v = await service.answer(
            db_session,
            settings,
            entry_id,
            Actor.of(request.user),
            outcome=data.outcome,
            guidance=data.guidance,
            suggested_risk_class=data.suggested_risk_class,
        )
        return _public(v, local_today(settings))


ROUTES = [TeleconsultationController]
