"""Set-based writers audit as the flush listener does (decision 3; issue 18 target 5): an allocation commit writes
its bookings and its entries' new status without the ORM, and ``audit.service`` builds their rows by the same rule
as the listener. The rows of one move written each way are equal but for ids and the moment."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from tests.allocation.test_allocation_runs import _provider_with_agenda
from tests.conftest import Login
from tests.waitlist.test_waitlist_api import FLORIANOPOLIS, authorize, citizen_body, refer

from regula.audit.service import AuditContext, set_context
from regula.config import Settings
from regula.people.documents import generate_cpf
from regula.providers import service as providers
from regula.providers.models import SlotBooking
from regula.waitlist import service as wl

MakeUser = Callable[..., Awaitable[Login]]
pytestmark = pytest.mark.usefixtures("reference_data")
rng = random.Random(1805)

_ROWS = text(
    "SELECT entity_id, actor_user_id, actor_username, actor_role, source, ip, user_agent, request_id, method, path, "
    "uf, municipality_ibge, action, entity_type, before, after, reason, status_code FROM audit_event "
    "WHERE entity_type = :type AND action = :action AND entity_id = ANY(CAST(:ids AS text[])) ORDER BY id"
)


async def _rows(session: AsyncSession, entity_type: str, action: str, ids: list[int]) -> list[dict[str, Any]]:
    found = await session.execute(_ROWS, {"type": entity_type, "action": action, "ids": [str(i) for i in ids]})
    return [dict(r._mapping) for r in found]


def _without(row: dict[str, Any], *keys: str) -> dict[str, Any]:
    """The row with these keys of ``before``/``after`` (ids, moments) and its entity id set aside."""
    out = {k: v for k, v in row.items() if k != "entity_id"}
    for side in ("before", "after"):
        if out[side] is not None:
            out[side] = {k: ("<varies>" if k in keys else v) for k, v in out[side].items()}
    return out


async def test_bookings_and_moves_written_set_based_are_audited_as_the_listener_audits_them(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, make_user: MakeUser
) -> None:
    gestor = await make_user("gestor", "uf:SC")
    reg = await make_user("regulador", "uf:SC")
    aps = await make_user("solicitante", f"municipality:{FLORIANOPOLIS}")
    await _provider_with_agenda(client, gestor, "7000026", "4216602", places=2)
    slots = list(
        (await session.execute(text("SELECT id FROM agenda_slot WHERE cnes = '7000026' ORDER BY id"))).scalars()
    )
    ids = []
    for i in range(2):
        e = await refer(client, aps, citizen_body(name=f"Pessoa Auditada {i}", cpf=generate_cpf(rng)))
        await authorize(client, reg, e["id"])
        ids.append(int(e["id"]))
    set_context(session, AuditContext(actor_user_id=reg.user_id, actor_username="regulador", source="job"))
    system = wl.Actor("regulador", "sistema", reg.user_id)

    # One entry through the ORM (the flush listener writes its audit), the other set-based (audit.service).
    session.add(SlotBooking(slot_id=slots[0], entry_id=ids[0], run_id=7))
    await session.flush()
    await wl.transition(session, ids[0], "agendada", system, settings)
    booked, refused = await providers.book_many(session, [(slots[1], ids[1])], run_id=7)
    assert (booked, refused) == ([(slots[1], ids[1])], [])
    await wl.transition_many(session, [ids[1]], "agendada", system, settings)

    found = await session.execute(
        text("SELECT entry_id, id FROM slot_booking WHERE entry_id = ANY(:ids)"), {"ids": ids}
    )
    booking_ids = {int(r.entry_id): int(r.id) for r in found}
    created = {
        int(r["entity_id"]): r for r in await _rows(session, "SlotBooking", "create", list(booking_ids.values()))
    }
    by_orm, set_based = created[booking_ids[ids[0]]], created[booking_ids[ids[1]]]
    assert set(by_orm["after"]) == set(set_based["after"]) == {
        "id", "slot_id", "entry_id", "run_id", "status", "booked_at", "released_at", "release_reason"
    }  # fmt: skip
    assert set_based["after"]["id"] == booking_ids[ids[1]]
    assert set_based["after"]["entry_id"] == ids[1] and set_based["after"]["slot_id"] == slots[1]
    varies = ("id", "slot_id", "entry_id", "booked_at")
    assert _without(set_based, *varies) == _without(by_orm, *varies)

    last = {}  # each entry's update to agendada
    for i in ids:
        rows = await _rows(session, "WaitlistEntry", "update", [i])
        last[i] = [r for r in rows if r["after"].get("status") == "agendada"]
    assert len(last[ids[0]]) == len(last[ids[1]]) == 1
    by_orm, set_based = last[ids[0]][0], last[ids[1]][0]
    assert set(set_based["after"]) == set(by_orm["after"]) >= {"status", "status_changed_at", "updated_at"}
    assert set_based["after"]["status"] == "agendada" and set_based["before"]["status"] == "autorizada"
    moments = ("status_changed_at", "updated_at")
    assert _without(set_based, *moments) == _without(by_orm, *moments)
    assert set_based["uf"] == "SC" and set_based["municipality_ibge"] == FLORIANOPOLIS
