"""The jobs process (``regula scheduler``): APScheduler 3 in its own process, never inside web workers (several
workers would each run every job; APScheduler's FAQ). A second replica is harmless: every job takes an advisory
lock (``jobs.runner``).

This module is the one place where the jobs of every domain are collected (each domain declares its own in
``<domain>/jobs.py``) and where the hooks between them are wired: ``all_jobs``. ``regula scheduler`` and
``regula jobs run NAME`` both take the jobs from here. The process owns the database and the worker processes
(the allocation solver's); both end with it.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from regula.allocation import jobs as allocation_jobs
from regula.cli_support.processes import WorkerPool, watch_parent
from regula.config import Settings
from regula.db.engine import Database, make_database
from regula.jobs.runner import Job, has_work, run_job
from regula.navigation import jobs as navigation_jobs
from regula.navigation.service import open_escalation_tasks
from regula.notify import jobs as notify_jobs
from regula.production import jobs as production_jobs
from regula.simulation import jobs as simulation_jobs
from regula.waitlist import jobs as waitlist_jobs
from regula.wiring import wire

log = logging.getLogger("regula.optimizer")


def all_jobs() -> dict[str, Job]:
    """Every job, in the order ``--run-now`` runs them."""
    jobs = [
        waitlist_jobs.REFRESH_POSITIONS,
        # Entries flagged past 75% of tM become navigators' tasks in the same transaction.
        waitlist_jobs.escalation_sweep(on_escalated=open_escalation_tasks),
        *allocation_jobs.JOBS,
        *notify_jobs.JOBS,
        *production_jobs.JOBS,
        *simulation_jobs.JOBS,
        *navigation_jobs.JOBS,
    ]
    return {j.name: j for j in jobs}


async def _run_if_pending(db: Database, settings: Settings, job: Job, workers: WorkerPool | None) -> None:
    if await has_work(db, job):
        await run_job(db, settings, job, workers=workers)


async def serve(settings: Settings, url: str, *, run_now: bool = False, parent_pid: int | None = None) -> None:
    """Run until SIGINT or SIGTERM, or until the process ``parent_pid`` (the ``regula demo`` that started this
    scheduler) is gone."""
    wire()  # the domain events' subscribers, as the app and the CLI connect them (regula.wiring)
    db = make_database(url, pool_size=4, application_name="regula-scheduler")
    workers = WorkerPool()
    tz = ZoneInfo(settings.timezone)
    scheduler = AsyncIOScheduler(timezone=tz)
    jobs = all_jobs()
    for job in jobs.values():
        crontab = job.crontab(settings)
        if crontab is not None:
            scheduler.add_job(
                run_job,
                CronTrigger.from_crontab(crontab, timezone=tz),
                args=[db, settings, job],
                kwargs={"workers": workers},
                id=job.name,
                name=job.description,
                max_instances=1,
                coalesce=True,
                misfire_grace_time=3600,
            )
        elif job.poll_seconds is not None:
            scheduler.add_job(
                _run_if_pending,
                IntervalTrigger(seconds=job.poll_seconds, timezone=tz),
                args=[db, settings, job, workers],
                id=job.name,
                name=job.description,
                max_instances=1,
                coalesce=True,
            )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    helpers: list[asyncio.Task[None]] = []
    if parent_pid is not None:
        helpers.append(asyncio.create_task(watch_parent(parent_pid, stop)))
    scheduler.start()
    log.info("scheduler started", extra={"jobs": sorted(jobs)})
    if run_now:
        # A task, not awaited here: a stop request must not wait for every job to run.
        helpers.append(asyncio.create_task(_run_all(db, settings, list(jobs.values()), workers)))
    try:
        await stop.wait()
    finally:
        scheduler.shutdown(wait=False)
        for task in helpers:
            task.cancel()
        # A solve in progress ends with the process: its run is left resolvendo, and the next solver job marks
        # it falhou (allocation.service.fail_interrupted).
        workers.stop()
        await asyncio.gather(*helpers, return_exceptions=True)
        await db.dispose()
        log.info("scheduler stopped")


async def _run_all(db: Database, settings: Settings, jobs: list[Job], workers: WorkerPool) -> None:
    for job in jobs:
        await _run_if_pending(db, settings, job, workers)
