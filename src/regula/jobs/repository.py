"""The job runs' queries (the runs hold counts, never personal data, so no jurisdiction applies)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from regula.jobs.models import JobRun


async def recent_runs(session: AsyncSession, *, job: str | None = None, limit: int = 50) -> list[JobRun]:
    """The latest runs (of one job, or of all), newest first."""
    stmt = select(JobRun).order_by(col(JobRun.id).desc()).limit(max(1, min(limit, 500)))
    if job:
        stmt = stmt.where(col(JobRun.job) == job)
    return list((await session.execute(stmt)).scalars())
