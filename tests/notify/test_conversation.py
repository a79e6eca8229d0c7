"""The conversation with a citizen, through the real app and its signed webhooks: an appointment puts messages in
the outbox; a signed "NÃO" releases the place and the next person gets the offer; a forgery changes nothing;
validation, opt-out, unreadable replies and delivery receipts.

These tests run in the test's rolled-back transaction, so no dispatcher runs here: :func:`mark_sent` records a
message as sent exactly as the dispatcher does (the dispatcher itself is tested against a committed database in
``test_dispatcher.py``).
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from twilio.request_validator import RequestValidator

from regula.config import Settings
from regula.notify.jobs import expire_questions, plan_validations
from regula.notify.receipts import Receipt, apply_receipts
from regula.people.documents import generate_cpf
from tests.conftest import Login, app_client
from tests.support.allocation import propose_and_solve
from tests.waitlist.test_waitlist_api import authorize, citizen_body, refer

MakeUser = Callable[..., Awaitable[Login]]
pytestmark = pytest.mark.usefixtures("reference_data")
OCI = "0902010026"
TOKEN = "test-auth-token-0123456789abcdef"
rng = random.Random(11)


@pytest.fixture
def notify_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"twilio_auth_token": SecretStr(TOKEN)})


@pytest.fixture
async def app(
    notify_settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> AsyncIterator[httpx.AsyncClient]:
    from regula.web.app import create_app

    async with app_client(create_app(notify_settings, sessionmaker)) as c:
        yield c


async def reply(
    client: httpx.AsyncClient, settings: Settings, phone: str, body: str, *, forge: bool = False
) -> httpx.Response:
    params = {
        "MessageSid": f"SM{rng.getrandbits(128):032x}",
        "AccountSid": "AC" + "1" * 32,
        "From": phone,
        "To": "+554830000001",
        "Body": body,
        "NumMedia": "0",
    }
    url = settings.public_base_url.rstrip("/") + "/webhooks/twilio/inbound"
    signature = RequestValidator("wrong-token" if forge else TOKEN).compute_signature(url, params)
    return await client.post("/webhooks/twilio/inbound", data=params, headers={"X-Twilio-Signature": signature})


async def mark_sent(session: AsyncSession, entry_id: int, kind: str) -> int:
    """Record the entry's message of this kind as sent now, as the dispatcher does (reply window from now)."""
    row = (
        await session.execute(
            text(
                "UPDATE message SET status = 'enviada', provider_status = 'queued', provider_rank = 2, "
                "sent_at = now(), provider_sid = 'SM' || md5(id::text), "
                "reply_by = CASE WHEN variables ? 'reply_within_s' "
                "  THEN now() + make_interval(secs => (variables->>'reply_within_s')::int) END "
                "WHERE entry_id = :e AND kind = :k AND status = 'pendente' RETURNING id"
            ),
            {"e": entry_id, "k": kind},
        )
    ).scalar_one()
    await session.commit()
    return int(row)


async def messages(session: AsyncSession, entry_id: int) -> list[tuple[str, str]]:
    rows = await session.execute(
        text("SELECT kind, status FROM message WHERE entry_id = :e ORDER BY id"), {"e": entry_id}
    )
    return [(r[0], r[1]) for r in rows]


async def status_of(client: httpx.AsyncClient, reg: Login, entry_id: int) -> str:
    return str((await client.get(f"/api/v1/entries/{entry_id}", headers=reg.headers)).json()["status"])


async def _two_waiting_and_one_slot(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, make_user: MakeUser, cnes: str
) -> dict[str, Any]:
    gestor = await make_user("gestor", "uf:SC")
    reg = await make_user("regulador", "uf:SC")
    aps = await make_user("solicitante", "municipality:4205407")
    r = await client.post(
        "/api/v1/establishments",
        json={"cnes": cnes, "name": "Policlínica Continente", "municipality_ibge": "4216602", "kind": "proprio"},
        headers=gestor.headers,
    )
    assert r.status_code == 201, r.text
    await client.put(f"/api/v1/establishments/{cnes}/offers", json={"oci_code": OCI}, headers=gestor.headers)
    starts = date.today() + timedelta(days=10)
    r = await client.post(
        "/api/v1/slots",
        json={"cnes": cnes, "oci_code": OCI, "starts_at": f"{starts}T09:30:00-03:00", "capacity": 1},
        headers=gestor.headers,
    )
    assert r.status_code == 201, r.text
    first = await refer(
        client, aps, citizen_body(name="Ana Primeira", cpf=generate_cpf(rng), phone="48991110001"), risk="vermelho"
    )
    second = await refer(
        client, aps, citizen_body(name="Bia Segunda", cpf=generate_cpf(rng), phone="48991110002"), risk="amarelo"
    )
    for e in (first, second):
        await authorize(client, reg, e["id"])
    run_id = await propose_and_solve(client, reg.headers, session, settings)
    assert (await client.post(f"/api/v1/allocation/runs/{run_id}/approve", headers=reg.headers)).is_success
    assert (await client.post(f"/api/v1/allocation/runs/{run_id}/commit", headers=reg.headers)).is_success
    return {"reg": reg, "first": first, "second": second, "starts": starts}


async def test_appointment_messages_are_written_with_the_booking(
    app: httpx.AsyncClient, session: AsyncSession, make_user: MakeUser, notify_settings: Settings
) -> None:
    s = await _two_waiting_and_one_slot(app, session, notify_settings, make_user, "7100001")
    first = s["first"]["id"]
    assert await messages(session, first) == [
        ("fila_entrada", "pendente"),
        ("agendamento", "pendente"),
        ("confirmacao", "pendente"),
        ("lembrete", "pendente"),
        ("lembrete", "pendente"),
    ]
    row = (
        await session.execute(
            text("SELECT body, due_at, question, to_address FROM message WHERE entry_id = :e AND kind = 'confirmacao'"),
            {"e": first},
        )
    ).one()
    assert "Responda SIM ou NÃO" in row.body and s["first"]["protocol"] in row.body
    assert row.question == "confirmacao" and row.to_address == "+5548991110001"
    starts = datetime.combine(s["starts"], datetime.min.time(), UTC) + timedelta(hours=12, minutes=30)
    assert abs((row.due_at - (starts - timedelta(days=7))).total_seconds()) < 3600  # seven days before
    log = await app.get(f"/api/v1/messages?entry_id={first}", headers=s["reg"].headers)
    assert log.status_code == 200
    assert {m["kind"] for m in log.json()} == {"fila_entrada", "agendamento", "confirmacao", "lembrete"}


async def test_signed_no_releases_the_place_and_the_next_person_gets_the_offer(
    app: httpx.AsyncClient, session: AsyncSession, make_user: MakeUser, notify_settings: Settings
) -> None:
    s = await _two_waiting_and_one_slot(app, session, notify_settings, make_user, "7100002")
    reg, first, second = s["reg"], s["first"]["id"], s["second"]["id"]
    await mark_sent(session, first, "confirmacao")

    forged = await reply(app, notify_settings, "+5548991110001", "NÃO", forge=True)
    assert forged.status_code == 403
    assert await status_of(app, reg, first) == "agendada"
    assert await status_of(app, reg, second) == "autorizada"
    denied = await session.execute(
        text("SELECT count(*) FROM audit_event WHERE action = 'deny' AND reason LIKE 'assinatura_invalida%'")
    )
    assert denied.scalar_one() >= 1
    unsigned = await app.post("/webhooks/twilio/inbound", data={"From": "+5548991110001", "Body": "NÃO"})
    assert unsigned.status_code == 403

    answered = await reply(app, notify_settings, "+5548991110001", "Não")
    assert answered.status_code == 200 and "<Response>" in answered.text
    assert await status_of(app, reg, first) == "autorizada"
    assert await status_of(app, reg, second) == "agendada"
    assert ("oferta", "pendente") in await messages(session, second)
    first_messages = await messages(session, first)
    assert ("liberada", "pendente") in first_messages
    assert ("lembrete", "cancelada") in first_messages  # reminders of a place that is gone never go out
    offer = (
        await session.execute(text("SELECT body FROM message WHERE entry_id = :e AND kind = 'oferta'"), {"e": second})
    ).scalar_one()
    assert "Responda SIM em até 2 horas" in offer

    # No answer to the offer in time: the place moves on, never back to whoever already declined it.
    await mark_sent(session, second, "oferta")
    await session.execute(text("UPDATE message SET reply_by = now() - interval '1 minute' WHERE kind = 'oferta'"))
    counts = await expire_questions(session, notify_settings)
    assert counts["offers_released"] == 1
    assert await status_of(app, reg, second) == "autorizada"
    assert await status_of(app, reg, first) == "autorizada"


async def test_yes_to_an_offer_confirms_and_sends_the_details(
    app: httpx.AsyncClient, session: AsyncSession, make_user: MakeUser, notify_settings: Settings
) -> None:
    s = await _two_waiting_and_one_slot(app, session, notify_settings, make_user, "7100003")
    reg, first, second = s["reg"], s["first"]["id"], s["second"]["id"]
    await mark_sent(session, first, "confirmacao")
    assert (await reply(app, notify_settings, "+5548991110001", "2")).status_code == 200
    await mark_sent(session, second, "oferta")
    assert (await reply(app, notify_settings, "+5548991110002", "sim, quero")).status_code == 200
    assert await status_of(app, reg, second) == "confirmada"
    kinds = [k for k, _ in await messages(session, second)]
    assert kinds.count("agendamento") == 1 and "lembrete" in kinds
    # Twilio retries a webhook it thinks failed: the same MessageSid is handled once.
    inbound = (await session.execute(text("SELECT count(*) FROM inbound_message"))).scalar_one()
    assert inbound == 2


async def test_confirmation_yes_and_receipts_in_any_order(
    app: httpx.AsyncClient, session: AsyncSession, make_user: MakeUser, notify_settings: Settings
) -> None:
    s = await _two_waiting_and_one_slot(app, session, notify_settings, make_user, "7100004")
    first = s["first"]["id"]
    message_id = await mark_sent(session, first, "confirmacao")
    assert (await reply(app, notify_settings, "+5548991110001", "Sim")).status_code == 200
    assert await status_of(app, s["reg"], first) == "confirmada"
    assert ("confirmada", "pendente") in await messages(session, first)

    sid = (await session.execute(text("SELECT provider_sid FROM message WHERE id = :m"), {"m": message_id})).scalar()
    for status in ("delivered", "sent", "delivered", "queued"):  # late and repeated callbacks
        await apply_receipts(session, notify_settings, [Receipt(message_id, str(sid), status)])
    row = (
        await session.execute(
            text("SELECT status, provider_status, delivered_at FROM message WHERE id = :m"), {"m": message_id}
        )
    ).one()
    assert (row.status, row.provider_status) == ("entregue", "delivered") and row.delivered_at is not None


async def test_failed_appointment_message_goes_to_the_navigators(
    app: httpx.AsyncClient, session: AsyncSession, make_user: MakeUser, notify_settings: Settings
) -> None:
    s = await _two_waiting_and_one_slot(app, session, notify_settings, make_user, "7100005")
    first = s["first"]["id"]
    message_id = await mark_sent(session, first, "agendamento")
    await apply_receipts(session, notify_settings, [Receipt(message_id, "SMx", "failed", "30005")])
    await apply_receipts(session, notify_settings, [Receipt(message_id, "SMx", "failed", "30005")])  # repeated
    tasks = (
        await session.execute(
            text("SELECT kind, status, detail FROM navigation_task WHERE entry_id = :e"), {"e": first}
        )
    ).all()
    assert [(t.kind, t.status) for t in tasks] == [("mensagem_nao_entregue", "aberta")]
    assert "30005" in tasks[0].detail
    nav = await make_user("navegador", "uf:SC")
    worklist = (await app.get("/api/v1/navigation/tasks", headers=nav.headers)).json()
    task = next(t for t in worklist if t["entry_id"] == first)
    assert task["kind_label"] == "Mensagem não entregue" and task["phone"] == "+5548991110001"
    logged = await app.post(
        f"/api/v1/navigation/tasks/{task['id']}/contacts",
        json={"outcome": "confirmou", "notes": "Confirmou por telefone.", "close": True},
        headers=nav.headers,
    )
    assert logged.status_code == 201, logged.text
    bad = await app.post(
        f"/api/v1/navigation/tasks/{task['id']}/contacts", json={"outcome": "talvez"}, headers=nav.headers
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "outcome"


async def test_validation_no_then_yes_cancels_with_its_reason(
    app: httpx.AsyncClient, session: AsyncSession, make_user: MakeUser, notify_settings: Settings
) -> None:
    reg = await make_user("regulador", "uf:SC")
    aps = await make_user("solicitante", "municipality:4205407")
    e = await refer(app, aps, citizen_body(cpf=generate_cpf(rng), phone="48991110009"))
    await authorize(app, reg, e["id"])
    await session.execute(
        text("UPDATE waitlist_entry SET authorized_at = now() - interval '100 days' WHERE id = :e"), {"e": e["id"]}
    )
    assert await plan_validations(session, notify_settings) >= 1
    assert await plan_validations(session, notify_settings) == 0  # not twice in 90 days
    await mark_sent(session, e["id"], "validacao")
    await reply(app, notify_settings, "+5548991110009", "não")
    assert await status_of(app, reg, e["id"]) == "autorizada"  # not before the citizen confirms
    await mark_sent(session, e["id"], "validacao_confirma")
    await reply(app, notify_settings, "+5548991110009", "SIM")
    detail = (await app.get(f"/api/v1/entries/{e['id']}", headers=reg.headers)).json()
    assert detail["status"] == "cancelada"
    assert detail["history"][-1]["reason_code"] == "recusa_validacao"
    assert ("encerrada", "pendente") in await messages(session, e["id"])


async def test_opt_out_and_unreadable_replies(
    app: httpx.AsyncClient, session: AsyncSession, make_user: MakeUser, notify_settings: Settings
) -> None:
    s = await _two_waiting_and_one_slot(app, session, notify_settings, make_user, "7100006")
    first = s["first"]["id"]
    await mark_sent(session, first, "confirmacao")
    await reply(app, notify_settings, "+5548991110001", "quem fala?")
    await reply(app, notify_settings, "+5548991110001", "???")
    helps = (await session.execute(text("SELECT count(*) FROM message WHERE kind = 'ajuda'"))).scalar_one()
    assert helps == 1  # one short help message, then a person
    kinds = (
        await session.execute(text("SELECT kind FROM navigation_task WHERE entry_id = :e"), {"e": first})
    ).scalars()
    assert "resposta_nao_entendida" in set(kinds)

    await reply(app, notify_settings, "+5548991110001", "PARAR")
    consent = (
        await session.execute(
            text("SELECT contact_consent FROM citizen c JOIN waitlist_entry e ON e.citizen_id = c.id WHERE e.id = :e"),
            {"e": first},
        )
    ).scalar_one()
    assert consent is False
    statuses = dict(
        (await session.execute(text("SELECT kind, status FROM message WHERE entry_id = :e"), {"e": first})).all()
    )
    assert statuses["lembrete"] == "bloqueada"
    assert await status_of(app, s["reg"], first) == "agendada"  # opting out of messages is not leaving the queue
    ack = (await session.execute(text("SELECT status, body FROM message WHERE kind = 'optout'"))).one()
    assert ack.status == "pendente" and "não receberá mais mensagens" in ack.body


async def test_no_to_the_appointment_notice_releases_the_place(
    app: httpx.AsyncClient, session: AsyncSession, make_user: MakeUser, notify_settings: Settings
) -> None:
    s = await _two_waiting_and_one_slot(app, session, notify_settings, make_user, "7100007")
    await mark_sent(session, s["first"]["id"], "agendamento")
    assert (await reply(app, notify_settings, "+5548991110001", "Não posso ir nesse dia")).status_code == 200
    assert await status_of(app, s["reg"], s["first"]["id"]) == "autorizada"
    assert await status_of(app, s["reg"], s["second"]["id"]) == "agendada"
    assert ("oferta", "pendente") in await messages(session, s["second"]["id"])


async def test_signed_status_callbacks_update_the_message_and_forgeries_do_not(
    app: httpx.AsyncClient, session: AsyncSession, make_user: MakeUser, notify_settings: Settings
) -> None:
    s = await _two_waiting_and_one_slot(app, session, notify_settings, make_user, "7100008")
    message_id = await mark_sent(session, s["first"]["id"], "agendamento")
    sid = (await session.execute(text("SELECT provider_sid FROM message WHERE id = :m"), {"m": message_id})).scalar()
    path = f"/webhooks/twilio/status?m={message_id}"
    url = notify_settings.public_base_url.rstrip("/") + path

    async def callback(status: str, *, token: str = TOKEN) -> int:
        params = {"MessageSid": str(sid), "MessageStatus": status, "To": "+5548991110001", "AccountSid": "AC1"}
        signature = RequestValidator(token).compute_signature(url, params)
        response = await app.post(path, data=params, headers={"X-Twilio-Signature": signature})
        return response.status_code

    assert await callback("delivered", token="forjado") == 403
    assert (await session.execute(text("SELECT status FROM message WHERE id = :m"), {"m": message_id})).scalar() == (
        "enviada"
    )
    assert await callback("delivered") == 204
    assert await callback("sent") == 204  # late: ignored
    row = (
        await session.execute(text("SELECT status, provider_status FROM message WHERE id = :m"), {"m": message_id})
    ).one()
    assert tuple(row) == ("entregue", "delivered")
