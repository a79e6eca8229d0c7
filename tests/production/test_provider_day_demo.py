"""The demo's provider's day (issue 17 item 2): a demo executante whose establishment has appointments today and
this week, OCIs in execution and some ready to conclude — on a pinned weekday and on a pinned Saturday, so nothing
depends on the day the tests run."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from regula.access.actor import Actor
from regula.access.policy import Jurisdiction
from regula.config import Settings
from regula.db.listing import read_window
from regula.demo import load_demo_data, summary_lines
from regula.demo.provider_day import PROVIDER_USERNAME
from regula.production import appointments, execution
from regula.production.models import OciExecution
from regula.seed import DEMO_USERS, PROVIDER_DAY_CNES
from regula.waitlist.models import EntryEvent, WaitlistEntry

CITIZENS = 1500  # the browser tests' demo


def _executante() -> tuple[str, str]:
    (found,) = [(u, j) for u, role, j, _ in DEMO_USERS if role == "executante"]
    return found


def test_the_demo_has_an_executante_of_the_provider_day_establishment() -> None:
    username, jurisdiction = _executante()
    assert jurisdiction == f"cnes:{PROVIDER_DAY_CNES}"
    assert {role for _, role, _, _ in DEMO_USERS} >= {"executante", "regulador", "navegador", "solicitante"}
    assert Jurisdiction.parse(jurisdiction).code == PROVIDER_DAY_CNES and username == PROVIDER_USERNAME


@pytest.mark.parametrize("today", [date(2026, 11, 23), date(2026, 11, 28)], ids=["segunda", "sabado"])
async def test_the_provider_has_a_day_a_week_and_ocis_to_conclude(
    session: AsyncSession, settings: Settings, reference_data: None, today: date
) -> None:
    summary = await load_demo_data(session, settings, citizens=CITIZENS, today=today)
    assert summary.created
    username, jurisdiction = _executante()
    actor = Actor(username, "executante", None, Jurisdiction.parse(jurisdiction))
    zone = ZoneInfo(settings.timezone)
    start = datetime(today.year, today.month, today.day, tzinfo=zone)
    window = read_window(appointments.APPOINTMENT_SORTS, sort=None, direction=None, cursor=None, size=500)

    async def booked(days: int) -> list[appointments.Appointment]:
        f = appointments.AppointmentFilter(PROVIDER_DAY_CNES, start, start + timedelta(days=days))
        return (await appointments.appointments_page(session, actor, f, window)).rows

    day, week = await booked(1), await booked(7)
    statuses = Counter(a.entry.status for a in day)
    # Today: the session of the demo (most confirmed, one not), with the patients' names, at this establishment.
    assert len(day) >= 2 and statuses["confirmada"] >= 1 and statuses["agendada"] >= 1, statuses
    assert all(a.slot.cnes == PROVIDER_DAY_CNES and a.citizen_name for a in day)
    assert len(week) > len(day)
    # The history tells the same appointment as the booking (the generator moved it to today consistently).
    for a in day:
        stmt = (
            select(EntryEvent)
            .where(col(EntryEvent.entry_id) == a.entry.id, col(EntryEvent.to_status) == "agendada")
            .order_by(col(EntryEvent.id).desc())
        )
        scheduled = (await session.execute(stmt)).scalars().first()
        assert scheduled is not None and scheduled.data is not None
        assert scheduled.data["data_atendimento"] == a.slot.starts_at.astimezone(zone).strftime("%Y-%m-%dT%H:%M")
        assert scheduled.data["cnes"] == PROVIDER_DAY_CNES
        assert all(ev.occurred_at < start for ev in (await _events(session, a.entry.id or 0)))
    # OCIs in execution there, some of them complete: the executante concludes them.
    stmt = select(OciExecution).where(
        col(OciExecution.cnes) == PROVIDER_DAY_CNES, col(OciExecution.status) == "em_execucao"
    )
    executions = (await session.execute(stmt)).scalars().all()
    assert executions
    ready = 0
    for x in executions:
        entry = await session.get(WaitlistEntry, x.entry_id)
        assert entry is not None and entry.status == "em_atendimento"
        view = await execution.view(session, settings, x.entry_id, actor, today=today)
        assert view.procedures and all(p.performed_on < today for p in view.procedures)
        ready += view.progress.complete and view.can_conclude
    assert ready >= 1
    # What `regula demo` prints about it.
    assert summary.provider_day == {
        "cnes": PROVIDER_DAY_CNES,
        "today": len(day),
        "in_execution": len(executions),
        "ready_to_conclude": ready,
    }
    (line,) = [x for x in summary_lines(summary) if x.startswith("Dia do executante")]
    assert f"{PROVIDER_USERNAME}, CNES {PROVIDER_DAY_CNES}" in line and f"{len(day)} atendimentos hoje" in line


async def _events(session: AsyncSession, entry_id: int) -> list[EntryEvent]:
    stmt = select(EntryEvent).where(col(EntryEvent.entry_id) == entry_id)
    return list((await session.execute(stmt)).scalars())
