"""Periodic work of the waitlist, run by the jobs process (``regula scheduler``, collected in
``regula.jobs.process``):

* ``refresh_positions``: nightly, waiting time ages every score; positions and estimates follow;
* ``escalation_sweep``: entries past 75% of their tM window are flagged the same day (the widening of their scope
  happens in the allocation itself). Portugal's SIGIC transfers at 75%. What follows a flag (the navigators'
  tasks) belongs to another domain: the composition place passes it in.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from regula.config import Settings
from regula.core.clock import local_today
from regula.jobs.runner import Counts, Job, JobContext, in_transaction
from regula.waitlist import measures
from regula.waitlist.models import WaitlistEntry
from regula.waitlist.refresh import refresh_all

#: What runs after the sweep flagged entries, in the sweep's transaction; returns how many tasks it opened.
OnEscalated = Callable[[AsyncSession], Awaitable[int]]


async def _refresh_positions(ctx: JobContext) -> Counts:
    async with ctx.transaction() as session:
        result = await refresh_all(session, ctx.settings)
    return {k: v for k, v in vars(result).items() if isinstance(v, int | float | str)}


REFRESH_POSITIONS = Job(
    "refresh_positions",
    "Atualiza pontuações, posições e estimativas das filas",
    _refresh_positions,
    "30 2 * * *",
)


async def flag_escalations(session: AsyncSession, settings: Settings, today: date | None = None) -> dict[str, Any]:
    """Flag waiting entries past 75% of their tM (``waitlist.measures``: local days of ``settings.timezone``, paused
    days not counted as waited) on ``today`` (default: the regulation center's local date)."""
    today = today or local_today(settings)
    flagged = await session.execute(
        update(WaitlistEntry)
        .where(
            col(WaitlistEntry.status) == "autorizada",
            col(WaitlistEntry.escalated_at).is_(None),
            col(WaitlistEntry.authorized_at).is_not(None),
            measures.EntrySql.of(WaitlistEntry).past_escalation(today, settings.timezone),
        )
        .values(escalated_at=func.now())
        .returning(col(WaitlistEntry.id))
        .execution_options(synchronize_session=False)
    )
    ids = [r[0] for r in flagged]
    total = await session.execute(
        select(text("count(*)")).select_from(WaitlistEntry).where(col(WaitlistEntry.escalated_at).is_not(None))
    )
    return {"flagged": len(ids), "escalated_waiting": int(total.scalar_one())}


def escalation_sweep(on_escalated: OnEscalated) -> Job:
    async def sweep(session: AsyncSession, settings: Settings) -> Counts:
        counts = await flag_escalations(session, settings)
        return counts | {"tasks_opened": await on_escalated(session)}

    return Job(
        "escalation_sweep", "Sinaliza solicitações além de 75% do prazo (tM)", in_transaction(sweep), "0 6 * * *"
    )
