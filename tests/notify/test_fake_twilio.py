"""The fake Twilio server, driven by the real ``twilio`` SDK (no database needed)."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
import requests
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from tests.support.fake_twilio import (
    FakeTwilio,
    FakeTwilioControl,
    FakeTwilioProcess,
    blast_callbacks,
    num_segments,
    sustained_rate,
)

ACCOUNT_SID = "AC" + "5" * 32
AUTH_TOKEN = "4c7b2c1e9f0a4d3b8e6f5a2c1d0e9f8a"
SENDER = "+15005550006"
WHATSAPP_SENDER = "whatsapp:+15005550006"
CITIZEN = "+5548999990000"


class Receiver:
    """A tiny webhook receiver that checks Twilio signatures like an application would."""

    def __init__(self, auth_token: str) -> None:
        self.validator = RequestValidator(auth_token)
        self.received: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                form = dict(parse_qsl(self.rfile.read(length).decode(), keep_blank_values=True))
                url = f"http://127.0.0.1:{self.server.server_address[1]}{self.path}"
                valid = receiver.validator.validate(url, form, self.headers.get("X-Twilio-Signature", ""))
                with receiver.lock:
                    receiver.received.append({"path": self.path, "form": form, "valid": valid})
                self.send_response(204 if valid else 403)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def forms(self) -> list[dict[str, str]]:
        with self.lock:
            return [item["form"] for item in self.received]

    def all_valid(self) -> bool:
        with self.lock:
            return bool(self.received) and all(item["valid"] for item in self.received)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def server() -> Iterator[FakeTwilio]:
    with FakeTwilio(ACCOUNT_SID, AUTH_TOKEN, seed=7) as fake:
        yield fake


@pytest.fixture
def fake(server: FakeTwilio) -> FakeTwilio:
    server.reset(config=True)
    return server


@pytest.fixture
def client(fake: FakeTwilio) -> Client:
    client = Client(ACCOUNT_SID, AUTH_TOKEN, http_client=TwilioHttpClient(timeout=5))
    client.api.base_url = fake.base_url
    return client


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver(AUTH_TOKEN)
    yield receiver
    receiver.close()


def test_create_returns_a_full_message_resource(client: Client, fake: FakeTwilio) -> None:
    message = client.messages.create(to=CITIZEN, from_=SENDER, body="Sua consulta foi marcada para 12/03.")

    assert re.fullmatch(r"SM[0-9a-f]{32}", message.sid)
    assert message.account_sid == ACCOUNT_SID
    assert (message.to, message.from_, message.status, message.direction) == (CITIZEN, SENDER, "queued", "outbound-api")
    assert message.body == "Sua consulta foi marcada para 12/03."
    assert message.num_segments == "1"
    assert message.price is None
    assert message.error_code is None
    assert message.api_version == "2010-04-01"
    assert message.uri == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{message.sid}.json"
    assert abs(message.date_created - datetime.now(UTC)) < timedelta(seconds=5)
    assert message.date_sent is not None
    assert message.date_updated is not None

    recorded = fake.requests("/Messages.json")[-1]
    assert recorded.method == "POST"
    assert recorded.form == {"To": CITIZEN, "From": SENDER, "Body": "Sua consulta foi marcada para 12/03."}
    assert recorded.status == 201
    assert "twilio-python" in recorded.headers["User-Agent"]
    assert fake.accepted_count() == fake.accepted_count(SENDER) == 1


def test_whatsapp_template_and_service_messages(client: Client, fake: FakeTwilio) -> None:
    content_sid = "HX" + "a" * 32
    fake.configure(content_templates={content_sid: "Olá {{1}}, sua consulta é {{2}}."})
    whatsapp = client.messages.create(
        to=f"whatsapp:{CITIZEN}",
        from_=WHATSAPP_SENDER,
        content_sid=content_sid,
        content_variables='{"1": "Ana", "2": "amanhã"}',
    )
    assert whatsapp.to == f"whatsapp:{CITIZEN}"
    assert whatsapp.body == "Olá Ana, sua consulta é amanhã."

    service_sid = "MG" + "b" * 32
    via_service = client.messages.create(to=CITIZEN, messaging_service_sid=service_sid, body="Olá")
    assert via_service.status == "accepted"
    assert via_service.from_ is None
    assert via_service.messaging_service_sid == service_sid
    assert fake.senders() == {WHATSAPP_SENDER: 1, service_sid: 1}

    assert num_segments("a" * 160) == 1
    assert num_segments("a" * 161) == 2
    assert num_segments("ã" * 70) == 1
    assert num_segments("ã" * 71) == 2


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"to": "", "from_": SENDER, "body": "x"}, 21604),
        ({"to": CITIZEN, "from_": SENDER}, 21602),
        ({"to": CITIZEN, "body": "x"}, 21603),
        ({"to": "+5548999990099", "from_": SENDER, "body": "x"}, 21211),
        ({"to": "not-a-number", "from_": SENDER, "body": "x"}, 21211),
        ({"to": "+5548999990098", "from_": SENDER, "body": "x"}, 21610),
        ({"to": f"whatsapp:{CITIZEN}", "from_": SENDER, "body": "x"}, 21910),
        ({"to": CITIZEN, "from_": SENDER, "body": "x" * 1601}, 21617),
    ],
)
def test_validation_errors_surface_as_twilio_rest_exceptions(
    client: Client, fake: FakeTwilio, kwargs: dict[str, Any], code: int
) -> None:
    fake.configure(invalid_numbers=["+5548999990099"], opted_out_numbers=["+5548999990098"])
    with pytest.raises(TwilioRestException) as raised:
        client.messages.create(**kwargs)
    assert (raised.value.status, raised.value.code) == (400, code)
    assert fake.accepted_count() == 0
    assert fake.create_statuses() == {400: 1}


def test_wrong_credentials_get_twilio_401(fake: FakeTwilio) -> None:
    client = Client(ACCOUNT_SID, "wrong-token")
    client.api.base_url = fake.base_url
    with pytest.raises(TwilioRestException) as raised:
        client.messages.create(to=CITIZEN, from_=SENDER, body="x")
    assert (raised.value.status, raised.value.code) == (401, 20003)

    response = httpx.post(
        f"{fake.base_url}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json", data={"To": CITIZEN}, auth=("x", "y")
    )
    assert response.status_code == 401
    assert response.json() == {
        "code": 20003,
        "message": "Authenticate",
        "more_info": "https://www.twilio.com/docs/errors/20003",
        "status": 401,
    }


def test_list_filters_and_pages(client: Client, fake: FakeTwilio) -> None:
    started = datetime.now(UTC).replace(microsecond=0)
    sids = [client.messages.create(to=CITIZEN, from_=SENDER, body=f"lembrete {i}").sid for i in range(7)]
    other = client.messages.create(to="+5548999990001", from_="+15005550007", body="outro")

    listed = client.messages.list(to=CITIZEN, page_size=3)
    assert [item.sid for item in listed] == sids[::-1]
    assert [item.sid for item in client.messages.stream(from_="+15005550007")] == [other.sid]
    assert len(client.messages.list(date_sent_after=started)) == 8
    sent_day = datetime.fromtimestamp(fake.messages()[0].created, UTC)
    assert len(client.messages.list(to=CITIZEN, date_sent=sent_day)) == 7
    assert client.messages.list(date_sent_before=started - timedelta(days=1)) == []
    assert client.messages.list(date_sent_after=datetime.now(UTC) + timedelta(hours=1)) == []
    assert len(client.messages.list(to=CITIZEN, limit=4)) == 4

    first = client.messages.page(to=CITIZEN, page_size=3)
    assert [item.sid for item in first] == sids[6:3:-1]
    second = first.next_page()
    assert [item.sid for item in second] == sids[3:0:-1]
    third = second.next_page()
    assert [item.sid for item in third] == sids[:1]
    assert third.next_page() is None
    assert [item.sid for item in third.previous_page()] == sids[3:0:-1]
    assert first.previous_page() is None


def test_fetch_and_missing_message(client: Client) -> None:
    created = client.messages.create(to=CITIZEN, from_=SENDER, body="x")
    fetched = client.messages(created.sid).fetch()
    assert (fetched.sid, fetched.body, fetched.status) == (created.sid, "x", "queued")
    with pytest.raises(TwilioRestException) as raised:
        client.messages("SM" + "0" * 32).fetch()
    assert (raised.value.status, raised.value.code) == (404, 20404)


def test_injected_failures(client: Client, fake: FakeTwilio) -> None:
    fake.fail_next(2, 429, retry_after=3)
    for _ in range(2):
        with pytest.raises(TwilioRestException) as raised:
            client.messages.create(to=CITIZEN, from_=SENDER, body="x")
        assert (raised.value.status, raised.value.code) == (429, 20429)
    fake.fail_next(1, 500)
    with pytest.raises(TwilioRestException) as raised:
        client.messages.create(to=CITIZEN, from_=SENDER, body="x")
    assert raised.value.status == 500
    assert client.messages.create(to=CITIZEN, from_=SENDER, body="x").status == "queued"
    assert fake.create_statuses() == {429: 2, 500: 1, 201: 1}
    assert fake.accepted_count() == 1

    fake.fail_next(1, 429, retry_after=3)
    response = httpx.post(
        f"{fake.base_url}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json",
        data={"To": CITIZEN, "From": SENDER, "Body": "x"},
        auth=(ACCOUNT_SID, AUTH_TOKEN),
    )
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "3"

    fake.configure(p_503=1.0)
    with pytest.raises(TwilioRestException) as raised:
        client.messages.create(to=CITIZEN, from_=SENDER, body="x")
    assert raised.value.status == 503


def test_accept_then_stall_times_the_client_out_but_keeps_the_message(fake: FakeTwilio) -> None:
    impatient = Client(ACCOUNT_SID, AUTH_TOKEN, http_client=TwilioHttpClient(timeout=0.2))
    impatient.api.base_url = fake.base_url
    fake.stall_next(1, 0.6, accept=True)
    with pytest.raises(requests.exceptions.Timeout):
        impatient.messages.create(to=CITIZEN, from_=SENDER, body="talvez duplicada")
    assert fake.accepted_count() == 1  # Twilio took it although the client saw a timeout.

    fake.stall_next(1, 0.6, accept=False)
    with pytest.raises(requests.exceptions.Timeout):
        impatient.messages.create(to=CITIZEN, from_=SENDER, body="nunca aceita")
    assert fake.accepted_count() == 1

    # A retry after the first timeout is exactly the duplicate the notifier must avoid: the fake counts it.
    impatient.messages.create(to=CITIZEN, from_=SENDER, body="talvez duplicada")
    [duplicate] = fake.duplicates()
    assert duplicate.original_sid == fake.messages()[0].sid
    assert fake.stats()["duplicates"] == 1


def test_duplicate_counter(client: Client, fake: FakeTwilio) -> None:
    content_sid = "HX" + "c" * 32
    client.messages.create(to=CITIZEN, from_=SENDER, body="a")
    client.messages.create(to=CITIZEN, from_=SENDER, body="b")
    client.messages.create(to="+5548999990001", from_=SENDER, body="a")
    client.messages.create(to=CITIZEN, from_="+15005550007", body="a")
    assert fake.duplicate_count() == 0
    client.messages.create(to=CITIZEN, from_=SENDER, body="a")
    wa = f"whatsapp:{CITIZEN}"
    client.messages.create(to=wa, from_=WHATSAPP_SENDER, content_sid=content_sid, content_variables='{"1":"x","2":"y"}')
    client.messages.create(
        to=wa, from_=WHATSAPP_SENDER, content_sid=content_sid, content_variables='{"2": "y", "1": "x"}'
    )
    client.messages.create(to=wa, from_=WHATSAPP_SENDER, content_sid=content_sid, content_variables='{"1":"z"}')
    assert fake.duplicate_count() == 2
    assert [item.key[2] for item in fake.duplicates()] == ["body", "content"]


def test_per_sender_and_account_rate_limits(client: Client, fake: FakeTwilio) -> None:
    fake.configure(sender_rate=1.0, sender_burst=2)
    client.messages.create(to=CITIZEN, from_=SENDER, body="1")
    client.messages.create(to=CITIZEN, from_=SENDER, body="2")
    with pytest.raises(TwilioRestException) as raised:
        client.messages.create(to=CITIZEN, from_=SENDER, body="3")
    assert (raised.value.status, raised.value.code) == (429, 20429)
    client.messages.create(to=CITIZEN, from_="+15005550007", body="other sender has its own bucket")

    fake.configure(sender_rate=None, account_rate=1.0, account_burst=1)
    client.messages.create(to=CITIZEN, from_="+15005550008", body="a")
    with pytest.raises(TwilioRestException):
        client.messages.create(to=CITIZEN, from_="+15005550009", body="b")
    assert fake.accepted_count() == 4


def test_sustained_rate() -> None:
    assert sustained_rate([100.0 + i / 50 for i in range(101)]) == pytest.approx(50.0)
    # Stragglers at both ends are trimmed away.
    assert sustained_rate([0.0] + [100.0 + i / 50 for i in range(99)] + [500.0]) == pytest.approx(50.0, rel=0.05)
    assert sustained_rate([1.0]) == 0.0


def test_status_callbacks_are_signed_and_follow_the_progression(
    client: Client, fake: FakeTwilio, receiver: Receiver
) -> None:
    callback = f"{receiver.url}/webhooks/twilio/status?outbox=42&kind=sms"
    message = client.messages.create(to=CITIZEN, from_=SENDER, body="x", status_callback=callback)
    assert fake.wait_for_callbacks(2)

    forms = receiver.forms()
    assert [form["MessageStatus"] for form in forms] == ["sent", "delivered"]
    assert receiver.all_valid()
    assert forms[0]["MessageSid"] == forms[0]["SmsSid"] == message.sid
    assert forms[0]["AccountSid"] == ACCOUNT_SID
    assert (forms[0]["To"], forms[0]["From"], forms[0]["ApiVersion"]) == (CITIZEN, SENDER, "2010-04-01")
    assert "ErrorCode" not in forms[1]
    assert [record.status_code for record in fake.callbacks("status")] == [204, 204]
    assert client.messages(message.sid).fetch().status == "delivered"


def test_undeliverable_duplicated_and_out_of_order_callbacks(
    client: Client, fake: FakeTwilio, receiver: Receiver
) -> None:
    fake.configure(undelivered_numbers=["+5548999990002"], callback_duplicates=1, callback_delay=0.01)
    url = f"{receiver.url}/status"
    failing = client.messages.create(to="whatsapp:+5548999990002", from_=WHATSAPP_SENDER, body="x", status_callback=url)
    assert fake.wait_for_callbacks(4)
    forms = receiver.forms()
    assert [(form["MessageStatus"], form.get("ErrorCode")) for form in forms] == [
        ("sent", None),
        ("sent", None),
        ("undelivered", "30003"),
        ("undelivered", "30003"),
    ]
    fetched = client.messages(failing.sid).fetch()
    assert (fetched.status, fetched.error_code) == ("undelivered", 30003)

    fake.configure(callback_duplicates=0, callback_out_of_order=True)
    reordered = client.messages.create(to=CITIZEN, from_=SENDER, body="y", status_callback=url)
    assert fake.wait_for_callbacks(6)
    assert [form["MessageStatus"] for form in receiver.forms()[4:]] == ["delivered", "sent"]
    assert client.messages(reordered.sid).fetch().status == "delivered"
    assert receiver.all_valid()


def test_send_inbound_signed_and_forged(fake: FakeTwilio, receiver: Receiver) -> None:
    url = f"{receiver.url}/webhooks/twilio/inbound?channel=whatsapp"
    status, _ = fake.send_inbound(url, f"whatsapp:{CITIZEN}", WHATSAPP_SENDER, "SIM", profile_name="Ana")
    assert status == 204
    form = receiver.forms()[0]
    assert form["Body"] == "SIM"
    assert (form["From"], form["To"]) == (f"whatsapp:{CITIZEN}", WHATSAPP_SENDER)
    assert (form["ProfileName"], form["WaId"], form["NumMedia"]) == ("Ana", "5548999990000", "0")
    assert re.fullmatch(r"SM[0-9a-f]{32}", form["MessageSid"])
    assert form["SmsMessageSid"] == form["MessageSid"]

    forged, _ = fake.send_inbound(f"{receiver.url}/webhooks/twilio/inbound", CITIZEN, SENDER, "SAIR", forge=True)
    assert forged == 403
    assert [record.status_code for record in fake.callbacks("inbound")] == [204, 403]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # twilio 9.13 still passes aiohttp a BasicAuth
async def test_async_client(fake: FakeTwilio, receiver: Receiver) -> None:
    http_client = AsyncTwilioHttpClient()
    client = Client(ACCOUNT_SID, AUTH_TOKEN, http_client=http_client)
    client.api.base_url = fake.base_url
    try:
        message = await client.messages.create_async(to=CITIZEN, from_=SENDER, body="assíncrona")
        assert message.status == "queued"
        fetched = await client.messages(message.sid).fetch_async()
        assert fetched.body == "assíncrona"
        assert [item.sid async for item in await client.messages.stream_async(to=CITIZEN)] == [message.sid]
    finally:
        await http_client.close()
    status, _ = await fake.send_inbound_async(f"{receiver.url}/in", CITIZEN, SENDER, "oi")
    assert status == 204


def test_control_endpoints(client: Client, fake: FakeTwilio) -> None:
    control = FakeTwilioControl(fake.base_url)
    assert control.health()
    assert control.configure(fail_next=1, fail_status=503)["fail_next"] == 1
    with pytest.raises(TwilioRestException):
        client.messages.create(to=CITIZEN, from_=SENDER, body="x")
    client.messages.create(to=CITIZEN, from_=SENDER, body="x")
    client.messages.create(to=CITIZEN, from_=SENDER, body="x")

    stats = control.stats()
    assert (stats["accepted"], stats["duplicates"], stats["create_responses"]) == (2, 1, {"201": 2, "503": 1})
    assert stats["senders"][SENDER]["accepted"] == 2
    assert stats["senders"][SENDER]["first"] <= stats["senders"][SENDER]["last"]
    assert [item["to"] for item in control.messages()] == [CITIZEN, CITIZEN]
    assert len(control.duplicates()) == 1
    assert [item["status"] for item in control.requests()] == [503, 201, 201]
    with pytest.raises(RuntimeError, match="unknown"):
        control.configure(no_such_setting=1)

    control.reset()
    assert control.stats()["accepted"] == 0


def test_blast_callbacks(client: Client, fake: FakeTwilio, receiver: Receiver) -> None:
    for i in range(5):
        client.messages.create(to=CITIZEN, from_=SENDER, body=f"m{i}")
    result = fake.blast_callbacks(f"{receiver.url}/status?x=1", 20, concurrency=4)
    assert result.status_counts == {"204": 20}
    assert result.errors == 0
    assert result.rate > 0
    forms = receiver.forms()
    assert {form["MessageSid"] for form in forms} == {message.sid for message in fake.messages()}
    assert [form["MessageStatus"] for form in forms].count("delivered") == 10
    assert receiver.all_valid()

    forged = blast_callbacks(f"{receiver.url}/status", 3, concurrency=2, auth_token="not-the-token")
    assert forged.status_counts == {"403": 3}


def test_separate_process(receiver: Receiver) -> None:
    with FakeTwilioProcess(ACCOUNT_SID, AUTH_TOKEN, config={"opted_out_numbers": ["+5548999990098"]}) as fake:
        client = Client(ACCOUNT_SID, AUTH_TOKEN)
        client.api.base_url = fake.base_url
        client.messages.create(to=CITIZEN, from_=SENDER, body="x", status_callback=f"{receiver.url}/s")
        with pytest.raises(TwilioRestException) as raised:
            client.messages.create(to="+5548999990098", from_=SENDER, body="x")
        assert raised.value.code == 21610
        deadline = time.monotonic() + 5
        while fake.stats()["callbacks"]["sent"] < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        stats = fake.stats()
        assert stats["accepted"] == 1
        assert stats["callbacks"]["responses"] == {"204": 2}
        assert receiver.all_valid()


def test_a_create_that_stalls_past_a_reset_is_not_counted_after_it(fake: FakeTwilio) -> None:
    """A stalled create whose client gave up finishes after the next test's ``reset``: it must not appear in that
    test's counters (the suite once saw ``{"503": 2}`` where one 503 was injected, under load)."""
    impatient = Client(ACCOUNT_SID, AUTH_TOKEN, http_client=TwilioHttpClient(timeout=0.1))
    impatient.api.base_url = fake.base_url
    fake.stall_next(1, 0.5, accept=False)
    with pytest.raises(requests.exceptions.Timeout):
        impatient.messages.create(to=CITIZEN, from_=SENDER, body="atrasada")
    fake.reset(config=True)
    time.sleep(0.8)  # the stalled create answers its 503 meanwhile
    assert fake.stats()["create_responses"] == {}
