"""Periodic work of the simulator, run by the jobs process (collected in ``regula.jobs.process``):

* ``simulation_runner``: queued simulation runs, one after another, each in a worker process of the jobs process
  (decision 9; the worker ends with the jobs process). Its transactions are short: one to claim the run, one per
  progress update (read from the worker's progress file every couple of seconds), one to store the report.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from pathlib import Path

from regula.jobs.runner import Counts, Job, JobContext
from regula.simulation import service
from regula.simulation.running import read_progress, simulate_scenario

log = logging.getLogger("regula.simulation")

POLL_SECONDS = 3.0
PROGRESS_SECONDS = 2.0


async def run_queued(ctx: JobContext) -> Counts:
    if ctx.workers is None:
        raise RuntimeError("simulation_runner needs the jobs process's worker processes (JobContext.workers)")
    async with ctx.transaction() as session:
        interrupted = await service.fail_interrupted(session)
    counts: Counts = {"interrupted": interrupted, "concluded": 0, "failed": 0}
    while True:
        async with ctx.transaction() as session:
            run = await service.claim_next(session)
            claimed = None if run is None else (run.id, dict(run.scenario))
        if claimed is None:
            return counts
        run_id, scenario = claimed
        assert run_id is not None
        with tempfile.TemporaryDirectory(prefix="regula-sim-") as tmp:
            path = Path(tmp) / "progress.json"
            task = asyncio.ensure_future(ctx.workers.run(simulate_scenario, scenario, str(path)))
            seen: dict[str, object] | None = None
            try:
                while True:
                    done, _ = await asyncio.wait({task}, timeout=PROGRESS_SECONDS)
                    if done:
                        report = task.result()
                        break
                    progress = read_progress(path)
                    if progress is not None and progress != seen:
                        seen = progress
                        async with ctx.transaction() as session:
                            await service.record_progress(session, run_id, progress)
            except Exception as exc:  # the simulation (or its worker) failed: the run's failure, visibly
                log.exception("simulation failed", extra={"run": run_id})
                async with ctx.transaction() as session:
                    await service.fail_run(session, run_id, service.failure_reason(exc))
                counts["failed"] += 1
                continue
        async with ctx.transaction() as session:
            await service.record_report(session, run_id, report)
        counts["concluded"] += 1


JOBS = (
    Job(
        "simulation_runner",
        "Executa as simulações de política na fila",
        run_queued,
        poll_seconds=POLL_SECONDS,
        pending=service.queued,
    ),
)
