"""Periodic work of allocation, run by the jobs process (``regula scheduler``, collected in ``regula.jobs.process``):

* ``backfill_sweep``: free places in the next days go to the next people in the queues;
* ``allocation``: a run proposed (queued) per configured scope;
* ``allocation_solver``: queued runs solved, one after another, the optimizer in a worker process (decision 9).

The solver job's transactions are short: one to claim a run and build its instance, none while the optimizer
works, one to store the answer. No row stays locked while solving; the scope stays held by the run's own live
status (the partial unique index), not by a lock.
"""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from regula.access.actor import Actor
from regula.allocation import backfill
from regula.allocation import service as allocation
from regula.allocation.solving import Solved, solve_instance
from regula.config import Settings
from regula.jobs.runner import Counts, Job, JobContext, in_transaction

log = logging.getLogger("regula.allocation")

#: How often the jobs process looks for queued runs (an idle look costs one indexed query and leaves no record).
SOLVER_POLL_SECONDS = 3.0


async def propose_runs(session: AsyncSession, settings: Settings) -> Counts:
    """A run queued per configured scope; where one is already queued or being solved, that one stands (it is as
    fresh). With auto-approval the solver approves and commits the run once it is proposed."""
    counts: Counts = {}
    for scope in settings.allocation_scopes:
        async with session.begin_nested():
            run = await allocation.enqueue(
                session,
                settings,
                scope,
                Actor.system("agendador"),
                wait=True,
                commit_when_proposed=settings.allocation_auto_approve,
            )
        counts[scope] = {"run": run.id, "status": run.status}
    return counts


async def solve_queued(ctx: JobContext) -> Counts:
    """Solve every queued run, the optimizer in one of the jobs process's worker processes."""
    if ctx.workers is None:
        raise RuntimeError("allocation_solver needs the jobs process's worker processes (JobContext.workers)")
    async with ctx.transaction() as session:
        interrupted = await allocation.fail_interrupted(session)
    counts: Counts = {"interrupted": interrupted, "proposed": 0, "discarded": 0, "failed": 0}
    while True:
        async with ctx.transaction() as session:
            claimed = await allocation.claim_next(session, ctx.settings)
        if claimed is None:
            return counts
        run, built = claimed
        assert run.id is not None
        try:
            solved: Solved = await ctx.workers.run(solve_instance, built.canonical)
        except Exception as exc:  # any failure of the solve (or of its worker) is the run's
            log.exception("allocation solve failed", extra={"run": run.id})
            async with ctx.transaction() as session:
                await allocation.fail_run(session, run.id, allocation.failure_reason(exc))
            counts["failed"] += 1
            continue
        try:
            async with ctx.transaction() as session:
                stored = await allocation.record_solution(session, ctx.settings, run.id, solved, built.instance)
        except Exception as exc:  # storing it failed (or its auto-commit): the run fails, visibly
            log.exception("allocation run could not be stored", extra={"run": run.id})
            async with ctx.transaction() as session:
                await allocation.fail_run(session, run.id, allocation.failure_reason(exc))
            counts["failed"] += 1
            continue
        counts["proposed" if stored.violations == 0 else "discarded"] += 1


JOBS = (
    Job(
        "backfill_sweep",
        "Oferece vagas liberadas às próximas pessoas das filas",
        in_transaction(backfill.sweep),
        "*/10 * * * *",
    ),
    Job(
        "allocation",
        "Propõe rodadas de alocação por escopo configurado",
        in_transaction(propose_runs),
        lambda settings: settings.allocation_cron,
    ),
    Job(
        "allocation_solver",
        "Calcula as rodadas de alocação na fila",
        solve_queued,
        poll_seconds=SOLVER_POLL_SECONDS,
        pending=allocation.queued,
    ),
)
