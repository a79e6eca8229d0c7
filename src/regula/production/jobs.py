"""Periodic work of the production domain, run by the jobs process (collected in ``regula.jobs.process``)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from regula.config import Settings
from regula.jobs.runner import Counts, Job, in_transaction
from regula.production.alerts import sweep_alerts


async def oci_alerts(session: AsyncSession, settings: Settings) -> Counts:
    """Daily: navigators are told about OCIs past tR, close to tM or past tM (Portaria 3.492/2024, art. 10 §4 I)."""
    return dict(await sweep_alerts(session, settings))


JOBS = (
    Job(
        "oci_alerts",
        "Alerta a navegação sobre OCIs além do tR e perto do tM",
        in_transaction(oci_alerts),
        "0 7 * * *",
    ),
)
