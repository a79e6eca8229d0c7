"""``/health`` asks the database at most once per ``health_check_seconds`` per process, and callers arriving while
it asks share that one answer (decision 0033). The database here is the test's real one; the clocks are moved by
hand."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tests.conftest import app_client

from regula.config import Settings
from regula.web.app import create_app
from regula.web.health import HEALTH_KEY, HealthMemory, Verdict

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


class Hand:
    """A monotonic clock and a wall clock moved together, by hand."""

    def __init__(self) -> None:
        self.seconds = 100.0

    def monotonic(self) -> float:
        return self.seconds

    def now(self) -> datetime:
        return T0 + timedelta(seconds=self.seconds - 100.0)


async def _fall_behind(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    """The schema as a database the migrations have not reached would have it (rolled back with the test)."""
    async with sessionmaker() as s:
        await s.execute(text("UPDATE alembic_version SET version_num = '0001_older'"))
        await s.commit()


async def test_health_repeats_its_check_for_the_set_time_then_asks_again(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    hand = Hand()
    app = create_app(settings, sessionmaker)
    app.state[HEALTH_KEY] = HealthMemory(ttl=1.0, monotonic=hand.monotonic, clock=hand.now)
    async with app_client(app) as c:
        first = await c.get("/health")
        assert first.status_code == 200, first.text
        assert first.json()["checked_at"] == "2026-12-07T09:00:00.000+00:00"

        await _fall_behind(sessionmaker)
        hand.seconds += 0.999
        repeated = await c.get("/health")
        # Still the first check's answer, and it says when that check was made.
        assert repeated.status_code == 200
        assert repeated.json() == first.json()

        hand.seconds += 0.001
        asked = await c.get("/health")
        assert asked.status_code == 503
        assert asked.json()["migrations"] == "behind"
        assert asked.json()["current"] == ["0001_older"]
        assert asked.json()["checked_at"] == "2026-12-07T09:00:01.000+00:00"


async def test_health_asks_on_every_call_when_set_to_zero(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    app = create_app(settings.model_copy(update={"health_check_seconds": 0.0}), sessionmaker)
    async with app_client(app) as c:
        assert (await c.get("/health")).status_code == 200
        await _fall_behind(sessionmaker)
        behind = await c.get("/health")
    assert behind.status_code == 503
    assert behind.json()["migrations"] == "behind"


async def test_callers_arriving_during_a_check_share_its_answer() -> None:
    hand = Hand()
    memory = HealthMemory(ttl=1.0, monotonic=hand.monotonic, clock=hand.now)
    checks = 0
    release = asyncio.Event()

    async def check() -> Verdict:
        nonlocal checks
        checks += 1
        await release.wait()  # the database is slow to answer: everyone else arrives meanwhile
        return 200, {"status": "ok", "check": checks}

    waiting = [asyncio.create_task(memory.verdict(check)) for _ in range(20)]
    await asyncio.sleep(0)
    release.set()
    answers = await asyncio.gather(*waiting)
    assert checks == 1
    assert answers == [(200, {"status": "ok", "check": 1})] * 20

    hand.seconds += 1.0
    assert await memory.verdict(check) == (200, {"status": "ok", "check": 2})


async def test_a_failed_check_is_repeated_too_so_an_outage_is_not_hammered() -> None:
    hand = Hand()
    memory = HealthMemory(ttl=1.0, monotonic=hand.monotonic, clock=hand.now)
    checks = 0

    async def unreachable() -> Verdict:
        nonlocal checks
        checks += 1
        return 503, {"status": "error", "database": "unreachable"}

    for _ in range(50):
        assert (await memory.verdict(unreachable))[0] == 503
    assert checks == 1
    hand.seconds += 1.5
    await memory.verdict(unreachable)
    assert checks == 2
