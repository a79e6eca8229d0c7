"""Waitlist API under /api/v1 and the public position look-up. Every read of a citizen's record is audited;
jurisdiction is enforced on every entry and citizen touched."""

from __future__ import annotations

import base64
import json
from datetime import date
from typing import Annotated, Any

from litestar import Controller, Request, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.types import ControllerRouterHandler
from sqlalchemy.ext.asyncio import AsyncSession

from regula.access.policy import Role, allow, public
from regula.access.service import Principal
from regula.audit.service import record_read, record_read_on_driver
from regula.config import Settings
from regula.core.errors import NotFound, PermissionDenied, ValidationFailed
from regula.core.ratelimit import public_lookup_limits
from regula.http import listing
from regula.http.input_guard import CitizenId, EntryId
from regula.http.state import (
    audit_context_for,
    client_address,
    driver_connection,
    settings_from,
)
from regula.inputs import BIGINT_MAX, MAX_AGE_YEARS, MAX_DAYS
from regula.people import documents
from regula.people import service as people
from regula.people.schemas import CitizenCreate, CitizenPublic, CitizenUpdate
from regula.territory.filters import region_filter
from regula.territory.reference import territory
from regula.waitlist import priority, standing
from regula.waitlist import repository as repo
from regula.waitlist import service as wl
from regula.waitlist.models import PriorityPolicyVersion, WaitlistEntry
from regula.waitlist.public_answers import ANSWERS
from regula.waitlist.schemas import (
    CapacityUpdate,
    EntryDetail,
    EntryPage,
    EntryPublic,
    EventPublic,
    PolicyChangeResult,
    PolicyPublic,
    PolicyUpdate,
    PublicPosition,
    ReferralCreate,
    ScopeUpdate,
    TransitionRequest,
)
from regula.waitlist.states import STATUS_LABELS_PT, EntryStatus, requestable_rules

# Who works with citizens' records: APS teams refer, operators regulate, navigators follow, providers execute.
CARE_ROLES = (Role.SOLICITANTE, Role.REGULADOR, Role.NAVEGADOR, Role.EXECUTANTE, Role.GESTOR, Role.AUDITOR)


def entry_public(
    e: WaitlistEntry | repo.EntryReadout, citizen_name: str, today: date, tz: str, shown: priority.Score | None
) -> EntryPublic:
    """The entry as the API shows it; ``shown`` is its score with the explanation (``standing.shown_score``), None
    when it was never scored."""
    assert e.id is not None
    return EntryPublic(
        id=e.id,
        protocol=e.protocol,
        citizen_id=e.citizen_id,
        citizen_name=citizen_name,
        oci_code=e.oci_code,
        cid_code=e.cid_code,
        risk_class=e.risk_class,
        status=e.status,
        status_label=STATUS_LABELS_PT[EntryStatus(e.status)],
        municipality_ibge=e.municipality_ibge,
        uf=e.uf,
        queue=f"{e.oci_code}:{e.scope_kind}:{e.scope_code}",
        requested_at=e.requested_at,
        authorized_at=e.authorized_at,
        deadline_date=wl.tm_deadline(e, today, tz),
        max_days=e.max_days,
        days_waiting=wl.days_waiting(e, today, tz),
        score=shown.value if shown is not None else e.score,
        score_breakdown=dict(shown.breakdown) if shown is not None else None,
        position=e.position,
        queue_size=e.queue_size,
        estimate_from=e.estimate_from,
        estimate_to=e.estimate_to,
        position_updated_at=e.position_updated_at,
    )


async def _entry_public(session: AsyncSession, settings: Settings, entry: WaitlistEntry) -> EntryPublic:
    today = wl.local_today(settings)
    citizen = await people.get_citizen(session, entry.citizen_id)
    shown = await standing.shown_scores(session, settings, [entry], today)
    return entry_public(entry, citizen.name, today, settings.timezone, shown.get(entry.id or 0))


def _policy_public(p: PriorityPolicyVersion) -> PolicyPublic:
    assert p.id is not None
    return PolicyPublic(p.id, p.queue_key, p.version, p.params, p.note, p.created_by, p.created_at)


def _cursor(e: WaitlistEntry) -> str:
    return base64.urlsafe_b64encode(json.dumps([e.id]).encode()).decode()


def _parse_cursor(raw: str) -> int:
    try:
        (value,) = json.loads(base64.urlsafe_b64decode(raw.encode()))
        if isinstance(value, int) and 0 <= value <= BIGINT_MAX:
            return value
    except (ValueError, TypeError, RecursionError):
        pass
    raise ValidationFailed.for_field("cursor", "cursor_invalido", "Cursor de paginação inválido.")


_ENTRY_SORT_PT = listing.sort_description(repo.entry_sorts(date(2000, 1, 1), "UTC")) + (
    " Para solicitações em análise não há fila, pontuacao nem prazo."
)
EntrySort = Annotated[str | None, QueryParameter(description=_ENTRY_SORT_PT, required=False)]


class CitizenController(Controller):
    path = "/api/v1/citizens"
    tags = ["cidadãos"]

    @post(
        "/",
        summary="Cadastra um cidadão",
        opt=allow(Role.SOLICITANTE, Role.REGULADOR, Role.NAVEGADOR),
        operation_id="createCitizen",
    )
    async def create(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        data: JSONBody[CitizenCreate],
    ) -> CitizenPublic:
        today = wl.local_today(settings)
        valid = people.validate_citizen(data, today).values
        wl.Actor.of(request.user).require(valid["municipality_ibge"])
        citizen = await people.create_citizen(db_session, data, today)
        return people.to_public(citizen, today)

    @get(
        "/{citizen_id:int}", summary="Um cidadão pelo identificador", opt=allow(*CARE_ROLES), operation_id="getCitizen"
    )
    async def read(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        citizen_id: CitizenId,
    ) -> CitizenPublic:
        citizen = await people.get_citizen(db_session, citizen_id)
        wl.Actor.of(request.user).require(citizen.municipality_ibge)
        await record_read(
            db_session, "Citizen", str(citizen_id), uf=citizen.uf, municipality_ibge=citizen.municipality_ibge
        )
        return people.to_public(citizen, wl.local_today(settings))

    @get("/", opt=allow(*CARE_ROLES), operation_id="findCitizen", summary="Busca por CPF ou CNS")
    async def find(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        cpf: Annotated[str | None, QueryParameter(description="CPF do cidadão (11 dígitos)")] = None,
        cns: Annotated[str | None, QueryParameter(description="CNS do cidadão (15 dígitos)")] = None,
    ) -> list[CitizenPublic]:
        if not cpf and not cns:
            raise ValidationFailed.for_field("cpf", "obrigatorio", "Informe cpf ou cns.")
        found = await people.find_by_documents(
            db_session,
            documents.validate_cpf(cpf) if cpf else None,
            documents.validate_cns(cns) if cns else None,
        )
        actor = wl.Actor.of(request.user)
        visible = [c for c in found if actor.covers(c.municipality_ibge)]
        for c in visible:
            await record_read(db_session, "Citizen", str(c.id), uf=c.uf, municipality_ibge=c.municipality_ibge)
        today = wl.local_today(settings)
        return [people.to_public(c, today) for c in visible]

    @put(
        "/{citizen_id:int}",
        summary="Atualiza o cadastro de um cidadão",
        opt=allow(Role.SOLICITANTE, Role.REGULADOR, Role.NAVEGADOR),
        operation_id="updateCitizen",
    )
    async def update(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        citizen_id: CitizenId,
        data: JSONBody[CitizenUpdate],
    ) -> CitizenPublic:
        citizen = await people.get_citizen(db_session, citizen_id)
        actor = wl.Actor.of(request.user)
        actor.require(citizen.municipality_ibge)
        await people.update_citizen(db_session, citizen, data)
        actor.require(citizen.municipality_ibge)  # moving a citizen out of one's jurisdiction is not allowed
        return people.to_public(citizen, wl.local_today(settings))


class EntryController(Controller):
    path = "/api/v1"
    tags = ["fila"]

    @post(
        "/referrals",
        summary="Envia um encaminhamento (solicitação de OCI) para a regulação",
        opt=allow(Role.SOLICITANTE, Role.REGULADOR),
        operation_id="createReferral",
    )
    async def create_referral(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        data: JSONBody[ReferralCreate],
    ) -> EntryPublic:
        entry = await wl.create_referral(db_session, data, wl.Actor.of(request.user), settings)
        return await _entry_public(db_session, settings, entry)

    @get("/entries", opt=allow(*CARE_ROLES), operation_id="listEntries", summary="Busca de solicitações na fila")
    async def list_entries(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        oci: Annotated[str | None, QueryParameter(description="Código da OCI (10 dígitos)")] = None,
        status: Annotated[
            str | None, QueryParameter(description="Situação da solicitação (ex.: autorizada, agendada)")
        ] = None,
        municipality: Annotated[str | None, QueryParameter(description="IBGE de origem (6 ou 7 dígitos)")] = None,
        risk_class: Annotated[
            str | None, QueryParameter(description="Classe de risco (vermelho, amarelo, verde ou azul)")
        ] = None,
        age_min: Annotated[
            int | None, QueryParameter(ge=0, le=MAX_AGE_YEARS, description="Idade mínima, em anos")
        ] = None,
        age_max: Annotated[
            int | None, QueryParameter(ge=0, le=MAX_AGE_YEARS, description="Idade máxima, em anos")
        ] = None,
        min_days_waiting: Annotated[
            int | None, QueryParameter(ge=0, le=MAX_DAYS, description="Só quem espera há pelo menos estes dias")
        ] = None,
        queue: Annotated[str | None, QueryParameter(description="OCI:escopo:código; ordena pela posição")] = None,
        region: Annotated[
            str | None, QueryParameter(description="Região de saúde de origem (código de 5 dígitos).", required=False)
        ] = None,
        sort: EntrySort = None,
        direction: listing.Direction = None,
        cursor: Annotated[
            str | None,
            QueryParameter(
                description=(
                    "O next_cursor da página anterior. Sem sort/direction, as páginas seguem o identificador; com "
                    "eles, repita os mesmos sort e direction (um cursor só vale para a sua ordenação)."
                ),
                required=False,
            ),
        ] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 50,
    ) -> EntryPage:
        today = wl.local_today(settings)
        statuses = None
        if status:
            try:
                statuses = (EntryStatus(status).value,)
            except ValueError:
                raise ValidationFailed.for_field("status", "status_desconhecido", "Status desconhecido.") from None
        search = repo.EntrySearch(
            oci=oci or None,
            statuses=statuses,
            municipalities=region_filter(region, "region"),
            municipality=territory().municipality(municipality, "municipality").ibge_code if municipality else None,
            risk=risk_class or None,
            queue=wl.QueueKey.parse(queue) if queue else None,
            born_on_or_before=people.born_by(today, age_min) if age_min is not None else None,
            born_after=people.born_by(today, age_max + 1) if age_max is not None else None,
            waited=(
                repo.WaitedAtLeast(min_days_waiting, today, settings.timezone) if min_days_waiting is not None else None
            ),
        )
        if sort is not None or direction is not None:
            # The pages' orders (decision 23): keyset on (sort value, id), with the true total.
            under_review = statuses is not None and set(statuses) <= set(repo.UNDER_REVIEW)
            sorts = repo.entry_sorts(today, settings.timezone, under_review=under_review)
            window = listing.window(sorts, sort, direction, cursor, limit)
            found = await repo.entry_page(db_session, wl.Actor.of(request.user), search, sorts, window)
            shown = await standing.shown_scores(db_session, settings, [h.entry for h in found.rows], today)
            return EntryPage(
                items=[
                    entry_public(h.entry, h.name, today, settings.timezone, shown.get(h.entry.id or 0))
                    for h in found.rows
                ],
                next_cursor=found.next_cursor,
                total=found.total,
            )
        # Keyset pagination on the entry id (stable under inserts); within a queue, position order is given
        # by the position column, which the client may sort by. One more than asked says whether a page follows.
        hits = await repo.search_entries(
            db_session,
            wl.Actor.of(request.user),
            search,
            limit=limit + 1,
            after_id=_parse_cursor(cursor) if cursor else None,
        )
        page = hits[:limit]
        shown = await standing.shown_scores(db_session, settings, [h.entry for h in page], today)
        items = [entry_public(h.entry, h.name, today, settings.timezone, shown.get(h.entry.id or 0)) for h in page]
        next_cursor = _cursor(hits[limit - 1].entry) if len(hits) > limit else None
        return EntryPage(items=items, next_cursor=next_cursor)

    @get(
        "/entries/{entry_id:int}",
        summary="Uma solicitação da fila, com seu histórico e posição",
        opt=allow(*CARE_ROLES),
        operation_id="getEntry",
    )
    async def get_entry(
        self,
        request: Request[Principal, Any, Any],
        entry_id: EntryId,
    ) -> EntryDetail:
        # The entry, its citizen's name and its history in one statement, then its read event once the caller's
        # jurisdiction is known to cover it, each statement its own transaction (decision 0029) run by the driver
        # itself (decision 0030): two round trips, and nothing is answered before the event is written. The
        # settings are the app's own, read from its state rather than injected (one dependency less per read).
        settings = settings_from(request.app.state)
        async with driver_connection(request.app.state) as connection:
            found = await repo.entry_for_reading(connection, entry_id)
            if found is None:
                raise NotFound("Solicitação não encontrada.", code="entrada_nao_encontrada")
            entry = found.entry
            wl.Actor.of(request.user).require(entry.municipality_ibge)
            await record_read_on_driver(
                connection,
                audit_context_for(request),
                "WaitlistEntry",
                str(entry_id),
                uf=entry.uf,
                municipality_ibge=entry.municipality_ibge,
            )
        today = wl.local_today(settings)
        shown = None
        if found.policy is not None and entry.authorized_at is not None:
            policy = found.policy
            shown = standing.shown_score(
                entry,
                found.citizen,
                standing.compiled_policy(policy.params_json),
                wl.policy_label(policy.queue_key, policy.version),
                standing.restricted_sex(found.oci_sex_sigtap),
                today,
                settings.timezone,
            )
        base = entry_public(entry, found.citizen_name, today, settings.timezone, shown)
        return EntryDetail(
            **{f: getattr(base, f) for f in base.__struct_fields__},
            risk_justification=entry.risk_justification,
            checklist=entry.checklist,
            requesting_cnes=entry.requesting_cnes,
            requested_procedure_code=entry.requested_procedure_code,
            explanation=priority.explain(shown) if shown is not None else [],
            # What this user may ask for here, as the page offers it (a referral just sent can be decided at once).
            allowed_transitions=[
                r.target.value for r in requestable_rules(EntryStatus(entry.status), request.user.role.value)
            ],
            history=[EventPublic(**event) for event in found.history],
        )

    @post(
        "/entries/{entry_id:int}/transitions",
        summary="Muda a situação de uma solicitação (conforme a tabela de situações)",
        opt=allow(*CARE_ROLES),
        operation_id="transitionEntry",
    )
    async def transition(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        entry_id: EntryId,
        data: JSONBody[TransitionRequest],
    ) -> EntryPublic:
        entry = await wl.transition(
            db_session, entry_id, data.to, wl.Actor.of(request.user), settings, data.reason_code, data.reason_text
        )
        await db_session.refresh(entry)  # positions were recomputed in SQL
        return await _entry_public(db_session, settings, entry)


class QueueAdminController(Controller):
    path = "/api/v1/queues"
    tags = ["filas"]

    @get("/", opt=allow(*CARE_ROLES), operation_id="listQueues", summary="Filas com tamanho e espera")
    async def list_queues(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
    ) -> list[dict[str, Any]]:
        summaries = await repo.queue_summaries(
            db_session, wl.Actor.of(request.user), wl.local_today(settings), settings.timezone
        )
        return [{"queue": q.key, "size": q.size, "oldest_authorized_at": q.oldest_authorized_at} for q in summaries]

    @get(
        "/policies/{queue_key:str}",
        summary="A política de priorização de uma fila",
        opt=allow(*CARE_ROLES),
        operation_id="getPolicy",
    )
    async def get_policy(self, db_session: NamedDependency[AsyncSession], queue_key: FromPath[str]) -> PolicyPublic:
        latest = await wl.latest_policies(db_session)
        if queue_key in latest:
            return _policy_public(latest[queue_key])
        return _policy_public(wl.resolve_policy(latest, wl.QueueKey.parse(queue_key)))

    @put(
        "/policies/{queue_key:str}",
        summary="Define a política de priorização de uma fila",
        opt=allow(Role.GESTOR),
        operation_id="setPolicy",
    )
    async def set_policy(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        queue_key: FromPath[str],
        data: JSONBody[PolicyUpdate],
    ) -> PolicyChangeResult:
        _require_national_or_queue_scope(request.user, queue_key)
        row, rescored, changed = await wl.set_policy(
            db_session, queue_key, data.params, wl.Actor.of(request.user), settings, data.note
        )
        return PolicyChangeResult(_policy_public(row), rescored, changed)

    @put(
        "/scopes/{health_region_code:str}",
        summary="Define o escopo das filas de uma região de saúde",
        opt=allow(Role.GESTOR),
        operation_id="setScope",
    )
    async def set_scope(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        health_region_code: FromPath[str],
        data: JSONBody[ScopeUpdate],
    ) -> dict[str, str]:
        _require_region(request.user, health_region_code)
        row = await wl.set_scope(db_session, health_region_code, data.scope_kind, data.par_approved_on)
        return {
            "health_region_code": row.health_region_code,
            "scope_kind": row.scope_kind,
            "par_approved_on": row.par_approved_on.isoformat() if row.par_approved_on else "",
        }

    @put(
        "/capacity",
        summary="Define a capacidade semanal de uma fila (base da estimativa de espera)",
        opt=allow(Role.GESTOR),
        operation_id="setCapacity",
    )
    async def set_capacity(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        data: JSONBody[CapacityUpdate],
    ) -> dict[str, Any]:
        key = wl.QueueKey(data.oci_code, data.scope_kind, data.scope_code)
        _require_national_or_queue_scope(request.user, str(key))
        await wl.set_capacity(db_session, key, data.weekly_capacity)
        updated = await wl.recompute_positions(db_session, settings, [key])
        return {"queue": str(key), "weekly_capacity": data.weekly_capacity, "positions_updated": updated}


def _require_region(user: Principal, health_region_code: str) -> None:
    places = [m for m in territory().all() if m.health_region_code == health_region_code]
    if not places or not all(user.jurisdiction.covers_place(m) for m in places):
        raise PermissionDenied("Região fora da sua jurisdição.", code="fora_da_jurisdicao")


def _require_national_or_queue_scope(user: Principal, queue_key: str) -> None:
    """A manager changes the policy or capacity only of queues whose whole territory is theirs."""
    if user.jurisdiction.kind.value == "br":
        return
    if queue_key == wl.DEFAULT_KEY or queue_key.endswith(":*"):
        raise PermissionDenied("Só a gestão nacional altera políticas gerais.", code="fora_da_jurisdicao")
    key = wl.QueueKey.parse(queue_key)
    attr = {"region": "health_region_code", "macro": "macro_code", "uf": "uf"}[key.scope_kind]
    places = [m for m in territory().all() if getattr(m, attr) == key.scope_code]
    if not places or not all(user.jurisdiction.covers_place(m) for m in places):
        raise PermissionDenied("Fila fora da sua jurisdição.", code="fora_da_jurisdicao")


# Art. 10 §2 V: a regular channel telling each citizen their situation in the queue. No login; rate-limited per
# client address and per protocol, with the same buckets as the page /posicao (regula.core.ratelimit); nothing
# personal beyond a masked name.
@get(
    "/public/position",
    opt=public(),
    tags=["público"],
    operation_id="publicPosition",
    summary="Consulta pública da posição na fila",
)
async def public_position(
    request: Request[Any, Any, Any],
    protocol: Annotated[str, QueryParameter(description="Protocolo da solicitação")],
    birth_date: Annotated[date, QueryParameter(description="Data de nascimento (AAAA-MM-DD)")],
) -> PublicPosition:
    limits = public_lookup_limits(request.app.state)
    if refusal := limits.check_address(client_address(request)) or limits.check_protocol(protocol):
        raise refusal.error()
    normalized = protocol.strip().upper()
    # A found answer read in the last few seconds by this process (regula.waitlist.public_answers, decision 0026:
    # at most PUBLIC_ANSWER_SECONDS behind the database); otherwise one statement, outside any transaction, sent
    # by the driver itself (decision 0030).
    answer: PublicPosition | None = ANSWERS.get(normalized, birth_date)
    if answer is not None:
        return answer
    async with driver_connection(request.app.state) as connection:
        row = await repo.public_answer(connection, normalized, birth_date)
    if row is None:
        # The same answer whether the protocol or the birth date is wrong: nothing to learn by probing.
        raise NotFound("Protocolo ou data de nascimento não conferem.", code="protocolo_nao_encontrado")
    answer = PublicPosition(
        protocol=row.protocol,
        name=documents.mask_name(row.social_name or row.name),
        status=STATUS_LABELS_PT[EntryStatus(row.status)],
        position=row.position,
        queue_size=row.queue_size,
        estimate_from=row.estimate_from,
        estimate_to=row.estimate_to,
        updated_at=row.position_updated_at,
    )
    ANSWERS.put(normalized, birth_date, answer)
    return answer


ROUTES: list[ControllerRouterHandler] = [CitizenController, EntryController, QueueAdminController, public_position]
