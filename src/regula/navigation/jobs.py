"""Periodic work of the navigation domain, run by the jobs process (collected in ``regula.jobs.process``):

* ``teleconsultation_escalation``: hourly, referrals waiting for teleconsultoria past the response time
  (``teleconsultation_sla_hours``) become navigators' tasks (Portaria GM/MS 3.492/2024 art. 10 §3 I and §4 I);
* ``counter_referral_unread``: daily, counter-referrals no APS team has read after ``counter_referral_unread_days``
  become navigators' tasks (art. 5 §2; art. 10 §1 IV and VI, §4 I). Decision 21.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from regula.config import Settings
from regula.db.base import utcnow
from regula.jobs.runner import Counts, Job, in_transaction
from regula.navigation.care_loop import open_late_teleconsultation_tasks, open_unread_counter_referral_tasks


async def teleconsultation_escalation(session: AsyncSession, settings: Settings, now: datetime | None = None) -> Counts:
    return {"tasks_opened": await open_late_teleconsultation_tasks(session, settings, now or utcnow())}


async def counter_referral_unread(session: AsyncSession, settings: Settings, now: datetime | None = None) -> Counts:
    older_than = (now or utcnow()) - timedelta(days=settings.counter_referral_unread_days)
    return {"tasks_opened": await open_unread_counter_referral_tasks(session, older_than)}


JOBS = (
    Job(
        "teleconsultation_escalation",
        "Leva à navegação as teleconsultorias sem resposta no prazo",
        in_transaction(teleconsultation_escalation),
        "15 * * * *",
    ),
    Job(
        "counter_referral_unread",
        "Leva à navegação as contrarreferências não lidas pela APS",
        in_transaction(counter_referral_unread),
        "30 7 * * *",
    ),
)
