"""Committing an allocation run set-based (issue 18 target 5): the bookings, statuses, history, messages and tasks
are those the per-entry path writes — each entry's reactions emitted one by one — and an entry suspended between
the solve and the commit is skipped, its place left free."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from tests.allocation.test_allocation_runs import _provider_with_agenda, propose_and_solve
from tests.conftest import Login
from tests.waitlist.test_waitlist_api import authorize, citizen_body, refer

from regula.access.policy import Jurisdiction
from regula.allocation import service as allocation
from regula.config import Settings
from regula.people.documents import generate_cpf
from regula.waitlist import service as wl
from regula.waitlist.events import ENTRY_TRANSITIONED, EntryTransitioned
from regula.waitlist.states import EntryStatus

MakeUser = Callable[..., Awaitable[Login]]
pytestmark = pytest.mark.usefixtures("reference_data")
rng = random.Random(1805)

_MESSAGES = text(
    "SELECT m.entry_id, m.booking_id, m.kind, m.idempotency_key, m.channel, m.to_address, m.status, "
    "m.deferred_reason, m.critical, m.question, m.body, m.valid_until, m.variables, "
    "CASE WHEN m.due_at > m.created_at + interval '1 minute' THEN m.due_at END AS due_later "
    "FROM message m WHERE m.entry_id = ANY(:ids) AND m.booking_id IS NOT NULL ORDER BY m.idempotency_key"
)
_TASKS = text(
    "SELECT t.kind, t.entry_id, t.citizen_id, t.status, t.detail, m.idempotency_key "
    "FROM navigation_task t LEFT JOIN message m ON m.id = t.message_id WHERE t.entry_id = ANY(:ids) "
    "ORDER BY t.entry_id, t.kind"
)


async def _snapshot(session: AsyncSession, ids: list[int]) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    messages = []
    for row in (await session.execute(_MESSAGES, {"ids": ids})).all():
        variables = dict(row.variables)
        variables.pop("reply_within_s", None)  # counted from the moment it is written: seconds apart
        messages.append((*row[:12], variables, row.due_later))
    tasks = [tuple(r) for r in (await session.execute(_TASKS, {"ids": ids})).all()]
    return messages, tasks


async def test_set_based_commit_writes_what_the_per_entry_path_writes_and_skips_a_suspended_entry(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, make_user: MakeUser
) -> None:
    gestor = await make_user("gestor", "uf:SC")
    reg = await make_user("regulador", "uf:SC")
    aps = await make_user("solicitante", "municipality:4205407")
    await _provider_with_agenda(client, gestor, "7000018", "4216602", places=5)
    people = {
        "sms": {},
        "whatsapp": {"preferred_channel": "whatsapp"},
        "sem_consentimento": {"contact_consent": False},
        "nenhum": {"preferred_channel": "nenhum"},
        "suspensa": {},
    }
    ids: dict[str, int] = {}
    for label, over in people.items():
        body = citizen_body(name=f"Pessoa {label.replace('_', ' ').title()}", cpf=generate_cpf(rng)) | over
        e = await refer(client, aps, body, risk="vermelho")
        await authorize(client, reg, e["id"])
        ids[label] = int(e["id"])

    run = await propose_and_solve(client, session, settings, reg)
    assert run["run"]["counts"]["assigned"] == 5
    run_id = run["run"]["id"]
    assert (await client.post(f"/api/v1/allocation/runs/{run_id}/approve", headers=reg.headers)).status_code == 201
    # Suspended after the solve, before the commit: the commit must skip it and leave its place free.
    suspended = await client.post(
        f"/api/v1/entries/{ids['suspensa']}/transitions",
        json={"to": "suspensa", "reason_code": "adiamento_pelo_paciente"},
        headers=reg.headers,
    )
    assert suspended.status_code == 201, suspended.text

    # Messages by WhatsApp for the citizen who prefers it: the channel is chosen per citizen, in the batch too.
    twilio = settings.model_copy(update={"notify_channel": "twilio", "twilio_whatsapp_sender": "+554830000000"})
    actor = wl.Actor("regulador", "regulador", reg.user_id, Jurisdiction.parse("uf:SC", "scope"))
    report = await allocation.commit(session, twilio, run_id, actor)
    assert report["booked"] == 4
    assert report["changed_entries"] == [ids["suspensa"]]
    assert report["slots_taken"] == []

    booked_ids = sorted(i for label, i in ids.items() if label != "suspensa")
    statuses = dict(
        (
            await session.execute(
                text("SELECT id, status FROM waitlist_entry WHERE id = ANY(:ids)"), {"ids": list(ids.values())}
            )
        ).all()
    )
    assert statuses == {i: ("suspensa" if i == ids["suspensa"] else "agendada") for i in ids.values()}
    bookings = (
        await session.execute(
            text("SELECT entry_id FROM slot_booking WHERE status = 'ativa' AND entry_id = ANY(:ids) ORDER BY 1"),
            {"ids": list(ids.values())},
        )
    ).scalars()
    assert list(bookings) == booked_ids
    places = (await session.execute(text("SELECT sum(booked) FROM agenda_slot WHERE cnes = '7000018'"))).scalar()
    assert places == 4
    history = (
        await session.execute(
            text(
                "SELECT entry_id, from_status, to_status, actor_role FROM waitlist_entry_event "
                "WHERE entry_id = ANY(:ids) AND to_status = 'agendada' ORDER BY entry_id"
            ),
            {"ids": list(ids.values())},
        )
    ).all()
    assert [tuple(r) for r in history] == [(i, "autorizada", "agendada", "sistema") for i in booked_ids]
    audited = (
        await session.execute(
            text(
                "SELECT count(DISTINCT entity_id) FROM audit_event WHERE entity_type = 'WaitlistEntry' "
                "AND action = 'update' AND after ->> 'status' = 'agendada' AND entity_id = ANY(CAST(:ids AS text[]))"
            ),
            {"ids": [str(i) for i in booked_ids]},
        )
    ).scalar()
    assert audited == 4

    batch_messages, batch_tasks = await _snapshot(session, booked_ids)
    by_entry: dict[int, list[tuple[Any, ...]]] = {}
    for m in batch_messages:
        by_entry.setdefault(m[0], []).append(m)
    assert {m[2] for m in by_entry[ids["sms"]]} == {"agendamento", "confirmacao", "lembrete"}
    assert {(m[4], m[6]) for m in by_entry[ids["sms"]]} == {("sms", "pendente")}
    assert {(m[4], m[5][:9], m[6]) for m in by_entry[ids["whatsapp"]]} == {("whatsapp", "whatsapp:", "pendente")}
    assert {(m[6], m[7]) for m in by_entry[ids["sem_consentimento"]]} == {("bloqueada", "sem_consentimento")}
    assert {(m[6], m[7]) for m in by_entry[ids["nenhum"]]} == {("bloqueada", "sem_canal")}
    # A critical message that cannot go out is a navigator's task — one per entry, naming the last of them.
    assert [(t[0], t[1], t[5].split(":")[2]) for t in batch_tasks] == [
        ("mensagem_nao_entregue", ids["sem_consentimento"], "confirmacao"),
        ("mensagem_nao_entregue", ids["nenhum"], "confirmacao"),
    ]
    unbooked = text("SELECT 1 FROM message WHERE entry_id = :e AND booking_id IS NOT NULL")
    assert not (await session.execute(unbooked, {"e": ids["suspensa"]})).first()

    # The per-entry path: the same reactions emitted one entry at a time, each subscriber without its batch variant.
    await session.execute(text("DELETE FROM navigation_task WHERE entry_id = ANY(:ids)"), {"ids": booked_ids})
    await session.execute(
        text("DELETE FROM message WHERE entry_id = ANY(:ids) AND booking_id IS NOT NULL"), {"ids": booked_ids}
    )
    system = wl.Actor(actor.username, "sistema", actor.user_id, actor.jurisdiction)
    for entry_id in booked_ids:
        entry = await wl.get_entry(session, entry_id)
        event = EntryTransitioned(session, twilio, entry, EntryStatus.AUTORIZADA, EntryStatus.AGENDADA, system)
        for subscriber in ENTRY_TRANSITIONED.subscribers:
            await subscriber(event)
    one_by_one_messages, one_by_one_tasks = await _snapshot(session, booked_ids)
    assert one_by_one_messages == batch_messages
    assert one_by_one_tasks == batch_tasks
