"""The navigators' worklist API: open tasks in the user's jurisdiction, and the contacts logged against them."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, QueryParameter
from msgspec import Struct
from sqlalchemy.ext.asyncio import AsyncSession

from regula.access.actor import Actor
from regula.access.policy import Role, allow
from regula.access.service import Principal
from regula.config import Settings
from regula.core.errors import ValidationFailed
from regula.db.listing import ListingError
from regula.http import listing
from regula.http.input_guard import CounterReferralId, TaskId
from regula.navigation import care_loop, counter_referral_repository, repository, service
from regula.navigation.models import COUNTER_REFERRAL_RECIPIENTS, TASK_KIND_LABELS_PT, ContactAttempt
from regula.territory.filters import municipality_filter, region_filter
from regula.waitlist import measures


class TaskPublic(Struct):
    id: int
    kind: str
    kind_label: str
    status: str
    entry_id: int | None
    protocol: str | None
    entry_status: str | None
    citizen_name: str
    phone: str | None
    municipality_ibge: str
    detail: str
    due_at: datetime | None
    created_at: datetime
    closed_at: datetime | None
    closed_by: str | None
    outcome: str | None


class ContactCreate(Struct, forbid_unknown_fields=True):
    outcome: str
    notes: str | None = None
    channel: str = "telefone"
    close: bool = False


class ContactPublic(Struct):
    id: int
    task_id: int | None
    outcome: str
    channel: str
    notes: str | None
    made_by: str
    made_at: datetime


def _contact(c: ContactAttempt) -> ContactPublic:
    return ContactPublic(c.id or 0, c.task_id, c.outcome, c.channel, c.notes, c.made_by, c.made_at)


TaskSort = Annotated[
    str | None,
    QueryParameter(description=listing.sort_description(repository.TASK_SORTS), required=False),
]


class NavigationController(Controller):
    path = "/api/v1/navigation/tasks"
    tags = ["navegação"]

    @get(
        "/",
        summary="Tarefas da navegação no seu território",
        opt=allow(Role.NAVEGADOR, Role.REGULADOR, Role.GESTOR),
        operation_id="listNavigationTasks",
        description=(
            "Tarefas da navegação no seu território, paginadas por cursor (decisão 23): o total verdadeiro vem em "
            "X-Total-Count e o cursor da página seguinte em X-Next-Cursor. Os mesmos filtros e ordenações da "
            "página /navegacao."
        ),
        response_headers=listing.RESPONSE_HEADERS,
    )
    async def list_tasks(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        status: Annotated[
            str, QueryParameter(description="Situação: aberta ou concluida.", pattern="^(aberta|concluida)$")
        ] = "aberta",
        kind: Annotated[
            str | None, QueryParameter(description="Tipo de tarefa (ver kind_label).", required=False, max_length=32)
        ] = None,
        municipality: Annotated[
            str | None,
            QueryParameter(description="Município de residência (código IBGE, 6 ou 7 dígitos).", required=False),
        ] = None,
        region: Annotated[
            str | None, QueryParameter(description="Região de saúde (código de 5 dígitos).", required=False)
        ] = None,
        due_by: Annotated[
            date | None,
            QueryParameter(
                description="Só tarefas com prazo até este dia (inclusive, no fuso da central).", required=False
            ),
        ] = None,
        sort: TaskSort = None,
        direction: listing.Direction = None,
        cursor: listing.CursorParam = None,
        limit: listing.Limit = 200,
    ) -> Response[list[TaskPublic]]:
        if kind is not None and kind not in TASK_KIND_LABELS_PT:
            raise ListingError.of("kind", "kind_desconhecido", f"Tipo de tarefa desconhecido: “{kind[:32]}”.")
        f = repository.TaskFilter(
            status=status,
            kind=kind,
            municipality=municipality_filter(municipality, "municipality"),
            municipalities=region_filter(region, "region"),
            due_before=measures.start_of_day(due_by + timedelta(days=1), settings.timezone) if due_by else None,
        )
        window = listing.window(repository.TASK_SORTS, sort, direction, cursor, limit)
        found = await repository.task_page(db_session, Actor.of(request.user), f, window)
        return Response(
            [
                TaskPublic(
                    r.task.id or 0,
                    r.task.kind,
                    TASK_KIND_LABELS_PT.get(r.task.kind, r.task.kind),
                    r.task.status,
                    r.task.entry_id,
                    r.protocol,
                    r.entry_status,
                    r.citizen_name,
                    r.phone,
                    r.task.municipality_ibge,
                    r.task.detail,
                    r.task.due_at,
                    r.task.created_at,
                    r.task.closed_at,
                    r.task.closed_by,
                    r.task.outcome,
                )
                for r in found.rows
            ],
            headers=listing.headers(found),
        )

    @post(
        "/{task_id:int}/contacts",
        summary="Registra um contato com o cidadão em uma tarefa da navegação",
        opt=allow(Role.NAVEGADOR, Role.REGULADOR),
        operation_id="logContact",
    )
    async def log_contact(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        task_id: TaskId,
        data: JSONBody[ContactCreate],
    ) -> ContactPublic:
        attempt = await service.log_contact(
            db_session, task_id, Actor.of(request.user), data.outcome, data.notes, data.channel, close=data.close
        )
        return _contact(attempt)

    @get(
        "/{task_id:int}/contacts",
        summary="Contatos registrados em uma tarefa da navegação",
        opt=allow(Role.NAVEGADOR, Role.REGULADOR, Role.GESTOR),
    )
    async def contacts(
        self, request: Request[Principal, Any, Any], db_session: NamedDependency[AsyncSession], task_id: TaskId
    ) -> list[ContactPublic]:
        await service.get_task(db_session, task_id, Actor.of(request.user))
        return [_contact(c) for c in await service.contacts_of_task(db_session, task_id)]


class CounterReferralPublic(Struct):
    id: int
    entry_id: int
    protocol: str
    citizen_name: str
    oci_code: str
    recipient_cnes: str
    recipient: str
    recipient_label: str
    findings: str
    conduct: str
    concluded_by: str
    sent_at: datetime
    read_at: datetime | None
    read_by: str | None


class CounterReferralPage(Struct):
    items: list[CounterReferralPublic]
    page: int
    page_size: int
    total: int


def counter_referral_public(r: counter_referral_repository.CounterReferralRow) -> CounterReferralPublic:
    x = r.counter_referral
    return CounterReferralPublic(
        x.id or 0,
        x.entry_id,
        r.protocol,
        r.citizen_name,
        x.oci_code,
        x.recipient_cnes,
        x.recipient,
        COUNTER_REFERRAL_RECIPIENTS.get(x.recipient, x.recipient),
        x.findings,
        x.conduct,
        x.concluded_by,
        x.sent_at,
        x.read_at,
        x.read_by,
    )


def counter_referral_filter(
    read: str | None, oci_code: str | None, cnes: str | None, q: str | None
) -> counter_referral_repository.CounterReferralFilter:
    """The APS worklist's filters, checked (API and page alike)."""
    flags = {None: None, "": None, "nao_lidas": False, "lidas": True, "false": False, "true": True}
    if read not in flags:
        raise ValidationFailed.for_field(
            "read", "filtro_leitura_invalido", "Filtro de leitura inválido; use lidas ou nao_lidas."
        )
    if cnes and not (cnes.isdigit() and len(cnes) == 7):
        raise ValidationFailed.for_field("cnes", "cnes_invalido", "O CNES tem 7 dígitos.")
    return counter_referral_repository.CounterReferralFilter(
        read=flags[read], oci=(oci_code or "").strip() or None, cnes=cnes or None, text=(q or "").strip() or None
    )


def check_counter_referral_order(order: str) -> str:
    if order not in counter_referral_repository.COUNTER_REFERRAL_ORDERS:
        options = ", ".join(counter_referral_repository.COUNTER_REFERRAL_ORDERS)
        raise ValidationFailed.for_field("order", "ordem_invalida", f"Ordem inválida; use uma de: {options}.")
    return order


COUNTER_REFERRAL_READERS = (Role.SOLICITANTE, Role.NAVEGADOR, Role.REGULADOR, Role.GESTOR, Role.AUDITOR)


class CounterReferralController(Controller):
    """The contrarreferência of each concluded OCI, for the APS teams (Portaria GM/MS 3.492/2024 art. 5 §2; art. 10
    §1 IV and VI; decision 21): their worklist, one counter-referral, and the acknowledgement that it was read."""

    path = "/api/v1/counter-referrals"
    tags = ["contrarreferência"]

    @get(
        "/",
        summary="Contrarreferências recebidas pelas equipes da APS",
        opt=allow(*COUNTER_REFERRAL_READERS),
        operation_id="listCounterReferrals",
    )
    async def list_counter_referrals(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        read: Annotated[str | None, QueryParameter(description="lidas ou nao_lidas")] = None,
        oci_code: Annotated[str | None, QueryParameter(max_length=10, description="Código da OCI (10 dígitos)")] = None,
        cnes: Annotated[str | None, QueryParameter(description="CNES da equipe que recebeu")] = None,
        q: Annotated[str | None, QueryParameter(max_length=200, description="Protocolo ou nome")] = None,
        order: Annotated[str, QueryParameter(description="recentes, antigas ou nao_lidas")] = "recentes",
        page: Annotated[int, QueryParameter(ge=1, le=1_000_000, description="Página, a partir de 1")] = 1,
        page_size: Annotated[int, QueryParameter(ge=1, le=200, description="Itens por página")] = 50,
    ) -> CounterReferralPage:
        actor = Actor.of(request.user)
        f = counter_referral_filter(read, oci_code, cnes, q)
        order = check_counter_referral_order(order)
        total = await counter_referral_repository.count_counter_referrals(db_session, actor, f)
        rows = await counter_referral_repository.list_counter_referrals(
            db_session, actor, f, order=order, offset=(page - 1) * page_size, limit=page_size
        )
        return CounterReferralPage([counter_referral_public(r) for r in rows], page, page_size, total)

    @get(
        "/{counter_referral_id:int}",
        summary="Uma contrarreferência",
        opt=allow(*COUNTER_REFERRAL_READERS),
        operation_id="getCounterReferral",
    )
    async def get_counter_referral(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        counter_referral_id: CounterReferralId,
    ) -> CounterReferralPublic:
        row = await care_loop.counter_referral(db_session, counter_referral_id, Actor.of(request.user))
        return counter_referral_public(row)

    @post(
        "/{counter_referral_id:int}/read",
        opt=allow(Role.SOLICITANTE),
        operation_id="acknowledgeCounterReferral",
        summary="A equipe da APS confirma a leitura da contrarreferência",
        status_code=200,
    )
    async def acknowledge(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        counter_referral_id: CounterReferralId,
    ) -> CounterReferralPublic:
        row = await care_loop.acknowledge_counter_referral(db_session, counter_referral_id, Actor.of(request.user))
        return counter_referral_public(row)


ROUTES = [NavigationController, CounterReferralController]
