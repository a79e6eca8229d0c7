"""Every channel really sends, through the real dispatcher on a committed database: the console (the default and
the demo's), the memory channel, and Twilio SMS and WhatsApp through the real twilio SDK against the local fake
server (``test_dispatcher.py``: ``test_sends_once_through_twilio_and_records_each_sid`` and
``test_whatsapp_uses_the_approved_template_outside_the_24_hour_window``).

A channel that raises instead of answering is counted, logged once with its cause, backed off and, after
``notify_max_attempts``, marked ``falhou`` with a navigator's task — never an endless loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from regula.audit.service import AuditContext, set_context
from regula.catalog.service import bundled_sigtap_zip, import_sigtap
from regula.config import Settings
from regula.db.base import utcnow
from regula.db.engine import Database, make_database
from regula.notify.channels import Envelope, SendResult
from regula.notify.dispatcher import RAISED, Dispatcher
from regula.notify.outbox import Outgoing, enqueue
from regula.people.models import Citizen
from regula.territory.service import load_territory
from tests.exports.scenario import build
from tests.notify.test_dispatcher import citizens, counts, make_due, queue
from tests.support.channels import MemoryChannel


@pytest.fixture
def console_settings(settings: Settings) -> Settings:
    # No quiet hours: the outcome must not depend on the hour the suite runs at.
    return settings.model_copy(
        update={
            "notify_channel": "console",
            "notify_quiet_start_hour": 0,
            "notify_quiet_end_hour": 0,
            "notify_quiet_sundays": False,
        }
    )


def _fields(record: logging.LogRecord) -> str:
    """Everything a formatter could print of a record: its message and every attribute, ``extra`` included."""
    return record.getMessage() + " " + " ".join(f"{k}={v!r}" for k, v in vars(record).items())


async def _rows(db: Database) -> list[tuple[int, str, str, str, int, str | None]]:
    async with db.transaction() as s:
        rows = await s.execute(
            text("SELECT id, status, to_address, body, attempts, error_code FROM message ORDER BY id")
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]


async def test_the_console_channel_sends_and_logs_neither_text_nor_number(
    db: Database, console_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    await queue(db, console_settings, await citizens(db, 3))
    with caplog.at_level(logging.DEBUG):
        stats = await Dispatcher(db, console_settings).run(once=True)
    assert (stats.claimed, stats.sent, stats.errors) == (3, 3, 0)
    assert await counts(db) == {"enviada": 3}
    rows = await _rows(db)
    for message_id, _status, phone, body, attempts, _code in rows:
        assert attempts == 1
        [line] = [r for r in caplog.records if getattr(r, "message_id", None) == message_id]
        assert line.levelno == logging.INFO and f"mensagem {message_id} (posicao)" in line.getMessage()
        assert phone[-4:] in line.getMessage()  # masked: the last four digits tell numbers apart
        for record in caplog.records:
            assert phone not in _fields(record) and phone[3:] not in _fields(record)
            assert body not in _fields(record)
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.WARNING]


async def test_the_memory_channel_sends_through_the_dispatcher(db: Database, console_settings: Settings) -> None:
    people = await citizens(db, 2)
    async with db.transaction() as s:
        for c in people:
            out = Outgoing(
                "posicao",
                f"c{c.id}:memoria",
                {"protocol": "SC2600000001", "position": 4, "estimate": None, "url": "https://x/posicao"},
                utcnow() + timedelta(days=1),
            )
            await enqueue(s, console_settings, c, out, channel="memoria")
    memory = MemoryChannel(script=["retry"])  # the first answer is a 429: retried, then sent
    stats = await Dispatcher(db, console_settings, channels={"memoria": memory}).run(once=True)
    assert (stats.sent, stats.retried) == (1, 1)
    await make_due(db)
    await Dispatcher(db, console_settings, channels={"memoria": memory}).run(once=True)
    assert await counts(db) == {"enviada": 2}
    assert sorted(e.to for e in memory.sent) == sorted(c.phone or "" for c in people)
    async with db.transaction() as s:
        sids = (await s.execute(text("SELECT provider_sid FROM message ORDER BY id"))).scalars().all()
    assert all(sid.startswith("MM") for sid in sids)


class ExplodingChannel:
    """A channel whose send raises, with the recipient and the text in the exception (as a careless SDK might)."""

    name = "console"

    def __init__(self) -> None:
        self.calls = 0
        self.lookups = 0

    def senders(self) -> Sequence[str]:
        return ["console"]

    async def send(self, envelope: Envelope) -> SendResult:
        self.calls += 1
        raise RuntimeError(f"provedor caiu ao enviar para {envelope.to}: {envelope.body!r}")

    async def lookup(self, envelope: Envelope) -> SendResult | None:
        self.lookups += 1
        return None

    async def close(self) -> None:
        return None


async def _critical_message(db: Database, settings: Settings) -> tuple[int, int]:
    """An appointment notice (critical) for a real entry; returns (message id, entry id)."""
    async with db.transaction() as s:
        set_context(s, AuditContext.system("test", "teste"))
        await import_sigtap(s, bundled_sigtap_zip(), settings)
        scenario = await build(s, settings)
        await s.execute(text("UPDATE message SET status = 'cancelada'"))  # only ours is due
        entry_id = next(iter(scenario.ids.values()))
        citizen_id = (
            await s.execute(text("SELECT citizen_id FROM waitlist_entry WHERE id = :e"), {"e": entry_id})
        ).scalar_one()
        citizen = await s.get(Citizen, citizen_id)
        assert citizen is not None
        variables = {
            "protocol": "SC2600000042",
            "day": "segunda, 07/12",
            "time": "9h",
            "place": "Policlínica",
            "city": "Florianópolis",
            "teleconsultation": False,
        }
        queued = await enqueue(
            s,
            settings,
            citizen,
            Outgoing("agendamento", "teste:explode", variables, utcnow() + timedelta(days=3), entry_id=entry_id),
        )
        assert queued is not None and queued.status == "pendente"
        return queued.id, entry_id


async def test_a_channel_that_raises_is_counted_logged_once_backed_off_then_failed_with_a_task(
    db: Database, console_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    settings = console_settings.model_copy(update={"notify_max_attempts": 3})
    message_id, entry_id = await _critical_message(db, settings)
    async with db.transaction() as s:
        phone, body = (
            await s.execute(text("SELECT to_address, body FROM message WHERE id = :m"), {"m": message_id})
        ).one()
    channel = ExplodingChannel()
    delays: list[float] = []
    with caplog.at_level(logging.DEBUG):
        for attempt in (1, 2, 3):
            stats = await asyncio.wait_for(
                Dispatcher(db, settings, channels={"console": channel}).run(once=True), timeout=60
            )
            assert (stats.claimed, stats.errors, stats.sent) == (1, 1, 0)  # one try per run: no loop
            async with db.transaction() as s:
                row = (
                    await s.execute(
                        text(
                            "SELECT status, attempts, error_code, last_error, needs_reconcile, deferred_reason, "
                            "extract(epoch FROM next_attempt_at - updated_at) AS delay FROM message WHERE id = :m"
                        ),
                        {"m": message_id},
                    )
                ).one()
            assert row.attempts == attempt and row.error_code == RAISED
            assert row.last_error.startswith("RuntimeError: provedor caiu ao enviar para ***")
            assert phone not in row.last_error and body not in row.last_error
            if attempt < 3:
                assert (row.status, row.needs_reconcile, row.deferred_reason) == ("pendente", True, RAISED)
                delays.append(float(row.delay))
                await make_due(db)
            else:
                assert row.status == "falhou"
    assert channel.calls == 3 and channel.lookups == 2  # looked up before each retry: it might have gone out
    # Exponential with jitter (0.5×–1.5×): about 2 s after the first raise, about 4 s after the second.
    assert 0.9 <= delays[0] <= 3.1 and 1.9 <= delays[1] <= 6.1
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1  # once per row, not once per attempt
    [warning] = warnings
    assert getattr(warning, "message_id", None) == message_id and warning.exc_info is None
    assert "RuntimeError" in warning.getMessage() and f"message {message_id}" in warning.getMessage()
    for record in caplog.records:
        assert phone not in _fields(record) and body not in _fields(record)
    async with db.transaction() as s:
        task = (
            await s.execute(
                text("SELECT kind, status, entry_id, detail FROM navigation_task WHERE message_id = :m"),
                {"m": message_id},
            )
        ).one()
    assert (task.kind, task.status, task.entry_id) == ("mensagem_nao_entregue", "aberta", entry_id)
    assert "Consulta marcada falhou" in task.detail


def test_outbox_json_lists_status_channel_and_count(
    fresh_database_url: str, settings: Settings, tmp_path: Path
) -> None:
    from regula.notify.cli import app

    async def seed() -> None:
        db = make_database(fresh_database_url, pool_size=4)
        try:
            async with db.transaction() as s:
                await load_territory(s)
            console = settings.model_copy(
                update={"notify_quiet_start_hour": 0, "notify_quiet_end_hour": 0, "notify_quiet_sundays": False}
            )
            await queue(db, console, await citizens(db, 3))
            await Dispatcher(db, console).run(once=True)
            await queue(db, console, await citizens(db, 1, consent=False))  # blocked when written
        finally:
            await db.dispose()

    asyncio.run(seed())
    runner = CliRunner(
        env={
            "REGULA_DATABASE_URL": fresh_database_url,
            "REGULA_HOME": str(tmp_path),
            "REGULA_LOG_JSON": "false",
            "REGULA_LOG_LEVEL": "WARNING",
        }
    )
    result = runner.invoke(app, ["outbox", "--json"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == [
        {"status": "bloqueada", "channel": "console", "count": 1},
        {"status": "enviada", "channel": "console", "count": 3},
    ]
    table = runner.invoke(app, ["outbox"])
    assert table.exit_code == 0 and "enviada" in table.stdout
