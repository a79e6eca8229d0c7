"""Running a job: one at a time across every scheduler process, and always recorded.

Each job takes a PostgreSQL session-level advisory lock keyed by its name for the duration of the run; a second
scheduler replica (or a manual ``regula jobs run``) finds the lock taken and records a ``skipped`` run instead of
doing the work twice. The run row is written and closed in transactions of its own, so a failed job still
leaves its record; the job's work commits in its own transaction (commit at the boundary).
"""

from __future__ import annotations

import logging
import socket
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text

from regula.config import Settings
from regula.core.locks import lock_key
from regula.db.base import utcnow
from regula.db.engine import Database
from regula.jobs.models import JobRun

log = logging.getLogger("regula.jobs")

JobFunction = Callable[[Database, Settings], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class Job:
    name: str
    description: str  # Portuguese, shown to operators
    function: JobFunction
    cron: str  # crontab expression in the configured time zone


async def run_job(db: Database, settings: Settings, job: Job) -> JobRun:
    async with db.transaction() as session:
        run = JobRun(job=job.name, host=socket.gethostname()[:100])
        session.add(run)
        await session.flush()
        run_id = run.id
    async with db.engine.connect() as lock_conn:
        got = (await lock_conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": lock_key(job.name)})).scalar()
        await lock_conn.commit()
        outcome, counts, error = "skipped", None, None
        if got:
            try:
                counts = await job.function(db, settings)
                outcome = "ok"
            except Exception as exc:
                outcome, error = "failed", "".join(traceback.format_exception(exc))[-4000:]
                log.exception("job failed", extra={"job": job.name})
            finally:
                await lock_conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": lock_key(job.name)})
                await lock_conn.commit()
        else:
            log.info("job skipped: another process holds its lock", extra={"job": job.name})
    async with db.transaction() as session:
        row = await session.get(JobRun, run_id)
        assert row is not None
        row.finished_at, row.outcome, row.counts, row.error = utcnow(), outcome, counts, error
        await session.flush()
    log.info("job finished", extra={"job": job.name, "outcome": outcome, "counts": counts})
    return row
