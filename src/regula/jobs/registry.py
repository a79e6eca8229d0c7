"""The periodic jobs of regula. Each returns counts for its run record."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, text
from sqlmodel import col

from regula.audit.service import AuditContext, set_context
from regula.config import Settings
from regula.db.engine import Database
from regula.jobs.runner import Job


async def refresh_positions(db: Database, settings: Settings) -> dict[str, Any]:
    """Nightly: waiting time ages every score; positions and estimates follow."""
    from regula.waitlist.refresh import nightly_refresh

    result = await nightly_refresh(db, settings)
    return {k: v for k, v in vars(result).items() if isinstance(v, int | float | str)}


async def escalation_sweep(db: Database, settings: Settings) -> dict[str, Any]:
    """Flag waiting entries past 75% of their tM window for navigators (the widening of their scope happens in
    the allocation itself; this makes them visible the same day). Portugal's SIGIC transfers at 75%."""
    from regula.waitlist.models import WaitlistEntry

    async with db.transaction() as session:
        set_context(session, AuditContext.system("job", "escalation_sweep"))
        flagged = await session.execute(
            text(
                "UPDATE waitlist_entry SET escalated_at = now() "
                "WHERE status = 'autorizada' AND escalated_at IS NULL AND deadline_date IS NOT NULL "
                "AND authorized_at IS NOT NULL "
                "AND (CAST(now() AS date) - CAST(authorized_at AS date)) - suspended_days "
                "    >= 0.75 * (deadline_date - CAST(authorized_at AS date)) "
                "RETURNING id"
            )
        )
        ids = [r[0] for r in flagged]
        from regula.navigation.service import open_escalation_tasks

        tasks = await open_escalation_tasks(session)
        total = await session.execute(
            select(text("count(*)")).select_from(WaitlistEntry).where(col(WaitlistEntry.escalated_at).is_not(None))
        )
        return {"flagged": len(ids), "escalated_waiting": int(total.scalar_one()), "tasks_opened": tasks}


async def backfill_sweep(db: Database, settings: Settings) -> dict[str, Any]:
    """Free places in the next days go to the next people in the queues."""
    from regula.allocation.backfill import sweep

    async with db.transaction() as session:
        set_context(session, AuditContext.system("job", "backfill_sweep"))
        return await sweep(session, settings)


async def allocation(db: Database, settings: Settings) -> dict[str, Any]:
    """Propose an allocation run per configured scope; commit it only where auto-approval is on."""
    from regula.access.actor import Actor
    from regula.allocation import service as allocation_service

    counts: dict[str, Any] = {}
    actor = Actor.system("agendador")
    for scope in settings.allocation_scopes:
        async with db.transaction() as session:
            set_context(session, AuditContext.system("job", "allocation"))
            # wait=True: a proposal of the scope being computed by an operator is waited for, then superseded
            run = await allocation_service.propose(session, settings, scope, actor, wait=True)
            assert run.id is not None
            counts[scope] = {"run": run.id, "assigned": run.counts.get("assigned", 0), "status": run.status}
            if settings.allocation_auto_approve and run.status == "proposta":
                await allocation_service.decide(session, run.id, "aprovada", actor)
                counts[scope] |= await allocation_service.commit(session, settings, run.id, actor)
    return counts


async def notify_dispatch(db: Database, settings: Settings) -> dict[str, Any]:
    """The outbox trigger: send what is due (``regula notify dispatch`` does the same continuously)."""
    from regula.notify.jobs import dispatch

    return await dispatch(db, settings)


async def reply_deadlines(db: Database, settings: Settings) -> dict[str, Any]:
    from regula.notify.jobs import reply_deadlines as run

    return await run(db, settings)


async def notify_planning(db: Database, settings: Settings) -> dict[str, Any]:
    from regula.notify.jobs import planning

    return await planning(db, settings)


async def oci_alerts(db: Database, settings: Settings) -> dict[str, Any]:
    """OCIs in execution past tR, close to tM or past it: a task for the navigators."""
    from regula.production.jobs import oci_alerts as run

    return await run(db, settings)


def all_jobs(settings: Settings | None = None) -> dict[str, Job]:
    allocation_cron = settings.allocation_cron if settings else "0 3 * * 1-5"
    jobs = [
        Job(
            "refresh_positions",
            "Atualiza pontuações, posições e estimativas das filas",
            refresh_positions,
            "30 2 * * *",
        ),
        Job("escalation_sweep", "Sinaliza solicitações além de 75% do prazo (tM)", escalation_sweep, "0 6 * * *"),
        Job("backfill_sweep", "Oferece vagas liberadas às próximas pessoas das filas", backfill_sweep, "*/10 * * * *"),
        Job("allocation", "Propõe rodadas de alocação por escopo configurado", allocation, allocation_cron),
        Job("notify_dispatch", "Envia as mensagens pendentes aos cidadãos", notify_dispatch, "* * * * *"),
        Job(
            "reply_deadlines",
            "Trata perguntas sem resposta no prazo (ofertas, confirmações)",
            reply_deadlines,
            "*/5 * * * *",
        ),
        Job("oci_alerts", "Alerta a navegação sobre OCIs além do tR e perto do tM", oci_alerts, "0 7 * * *"),
        Job("notify_planning", "Planeja avisos de posição e validações de 90 dias", notify_planning, "0 9 * * *"),
    ]
    return {j.name: j for j in jobs}
