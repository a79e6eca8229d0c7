"""The score a person is shown comes with the explanation of that score, on every night after the first (decision
0031). The explanation used to be stored on authorization and the nightly refresh rewrote only the total: from the
first night the page and the API said "waiting 0 days: +0" under a total that counted every day since."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from tests.conftest import Login
from tests.waitlist.test_waitlist_api import FLORIANOPOLIS, authorize, citizen_body, refer
from tests.web.conftest import Browser

from regula.config import Settings
from regula.waitlist import priority, standing
from regula.waitlist import service as wl
from regula.waitlist.refresh import refresh_all

MakeUser = Callable[..., Awaitable[Login]]
BrowserFor = Callable[[Login | None], Awaitable[Browser]]
pytestmark = pytest.mark.usefixtures("reference_data")


def _points(value: int) -> str:
    return f"{value:,}".replace(",", ".")


async def test_after_the_nightly_refresh_the_explanation_is_the_refreshed_score_s(
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    make_user: MakeUser,
    browser_for: BrowserFor,
) -> None:
    aps = await make_user("solicitante", f"municipality:{FLORIANOPOLIS}")
    reg = await make_user("regulador", "uf:SC")
    entry = await refer(client, aps, citizen_body(name="Iracema Dias", municipality_ibge=FLORIANOPOLIS))
    authorized = await authorize(client, reg, entry["id"])
    assert authorized["score_breakdown"]["dias_de_espera"] == 0
    # Forty nights later: the same entry authorized forty days before today, and tonight's refresh.
    await session.execute(
        text("UPDATE waitlist_entry SET authorized_at = authorized_at - interval '40 days' WHERE id = :id"),
        {"id": entry["id"]},
    )
    await refresh_all(session, settings)
    stored = (
        await session.execute(text("SELECT score FROM waitlist_standing WHERE entry_id = :id"), {"id": entry["id"]})
    ).scalar_one()
    assert stored > authorized["score"]

    detail = (await client.get(f"/api/v1/entries/{entry['id']}", headers=reg.headers)).json()
    breakdown = detail["score_breakdown"]
    assert detail["score"] == stored
    assert breakdown["dias_de_espera"] == detail["days_waiting"] == 40
    assert sum(int(breakdown.get(key, 0)) for key in priority.COMPONENT_KEYS) == stored
    assert breakdown["politica"] == "* v1"  # the default policy
    assert any(line.startswith("Esperando há 40 dias: +") for line in detail["explanation"])
    assert detail["explanation"][-1].startswith(f"Total: {_points(stored)} pontos")

    # The session path (lists, pages) computes the same thing as the driver path (the record's read).
    listed = (await client.get("/api/v1/entries", params={"queue": detail["queue"]}, headers=reg.headers)).json()
    (item,) = [i for i in listed["items"] if i["id"] == entry["id"]]
    assert (item["score"], item["score_breakdown"]) == (stored, breakdown)

    browser = await browser_for(reg)
    page = await browser.get(f"/regulacao/entradas/{entry['id']}")
    assert f"Pontuação: {_points(stored)}" in page.text
    assert "Esperando há 40 dias" in page.text
    assert "o último dia da solicitação na fila" not in page.text  # waiting: today's score, no day to name


async def test_an_entry_that_left_the_queue_shows_the_score_of_its_last_day_in_it(
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    make_user: MakeUser,
    browser_for: BrowserFor,
) -> None:
    aps = await make_user("solicitante", f"municipality:{FLORIANOPOLIS}")
    reg = await make_user("regulador", "uf:SC")
    entry = await refer(client, aps, citizen_body(name="Ubirajara Lima", municipality_ibge=FLORIANOPOLIS))
    await authorize(client, reg, entry["id"])
    today = wl.local_today(settings)
    # Authorized 30 days ago, suspended ten days ago (it left the queue then): its score stays that of day 20.
    await session.execute(
        text(
            "UPDATE waitlist_entry SET authorized_at = authorized_at - interval '30 days', status = 'suspensa', "
            "status_changed_at = now() - interval '10 days' WHERE id = :id"
        ),
        {"id": entry["id"]},
    )
    row = await wl.get_entry(session, entry["id"])
    await session.refresh(row)
    assert standing.score_day(row, today, settings.timezone) == today - timedelta(days=10)
    shown = (await standing.shown_scores(session, settings, [row], today))[entry["id"]]
    assert shown.breakdown["dias_de_espera"] == 20
    # The page says which day that score is of: beside it the tM clock of a suspended entry is its own measure.
    page = await (await browser_for(reg)).get(f"/regulacao/entradas/{entry['id']}")
    left_on = (today - timedelta(days=10)).strftime("%d/%m/%Y")
    assert f"Pontuação de {left_on}, o último dia da solicitação na fila de espera." in page.text
    assert "Esperando há 20 dias" in page.text
