"""No personal data in logs: a representative flow — messages sent through the console, a send that raises with
the recipient and the text in its exception, a citizen's signed reply through the webhook — leaves no CPF, CNS,
name, birth date, phone number or message text in any log record, its ``extra`` fields included."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import text

from regula.audit.service import AuditContext, set_context
from regula.catalog.service import bundled_sigtap_zip, import_sigtap
from regula.config import Settings
from regula.db.engine import Database
from regula.notify.dispatcher import Dispatcher
from tests.conftest import app_client
from tests.exports.scenario import build
from tests.notify.test_channels import ExplodingChannel
from tests.notify.test_conversation import TOKEN, reply


def _everything(record: logging.LogRecord) -> str:
    """What any formatter could print: the message, every attribute (``extra`` included), the traceback."""
    parts = [record.getMessage(), *(f"{k}={v!r}" for k, v in vars(record).items())]
    if record.exc_info:
        parts.append(logging.Formatter().formatException(record.exc_info))
    return "\n".join(parts)


def _secrets(citizens: list[Any], bodies: list[str]) -> list[str]:
    found: list[str] = []
    for c in citizens:
        found += [c.name, *c.name.split()[1:]]  # the whole name and each surname
        if c.cpf:
            found += [c.cpf, f"{c.cpf[:3]}.{c.cpf[3:6]}.{c.cpf[6:9]}-{c.cpf[9:]}"]
        if c.cns:
            found.append(c.cns)
        found += [c.birth_date.isoformat(), f"{c.birth_date:%d/%m/%Y}"]
        if c.phone:
            found += [c.phone, c.phone.removeprefix("+55"), c.phone[-8:]]
    found += [b for b in bodies if b]
    return [s for s in found if len(s) >= 4]


@pytest.fixture
def flow_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "notify_channel": "console",
            "notify_quiet_start_hour": 0,
            "notify_quiet_end_hour": 0,
            "notify_quiet_sundays": False,
            "notify_max_attempts": 1,
            "twilio_auth_token": SecretStr(TOKEN),
        }
    )


async def test_a_dispatch_a_failing_send_and_a_reply_log_no_personal_data(
    db: Database, flow_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    from regula.web.app import create_app

    async with db.transaction() as s:
        set_context(s, AuditContext.system("test", "teste"))
        await import_sigtap(s, bundled_sigtap_zip(), flow_settings)
        await build(s, flow_settings)
        first = (await s.execute(text("SELECT min(id) FROM message WHERE status = 'pendente'"))).scalar_one()
        assert first is not None
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="regula")

    # One message through a channel that raises (its exception names the recipient and the text)…
    async with db.transaction() as s:
        await s.execute(
            text("UPDATE message SET next_attempt_at = now() + interval '1 day' WHERE id <> :m"), {"m": first}
        )
    failing = await Dispatcher(db, flow_settings, channels={"console": ExplodingChannel()}).run(once=True)
    assert failing.errors == 1
    # …the others through the console.
    async with db.transaction() as s:
        await s.execute(text("UPDATE message SET next_attempt_at = now() WHERE status = 'pendente'"))
    sent = await Dispatcher(db, flow_settings).run(once=True)
    assert sent.sent >= 3

    # A citizen answers the appointment notice through the signed webhook.
    async with db.transaction() as s:
        phone = (
            await s.execute(
                text("SELECT to_address FROM message WHERE kind = 'agendamento' AND status = 'enviada' LIMIT 1")
            )
        ).scalar_one()
    async with app_client(create_app(flow_settings, db.sessionmaker)) as client:
        answered = await reply(client, flow_settings, phone, "NÃO")
        assert answered.status_code == 200, answered.text

    async with db.transaction() as s:
        citizens = list(await s.execute(text("SELECT name, cpf, cns, birth_date, phone FROM citizen")))
        bodies = list((await s.execute(text("SELECT body FROM message"))).scalars())
        bodies += list((await s.execute(text("SELECT body FROM inbound_message"))).scalars())
        statuses = dict((await s.execute(text("SELECT status, count(*) FROM message GROUP BY 1"))).all())
    assert statuses.get("falhou") == 1 and statuses.get("enviada", 0) >= 3
    records = caplog.records
    assert any("enviada pelo console" in r.getMessage() for r in records)
    assert any("raised RuntimeError" in r.getMessage() for r in records)
    assert any(r.getMessage().startswith("reply nao from ") for r in records)
    secrets = _secrets(citizens, bodies)
    assert len(secrets) > 20
    for record in records:
        logged = _everything(record)
        leaked = [s for s in secrets if s in logged]
        assert leaked == [], f"{record.name}: {record.getMessage()!r} carries {leaked}"
