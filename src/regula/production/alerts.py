"""The navigators' alerts on open OCIs: past the recommended time (tR), close to and past the maximum time (tM).

The tM clock runs from the first to the last procedure (amendment to Portaria GM/MS 3.492/2024, art. 14 §3 III);
navigators are alerted at tR and before tM (Portaria GM/MS 3.492/2024, art. 10 §4 I and IV). Each level is
announced once, as a navigation task; the daily job (``production.jobs.oci_alerts``) sweeps the open OCIs.
Services flush, never commit: the request, job or command commits.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from regula.config import Settings
from regula.db.base import utcnow
from regula.navigation.service import close_tasks_of_entry, open_task_for_entry
from regula.production import composition as comp
from regula.production.models import OciExecution
from regula.waitlist import service as wl

#: The navigation-task kind of the OCI alerts. The navigation domain has no OCI-specific kind yet (its CHECK
#: constraint lists them): until ``oci_tr`` / ``oci_tm`` are added there, alerts use the tM kind that exists.
ALERT_TASK_KIND_TR: Final = "oci_tr"
ALERT_TASK_KIND_TM: Final = "oci_tm"
ALERT_TASK_KINDS: Final = tuple(dict.fromkeys((ALERT_TASK_KIND_TR, ALERT_TASK_KIND_TM)))


# -- alerts ------------------------------------------------------------------------------------------------------------


def _due(settings: Settings, day: date) -> datetime:
    return datetime.combine(day, time(23, 59), ZoneInfo(settings.timezone))


async def alerts_for(session: AsyncSession, settings: Settings, execution: OciExecution, today: date) -> int:
    """Open (or refresh) the navigators' task for an open OCI past tR, close to tM or past tM. Each level is
    announced once (the timestamps on the execution)."""
    if execution.status != "em_execucao" or execution.first_on is None:
        return 0
    elapsed = (today - execution.first_on).days
    tm, tr = execution.max_days, execution.recommended_days
    deadline = execution.first_on + timedelta(days=tm)
    now = utcnow()
    kind: str | None = None
    detail = ""
    if elapsed > tm and execution.tm_exceeded_at is None:
        kind, detail = (
            ALERT_TASK_KIND_TM,
            f"OCI {execution.oci_code} passou do tempo máximo (tM de {tm} dias): {elapsed} dias desde o primeiro "
            "procedimento sem conclusão. Verifique o que falta e registre o motivo.",
        )
        execution.tm_exceeded_at = now
        execution.tm_warning_at = execution.tm_warning_at or now
        execution.tr_alert_at = execution.tr_alert_at or now
    elif elapsed >= comp.tm_warning_day(tm) and elapsed <= tm and execution.tm_warning_at is None:
        kind, detail = (
            ALERT_TASK_KIND_TM,
            f"OCI {execution.oci_code} perto do tempo máximo: faltam {tm - elapsed} dias para o tM de {tm} dias "
            f"(prazo {deadline:%d/%m/%Y}).",
        )
        execution.tm_warning_at = now
        execution.tr_alert_at = execution.tr_alert_at or now
    elif tr <= elapsed < comp.tm_warning_day(tm) and execution.tr_alert_at is None:
        kind, detail = (
            ALERT_TASK_KIND_TR,
            f"OCI {execution.oci_code} passou do tempo recomendado (tR de {tr} dias) sem conclusão: {elapsed} dias "
            f"desde o primeiro procedimento; tM em {deadline:%d/%m/%Y}.",
        )
        execution.tr_alert_at = now
    if kind is None:
        return 0
    await session.flush()
    if kind == ALERT_TASK_KIND_TM:
        # One alert per OCI on the worklist: the tM alert supersedes the tR one.
        await close_tasks_of_entry(session, execution.entry_id, (ALERT_TASK_KIND_TR,), "Substituída pelo alerta de tM")
    await open_task_for_entry(session, kind, execution.entry_id, detail, due_at=_due(settings, deadline))
    return 1


async def sweep_alerts(session: AsyncSession, settings: Settings, *, today: date | None = None) -> dict[str, int]:
    """The daily pass over open OCIs (``production.jobs.oci_alerts``)."""
    today = today or wl.local_today(settings)
    stmt = (
        select(OciExecution)
        .where(col(OciExecution.status) == "em_execucao", col(OciExecution.first_on).is_not(None))
        .where(col(OciExecution.tm_exceeded_at).is_(None))
        .order_by(col(OciExecution.id))
        .with_for_update(skip_locked=True)
    )
    executions = list((await session.execute(stmt)).scalars())
    opened = 0
    for execution in executions:
        opened += await alerts_for(session, settings, execution, today)
    return {"open_ocis": len(executions), "alerts": opened}
