"""A dispatcher never waits for an entry that a transition holds (issue 18 item 8; decision 0008's order: entries
before messages).

Found by tests/test_multiprocess.py: a regulator's cancellation (holding its entry, about to cancel the entry's
pending messages) and a dispatcher claiming one of those messages deadlocked, and the cancellation answered 409.
The claim wrote each claimed row twice in one transaction, and PostgreSQL re-checks the foreign keys of a row the
same transaction already updated — a share lock on the message's entry, taken while holding the message."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from regula.config import Settings
from regula.db.engine import Database
from regula.notify.dispatcher import Dispatcher


async def _entry_with_a_due_message(db: Database) -> tuple[int, int]:
    async with db.transaction() as s:
        citizen = (
            await s.execute(
                text(
                    "INSERT INTO citizen (cpf, name, search_name, birth_date, sex, race_color, municipality_ibge, uf, "
                    "phone, preferred_channel, contact_consent, contact_consent_at, pregnant, disability, autism, "
                    "cadunico, created_at, updated_at) VALUES ('52998224725', 'Ana Lima', 'ana lima', '1980-01-01', "
                    "'F', 'parda', '4205407', 'SC', '+5548999887766', 'sms', true, now(), false, false, false, false, "
                    "now(), now()) RETURNING id"
                )
            )
        ).scalar_one()
        entry = (
            await s.execute(
                text(
                    "INSERT INTO waitlist_entry (protocol, citizen_id, oci_code, catalog_competencia, cid_code, "
                    "risk_class, risk_justification, checklist, requesting_cnes, municipality_ibge, uf, scope_kind, "
                    "scope_code, status, status_changed_at, requested_at, max_days, created_at, updated_at) VALUES "
                    "('SC2600000001', :c, '0902010026', '202601', 'I10', 'amarelo', 'Dor.', '{}', '2691868', "
                    "'4205407', 'SC', 'uf', 'SC', 'agendada', now(), now(), 60, now(), now()) RETURNING id"
                ),
                {"c": citizen},
            )
        ).scalar_one()
        message = (
            await s.execute(
                text(
                    "INSERT INTO message (idempotency_key, citizen_id, entry_id, kind, channel, to_address, body, "
                    "variables, critical, status, due_at, valid_until, next_attempt_at, created_at, updated_at) "
                    "VALUES ('t:1', :c, :e, 'marcada', 'console', '+5548999887766', 'Consulta marcada.', '{}', true, "
                    "'pendente', now(), now() + interval '1 day', now(), now(), now()) RETURNING id"
                ),
                {"c": citizen, "e": entry},
            )
        ).scalar_one()
    return int(entry), int(message)


async def test_a_dispatcher_sends_while_a_transition_holds_the_entry(db: Database, settings: Settings) -> None:
    entry, message = await _entry_with_a_due_message(db)
    quiet_off = settings.model_copy(
        update={"notify_quiet_start_hour": 0, "notify_quiet_end_hour": 0, "notify_quiet_sundays": False}
    )
    dispatcher = Dispatcher(db, quiet_off, worker="lock-order")
    async with db.engine.connect() as transition:
        await transition.begin()
        # A transition in progress: its entry locked as waitlist.service.lock_entries locks it.
        await transition.execute(text("SELECT id FROM waitlist_entry WHERE id = :e FOR UPDATE"), {"e": entry})
        # The dispatcher claims, sends and records the entry's message without waiting for the entry …
        stats = await asyncio.wait_for(dispatcher.run(once=True), timeout=15)
        # … and the transition then cancels what is still pending of its entry: nothing, and nothing to wait for.
        cancelled = await asyncio.wait_for(
            transition.execute(
                text("UPDATE message SET status = 'cancelada' WHERE entry_id = :e AND status = 'pendente'"),
                {"e": entry},
            ),
            timeout=15,
        )
        await transition.rollback()
    assert stats.sent == 1
    assert cancelled.rowcount == 0
    async with db.transaction() as s:
        row = (await s.execute(text("SELECT status, provider_sid FROM message WHERE id = :m"), {"m": message})).one()
    assert tuple(row) == ("enviada", f"console-{message}")
