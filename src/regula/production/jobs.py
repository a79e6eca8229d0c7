"""Periodic work of the production domain, for ``regula.jobs.registry`` (the lead registers it)."""

from __future__ import annotations

from typing import Any

from regula.audit.service import AuditContext, set_context
from regula.config import Settings
from regula.db.engine import Database
from regula.production.service import sweep_alerts


async def oci_alerts(db: Database, settings: Settings) -> dict[str, Any]:
    """Daily: navigators are told about OCIs past tR, close to tM or past tM (Portaria 3.492/2024, art. 10 §4 I)."""
    async with db.transaction() as session:
        set_context(session, AuditContext.system("job", "oci_alerts"))
        return dict(await sweep_alerts(session, settings))
