"""The public look-up's memory of its answers (regula.waitlist.public_answers, decision 0026): what invalidates
an answer, and the bound on one that nothing in this process invalidated."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncSession
from tests.waitlist import test_waitlist_api as api

from regula.waitlist.models import WaitlistEntry, WaitlistStanding
from regula.waitlist.public_answers import ANSWERS, PUBLIC_ANSWER_SECONDS, AnswerCache

pytestmark = pytest.mark.usefixtures("reference_data")
BIRTH = "1960-05-17"  # api.citizen_body's


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_answer_expires_after_the_bound_however_often_it_is_served() -> None:
    clock = Clock()
    cache: AnswerCache[str] = AnswerCache(clock=clock)
    cache.put("SC1", date(1960, 5, 17), "posição 3")
    assert cache.get("SC1", date(1960, 5, 17)) == "posição 3"
    assert cache.get("SC1", date(1961, 5, 17)) is None  # the birth date is part of the key
    clock.now += PUBLIC_ANSWER_SECONDS - 0.01
    assert cache.get("SC1", date(1960, 5, 17)) == "posição 3"
    clock.now += 0.01
    assert cache.get("SC1", date(1960, 5, 17)) is None


async def _entry(client: httpx.AsyncClient, make_user: api.MakeUser) -> dict[str, Any]:
    aps = await make_user("solicitante", f"municipality:{api.FLORIANOPOLIS}")
    reg = await make_user("regulador", "uf:SC")
    entry = await api.refer(client, aps, api.citizen_body(name="Davi Cache"))
    await api.authorize(client, reg, entry["id"])
    return entry


async def _position(client: httpx.AsyncClient, protocol: str) -> Any:
    found = await client.get("/public/position", params={"protocol": protocol, "birth_date": BIRTH})
    assert found.status_code == 200, found.text
    return found.json()["position"]


async def test_a_write_in_this_process_shows_on_the_next_look_up(
    client: httpx.AsyncClient, session: AsyncSession, make_user: api.MakeUser
) -> None:
    entry = await _entry(client, make_user)
    protocol = entry["protocol"]
    assert await _position(client, protocol) == 1
    # A Core UPDATE of the standing row through a session (as the queue recomputes run)…
    await session.execute(
        update(WaitlistStanding).where(WaitlistStanding.entry_id == entry["id"]).values(position=7)  # type: ignore[arg-type]
    )
    await session.commit()
    assert await _position(client, protocol.lower()) == 7  # the protocol as typed: normalized before the key
    # …a textual one…
    await session.execute(text("UPDATE waitlist_standing SET position = 8 WHERE entry_id = :id"), {"id": entry["id"]})
    await session.commit()
    assert await _position(client, protocol) == 8
    # …and an ORM flush of the entry: a position written where no session sees it shows once the flush has run.
    connection = await session.connection()
    await connection.exec_driver_sql(f"UPDATE waitlist_standing SET position = 9 WHERE entry_id = {int(entry['id'])}")
    await session.commit()
    assert await _position(client, protocol) == 8  # remembered
    row = await session.get(WaitlistEntry, entry["id"])
    assert row is not None
    row.updated_at = row.updated_at + timedelta(seconds=1)
    await session.commit()
    assert await _position(client, protocol) == 9


async def test_a_write_elsewhere_shows_within_the_bound(
    client: httpx.AsyncClient, session: AsyncSession, make_user: api.MakeUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock()
    monkeypatch.setattr(ANSWERS, "clock", clock)
    entry = await _entry(client, make_user)
    protocol = entry["protocol"]
    assert await _position(client, protocol) == 1
    # Another process's write (another worker, the scheduler's refresh): no session event of this one sees it.
    connection = await session.connection()
    await connection.exec_driver_sql(f"UPDATE waitlist_standing SET position = 4 WHERE entry_id = {int(entry['id'])}")
    clock.now += PUBLIC_ANSWER_SECONDS - 0.5
    assert await _position(client, protocol) == 1  # remembered: at most the bound behind
    clock.now += 0.5
    assert await _position(client, protocol) == 4


async def test_wrong_birth_dates_are_never_remembered(
    client: httpx.AsyncClient, session: AsyncSession, make_user: api.MakeUser
) -> None:
    entry = await _entry(client, make_user)
    params = {"protocol": entry["protocol"], "birth_date": "1961-05-17"}
    assert (await client.get("/public/position", params=params)).status_code == 404
    connection = await session.connection()
    await connection.exec_driver_sql(
        "UPDATE citizen SET birth_date = '1961-05-17' "
        f"WHERE id = (SELECT citizen_id FROM waitlist_entry WHERE id = {int(entry['id'])})"
    )
    assert (await client.get("/public/position", params=params)).status_code == 200
