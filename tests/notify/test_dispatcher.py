"""The dispatcher against the real twilio SDK and a local fake Twilio server, on a committed database: what is due
goes out once, at the allowed rate and hours; 429s are retried; a send whose answer was lost, and the rows of a
dispatcher that died, are looked up at the provider before anything is sent again — never twice."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text
from twilio.rest import Client

from regula.config import Settings
from regula.db.base import utcnow
from regula.db.engine import Database
from regula.notify import dispatcher as dispatcher_module
from regula.notify.dispatcher import Dispatcher
from regula.notify.outbox import Outgoing, enqueue
from regula.people.documents import generate_cpf
from regula.people.models import Citizen
from regula.people.schemas import CitizenCreate
from regula.people.service import create_citizen
from tests.notify.conftest import SENDERS
from tests.support.fake_twilio import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, FakeTwilio

rng = random.Random(5)


async def citizens(db: Database, n: int, *, consent: bool = True) -> list[Citizen]:
    out = []
    async with db.transaction() as s:
        for i in range(n):
            data = CitizenCreate(
                name=f"Pessoa Teste {i}",
                birth_date=date(1970, 1, 1),
                sex="F",
                race_color="parda",
                municipality_ibge="4205407",
                cpf=generate_cpf(rng),
                phone=f"+55489{rng.randrange(10**8):08d}",
                contact_consent=consent,
            )
            out.append(await create_citizen(s, data, date.today()))
    return out


async def queue(
    db: Database, settings: Settings, people: list[Citizen], per_person: int = 1, kind: str = "posicao"
) -> None:
    async with db.transaction() as s:
        for c in people:
            for k in range(per_person):
                await enqueue(
                    s,
                    settings,
                    c,
                    Outgoing(
                        kind,
                        f"c{c.id}:teste:{k}",
                        {
                            "protocol": f"SC26{c.id:08d}",
                            "url": "https://x/posicao",
                            "position": k + 1,
                            "estimate": None,
                        },
                        valid_until=utcnow() + timedelta(days=1),
                    ),
                )


async def counts(db: Database) -> dict[str, int]:
    async with db.transaction() as s:
        rows = await s.execute(text("SELECT status, count(*) FROM message GROUP BY status"))
        return {r[0]: int(r[1]) for r in rows}


async def make_due(db: Database) -> None:
    async with db.transaction() as s:
        await s.execute(text("UPDATE message SET next_attempt_at = now() WHERE status = 'pendente'"))


async def test_sends_once_through_twilio_and_records_each_sid(
    db: Database, twilio_settings: Settings, fake: FakeTwilio
) -> None:
    people = await citizens(db, 20)
    await queue(db, twilio_settings, people)
    stats = await Dispatcher(db, twilio_settings).run(once=True)
    assert (stats.claimed, stats.sent) == (20, 20)
    assert await counts(db) == {"enviada": 20}
    assert fake.accepted_count() == 20 and fake.duplicates() == []
    async with db.transaction() as s:
        rows = (await s.execute(text("SELECT to_address, sender, provider_sid, body FROM message"))).all()
    sent = {m.sid: m for m in fake.messages()}
    for row in rows:
        twin = sent[row.provider_sid]
        assert (twin.to, twin.from_, twin.body) == (row.to_address, row.sender, row.body)
    assert {r.sender for r in rows} == set(SENDERS)  # both senders used, each citizen always by the same one


async def test_429_is_retried_with_backoff(db: Database, twilio_settings: Settings, fake: FakeTwilio) -> None:
    await queue(db, twilio_settings, await citizens(db, 6))
    fake.fail_next(2, status=429)
    stats = await Dispatcher(db, twilio_settings).run(once=True)
    assert (stats.sent, stats.retried) == (4, 2)
    async with db.transaction() as s:
        waiting = (
            await s.execute(
                text("SELECT attempts, next_attempt_at > now(), error_code FROM message WHERE status = 'pendente'")
            )
        ).all()
    assert [(a, later, code) for a, later, code in waiting] == [(1, True, "20429")] * 2
    await make_due(db)
    await Dispatcher(db, twilio_settings).run(once=True)
    assert await counts(db) == {"enviada": 6}
    assert fake.accepted_count() == 6 and fake.duplicates() == []


async def test_a_send_whose_answer_was_lost_is_looked_up_not_resent(
    db: Database, twilio_settings: Settings, fake: FakeTwilio
) -> None:
    await queue(db, twilio_settings, await citizens(db, 3))
    fake.stall_next(1, 6.0, accept=True)  # Twilio takes it, the answer comes after our timeout
    stats = await Dispatcher(db, twilio_settings).run(once=True)
    assert stats.unknown == 1
    async with db.transaction() as s:
        assert (await s.execute(text("SELECT count(*) FROM message WHERE needs_reconcile"))).scalar_one() == 1
    await make_due(db)
    again = await Dispatcher(db, twilio_settings).run(once=True)
    assert again.reconciled == 1 and again.sent == 1
    assert await counts(db) == {"enviada": 3}
    assert fake.accepted_count() == 3 and fake.duplicates() == []


async def test_rows_of_a_dead_dispatcher_are_recovered_without_duplicates(
    db: Database, twilio_settings: Settings, fake: FakeTwilio, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dispatcher_module, "RECONCILE_GRACE", timedelta(0))
    await queue(db, twilio_settings, await citizens(db, 10))
    # A dispatcher claimed all ten, sent four, and was killed before recording anything.
    async with db.transaction() as s:
        await s.execute(
            text(
                "UPDATE message SET status = 'enviando', claimed_by = 'morto:1', claimed_at = now(), sender = :sender"
            ),
            {"sender": SENDERS[0]},
        )
        sent_before = (await s.execute(text("SELECT to_address, body FROM message ORDER BY id LIMIT 4"))).all()
    client = Client(DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN)
    client.api.base_url = fake.base_url
    for to, body in sent_before:
        client.messages.create(to=to, from_=SENDERS[0], body=body)

    stats = await Dispatcher(db, twilio_settings).run(once=True)
    assert stats.recovered == 10
    assert (stats.reconciled, stats.sent) == (4, 10)
    assert await counts(db) == {"enviada": 10}
    assert fake.accepted_count() == 10 and fake.duplicates() == []


async def test_quiet_hours_consent_and_the_daily_cap(db: Database, twilio_settings: Settings, fake: FakeTwilio) -> None:
    quiet = twilio_settings.model_copy(update={"notify_quiet_start_hour": 20, "notify_quiet_end_hour": 8})
    # 23:30 in São Paulo (the citizens' UF is SC) on the day the test runs: inside the quiet hours whatever the hour
    # the test runs at, since the dispatcher judges them at the instant its clock gives.
    today = utcnow().astimezone(ZoneInfo("America/Sao_Paulo")).date()
    late_evening = datetime.combine(today, time(23, 30), ZoneInfo("America/Sao_Paulo")).astimezone(UTC)
    await queue(db, twilio_settings, await citizens(db, 2))
    stats = await Dispatcher(db, quiet, clock=lambda: late_evening).run(once=True)
    assert stats.deferred == 2 and fake.accepted_count() == 0
    async with db.transaction() as s:
        reasons = (await s.execute(text("SELECT DISTINCT deferred_reason FROM message"))).scalars().all()
        assert reasons == ["horario_silencioso"]
        await s.execute(text("UPDATE message SET status = 'cancelada'"))

    # Consent withdrawn after the message was written: never sent.
    refused = await citizens(db, 1, consent=True)
    await queue(db, twilio_settings, refused)
    async with db.transaction() as s:
        await s.execute(text("UPDATE citizen SET contact_consent = false WHERE id = :c"), {"c": refused[0].id})
    capped = await citizens(db, 1)
    await queue(db, twilio_settings, capped, per_person=5)
    stats = await Dispatcher(db, twilio_settings).run(once=True)
    assert stats.blocked == 1
    assert stats.sent == twilio_settings.notify_daily_cap == 3
    async with db.transaction() as s:
        rows = dict(
            (
                await s.execute(
                    text("SELECT deferred_reason, count(*) FROM message WHERE status = 'pendente' GROUP BY 1")
                )
            ).all()
        )
    assert rows == {"limite_diario": 2}


async def test_whatsapp_uses_the_approved_template_outside_the_24_hour_window(
    db: Database, twilio_settings: Settings, fake: FakeTwilio
) -> None:
    settings = twilio_settings.model_copy(
        update={"twilio_whatsapp_sender": "+554830000009", "twilio_content_sids": {"posicao": "HX" + "a" * 32}}
    )
    people = await citizens(db, 2)
    async with db.transaction() as s:
        await s.execute(text("UPDATE citizen SET preferred_channel = 'whatsapp'"))
        # The second citizen wrote to us an hour ago: free text is allowed inside the 24-hour window.
        await s.execute(
            text(
                "INSERT INTO inbound_message (provider_sid, channel, from_address, to_address, body, intent, outcome, "
                "received_at) VALUES ('SMin', 'whatsapp', :a, 'whatsapp:+554830000009', 'oi', 'desconhecida', "
                "'sem_pergunta_pendente', now() - interval '1 hour')"
            ),
            {"a": f"whatsapp:{people[1].phone}"},
        )
    people = [await _reload(db, c) for c in people]
    await queue(db, settings, people)
    stats = await Dispatcher(db, settings).run(once=True)
    assert stats.sent == 2
    by_to = {m.to: m for m in fake.messages()}
    templated = by_to[f"whatsapp:{people[0].phone}"]
    assert templated.content_sid == "HX" + "a" * 32
    assert '"1": "SC26' in (templated.content_variables or "")
    free = by_to[f"whatsapp:{people[1].phone}"]
    assert not free.content_sid and "posição" in free.body  # accents kept on WhatsApp


async def _reload(db: Database, citizen: Citizen) -> Citizen:
    async with db.transaction() as s:
        fresh = await s.get(Citizen, citizen.id)
        assert fresh is not None
        return fresh
