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

from regula.config import Settings
from regula.db.engine import make_database
from regula.jobs.registry import all_jobs
from regula.jobs.runner import run_job

log = logging.getLogger("regula.scheduler")


async def serve(settings: Settings, url: str, *, run_now: bool = False) -> None:
    db = make_database(url, pool_size=4)
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
    scheduler.start()
    log.info("scheduler started", extra={"jobs": sorted(jobs)})
    if run_now:
        for job in jobs.values():
            await run_job(db, settings, job)
    try:
        await stop.wait()
    finally:
        scheduler.shutdown(wait=False)
        await db.dispose()
        log.info("scheduler stopped")
