"""Job runs, visible to managers, operators and auditors."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from litestar import get
from litestar.di import NamedDependency
from litestar.params import QueryParameter
from msgspec import Struct
from sqlalchemy.ext.asyncio import AsyncSession

from regula.access.policy import Role, allow
from regula.jobs import repository


class JobRunPublic(Struct):
    id: int
    job: str
    started_at: datetime
    finished_at: datetime | None
    outcome: str
    counts: dict[str, Any] | None
    error: str | None


@get(
    "/api/v1/jobs/runs",
    summary="Execuções das tarefas automáticas (mais recentes primeiro)",
    opt=allow(Role.GESTOR, Role.REGULADOR, Role.AUDITOR),
    tags=["tarefas"],
    operation_id="jobRuns",
)
async def job_runs(
    db_session: NamedDependency[AsyncSession],
    job: Annotated[str | None, QueryParameter(description="Só as execuções desta tarefa")] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=500, description="Número máximo de execuções na resposta")] = 50,
) -> list[JobRunPublic]:
    return [
        JobRunPublic(r.id or 0, r.job, r.started_at, r.finished_at, r.outcome, r.counts, r.error)
        for r in await repository.recent_runs(db_session, job=job, limit=limit)
    ]


ROUTES = [job_runs]
