"""Running a job: one at a time across every scheduler process, and always recorded.

Each job takes a PostgreSQL session-level advisory lock keyed by its name for the duration of the run; a second
scheduler replica (or a manual ``regula jobs run``) finds the lock taken and records a ``skipped`` run instead of
doing the work twice. The run row is written and closed in transactions of its own, so a failed job still
leaves its record; the job's work commits in its own transaction (commit at the boundary).

The runner owns the database: a job receives a :class:`JobContext` whose ``transaction()`` is its session factory
(each unit of work commits when its block ends, audited as the job), or, declared with :func:`in_transaction`,
one session whose transaction the runner opens and commits. A job never builds an engine of its own. Jobs are
declared by their domains (``<domain>/jobs.py``) and collected in one place, ``regula.jobs.process``.
"""

from __future__ import annotations

import logging
import socket
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from regula.audit.service import AuditContext, set_context
from regula.config import Settings
from regula.core.locks import lock_key
from regula.db.base import utcnow
from regula.db.engine import Database
from regula.jobs.models import JobRun

if TYPE_CHECKING:
    from regula.cli_support.processes import WorkerPool

log = logging.getLogger("regula.jobs")

Counts = dict[str, Any]


@dataclass(frozen=True)
class JobContext:
    """What the runner hands a job."""

    name: str
    db: Database  # the runner's: for work that needs a connection of its own (the notifier's liveness lock)
    settings: Settings
    # Worker processes of the jobs process, for CPU-bound work (the allocation solver); they end with it.
    workers: WorkerPool | None = None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One unit of work, committed when the block ends normally, its writes audited as this job's."""
        async with self.db.transaction() as session:
            set_context(session, AuditContext.system("job", self.name))
            yield session


JobFunction = Callable[[JobContext], Awaitable[Counts]]


def in_transaction(work: Callable[[AsyncSession, Settings], Awaitable[Counts]]) -> JobFunction:
    """A job that is one unit of work: the runner opens the transaction, the job receives the session."""

    async def run(ctx: JobContext) -> Counts:
        async with ctx.transaction() as session:
            return await work(session, ctx.settings)

    return run


@dataclass(frozen=True)
class Job:
    name: str
    description: str  # Portuguese, shown to operators
    function: JobFunction
    # When it runs: a crontab expression in the configured time zone (or one read from the settings) …
    cron: str | Callable[[Settings], str] | None = None
    # … or every ``poll_seconds``, and then only when ``pending`` finds work: an idle poll leaves no run record.
    poll_seconds: float | None = None
    pending: Callable[[AsyncSession], Awaitable[bool]] | None = None

    def crontab(self, settings: Settings) -> str | None:
        return self.cron(settings) if callable(self.cron) else self.cron


async def has_work(db: Database, job: Job) -> bool:
    """Whether a polled job has something to do (a job without ``pending`` always has)."""
    if job.pending is None:
        return True
    async with db.transaction() as session:
        return await job.pending(session)


async def run_job(db: Database, settings: Settings, job: Job, *, workers: WorkerPool | None = None) -> JobRun | None:
    """Run ``job`` under its lock and record the run. A polled job whose lock is held is neither run nor recorded
    (``None``): the process holding it is doing that very work, and a record every few seconds would bury the
    others."""
    async with db.engine.connect() as lock_conn:
        got = (await lock_conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": lock_key(job.name)})).scalar()
        await lock_conn.commit()
        if not got and job.pending is not None:
            return None
        async with db.transaction() as session:
            run = JobRun(job=job.name, host=socket.gethostname()[:100])
            session.add(run)
            await session.flush()
            run_id = run.id
        outcome, counts, error = "skipped", None, None
        if got:
            try:
                counts = await job.function(JobContext(job.name, db, settings, workers))
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
