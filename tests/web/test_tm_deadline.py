"""The tM deadline a person is shown is the clock's (decision 0032): authorization day + tM + every day the clock
was paused, the current pause counted to today. It used to be stored on authorization and when a pause ended, so
while an entry was suspended the page, the list and the API showed the deadline of before the pause — days or weeks
too early — beside a clock that had stopped."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, timedelta

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from tests.conftest import Login
from tests.waitlist.test_waitlist_api import FLORIANOPOLIS, authorize, citizen_body, refer
from tests.web.conftest import Browser

from regula.config import Settings
from regula.waitlist import service as wl

MakeUser = Callable[..., Awaitable[Login]]
BrowserFor = Callable[[Login | None], Awaitable[Browser]]
pytestmark = pytest.mark.usefixtures("reference_data")


async def _back(session: AsyncSession, entry_id: int, authorized: int, paused: int | None = None) -> None:
    """The entry authorized ``authorized`` days ago and, with ``paused``, in its current pause since that many."""
    await session.execute(
        text("UPDATE waitlist_entry SET authorized_at = authorized_at - make_interval(days => :a) WHERE id = :id"),
        {"id": entry_id, "a": authorized},
    )
    if paused is not None:
        await session.execute(
            text(
                "UPDATE waitlist_entry SET paused_since = paused_since - make_interval(days => :p), "
                "status_changed_at = status_changed_at - make_interval(days => :p) WHERE id = :id"
            ),
            {"id": entry_id, "p": paused},
        )


def _br(day: date) -> str:
    return day.strftime("%d/%m/%Y")


async def test_a_suspended_entry_s_deadline_moves_with_its_pause_and_stays_when_it_resumes(
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    make_user: MakeUser,
    browser_for: BrowserFor,
) -> None:
    aps = await make_user("solicitante", f"municipality:{FLORIANOPOLIS}")
    reg = await make_user("regulador", "uf:SC")
    paused = await refer(client, aps, citizen_body(name="Jurema Campos", municipality_ibge=FLORIANOPOLIS))
    running = await refer(
        client, aps, citizen_body(name="Moacir Campos", cpf="39053344705", municipality_ibge=FLORIANOPOLIS)
    )
    for entry in (paused, running):
        await authorize(client, reg, entry["id"])
    suspended = await client.post(
        f"/api/v1/entries/{paused['id']}/transitions",
        json={"to": "suspensa", "reason_code": "adiamento_pelo_paciente"},
        headers=reg.headers,
    )
    assert suspended.status_code == 201, suspended.text
    # Authorized 30 days ago and suspended for the last 10; the other authorized 25 days ago, never paused.
    await _back(session, paused["id"], 30, paused=10)
    await _back(session, running["id"], 25)
    today = wl.local_today(settings)
    tm = int(suspended.json()["max_days"])
    expected = today - timedelta(days=30) + timedelta(days=tm + 10)

    record = (await client.get(f"/api/v1/entries/{paused['id']}", headers=reg.headers)).json()
    assert (record["days_waiting"], record["deadline_date"]) == (20, expected.isoformat())
    listed = (
        await client.get(
            "/api/v1/entries", params={"sort": "prazo", "direction": "asc", "limit": 50}, headers=reg.headers
        )
    ).json()
    order = [i["id"] for i in listed["items"] if i["id"] in (paused["id"], running["id"])]
    # The running entry's deadline (today + tM - 25) comes before the suspended one's (today + tM - 20); by the
    # deadline stored before the pause (today + tM - 30) it came first.
    assert order == [running["id"], paused["id"]]
    by_id = {i["id"]: i for i in listed["items"]}
    assert by_id[paused["id"]]["deadline_date"] == expected.isoformat()

    browser = await browser_for(reg)
    page = await browser.get(f"/regulacao/entradas/{paused['id']}")
    assert f"prazo {_br(expected)}" in page.text

    # Tomorrow the pause counts one more day: the deadline moves with it.
    assert wl.tm_deadline(await _entry(session, paused["id"]), today + timedelta(days=1), settings.timezone) == (
        expected + timedelta(days=1)
    )

    # Resumed today: ten paused days closed, the deadline stays where the clock put it.
    resumed = await client.post(
        f"/api/v1/entries/{paused['id']}/transitions", json={"to": "autorizada"}, headers=reg.headers
    )
    assert resumed.status_code == 201, resumed.text
    assert (resumed.json()["days_waiting"], resumed.json()["deadline_date"]) == (20, expected.isoformat())
    page = await browser.get(f"/regulacao/entradas/{paused['id']}")
    assert f"prazo {_br(expected)}" in page.text


async def _entry(session: AsyncSession, entry_id: int) -> object:
    entry = await wl.get_entry(session, entry_id)
    await session.refresh(entry)
    return entry
