"""Allocation runs for operators: launch, review with explanations and summaries, approve, commit or discard."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import JSONBody, QueryParameter
from msgspec import Meta, Struct
from sqlalchemy.ext.asyncio import AsyncSession

from regula.access.policy import Role, allow
from regula.access.service import Principal
from regula.allocation import repository as runs
from regula.allocation import service
from regula.allocation.models import AllocationRun
from regula.config import Settings
from regula.db.listing import MAX_SIZE, read_window
from regula.http.input_guard import RunId
from regula.providers import repository as providers
from regula.waitlist import repository as waitlist
from regula.waitlist import service as wl


class RunCreate(Struct, forbid_unknown_fields=True):
    scope: str
    horizon_days: Annotated[int, Meta(ge=1, le=service.MAX_HORIZON_DAYS)] = service.DEFAULT_HORIZON_DAYS
    #: Widen the maximum travel distance for this run (km; every OCI's limit becomes at least this). Recorded in the
    #: run's ``params.travel_limit_widened_to``; omitted: the deployment's limits (default 200 km).
    max_travel_km: Annotated[int, Meta(ge=1, le=service.MAX_WIDENED_TRAVEL_KM)] | None = None


class ObjectiveParts(Struct):
    """The objective as a regulator weighs it (``optimizer.explain.objective_parts``)."""

    entries: int
    served: int
    served_within_tm: int
    late: int
    late_days: int
    total_km: int
    mean_km: float
    max_km: int
    outside_region: int
    escalated: int
    teleconsultation: int


class ConflictReason(Struct):
    code: str  # entrada_alterada | vaga_ocupada
    label: str
    count: int
    entry_ids: list[int]


class CommitSummary(Struct):
    """What the commit did: booked, and the assignments not booked by reason (list them with
    ``GET …/assignments?outcome=conflito&conflict=<code>``)."""

    booked: int
    conflicts: int
    by_reason: list[ConflictReason]


class RunPublic(Struct):
    """A run. ``status`` na_fila and resolvendo: being solved by the jobs process (``progress`` says where); the
    solver's fields are empty until then. falhou: ``error`` says why. ``objective_parts`` is the objective as people
    served, served within tM, kilometres and lateness; ``objective`` is the solver's raw sum (its own units, for
    reproducing and validating the run, not for reading)."""

    id: int
    scope: str
    status: str
    solver: str | None
    solver_status: str | None
    objective: int | None
    greedy_objective: int | None
    wall_seconds: float | None
    counts: dict[str, Any]
    violations: int
    instance_sha256: str | None
    created_by: str
    created_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    committed_at: datetime | None
    progress: dict[str, Any] | None
    error: str | None
    objective_parts: ObjectiveParts | None = None
    greedy_objective_parts: ObjectiveParts | None = None
    max_travel_km: int | None = None
    max_travel_km_by_oci: dict[str, int] | None = None
    travel_limit_widened_to: int | None = None
    commit: CommitSummary | None = None


class AssignmentPublic(Struct):
    """One assignment: ``travel_km`` (0 for teleconsultation), ``days_until`` the slot, the provider's full name,
    and, when the slot is outside the person's health region, ``reason`` (``reason_code``: escalonada,
    sem_vaga_na_regiao, vagas_da_regiao_ocupadas, mais_perto, proposta_mantida, abrangencia_da_fila). A conflict
    (``outcome`` conflito) names why it was not booked (``conflict_reason``)."""

    entry_id: int
    protocol: str
    municipality_ibge: str
    slot_id: int
    cnes: str
    starts_at: datetime
    explanation: dict[str, Any] | None
    displaced_entry_id: int | None
    outcome: str
    provider_name: str | None = None
    provider_municipality_ibge: str | None = None
    travel_km: int | None = None
    days_until: int | None = None
    late_days: int | None = None
    outside_region: bool | None = None
    reason_code: str | None = None
    reason: str | None = None
    conflict_reason: str | None = None


class AssignmentPage(Struct):
    """One window of a run's assignments (cursor paging: pass ``next_cursor`` as ``cursor``)."""

    total: int
    first_index: int
    items: list[AssignmentPublic]
    next_cursor: str | None
    previous_cursor: str | None


class RunDetail(Struct):
    run: RunPublic
    assignments: list[AssignmentPublic]
    summary: dict[str, Any]


def _parts(raw: Any) -> ObjectiveParts | None:
    return ObjectiveParts(**raw) if isinstance(raw, dict) and raw else None


def _commit_summary(r: AllocationRun) -> CommitSummary | None:
    result = (r.counts or {}).get("commit")
    if not result:
        return None
    reasons = [
        ConflictReason(code, service.CONFLICT_REASONS[code], len(ids), [int(i) for i in ids])
        for code, key in runs.CONFLICT_LISTS.items()
        for ids in [result.get(key, [])]
    ]
    return CommitSummary(int(result.get("booked", 0)), int(result.get("conflicts", 0)), reasons)


def _public(r: AllocationRun) -> RunPublic:
    params = r.params or {}
    return RunPublic(
        r.id or 0,
        r.scope,
        r.status,
        r.solver,
        r.solver_status,
        r.objective,
        r.greedy_objective,
        r.wall_seconds,
        r.counts,
        r.violations,
        r.instance_sha256,
        r.created_by,
        r.created_at,
        r.decided_by,
        r.decided_at,
        r.committed_at,
        r.progress,
        r.error,
        objective_parts=_parts((r.counts or {}).get("objective_parts")),
        greedy_objective_parts=_parts((r.counts or {}).get("greedy_objective_parts")),
        max_travel_km=params.get("max_travel_km"),
        max_travel_km_by_oci=params.get("max_travel_km_by_oci"),
        travel_limit_widened_to=params.get("travel_limit_widened_to"),
        commit=_commit_summary(r),
    )


def _conflict_reason(r: AllocationRun, entry_id: int, outcome: str) -> str | None:
    result = (r.counts or {}).get("commit")
    if outcome != "conflito" or not result:
        return None
    changed = entry_id in {int(i) for i in result.get("changed_entries", [])}
    return "entrada_alterada" if changed else "vaga_ocupada"


def _assignment(run: AllocationRun, a: Any, entry: Any, slot: Any, place: Any | None) -> AssignmentPublic:
    x = a.explanation or {}
    reason = x.get("reason") or {}
    return AssignmentPublic(
        a.entry_id,
        entry.protocol,
        entry.municipality_ibge,
        a.slot_id,
        slot.cnes,
        slot.starts_at,
        a.explanation,
        a.displaced_entry_id,
        a.outcome,
        provider_name=place.name if place is not None else None,
        provider_municipality_ibge=place.municipality_ibge if place is not None else None,
        travel_km=x.get("travel_km"),
        days_until=x.get("days_until"),
        late_days=x.get("late_days"),
        outside_region=x.get("outside_region"),
        reason_code=reason.get("code"),
        reason=reason.get("text"),
        conflict_reason=_conflict_reason(run, a.entry_id, a.outcome),
    )


async def detail(session: AsyncSession, run: AllocationRun, actor: wl.Actor, limit: int = 500) -> RunDetail:
    """The run with the assignments ``actor`` may see (those of their own jurisdiction in a wider run)."""
    assignments = await runs.assignments_for(session, run, actor)
    slots = await providers.slots_by_id(session, [a.slot_id for a in assignments])
    entries = await waitlist.entries_by_id(session, [a.entry_id for a in assignments])
    places = await providers.establishments_by_cnes(session, sorted({s.cnes for s in slots.values()}))
    items = [
        _assignment(run, a, entries[a.entry_id], slots[a.slot_id], places.get(slots[a.slot_id].cnes))
        for a in assignments[:limit]
    ]
    await runs.record_assignments_read(session, run, [entries[a.entry_id] for a in assignments[:limit]])
    return RunDetail(_public(run), items, service.summary(assignments, slots, entries))


class AllocationController(Controller):
    path = "/api/v1/allocation/runs"
    tags = ["alocação"]

    @post(
        "/",
        summary="Pede uma rodada de alocação (resolvida em segundo plano; consulte o endereço devolvido em Location)",
        opt=allow(Role.REGULADOR, Role.GESTOR),
        operation_id="proposeAllocation",
        status_code=202,
    )
    async def propose(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        data: JSONBody[RunCreate],
    ) -> Response[RunPublic]:
        """Queue a run (``na_fila``): the jobs process solves it; ``Location`` is the run, to poll until it is
        ``proposta`` (or ``descartada``, ``falhou``). ``max_travel_km`` widens the travel limit for this run."""
        run = await service.enqueue(
            db_session,
            settings,
            data.scope,
            wl.Actor.of(request.user),
            horizon_days=data.horizon_days,
            max_travel_km=data.max_travel_km,
        )
        return Response(_public(run), status_code=202, headers={"Location": f"/api/v1/allocation/runs/{run.id}"})

    @get(
        "/",
        summary="Rodadas de alocação da jurisdição",
        opt=allow(Role.REGULADOR, Role.GESTOR, Role.AUDITOR),
        operation_id="listAllocations",
    )
    async def list_runs(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        limit: Annotated[int, QueryParameter(ge=1, le=200, description="Número máximo de itens na resposta")] = 50,
    ) -> list[RunPublic]:
        return [_public(r) for r in await runs.readable_runs(db_session, wl.Actor.of(request.user), limit=limit)]

    @get(
        "/{run_id:int}",
        summary="Uma rodada de alocação com seu resumo",
        opt=allow(Role.REGULADOR, Role.GESTOR, Role.AUDITOR),
        operation_id="getAllocation",
    )
    async def get_run(
        self, request: Request[Principal, Any, Any], db_session: NamedDependency[AsyncSession], run_id: RunId
    ) -> RunDetail:
        actor = wl.Actor.of(request.user)
        return await detail(db_session, await runs.run_for(db_session, run_id, actor), actor)

    @get(
        "/{run_id:int}/instance",
        summary="Os dados de entrada de uma rodada (pessoas, vagas e distâncias)",
        opt=allow(Role.REGULADOR, Role.GESTOR, Role.AUDITOR),
        operation_id="allocationInstance",
        # Sent as the stored bytes (no re-encoding), but it is a JSON object and the document says so.
        responses={
            200: ResponseSpec(dict[str, Any], description="A instância do solver (JSON)", generate_examples=False)
        },
    )
    async def instance(
        self, request: Request[Principal, Any, Any], db_session: NamedDependency[AsyncSession], run_id: RunId
    ) -> Response[bytes]:
        # The instance holds every resident of the scope: only for those whose jurisdiction holds all of it.
        run = await runs.run_for(db_session, run_id, wl.Actor.of(request.user), deciding=True)
        return Response(
            await runs.read_instance(db_session, run),
            media_type="application/json",
            headers={"Content-Disposition": f'attachment; filename="alocacao-{run_id}.json"'},
        )

    @get(
        "/{run_id:int}/assignments",
        summary="Atribuições de uma rodada, filtradas, ordenadas e paginadas (por exemplo, os conflitos da efetivação)",
        opt=allow(Role.REGULADOR, Role.GESTOR, Role.AUDITOR),
        operation_id="listAllocationAssignments",
    )
    async def assignments(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        run_id: RunId,
        outcome: Annotated[
            Literal["proposta", "efetivada", "conflito"] | None,
            QueryParameter(description="Resultado: proposta, efetivada ou conflito (não efetivada)"),
        ] = None,
        conflict: Annotated[
            Literal["entrada_alterada", "vaga_ocupada"] | None,
            QueryParameter(description="Só os conflitos deste motivo (após a efetivação)"),
        ] = None,
        outside_region: Annotated[
            bool, QueryParameter(description="Só as atribuições fora da região de saúde da pessoa")
        ] = False,
        sort: Annotated[
            Literal["data", "km", "prestador", "protocolo", "pontuacao"] | None, QueryParameter(description="Ordem")
        ] = None,
        direction: Annotated[Literal["asc", "desc"] | None, QueryParameter(description="Sentido")] = None,
        cursor: Annotated[str | None, QueryParameter(max_length=400, description="Cursor da página")] = None,
        limit: Annotated[
            int, QueryParameter(ge=1, le=MAX_SIZE, description="Número máximo de itens na resposta")
        ] = 100,
    ) -> AssignmentPage:
        """A run's assignments, filtered (e.g. exactly the conflicts of a commit, by reason), sorted and paged by
        cursor, with the true total; only those of the caller's jurisdiction in a wider run (audited)."""
        actor = wl.Actor.of(request.user)
        run = await runs.run_for(db_session, run_id, actor)
        window = read_window(
            runs.ASSIGNMENT_SORTS,
            sort=sort,
            direction=direction,
            cursor=cursor,
            size=limit,
            sort_param="sort",
            direction_param="direction",
            cursor_param="cursor",
        )
        f = runs.AssignmentFilter(outcome=outcome, conflict=conflict, outside_region=outside_region)
        found = await runs.assignment_list(db_session, run, actor, f, window)
        return AssignmentPage(
            found.total,
            found.first_index,
            [_assignment(run, r.assignment, r.entry, r.slot, r.establishment) for r in found.rows],
            found.next_cursor,
            found.previous_cursor,
        )

    @post(
        "/{run_id:int}/approve",
        summary="Aprova uma rodada de alocação proposta",
        opt=allow(Role.REGULADOR, Role.GESTOR),
        operation_id="approveAllocation",
    )
    async def approve(
        self, request: Request[Principal, Any, Any], db_session: NamedDependency[AsyncSession], run_id: RunId
    ) -> RunPublic:
        return _public(await service.decide(db_session, run_id, "aprovada", wl.Actor.of(request.user)))

    @post(
        "/{run_id:int}/discard",
        summary="Descarta uma rodada de alocação",
        opt=allow(Role.REGULADOR, Role.GESTOR),
        operation_id="discardAllocation",
    )
    async def discard(
        self, request: Request[Principal, Any, Any], db_session: NamedDependency[AsyncSession], run_id: RunId
    ) -> RunPublic:
        return _public(await service.decide(db_session, run_id, "descartada", wl.Actor.of(request.user)))

    @post(
        "/{run_id:int}/commit",
        summary="Efetiva uma rodada aprovada: agenda as pessoas nas vagas atribuídas",
        opt=allow(Role.REGULADOR, Role.GESTOR),
        operation_id="commitAllocation",
    )
    async def commit(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        run_id: RunId,
    ) -> dict[str, Any]:
        result = await service.commit(db_session, settings, run_id, wl.Actor.of(request.user))
        return {"run": run_id, **result}


ROUTES = [AllocationController]
