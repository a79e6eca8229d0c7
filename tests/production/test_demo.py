"""The demo: on the Santa Catarina demo data, one OCI concludes within tM, one beyond it, one is past tR with a
navigator's alert, and the production check flags the seeded duplicate billing."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from regula.audit.service import install
from regula.config import Settings
from regula.demo import load_demo_data
from regula.navigation.models import NavigationTask
from regula.production import alerts
from regula.production.demo import seed_demo_production
from regula.production.models import OciExecution
from regula.waitlist.models import WaitlistEntry

DEMO_DAY = date(2026, 11, 23)  # the demo's day, pinned: nothing may depend on the day the tests run


async def test_demo_production(session: AsyncSession, settings: Settings, reference_data: None) -> None:
    install()
    await load_demo_data(session, settings, seed=20261123, citizens=3000, today=DEMO_DAY)
    result = await seed_demo_production(session, settings, today=DEMO_DAY)
    assert result.created
    assert result.within_tm and result.late and result.past_tr
    assert result.findings.get("cobranca_duplicada") == 1
    assert result.findings.get("prazo_tm_excedido") == 1

    async def execution(protocol: str) -> OciExecution:
        stmt = (
            select(OciExecution)
            .join(WaitlistEntry, col(WaitlistEntry.id) == col(OciExecution.entry_id))
            .where(col(WaitlistEntry.protocol) == protocol)
        )
        return (await session.execute(stmt)).scalar_one()

    within = await execution(result.within_tm)
    late = await execution(result.late)
    open_ = await execution(result.past_tr)
    assert (within.status, within.within_tm) == ("concluida", True)
    assert (late.status, late.within_tm) == ("concluida", False)
    assert within.authorization_number and late.authorization_number
    assert open_.status == "em_execucao" and open_.tr_alert_at is not None
    task = (
        await session.execute(select(NavigationTask).where(col(NavigationTask.entry_id) == open_.entry_id))
    ).scalar_one()
    assert "tempo recomendado" in task.detail and task.kind in alerts.ALERT_TASK_KINDS
    assert any("Cobrança em duplicidade semeada" in line for line in result.lines())

    again = await seed_demo_production(session, settings, today=DEMO_DAY)
    assert not again.created
