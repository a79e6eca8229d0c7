"""Allocation runs for operators: launch, review with explanations and summaries, approve, commit or discard."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

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
from regula.http.input_guard import Id
from regula.providers import repository as providers
from regula.waitlist import repository as waitlist
from regula.waitlist import service as wl


class RunCreate(Struct, forbid_unknown_fields=True):
    scope: str
    horizon_days: Annotated[int, Meta(ge=1, le=service.MAX_HORIZON_DAYS)] = service.DEFAULT_HORIZON_DAYS


class RunPublic(Struct):
    """A run. ``status`` na_fila and resolvendo: being solved by the jobs process (``progress`` says where); the
    solver's fields are empty until then. falhou: ``error`` says why."""

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


class AssignmentPublic(Struct):
    entry_id: int
    protocol: str
    municipality_ibge: str
    slot_id: int
    cnes: str
    starts_at: datetime
    explanation: dict[str, Any] | None
    displaced_entry_id: int | None
    outcome: str


class RunDetail(Struct):
    run: RunPublic
    assignments: list[AssignmentPublic]
    summary: dict[str, Any]


def _public(r: AllocationRun) -> RunPublic:
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
    )


async def detail(session: AsyncSession, run: AllocationRun, actor: wl.Actor, limit: int = 500) -> RunDetail:
    """The run with the assignments ``actor`` may see (those of their own jurisdiction in a wider run)."""
    assignments = await runs.assignments_for(session, run, actor)
    slots = await providers.slots_by_id(session, [a.slot_id for a in assignments])
    entries = await waitlist.entries_by_id(session, [a.entry_id for a in assignments])
    items = [
        AssignmentPublic(
            a.entry_id,
            entries[a.entry_id].protocol,
            entries[a.entry_id].municipality_ibge,
            a.slot_id,
            slots[a.slot_id].cnes,
            slots[a.slot_id].starts_at,
            a.explanation,
            a.displaced_entry_id,
            a.outcome,
        )
        for a in assignments[:limit]
    ]
    await runs.record_assignments_read(session, run, [entries[a.entry_id] for a in assignments[:limit]])
    return RunDetail(_public(run), items, service.summary(assignments, slots, entries))


class AllocationController(Controller):
    path = "/api/v1/allocation/runs"
    tags = ["alocação"]

    @post("/", opt=allow(Role.REGULADOR, Role.GESTOR), operation_id="proposeAllocation", status_code=202)
    async def propose(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        data: JSONBody[RunCreate],
    ) -> Response[RunPublic]:
        """Queue a run (``na_fila``): the jobs process solves it; ``Location`` is the run, to poll until it is
        ``proposta`` (or ``descartada``, ``falhou``)."""
        run = await service.enqueue(
            db_session, settings, data.scope, wl.Actor.of(request.user), horizon_days=data.horizon_days
        )
        return Response(_public(run), status_code=202, headers={"Location": f"/api/v1/allocation/runs/{run.id}"})

    @get("/", opt=allow(Role.REGULADOR, Role.GESTOR, Role.AUDITOR), operation_id="listAllocations")
    async def list_runs(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        limit: Annotated[int, QueryParameter(ge=1, le=200)] = 50,
    ) -> list[RunPublic]:
        return [_public(r) for r in await runs.readable_runs(db_session, wl.Actor.of(request.user), limit=limit)]

    @get("/{run_id:int}", opt=allow(Role.REGULADOR, Role.GESTOR, Role.AUDITOR), operation_id="getAllocation")
    async def get_run(
        self, request: Request[Principal, Any, Any], db_session: NamedDependency[AsyncSession], run_id: Id
    ) -> RunDetail:
        actor = wl.Actor.of(request.user)
        return await detail(db_session, await runs.run_for(db_session, run_id, actor), actor)

    @get(
        "/{run_id:int}/instance",
        opt=allow(Role.REGULADOR, Role.GESTOR, Role.AUDITOR),
        operation_id="allocationInstance",
        # Sent as the stored bytes (no re-encoding), but it is a JSON object and the document says so.
        responses={
            200: ResponseSpec(dict[str, Any], description="A instância do solver (JSON)", generate_examples=False)
        },
    )
    async def instance(
        self, request: Request[Principal, Any, Any], db_session: NamedDependency[AsyncSession], run_id: Id
    ) -> Response[bytes]:
        # The instance holds every resident of the scope: only for those whose jurisdiction holds all of it.
        run = await runs.run_for(db_session, run_id, wl.Actor.of(request.user), deciding=True)
        return Response(
            await runs.read_instance(db_session, run),
            media_type="application/json",
            headers={"Content-Disposition": f'attachment; filename="alocacao-{run_id}.json"'},
        )

    @post("/{run_id:int}/approve", opt=allow(Role.REGULADOR, Role.GESTOR), operation_id="approveAllocation")
    async def approve(
        self, request: Request[Principal, Any, Any], db_session: NamedDependency[AsyncSession], run_id: Id
    ) -> RunPublic:
        return _public(await service.decide(db_session, run_id, "aprovada", wl.Actor.of(request.user)))

    @post("/{run_id:int}/discard", opt=allow(Role.REGULADOR, Role.GESTOR), operation_id="discardAllocation")
    async def discard(
        self, request: Request[Principal, Any, Any], db_session: NamedDependency[AsyncSession], run_id: Id
    ) -> RunPublic:
        return _public(await service.decide(db_session, run_id, "descartada", wl.Actor.of(request.user)))

    @post("/{run_id:int}/commit", opt=allow(Role.REGULADOR, Role.GESTOR), operation_id="commitAllocation")
    async def commit(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        run_id: Id,
    ) -> dict[str, Any]:
        result = await service.commit(db_session, settings, run_id, wl.Actor.of(request.user))
        return {"run": run_id, **result}


ROUTES = [AllocationController]
