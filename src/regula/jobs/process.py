"""The one scheduler process (``regula scheduler``): APScheduler 3 in its own process, never inside web workers
(several workers would each run every job; APScheduler's FAQ). A second replica is harmless: every job takes an
advisory lock (``jobs.runner``)."""

from __future__ import annotations

import asyncio
import logging
import signal
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

from regula.cli.processes import watch_parent
from regula.config import Settings
from regula.db.engine import Database, make_database
from regula.jobs.registry import all_jobs
from regula.jobs.runner import Job, run_job
from regula.wiring import wire

log = logging.getLogger("regula.scheduler")


async def serve(settings: Settings, url: str, *, run_now: bool = False, parent_pid: int | None = None) -> None:
    """Run until SIGINT or SIGTERM, or until the process ``parent_pid`` (the ``regula demo`` that started this
    scheduler) is gone."""
    wire()  # the domain events' subscribers, as the app and the CLI connect them (regula.wiring)
    db = make_database(url, pool_size=4, application_name="regula-scheduler")
    scheduler = AsyncIOScheduler(timezone=ZoneInfo(settings.timezone))
    jobs = all_jobs(settings)
    for job in jobs.values():
        scheduler.add_job(
            run_job,
            CronTrigger.from_crontab(job.cron, timezone=ZoneInfo(settings.timezone)),
            args=[db, settings, job],
            id=job.name,
            name=job.description,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=3600,
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
        # A task, not awaited here: a stop request must not wait for every job to run (the demo's allocation
        # run takes a while).
        helpers.append(asyncio.create_task(_run_all(db, settings, list(jobs.values()))))
    try:
        await stop.wait()
    finally:
        scheduler.shutdown(wait=False)
        for task in helpers:
            task.cancel()
        await asyncio.gather(*helpers, return_exceptions=True)
        await db.dispose()
        log.info("scheduler stopped")


async def _run_all(db: Database, settings: Settings, jobs: list[Job]) -> None:
    for job in jobs:
        await run_job(db, settings, job)
