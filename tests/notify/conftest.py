"""Fixtures of the notifier's tests that run the real dispatcher: a committed database and a local fake Twilio
driven through the real twilio SDK."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from pydantic import SecretStr

from regula.config import Settings
from regula.db.engine import Database, make_database
from regula.territory.service import load_territory
from tests.support.fake_twilio import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, FakeTwilio

SENDERS = ["+554830000001", "+554830000002"]


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    with FakeTwilio(DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, callback_statuses=()) as server:
        yield server


@pytest.fixture
def twilio_settings(settings: Settings, fake: FakeTwilio) -> Settings:
    return settings.model_copy(
        update={
            "notify_channel": "twilio",
            "twilio_account_sid": DEFAULT_ACCOUNT_SID,
            "twilio_auth_token": SecretStr(DEFAULT_AUTH_TOKEN),
            "twilio_api_base": fake.base_url,
            "twilio_sms_senders": SENDERS,
            "twilio_timeout_seconds": 3.0,  # generous: a loaded CI machine must not turn a send into a timeout
            "notify_rate_per_sender": 200.0,
            "notify_rate_per_account": 400.0,
            "notify_quiet_start_hour": 0,
            "notify_quiet_end_hour": 0,  # no quiet hours in these tests unless asked
            "notify_quiet_sundays": False,
        }
    )


@pytest.fixture
async def db(fresh_database_url: str) -> AsyncIterator[Database]:
    database = make_database(fresh_database_url, pool_size=6)
    async with database.transaction() as s:
        await load_territory(s)
    yield database
    await database.dispose()
