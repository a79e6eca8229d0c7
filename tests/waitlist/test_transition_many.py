"""``transition_many`` (an allocation commit's scheduling): the rules of ``transition`` for every entry, checked for
all of them before anything changes; history written for each."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from tests.conftest import Login
from tests.waitlist.test_waitlist_api import FLORIANOPOLIS, authorize, citizen_body, refer

from regula.config import Settings
from regula.core.errors import Conflict
from regula.people.documents import generate_cpf
from regula.waitlist import service as wl

MakeUser = Callable[..., Awaitable[Login]]
pytestmark = pytest.mark.usefixtures("reference_data")
rng = random.Random(808)


async def test_all_checked_before_any_changes_then_each_recorded(
    client: httpx.AsyncClient, session: AsyncSession, make_user: MakeUser, settings: Settings
) -> None:
    aps = await make_user("solicitante", f"municipality:{FLORIANOPOLIS}")
    reg = await make_user("regulador", "uf:SC")
    ids = []
    for i in range(3):
        e = await refer(client, aps, citizen_body(name=f"Pessoa {i}", cpf=generate_cpf(rng)))
        await authorize(client, reg, e["id"])
        ids.append(int(e["id"]))
    suspended = await client.post(
        f"/api/v1/entries/{ids[2]}/transitions",
        json={"to": "suspensa", "reason_code": "adiamento_pelo_paciente"},
        headers=reg.headers,
    )
    assert suspended.status_code == 201, suspended.text
    system = wl.Actor("regulador", "sistema", reg.user_id)

    with pytest.raises(Conflict):  # suspensa -> agendada is not a move the system may make
        await wl.transition_many(session, ids, "agendada", system, settings)
    session.expire_all()
    statuses = dict(
        (await session.execute(text("SELECT id, status FROM waitlist_entry WHERE id = ANY(:ids)"), {"ids": ids})).all()
    )
    assert statuses == {ids[0]: "autorizada", ids[1]: "autorizada", ids[2]: "suspensa"}

    moved = await wl.transition_many(session, ids[:2], "agendada", system, settings)
    assert [e.status for e in moved] == ["agendada", "agendada"]
    events = (
        await session.execute(
            text(
                "SELECT entry_id, from_status, to_status, actor_role FROM waitlist_entry_event "
                "WHERE entry_id = ANY(:ids) AND to_status = 'agendada' ORDER BY entry_id"
            ),
            {"ids": ids},
        )
    ).all()
    assert [tuple(r) for r in events] == [
        (ids[0], "autorizada", "agendada", "sistema"),
        (ids[1], "autorizada", "agendada", "sistema"),
    ]
