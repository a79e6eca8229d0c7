"""The allocation instance carries the tM window of waitlist.measures: the optimizer's 75% escalation rule, the queue
pages' "past 75% of tM", the API's days-waited filter and the measure itself pick the same entries, paused days and
local dates included."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col
from tests.conftest import Login
from tests.waitlist.test_waitlist_api import FLORIANOPOLIS, authorize, citizen_body, refer

from regula.access.policy import Jurisdiction
from regula.allocation.service import build_instance
from regula.config import Settings
from regula.waitlist import measures, repository, standing
from regula.waitlist import service as wl
from regula.waitlist.models import WaitlistEntry

MakeUser = Callable[..., Awaitable[Login]]
pytestmark = pytest.mark.usefixtures("reference_data")


async def test_optimizer_escalates_where_the_measure_and_the_queue_page_say_past_75(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, make_user: MakeUser
) -> None:
    admin = await make_user("admin", "br")
    aps = await make_user("solicitante", f"municipality:{FLORIANOPOLIS}")
    ids = []
    # (days since authorization, days paused) for the cardiology OCI, tM 60: 75% is 45 days waited.
    cases = ((50, 10), (50, 0), (46, 1), (44, 0))
    for ago, paused in cases:
        entry = await refer(client, aps, citizen_body(municipality_ibge=FLORIANOPOLIS))
        await authorize(client, admin, entry["id"])
        await session.execute(
            text(
                "UPDATE waitlist_entry SET authorized_at = authorized_at - make_interval(days => :ago), "
                "suspended_days = :paused WHERE id = :id"
            ),
            {"ago": ago, "paused": paused, "id": entry["id"]},
        )
        ids.append(entry["id"])
    await session.commit()
    today, tz = wl.local_today(settings), settings.timezone

    built = await build_instance(session, settings, Jurisdiction.parse("uf:SC"))
    params = built.instance.params
    by_id = {int(e.id): e for e in built.instance.entries}
    rows = (await session.execute(select(WaitlistEntry).where(col(WaitlistEntry.id).in_(ids)))).scalars().all()
    expected = set()
    for row in rows:
        clock = measures.entry_clock(row, today, tz)
        assert clock is not None
        e = by_id[row.id or 0]
        assert e.deadline == clock.deadline
        # the optimizer's rule (scheduler.problem.escalate_problem) over the instance's window
        elapsed, window = (params.today - e.authorized_date).days, (e.deadline - e.authorized_date).days
        assert (100 * elapsed >= params.escalation_percent * window) is clock.past_escalation
        if clock.past_escalation:
            expected.add(row.id)
    assert expected == {ids[1], ids[2]}  # 40, 50, 45 and 44 days waited

    # The queue page's count, and the SQL form the escalation sweep runs, agree.
    summaries = await repository.queue_summaries(session, wl.Actor.system("teste"), today, tz)
    assert sum(s.past_75 for s in summaries) == 2
    swept = await session.execute(
        select(col(WaitlistEntry.id)).where(
            col(WaitlistEntry.id).in_(ids), measures.EntrySql.of(WaitlistEntry).past_escalation(today, tz)
        )
    )
    assert set(swept.scalars()) == expected
    # The API's filter by days waited counts them the same way.
    listed = await client.get("/api/v1/entries", params={"min_days_waiting": 45}, headers=admin.headers)
    assert listed.status_code == 200, listed.text
    assert {item["id"] for item in listed.json()["items"]} & set(ids) == expected
    assert {item["days_waiting"] for item in listed.json()["items"] if item["id"] in expected} == {45, 50}


async def test_the_score_counts_days_waited_in_local_days(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, make_user: MakeUser
) -> None:
    admin = await make_user("admin", "br")
    aps = await make_user("solicitante", f"municipality:{FLORIANOPOLIS}")
    entry = await refer(client, aps, citizen_body(municipality_ibge=FLORIANOPOLIS))
    await authorize(client, admin, entry["id"])
    today, tz = wl.local_today(settings), settings.timezone
    # Authorized at 23:30 in Brasília twenty days ago: 02:30 UTC of the next day, and still a day of the local 20.
    late = datetime.combine(today - timedelta(days=20), time(23, 30), ZoneInfo(tz))
    await session.execute(
        text("UPDATE waitlist_entry SET authorized_at = :at, suspended_days = 3 WHERE id = :id"),
        {"at": late, "id": entry["id"]},
    )
    await wl.rescore(session, settings, entry_ids=[entry["id"]])
    row = await wl.get_entry(session, entry["id"])
    await session.refresh(row)
    clock = measures.entry_clock(row, today, tz)
    assert clock is not None and clock.days == 17
    shown = (await standing.shown_scores(session, settings, [row], today))[entry["id"]]
    assert (shown.breakdown["dias_de_espera"], shown.breakdown["dias_suspensos"]) == (17, 3)
    assert shown.value == row.score
