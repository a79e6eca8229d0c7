"""A local fake of Twilio's Programmable Messaging REST API, for tests and benchmarks.

The real ``twilio`` SDK talks to it once the API domain is pointed at it::

    with FakeTwilio(account_sid, auth_token) as fake:
        client = Client(account_sid, auth_token)
        client.api.base_url = fake.base_url
        client.messages.create(to="+5548999990000", from_="+15005550006", body="...")

It is a real HTTP server (aiohttp, on 127.0.0.1, in a background thread with its own event loop) that implements:

* ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json``: Twilio's validation and error codes, a full Message
  resource (status ``queued``, or ``accepted`` through a Messaging Service), fault injection (429/500/503, stalls
  with or without accepting the message, token buckets per sender and per account) and signed status callbacks;
* ``GET .../Messages.json`` (filters ``To``, ``From``, ``DateSent``, ``DateSent<``, ``DateSent>``; paging with
  ``PageSize``, ``Page`` and ``PageToken``) and ``GET .../Messages/{Sid}.json``;
* control endpoints under ``/_fake/`` (``stats``, ``messages``, ``duplicates``, ``requests``, ``callbacks``,
  ``config``, ``reset``, ``health``), so a fake running in another process (:class:`FakeTwilioProcess`, or
  ``python -m tests.support.fake_twilio`` from the repository root) can be driven and read over HTTP.

It also plays Twilio's side of the webhooks: :meth:`FakeTwilio.send_inbound` posts a signed inbound message,
:meth:`FakeTwilio.send_status_callback` one status callback and :func:`blast_callbacks` fires signed status
callbacks as fast as a pool of keep-alive connections allows (``python -m tests.support.fake_twilio blast``).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import contextlib
import copy
import dataclasses
import hmac
import json
import math
import random
import re
import secrets
import select
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from email.utils import format_datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qsl, urlencode, urlsplit

from aiohttp import ClientError, ClientSession, ClientTimeout, DummyCookieJar, TCPConnector, web
from twilio.request_validator import RequestValidator

__all__ = [
    "API_VERSION",
    "DEFAULT_ACCOUNT_SID",
    "DEFAULT_AUTH_TOKEN",
    "BlastResult",
    "CallbackRecord",
    "Duplicate",
    "FakeConfig",
    "FakeMessage",
    "FakeTwilio",
    "FakeTwilioControl",
    "FakeTwilioProcess",
    "RecordedRequest",
    "blast_callbacks",
    "blast_callbacks_async",
    "inbound_params",
    "new_sid",
    "sign",
    "status_callback_params",
    "sustained_rate",
]

API_VERSION = "2010-04-01"
DEFAULT_ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
DEFAULT_AUTH_TOKEN = "fa4e7041" * 4
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded; charset=utf-8"
MORE_INFO = "https://www.twilio.com/docs/errors/{code}"
MESSAGE_STATUSES = frozenset(
    {"queued", "sending", "sent", "failed", "delivered", "undelivered", "accepted", "read", "canceled"}
)
RECORDED_HEADERS = ("User-Agent", "Content-Type", "Accept", "I-Twilio-Idempotency-Token", "X-Request-Id")
MAX_BODY = 1600

_E164 = re.compile(r"^\+[1-9]\d{1,14}$")
_SHORT_CODE = re.compile(r"^\d{3,8}$")
_ALPHANUMERIC = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$")
_GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿"
    "abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")
# The directory holding the ``tests`` package: the child process runs ``-m tests.support.fake_twilio`` from there,
# whatever the caller's working directory (this module is test support, never installed with regula).
REPOSITORY_ROOT = Path(__file__).resolve().parents[2]


# -- helpers shared by the server, the webhook senders and the blaster -------------------------------------------


def new_sid(prefix: str) -> str:
    """A Twilio-style SID: two-letter prefix and 32 lowercase hex digits (``SM…`` for messages)."""
    return prefix + secrets.token_hex(16)


def sign(auth_token: str, url: str, params: Mapping[str, str]) -> str:
    """The ``X-Twilio-Signature`` Twilio puts on a form-encoded webhook to ``url`` (the exact URL, query included)."""
    return str(RequestValidator(auth_token).compute_signature(url, dict(params)))


def rfc2822(timestamp: float) -> str:
    """A Unix timestamp as Twilio writes dates in the 2010-04-01 API: ``Thu, 24 Aug 2023 05:01:45 +0000``."""
    return format_datetime(datetime.fromtimestamp(int(timestamp), UTC))


def sustained_rate(timestamps: Iterable[float], trim: float = 0.05) -> float:
    """Events per second between the ``trim`` and ``1 - trim`` quantiles of the timestamps (0.0 when undefined)."""
    ordered = sorted(timestamps)
    count = len(ordered)
    if count < 2 or not 0.0 <= trim < 0.5:
        return 0.0
    low = math.floor(trim * (count - 1))
    high = math.ceil((1.0 - trim) * (count - 1))
    span = ordered[high] - ordered[low]
    if high <= low or span <= 0.0:
        return 0.0
    return (high - low) / span


def num_segments(body: str) -> int:
    """How many SMS segments Twilio bills for ``body``: GSM-7 (160, or 153 per part) else UCS-2 (70, or 67)."""
    if not body:
        return 1
    if all(char in _GSM7_BASIC or char in _GSM7_EXTENDED for char in body):
        septets = sum(2 if char in _GSM7_EXTENDED else 1 for char in body)
        return 1 if septets <= 160 else math.ceil(septets / 153)
    units = len(body.encode("utf-16-le")) // 2
    return 1 if units <= 70 else math.ceil(units / 67)


def channel(address: str | None) -> str:
    """``whatsapp`` for ``whatsapp:+55…`` addresses, ``sms`` otherwise."""
    return "whatsapp" if address and address.startswith("whatsapp:") else "sms"


def bare_number(address: str) -> str:
    """The address without its channel prefix: ``whatsapp:+5548…`` → ``+5548…``."""
    return address.split(":", 1)[1] if ":" in address else address


def status_callback_params(
    *,
    message_sid: str,
    status: str,
    account_sid: str,
    to: str,
    from_: str,
    error_code: int | None = None,
    messaging_service_sid: str | None = None,
) -> dict[str, str]:
    """The form fields of a Twilio message status callback."""
    params = {
        "SmsSid": message_sid,
        "SmsStatus": status,
        "MessageStatus": status,
        "To": to,
        "MessageSid": message_sid,
        "AccountSid": account_sid,
        "From": from_,
        "ApiVersion": API_VERSION,
    }
    if messaging_service_sid:
        params["MessagingServiceSid"] = messaging_service_sid
    if error_code is not None:
        params["ErrorCode"] = str(error_code)
    if channel(to) == "whatsapp":
        params["ChannelPrefix"] = "whatsapp"
        params["ChannelToAddress"] = bare_number(to)
    elif status == "delivered":
        params["RawDlrDoneDate"] = datetime.now(UTC).strftime("%y%m%d%H%M")
    return params


def inbound_params(
    *,
    account_sid: str,
    from_: str,
    to: str,
    body: str,
    message_sid: str | None = None,
    messaging_service_sid: str | None = None,
    profile_name: str | None = None,
) -> dict[str, str]:
    """The form fields of a Twilio incoming-message webhook (SMS, or WhatsApp when ``from_`` is ``whatsapp:…``)."""
    sid = message_sid or new_sid("SM")
    params = {
        "ToCountry": "BR",
        "ToState": "",
        "SmsMessageSid": sid,
        "NumMedia": "0",
        "ToCity": "",
        "FromZip": "",
        "SmsSid": sid,
        "FromState": "",
        "SmsStatus": "received",
        "FromCity": "",
        "Body": body,
        "FromCountry": "BR",
        "To": to,
        "ToZip": "",
        "NumSegments": "1",
        "MessageSid": sid,
        "AccountSid": account_sid,
        "From": from_,
        "ApiVersion": API_VERSION,
    }
    if messaging_service_sid:
        params["MessagingServiceSid"] = messaging_service_sid
    if channel(from_) == "whatsapp":
        number = bare_number(from_)
        for key in ("ToCountry", "ToState", "ToCity", "FromZip", "FromState", "FromCity", "FromCountry", "ToZip"):
            del params[key]
        params["ProfileName"] = profile_name or "Cidadão"
        params["WaId"] = number.lstrip("+")
        params["MessageType"] = "text"
        params["ReferralNumMedia"] = "0"
    return params


def _webhook_headers(signature: str) -> dict[str, str]:
    return {
        "Content-Type": FORM_CONTENT_TYPE,
        "X-Twilio-Signature": signature,
        "I-Twilio-Idempotency-Token": secrets.token_hex(16),
        "User-Agent": "TwilioProxy/1.1",
        "Accept": "*/*",
    }


def _forged(signature: str) -> str:
    """A well-formed signature that does not match (what an attacker without the auth token would send)."""
    raw = bytearray(base64.b64decode(signature))
    raw[0] ^= 0xFF
    return base64.b64encode(bytes(raw)).decode()


def _check_http_url(url: str) -> None:
    if urlsplit(url).scheme not in ("http", "https"):
        raise ValueError(f"not an http(s) URL: {url!r}")


def _post_form_sync(url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> tuple[int, str]:
    _check_http_url(url)
    request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return int(response.status), response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read().decode("utf-8", "replace")


# -- configuration and records ------------------------------------------------------------------------------------


@dataclass
class FakeConfig:
    """Behaviour of the fake; every field can be changed at runtime (``configure`` or ``POST /_fake/config``).

    Counters (``fail_next``, ``stall_next``, ``accept_stall_next``) count down as creates consume them.
    """

    # Creates that fail outright (nothing accepted): the next N with ``fail_status``, then random ones.
    fail_next: int = 0
    fail_status: int = 429
    retry_after: float = 1.0
    p_429: float = 0.0
    p_500: float = 0.0
    p_503: float = 0.0
    # Stall without accepting: wait ``stall_seconds``, then answer 503 (the client has usually given up).
    stall_next: int = 0
    p_stall: float = 0.0
    stall_seconds: float = 5.0
    # Accept then stall: the message is accepted (and will be delivered), the 201 comes ``accept_stall_seconds`` late.
    accept_stall_next: int = 0
    p_accept_stall: float = 0.0
    accept_stall_seconds: float = 5.0
    # Extra latency on every successful create.
    latency: float = 0.0
    # Token buckets (messages per second; burst defaults to max(1, rate)); beyond them: 429 code 20429.
    sender_rate: float | None = None
    sender_burst: float | None = None
    account_rate: float | None = None
    account_burst: float | None = None
    # Numbers (To, with or without the ``whatsapp:`` prefix) that Twilio rejects or cannot deliver to.
    invalid_numbers: set[str] = field(default_factory=set)
    opted_out_numbers: set[str] = field(default_factory=set)
    undelivered_numbers: set[str] = field(default_factory=set)
    undelivered_error_code: int = 30003
    failed_numbers: set[str] = field(default_factory=set)
    failed_error_code: int = 30005
    # Status callbacks: the progression, when and how it is delivered.
    callback_statuses: list[str] = field(default_factory=lambda: ["sent", "delivered"])
    callback_delay: float = 0.0
    callback_interval: float = 0.0
    callback_duplicates: int = 0
    callback_out_of_order: bool = False
    callback_timeout: float = 10.0
    # The sender a Messaging Service picks when a message names no ``From``.
    service_from: str = "+15005550006"
    # ContentSid → body with ``{{1}}`` placeholders, to render the body of template messages.
    content_templates: dict[str, str] = field(default_factory=dict)

    _SETS = ("invalid_numbers", "opted_out_numbers", "undelivered_numbers", "failed_numbers")

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly: sets become sorted lists."""
        data: dict[str, Any] = {}
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            data[item.name] = sorted(value) if isinstance(value, set) else copy.copy(value)
        return data

    def update(self, changes: Mapping[str, Any]) -> None:
        """Apply ``changes`` (field → value), coercing JSON lists to sets; unknown fields raise ``ValueError``."""
        names = {item.name for item in dataclasses.fields(self)}
        unknown = set(changes) - names
        if unknown:
            raise ValueError(f"unknown fake Twilio settings: {sorted(unknown)}")
        staged = copy.deepcopy(self)
        for name, value in changes.items():
            current = getattr(staged, name)
            if name in self._SETS:
                if isinstance(value, str):
                    raise ValueError(f"{name} must be a list of numbers")
                value = {str(item) for item in value}
            elif name == "callback_statuses":
                statuses = [str(item) for item in value]
                if not set(statuses) <= MESSAGE_STATUSES:
                    raise ValueError(f"callback_statuses must be among {sorted(MESSAGE_STATUSES)}")
                value = statuses
            elif name == "content_templates":
                value = {str(key): str(text) for key, text in dict(value).items()}
            elif isinstance(current, bool):
                value = bool(value)
            elif name in ("sender_rate", "sender_burst", "account_rate", "account_burst"):
                value = None if value is None else float(value)
            elif isinstance(current, int) and not isinstance(current, bool):
                value = int(value)
            elif isinstance(current, float):
                value = float(value)
            elif isinstance(current, str):
                value = str(value)
            setattr(staged, name, value)
        if staged.fail_status not in (429, 500, 503):
            raise ValueError("fail_status must be 429, 500 or 503")
        for item in dataclasses.fields(self):
            setattr(self, item.name, getattr(staged, item.name))


@dataclass
class RecordedRequest:
    """One request to the Twilio API routes (control routes are not recorded)."""

    method: str
    path: str
    query: dict[str, str]
    form: dict[str, str]
    headers: dict[str, str]
    time: float
    status: int = 0


@dataclass
class FakeMessage:
    """An accepted message, as the fake keeps it."""

    sid: str
    account_sid: str
    to: str
    from_: str | None
    messaging_service_sid: str | None
    body: str
    content_sid: str | None
    content_variables: str | None
    status_callback: str | None
    media_urls: list[str]
    status: str
    num_segments: int
    created: float
    updated: float
    sent: float | None
    sender: str
    key: tuple[str, ...]
    seq: int
    error_code: int | None = None
    error_message: str | None = None
    direction: str = "outbound-api"

    def resource(self) -> dict[str, Any]:
        """The Twilio Message resource JSON (what the API returns for this message)."""
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{self.sid}"
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": self.body,
            "date_created": rfc2822(self.created),
            "date_sent": rfc2822(self.sent) if self.sent is not None else None,
            "date_updated": rfc2822(self.updated),
            "direction": self.direction,
            "error_code": self.error_code,
            "error_message": self.error_message,
            "from": self.from_,
            "messaging_service_sid": self.messaging_service_sid,
            "num_media": str(len(self.media_urls)),
            "num_segments": str(self.num_segments),
            "price": None,
            "price_unit": "USD",
            "sid": self.sid,
            "status": self.status,
            "subresource_uris": {"media": f"{uri}/Media.json", "feedback": f"{uri}/Feedback.json"},
            "to": self.to,
            "uri": f"{uri}.json",
        }

    def to_dict(self) -> dict[str, Any]:
        """Every field, JSON-friendly (``/_fake/messages``)."""
        data = dataclasses.asdict(self)
        data["key"] = list(self.key)
        return data


@dataclass(frozen=True)
class Duplicate:
    """An accepted message whose (To, sender, content) repeats an earlier accepted one."""

    sid: str
    original_sid: str
    key: tuple[str, ...]
    time: float

    def to_dict(self) -> dict[str, Any]:
        return {"sid": self.sid, "original_sid": self.original_sid, "key": list(self.key), "time": self.time}


@dataclass(frozen=True)
class CallbackRecord:
    """A webhook the fake sent (``kind`` ``status`` or ``inbound``) and what the receiver answered."""

    kind: str
    url: str
    params: dict[str, str]
    signature: str
    status_code: int | None
    error: str | None
    time: float

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class BlastResult:
    """What :func:`blast_callbacks` achieved."""

    sent: int
    elapsed: float
    rate: float
    status_counts: dict[str, int]
    errors: int
    latency_p50_ms: float
    latency_p99_ms: float
    concurrency: int

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class _TokenBucket:
    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.stamp = now

    def take(self, now: float) -> float:
        """0.0 when a token was taken, else the seconds until one will be available."""
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate if self.rate > 0 else 3600.0


class _Rejection(Exception):
    def __init__(self, status: int, code: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})


def _json_response(payload: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(
        text=json.dumps(payload),
        status=status,
        content_type="application/json",
        charset="utf-8",
        headers=headers,
    )


def _error_response(status: int, code: int, message: str, headers: Mapping[str, str] | None = None) -> web.Response:
    payload = {"code": code, "message": message, "more_info": MORE_INFO.format(code=code), "status": status}
    return _json_response(payload, status, headers)


def _content_key(
    to: str, sender: str, body: str, content_sid: str | None, content_variables: str | None
) -> tuple[str, ...]:
    if content_sid:
        variables = content_variables or ""
        with contextlib.suppress(ValueError):
            variables = json.dumps(json.loads(variables), sort_keys=True, separators=(",", ":"))
        return (to, sender, "content", content_sid, variables)
    return (to, sender, "body", body)


def _date_filter(value: str, op: str) -> tuple[str, date | float]:
    """Parse a ``DateSent`` filter: (op, day) for ``YYYY-MM-DD``, (op, timestamp) for a date-time."""
    if value.startswith(("<=", ">=")):
        op, value = value[0], value[2:]
    value = value.strip()
    if len(value) == 10:
        return op, date.fromisoformat(value)
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return op, moment.timestamp()


def _date_matches(sent: float | None, op: str, bound: date | float) -> bool:
    if sent is None:
        return False
    if isinstance(bound, date):
        day = datetime.fromtimestamp(sent, UTC).date()
        return day == bound if op == "=" else day <= bound if op == "<" else day >= bound
    if op == "=":
        return datetime.fromtimestamp(sent, UTC).date() == datetime.fromtimestamp(bound, UTC).date()
    # Twilio compares at one-second resolution, as its dates are written.
    second = float(int(sent))
    return second <= bound if op == "<" else second >= bound


# -- the server ---------------------------------------------------------------------------------------------------


class FakeTwilio:
    """A fake Twilio REST API on ``127.0.0.1``, in a background thread; see the module docstring.

    Every accessor is thread-safe and returns copies. ``config`` keyword arguments (any :class:`FakeConfig` field)
    set the initial behaviour; :meth:`configure` changes it later.
    """

    def __init__(
        self,
        account_sid: str = DEFAULT_ACCOUNT_SID,
        auth_token: str = DEFAULT_AUTH_TOKEN,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        callback_delay: float = 0.0,
        seed: int | None = None,
        max_recorded_requests: int = 200_000,
        **config: Any,
    ) -> None:
        if not re.fullmatch(r"AC[0-9a-f]{32}", account_sid):
            raise ValueError("account_sid must be 'AC' followed by 32 lowercase hex digits")
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.host = host
        self._requested_port = port
        self.port = 0
        self._config = FakeConfig(callback_delay=callback_delay)
        self._config.update(config)
        self._initial_config = copy.deepcopy(self._config)
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._validator = RequestValidator(auth_token)
        self._expected_auth = "Basic " + base64.b64encode(f"{account_sid}:{auth_token}".encode()).decode()
        self._max_recorded_requests = max_recorded_requests
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._session: ClientSession | None = None
        self._startup_error: BaseException | None = None
        self._pending: set[asyncio.Task[None]] = set()
        self._clear_records()

    def _clear_records(self) -> None:
        self._requests: deque[RecordedRequest] = deque(maxlen=self._max_recorded_requests)
        self._request_count = 0
        self._create_statuses: Counter[int] = Counter()
        self._messages: dict[str, FakeMessage] = {}
        self._order: list[str] = []
        self._keys: dict[tuple[str, ...], str] = {}
        self._duplicates: list[Duplicate] = []
        self._sender_times: dict[str, list[float]] = {}
        self._all_times: list[float] = []
        self._callbacks: list[CallbackRecord] = []
        self._callback_statuses: Counter[str] = Counter()
        self._sender_buckets: dict[str, _TokenBucket] = {}
        self._account_bucket: _TokenBucket | None = None
        self._seq = 0

    # -- lifecycle ------------------------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``: set ``client.api.base_url`` to it."""
        if not self.port:
            raise RuntimeError("the fake Twilio is not running")
        return f"http://{self.host}:{self.port}"

    def start(self) -> Self:
        """Start serving (returns once the port is bound)."""
        if self._thread is not None:
            raise RuntimeError("already started")
        ready = threading.Event()
        self._startup_error = None
        self._thread = threading.Thread(target=self._run, args=(ready,), name="fake-twilio", daemon=True)
        self._thread.start()
        ready.wait(15.0)
        if self._startup_error is not None or not self.port:
            self._thread.join(5.0)
            self._thread = None
            raise RuntimeError("the fake Twilio did not start") from self._startup_error
        return self

    def stop(self) -> None:
        """Stop serving: pending callbacks are cancelled, stalled requests dropped."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(loop.stop)
        thread.join(15.0)
        self._thread = None
        self._loop = None
        self.port = 0

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _run(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        try:
            try:
                loop.run_until_complete(self._startup())
            except BaseException as exc:
                self._startup_error = exc
                return
            finally:
                ready.set()
            loop.run_forever()
            loop.run_until_complete(self._shutdown())
            leftovers = asyncio.all_tasks(loop)  # handlers still stalled past the shutdown timeout
            for task in leftovers:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _startup(self) -> None:
        app = web.Application(client_max_size=4 * 1024 * 1024)
        prefix = f"/{API_VERSION}/Accounts/{{account_sid}}"
        app.router.add_post(prefix + "/Messages.json", self._handle_create)
        app.router.add_get(prefix + "/Messages.json", self._handle_list)
        app.router.add_get(prefix + "/Messages/{sid:[^/.]+}.json", self._handle_fetch)
        app.router.add_get("/_fake/health", self._handle_health)
        app.router.add_get("/_fake/stats", self._handle_stats)
        app.router.add_get("/_fake/messages", self._handle_messages)
        app.router.add_get("/_fake/duplicates", self._handle_duplicates)
        app.router.add_get("/_fake/requests", self._handle_requests)
        app.router.add_get("/_fake/callbacks", self._handle_callbacks)
        app.router.add_get("/_fake/config", self._handle_get_config)
        app.router.add_post("/_fake/config", self._handle_post_config)
        app.router.add_post("/_fake/reset", self._handle_reset)
        app.router.add_route("*", "/{tail:.*}", self._handle_not_found)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self._requested_port, reuse_address=True)
        await site.start()
        self._runner = runner
        self.port = int(runner.addresses[0][1])
        self._session = ClientSession(connector=TCPConnector(limit=128), cookie_jar=DummyCookieJar())

    async def _shutdown(self) -> None:
        for task in list(self._pending):
            task.cancel()
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- configuration --------------------------------------------------------------------------------------------

    @property
    def config(self) -> FakeConfig:
        """A snapshot of the current behaviour."""
        with self._lock:
            return copy.deepcopy(self._config)

    def configure(self, **changes: Any) -> FakeConfig:
        """Change behaviour (any :class:`FakeConfig` field); returns the new configuration."""
        with self._lock:
            self._config.update(changes)
            return copy.deepcopy(self._config)

    def fail_next(self, count: int = 1, status: int = 429, *, retry_after: float = 1.0) -> None:
        """Fail the next ``count`` creates with ``status`` (429 code 20429 with Retry-After, 500 or 503)."""
        self.configure(fail_next=count, fail_status=status, retry_after=retry_after)

    def stall_next(self, count: int = 1, seconds: float = 5.0, *, accept: bool = True) -> None:
        """Delay the next ``count`` create responses by ``seconds``; ``accept`` records the messages meanwhile."""
        if accept:
            self.configure(accept_stall_next=count, accept_stall_seconds=seconds)
        else:
            self.configure(stall_next=count, stall_seconds=seconds)

    def reset(self, *, config: bool = False) -> None:
        """Forget every record (and the token buckets); ``config=True`` also restores the initial behaviour."""
        with self._lock:
            self._clear_records()
            if config:
                self._config = copy.deepcopy(self._initial_config)

    # -- accessors ------------------------------------------------------------------------------------------------

    def requests(self, path_contains: str | None = None) -> list[RecordedRequest]:
        """Requests to the API routes, oldest first (the last ``max_recorded_requests``)."""
        with self._lock:
            return [
                dataclasses.replace(item)
                for item in self._requests
                if path_contains is None or path_contains in item.path
            ]

    def messages(self, *, sender: str | None = None, to: str | None = None) -> list[FakeMessage]:
        """Accepted messages, oldest first."""
        with self._lock:
            found = (self._messages[sid] for sid in self._order)
            return [
                copy.deepcopy(message)
                for message in found
                if (sender is None or message.sender == sender) and (to is None or message.to == to)
            ]

    def message(self, sid: str) -> FakeMessage | None:
        with self._lock:
            found = self._messages.get(sid)
            return copy.deepcopy(found) if found is not None else None

    def accepted_count(self, sender: str | None = None) -> int:
        with self._lock:
            if sender is None:
                return len(self._order)
            return len(self._sender_times.get(sender, ()))

    def senders(self) -> dict[str, int]:
        """Accepted messages per sender (``From``, or the Messaging Service SID when there is no ``From``)."""
        with self._lock:
            return {sender: len(times) for sender, times in self._sender_times.items()}

    def duplicates(self) -> list[Duplicate]:
        """Accepted messages that repeat an earlier one's (To, sender, Body or ContentSid + ContentVariables)."""
        with self._lock:
            return list(self._duplicates)

    def duplicate_count(self) -> int:
        with self._lock:
            return len(self._duplicates)

    def accepted_times(self, sender: str | None = None) -> list[float]:
        """Unix times at which messages were accepted (for one sender, or all)."""
        with self._lock:
            return list(self._all_times if sender is None else self._sender_times.get(sender, ()))

    def sustained_rate(self, sender: str | None = None, trim: float = 0.05) -> float:
        """Accepted messages per second between the ``trim`` and ``1 - trim`` quantiles of their times."""
        return sustained_rate(self.accepted_times(sender), trim)

    def create_statuses(self) -> dict[int, int]:
        """HTTP status → count, over every message create request answered so far."""
        with self._lock:
            return dict(self._create_statuses)

    def callbacks(self, kind: str | None = None) -> list[CallbackRecord]:
        """Webhooks sent (status callbacks, inbound messages), in order of completion."""
        with self._lock:
            return [item for item in self._callbacks if kind is None or item.kind == kind]

    def pending_callbacks(self) -> int:
        with self._lock:
            return len(self._pending)

    def wait_for_callbacks(self, count: int | None = None, timeout: float = 5.0) -> bool:
        """Wait until no status callback is pending (and at least ``count`` were sent); False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                done = not self._pending and (
                    count is None or sum(1 for item in self._callbacks if item.kind == "status") >= count
                )
            if done:
                return True
            time.sleep(0.01)
        return False

    def wait_for_messages(self, count: int, timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.accepted_count() >= count:
                return True
            time.sleep(0.01)
        return False

    def stats(self) -> dict[str, Any]:
        """Counters (what ``GET /_fake/stats`` returns)."""
        with self._lock:
            all_times = list(self._all_times)
            per_sender = {sender: list(times) for sender, times in self._sender_times.items()}
            payload: dict[str, Any] = {
                "account_sid": self.account_sid,
                "now": time.time(),
                "requests": self._request_count,
                "create_responses": {str(code): count for code, count in sorted(self._create_statuses.items())},
                "accepted": len(self._order),
                "duplicates": len(self._duplicates),
                "distinct": len(self._keys),
                "callbacks": {
                    "sent": sum(1 for item in self._callbacks if item.kind == "status"),
                    "pending": len(self._pending),
                    "responses": dict(self._callback_statuses),
                },
            }
        payload["first"] = min(all_times) if all_times else None
        payload["last"] = max(all_times) if all_times else None
        payload["sustained_rate"] = sustained_rate(all_times)
        payload["senders"] = {
            sender: {
                "accepted": len(times),
                "first": min(times),
                "last": max(times),
                "sustained_rate": sustained_rate(times),
            }
            for sender, times in per_sender.items()
            if times
        }
        return payload

    # -- webhooks Twilio sends ------------------------------------------------------------------------------------

    def send_inbound(
        self,
        url: str,
        from_: str,
        to: str,
        body: str,
        *,
        forge: bool = False,
        message_sid: str | None = None,
        messaging_service_sid: str | None = None,
        profile_name: str | None = None,
        request_timeout: float = 10.0,
    ) -> tuple[int, str]:
        """Post a signed incoming-message webhook to ``url``; ``forge`` signs it wrongly. Returns (status, text)."""
        params = inbound_params(
            account_sid=self.account_sid,
            from_=from_,
            to=to,
            body=body,
            message_sid=message_sid,
            messaging_service_sid=messaging_service_sid,
            profile_name=profile_name,
        )
        return self._send_webhook("inbound", url, params, forge=forge, request_timeout=request_timeout)

    async def send_inbound_async(
        self,
        url: str,
        from_: str,
        to: str,
        body: str,
        *,
        forge: bool = False,
        message_sid: str | None = None,
        messaging_service_sid: str | None = None,
        profile_name: str | None = None,
        request_timeout: float = 10.0,
    ) -> tuple[int, str]:
        """:meth:`send_inbound` for callers already inside an event loop."""
        params = inbound_params(
            account_sid=self.account_sid,
            from_=from_,
            to=to,
            body=body,
            message_sid=message_sid,
            messaging_service_sid=messaging_service_sid,
            profile_name=profile_name,
        )
        return await self._send_webhook_async("inbound", url, params, forge=forge, request_timeout=request_timeout)

    def send_status_callback(
        self,
        url: str,
        message_sid: str,
        status: str,
        *,
        to: str,
        from_: str,
        error_code: int | None = None,
        forge: bool = False,
        request_timeout: float = 10.0,
    ) -> tuple[int, str]:
        """Post one signed status callback to ``url`` (any order, any message); returns (status, text)."""
        params = status_callback_params(
            message_sid=message_sid,
            status=status,
            account_sid=self.account_sid,
            to=to,
            from_=from_,
            error_code=error_code,
        )
        return self._send_webhook("status", url, params, forge=forge, request_timeout=request_timeout)

    def _signed(self, url: str, params: Mapping[str, str], forge: bool) -> tuple[bytes, dict[str, str]]:
        signature = str(self._validator.compute_signature(url, dict(params)))
        if forge:
            signature = _forged(signature)
        return urlencode(params).encode(), _webhook_headers(signature)

    def _send_webhook(
        self, kind: str, url: str, params: dict[str, str], *, forge: bool, request_timeout: float
    ) -> tuple[int, str]:
        body, headers = self._signed(url, params, forge)
        try:
            status, text = _post_form_sync(url, body, headers, request_timeout)
        except (OSError, ValueError) as exc:
            self._record_callback(kind, url, params, headers["X-Twilio-Signature"], None, repr(exc))
            raise
        self._record_callback(kind, url, params, headers["X-Twilio-Signature"], status, None)
        return status, text

    async def _send_webhook_async(
        self, kind: str, url: str, params: dict[str, str], *, forge: bool, request_timeout: float
    ) -> tuple[int, str]:
        body, headers = self._signed(url, params, forge)
        async with (
            ClientSession(cookie_jar=DummyCookieJar(), timeout=ClientTimeout(total=request_timeout)) as session,
            session.post(url, data=body, headers=headers, allow_redirects=False) as response,
        ):
            text = await response.text()
        self._record_callback(kind, url, params, headers["X-Twilio-Signature"], response.status, None)
        return response.status, text

    def _record_callback(
        self, kind: str, url: str, params: dict[str, str], signature: str, status: int | None, error: str | None
    ) -> None:
        record = CallbackRecord(kind, url, params, signature, status, error, time.time())
        with self._lock:
            self._callbacks.append(record)
            if kind == "status":
                self._callback_statuses[str(status) if status is not None else "error"] += 1

    def blast_callbacks(
        self,
        url: str | None,
        n: int,
        concurrency: int = 64,
        *,
        statuses: Sequence[str] = ("sent", "delivered"),
        messages: Sequence[Mapping[str, str]] | None = None,
        request_timeout: float = 30.0,
    ) -> BlastResult:
        """:func:`blast_callbacks` with this fake's credentials, for its accepted messages (when it has any)."""
        if messages is None:
            accepted = self.messages()
            messages = [
                {
                    "sid": item.sid,
                    "to": item.to,
                    "from": item.from_ or self._config.service_from,
                    "status_callback": item.status_callback or "",
                }
                for item in accepted
            ] or None
        return blast_callbacks(
            url,
            n,
            concurrency=concurrency,
            account_sid=self.account_sid,
            auth_token=self.auth_token,
            statuses=statuses,
            messages=messages,
            request_timeout=request_timeout,
        )

    # -- request handling -----------------------------------------------------------------------------------------

    def _authenticated(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        if hmac.compare_digest(header.encode(), self._expected_auth.encode()):
            return True
        if not header.startswith("Basic "):
            return False
        try:
            decoded = base64.b64decode(header[6:], validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return False
        return hmac.compare_digest(decoded.encode(), f"{self.account_sid}:{self.auth_token}".encode())

    def _record_request(self, request: web.Request, form: dict[str, str]) -> RecordedRequest:
        record = RecordedRequest(
            method=request.method,
            path=request.path,
            query=dict(request.query),
            form=form,
            headers={name: request.headers[name] for name in RECORDED_HEADERS if name in request.headers},
            time=time.time(),
        )
        with self._lock:
            self._requests.append(record)
            self._request_count += 1
        return record

    def _guard(self, request: web.Request) -> web.Response | None:
        """The 401/404 answer when credentials or the account in the path are wrong."""
        if not self._authenticated(request):
            return _error_response(401, 20003, "Authenticate", {"WWW-Authenticate": 'Basic realm="Twilio API"'})
        if request.match_info.get("account_sid") != self.account_sid:
            return _error_response(404, 20404, f"The requested resource {request.path} was not found")
        return None

    async def _handle_create(self, request: web.Request) -> web.StreamResponse:
        raw = await request.text()
        pairs = parse_qsl(raw, keep_blank_values=True)
        form: dict[str, str] = {}
        media_urls: list[str] = []
        for name, value in pairs:
            if name == "MediaUrl":
                media_urls.append(value)
            form.setdefault(name, value)
        record = self._record_request(request, form)
        with self._lock:
            # The counters of the records this request belongs to: a create that stalls past a ``reset`` (a
            # client that timed out, the test over) is counted in the records it started in, not the next test's.
            statuses = self._create_statuses
        response = self._guard(request)
        if response is None:
            try:
                response = await self._create(form, media_urls)
            except _Rejection as rejection:
                response = _error_response(rejection.status, rejection.code, rejection.message, rejection.headers)
        with self._lock:
            record.status = response.status
            statuses[response.status] += 1
        return response

    def _draw_fault(self) -> tuple[str, int] | None:
        """Consume the fault injection due for this create: ('stall'|'fail'|'accept_stall', status) or None."""
        config = self._config
        rng = self._rng
        if config.stall_next > 0:
            config.stall_next -= 1
            return ("stall", 503)
        if config.p_stall and rng.random() < config.p_stall:
            return ("stall", 503)
        if config.fail_next > 0:
            config.fail_next -= 1
            return ("fail", config.fail_status)
        for status, probability in ((429, config.p_429), (500, config.p_500), (503, config.p_503)):
            if probability and rng.random() < probability:
                return ("fail", status)
        if config.accept_stall_next > 0:
            config.accept_stall_next -= 1
            return ("accept_stall", 201)
        if config.p_accept_stall and rng.random() < config.p_accept_stall:
            return ("accept_stall", 201)
        return None

    def _failure(self, status: int) -> _Rejection:
        if status == 429:
            retry_after = str(max(1, math.ceil(self._config.retry_after)))
            return _Rejection(429, 20429, "Too Many Requests", {"Retry-After": retry_after})
        if status == 503:
            return _Rejection(503, 20503, "Service Unavailable")
        return _Rejection(500, 20500, "An internal server error has occurred")

    def _validate(self, form: Mapping[str, str]) -> tuple[str, str | None, str | None, str, str | None, str | None]:
        """Twilio's checks on a create; returns (to, from, service, body, content_sid, content_variables)."""
        config = self._config
        to = form.get("To", "").strip()
        from_ = form.get("From", "").strip() or None
        service = form.get("MessagingServiceSid", "").strip() or None
        body = form.get("Body", "")
        content_sid = form.get("ContentSid", "").strip() or None
        variables = form.get("ContentVariables") or None
        has_media = any(name == "MediaUrl" for name in form)
        if not to:
            raise _Rejection(400, 21604, "A 'To' phone number is required.")
        if not body and not content_sid and not has_media:
            raise _Rejection(400, 21602, "Message body is required.")
        if not from_ and not service:
            raise _Rejection(400, 21603, "A 'From' phone number is required.")
        if service and not re.fullmatch(r"MG[0-9a-f]{32}", service):
            raise _Rejection(400, 21701, f"The Messaging Service Sid {service} is invalid.")
        bare_to = bare_number(to)
        if not _E164.match(bare_to) or to in config.invalid_numbers or bare_to in config.invalid_numbers:
            raise _Rejection(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if from_ is not None:
            bare_from = bare_number(from_)
            valid_from = _E164.match(bare_from) or (
                channel(from_) == "sms" and (_SHORT_CODE.match(from_) or _ALPHANUMERIC.match(from_))
            )
            if not valid_from:
                raise _Rejection(400, 21212, f"The 'From' number {from_} is not a valid phone number or shortcode.")
            if channel(from_) != channel(to):
                raise _Rejection(
                    400, 21910, "Invalid 'From' and 'To' pair. 'From' and 'To' should be of the same channel"
                )
        if to in config.opted_out_numbers or bare_to in config.opted_out_numbers:
            raise _Rejection(400, 21610, "Attempt to send to unsubscribed recipient")
        if content_sid is not None:
            if not re.fullmatch(r"HX[0-9a-f]{32}", content_sid):
                raise _Rejection(400, 21655, "The ContentSid is Invalid.")
            if variables is not None:
                try:
                    parsed = json.loads(variables)
                except ValueError:
                    parsed = None
                if not isinstance(parsed, dict):
                    raise _Rejection(400, 21656, "The ContentVariables Parameter is invalid.")
        elif len(body) > MAX_BODY:
            raise _Rejection(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
        return to, from_, service, body, content_sid, variables

    def _take_tokens(self, sender: str, now: float) -> None:
        config = self._config
        if config.account_rate is not None:
            burst = config.account_burst or max(1.0, config.account_rate)
            bucket = self._account_bucket
            if bucket is None or bucket.rate != config.account_rate or bucket.burst != burst:
                bucket = self._account_bucket = _TokenBucket(config.account_rate, burst, now)
            wait = bucket.take(now)
            if wait:
                raise _Rejection(429, 20429, "Too Many Requests", {"Retry-After": str(max(1, math.ceil(wait)))})
        if config.sender_rate is not None:
            burst = config.sender_burst or max(1.0, config.sender_rate)
            bucket = self._sender_buckets.get(sender)
            if bucket is None or bucket.rate != config.sender_rate or bucket.burst != burst:
                bucket = self._sender_buckets[sender] = _TokenBucket(config.sender_rate, burst, now)
            wait = bucket.take(now)
            if wait:
                raise _Rejection(429, 20429, "Too Many Requests", {"Retry-After": str(max(1, math.ceil(wait)))})

    def _render(self, content_sid: str, variables: str | None) -> str:
        template = self._config.content_templates.get(content_sid, "")
        if template and variables:
            for name, value in json.loads(variables).items():
                template = template.replace("{{" + str(name) + "}}", str(value))
        return template

    async def _create(self, form: Mapping[str, str], media_urls: list[str]) -> web.Response:
        with self._lock:
            fault = self._draw_fault()
            config = self._config
            stall_seconds, accept_stall_seconds, latency = (
                config.stall_seconds,
                config.accept_stall_seconds,
                config.latency,
            )
        if fault is not None and fault[0] == "stall":
            await asyncio.sleep(stall_seconds)
            raise self._failure(503)
        if fault is not None and fault[0] == "fail":
            with self._lock:
                raise self._failure(fault[1])
        now = time.time()
        with self._lock:
            to, from_, service, body, content_sid, variables = self._validate(form)
            sender = from_ or service or ""
            self._take_tokens(sender, now)
            if content_sid is not None:
                body = self._render(content_sid, variables)
            message = self._accept(form, media_urls, to, from_, service, body, content_sid, variables, sender, now)
            resource = message.resource()
            statuses = self._progression(message)
            callback = message.status_callback
        if callback and statuses:
            self._schedule_callbacks(message.sid, callback, statuses)
        if fault is not None and fault[0] == "accept_stall":
            await asyncio.sleep(accept_stall_seconds)
        if latency:
            await asyncio.sleep(latency)
        return _json_response(resource, 201)

    def _accept(
        self,
        form: Mapping[str, str],
        media_urls: list[str],
        to: str,
        from_: str | None,
        service: str | None,
        body: str,
        content_sid: str | None,
        variables: str | None,
        sender: str,
        now: float,
    ) -> FakeMessage:
        """Store an accepted message (lock held)."""
        self._seq += 1
        key = _content_key(to, sender, body, content_sid, variables)
        segments = 1 if channel(to) == "whatsapp" or content_sid else num_segments(body)
        message = FakeMessage(
            sid=new_sid("SM"),
            account_sid=self.account_sid,
            to=to,
            from_=from_,
            messaging_service_sid=service,
            body=body,
            content_sid=content_sid,
            content_variables=variables,
            status_callback=form.get("StatusCallback") or None,
            media_urls=media_urls,
            status="queued" if from_ else "accepted",
            num_segments=segments,
            created=now,
            updated=now,
            sent=now,
            sender=sender,
            key=key,
            seq=self._seq,
        )
        self._messages[message.sid] = message
        self._order.append(message.sid)
        self._all_times.append(now)
        self._sender_times.setdefault(sender, []).append(now)
        original = self._keys.get(key)
        if original is None:
            self._keys[key] = message.sid
        else:
            self._duplicates.append(Duplicate(message.sid, original, key, now))
        return message

    def _progression(self, message: FakeMessage) -> list[tuple[str, int | None]]:
        """The statuses this message will go through after creation (lock held)."""
        config = self._config
        to, bare_to = message.to, bare_number(message.to)
        if to in config.failed_numbers or bare_to in config.failed_numbers:
            return [("failed", config.failed_error_code)]
        if to in config.undelivered_numbers or bare_to in config.undelivered_numbers:
            return [("sent", None), ("undelivered", config.undelivered_error_code)]
        return [(status, None) for status in config.callback_statuses]

    def _schedule_callbacks(self, sid: str, url: str, statuses: list[tuple[str, int | None]]) -> None:
        task = asyncio.get_running_loop().create_task(self._deliver_callbacks(sid, url, statuses))
        with self._lock:
            self._pending.add(task)
        task.add_done_callback(self._callback_done)

    def _callback_done(self, task: asyncio.Task[None]) -> None:
        with self._lock:
            self._pending.discard(task)

    def _set_status(self, sid: str, status: str, error_code: int | None) -> dict[str, str] | None:
        """Move a message to ``status``; returns its callback params (None when the message is gone)."""
        with self._lock:
            message = self._messages.get(sid)
            if message is None:
                return None
            message.status = status
            message.updated = time.time()
            if message.from_ is None:
                message.from_ = self._config.service_from
            if error_code is not None:
                message.error_code = error_code
                message.error_message = "Unreachable destination handset" if error_code == 30003 else "Unknown error"
            return status_callback_params(
                message_sid=sid,
                status=status,
                account_sid=self.account_sid,
                to=message.to,
                from_=message.from_,
                error_code=error_code,
                messaging_service_sid=message.messaging_service_sid,
            )

    async def _deliver_callbacks(self, sid: str, url: str, statuses: list[tuple[str, int | None]]) -> None:
        with self._lock:
            delay = self._config.callback_delay
            interval = self._config.callback_interval
            copies = 1 + max(0, self._config.callback_duplicates)
            out_of_order = self._config.callback_out_of_order
        if delay:
            await asyncio.sleep(delay)
        if out_of_order:
            # The message really goes through its statuses in order; the callbacks arrive the other way round.
            batch = [self._set_status(sid, status, error) for status, error in statuses]
            for index, params in enumerate(reversed(batch)):
                if index and interval:
                    await asyncio.sleep(interval)
                if params is not None:
                    for _ in range(copies):
                        await self._post_callback(url, params)
            return
        for index, (status, error) in enumerate(statuses):
            if index and interval:
                await asyncio.sleep(interval)
            params = self._set_status(sid, status, error)
            if params is None:
                return
            for _ in range(copies):
                await self._post_callback(url, params)

    async def _post_callback(self, url: str, params: dict[str, str]) -> None:
        body, headers = self._signed(url, params, forge=False)
        status: int | None = None
        error: str | None = None
        session = self._session
        if session is None:
            return
        with self._lock:
            timeout = ClientTimeout(total=self._config.callback_timeout)
        try:
            async with session.post(
                url, data=body, headers=headers, allow_redirects=False, timeout=timeout
            ) as response:
                await response.read()
                status = response.status
        except (ClientError, TimeoutError, OSError, ValueError) as exc:
            error = repr(exc)
        self._record_callback("status", url, params, headers["X-Twilio-Signature"], status, error)

    async def _handle_list(self, request: web.Request) -> web.StreamResponse:
        record = self._record_request(request, {})
        response = self._guard(request) or self._list(request)
        with self._lock:
            record.status = response.status
        return response

    def _list(self, request: web.Request) -> web.Response:
        query = request.query
        filters: list[tuple[str, str]] = [(name, query[name]) for name in ("To", "From") if query.get(name)]
        date_filters: list[tuple[str, date | float]] = []
        for name, op in (("DateSent", "="), ("DateSent<", "<"), ("DateSent>", ">")):
            value = query.get(name)
            if value:
                filters.append((name, value))
                try:
                    date_filters.append(_date_filter(value, op))
                except ValueError:
                    return _error_response(400, 20001, f"Invalid value for {name}: {value}")
        try:
            page_size = min(1000, max(1, int(query.get("PageSize", "50"))))
            page = max(0, int(query.get("Page", "0")))
        except ValueError:
            return _error_response(400, 20001, "Invalid paging parameter")
        token = query.get("PageToken", "")
        to, from_ = query.get("To"), query.get("From")
        with self._lock:
            matched = [
                self._messages[sid]
                for sid in reversed(self._order)
                if (to is None or self._messages[sid].to == to)
                and (from_ is None or self._messages[sid].from_ == from_)
                and all(_date_matches(self._messages[sid].sent, op, bound) for op, bound in date_filters)
            ]
            cursor = self._messages.get(token[2:]) if token[:2] in ("PA", "PB") else None
            if token and cursor is None:
                return _error_response(400, 20001, f"Invalid PageToken {token}")
            if cursor is not None and token.startswith("PA"):
                begin = next((i for i, item in enumerate(matched) if item.seq < cursor.seq), len(matched))
            elif cursor is not None:
                after = next((i for i, item in enumerate(matched) if item.seq <= cursor.seq), len(matched))
                begin = max(0, after - page_size)
            else:
                begin = page * page_size
            items = matched[begin : begin + page_size]
            resources = [item.resource() for item in items]
        base = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages.json"

        def page_uri(number: int, page_token: str | None) -> str:
            params = [*filters, ("PageSize", str(page_size)), ("Page", str(number))]
            if page_token:
                params.append(("PageToken", page_token))
            return f"{base}?{urlencode(params)}"

        has_next = begin + page_size < len(matched)
        payload = {
            "end": begin + len(items) - 1 if items else begin,
            "first_page_uri": page_uri(0, None),
            "messages": resources,
            "next_page_uri": page_uri(page + 1, "PA" + items[-1].sid) if has_next and items else None,
            "page": page,
            "page_size": page_size,
            "previous_page_uri": page_uri(page - 1, "PB" + items[0].sid) if begin > 0 and items else None,
            "start": begin,
            "uri": page_uri(page, token or None),
        }
        return _json_response(payload)

    async def _handle_fetch(self, request: web.Request) -> web.StreamResponse:
        record = self._record_request(request, {})
        response = self._guard(request)
        if response is None:
            with self._lock:
                message = self._messages.get(request.match_info["sid"])
                resource = message.resource() if message is not None else None
            if resource is None:
                response = _error_response(404, 20404, f"The requested resource {request.path} was not found")
            else:
                response = _json_response(resource)
        with self._lock:
            record.status = response.status
        return response

    async def _handle_not_found(self, request: web.Request) -> web.StreamResponse:
        return _error_response(404, 20404, f"The requested resource {request.path} was not found")

    # -- control routes -------------------------------------------------------------------------------------------

    async def _handle_health(self, request: web.Request) -> web.StreamResponse:
        return _json_response({"ok": True, "account_sid": self.account_sid})

    async def _handle_stats(self, request: web.Request) -> web.StreamResponse:
        return _json_response(self.stats())

    async def _handle_messages(self, request: web.Request) -> web.StreamResponse:
        found = self.messages(sender=request.query.get("sender"), to=request.query.get("to"))
        return _json_response({"messages": [item.to_dict() for item in found]})

    async def _handle_duplicates(self, request: web.Request) -> web.StreamResponse:
        return _json_response({"duplicates": [item.to_dict() for item in self.duplicates()]})

    async def _handle_requests(self, request: web.Request) -> web.StreamResponse:
        limit = int(request.query.get("limit", "1000"))
        found = self.requests()[-limit:] if limit > 0 else []
        return _json_response({"requests": [dataclasses.asdict(item) for item in found]})

    async def _handle_callbacks(self, request: web.Request) -> web.StreamResponse:
        found = self.callbacks(request.query.get("kind"))
        return _json_response({"callbacks": [item.to_dict() for item in found]})

    async def _handle_get_config(self, request: web.Request) -> web.StreamResponse:
        return _json_response(self.config.to_dict())

    async def _handle_post_config(self, request: web.Request) -> web.StreamResponse:
        try:
            changes = await request.json()
            if not isinstance(changes, dict):
                raise ValueError("the body must be a JSON object")
            config = self.configure(**changes)
        except (ValueError, TypeError) as exc:
            return _json_response({"error": str(exc)}, 400)
        return _json_response(config.to_dict())

    async def _handle_reset(self, request: web.Request) -> web.StreamResponse:
        self.reset(config=request.query.get("config", "") in ("1", "true", "yes"))
        return _json_response({"ok": True})


# -- the callback blaster -----------------------------------------------------------------------------------------


def _blast_plan(
    url: str | None,
    n: int,
    account_sid: str,
    auth_token: str,
    statuses: Sequence[str],
    messages: Sequence[Mapping[str, str]] | None,
) -> list[tuple[str, bytes, dict[str, str]]]:
    """Every request of a blast, signed and encoded beforehand (so the timed part only sends)."""
    if not statuses:
        raise ValueError("statuses must not be empty")
    if not messages:
        count = max(1, math.ceil(n / len(statuses)))
        messages = [
            {"sid": new_sid("SM"), "to": f"+55489{index:08d}", "from": "+15005550006"} for index in range(count)
        ]
    validator = RequestValidator(auth_token)
    plan: list[tuple[str, bytes, dict[str, str]]] = []
    for index in range(n):
        message = messages[index % len(messages)]
        status = statuses[(index // len(messages)) % len(statuses)]
        target = url or message.get("status_callback") or ""
        if not target:
            raise ValueError("no URL: pass url, or messages with a status_callback")
        _check_http_url(target)
        params = status_callback_params(
            message_sid=message["sid"],
            status=status,
            account_sid=account_sid,
            to=message["to"],
            from_=message.get("from") or "+15005550006",
            error_code=int(message["error_code"]) if message.get("error_code") else None,
        )
        signature = str(validator.compute_signature(target, params))
        plan.append((target, urlencode(params).encode(), _webhook_headers(signature)))
    return plan


async def blast_callbacks_async(
    url: str | None,
    n: int,
    *,
    concurrency: int = 64,
    account_sid: str = DEFAULT_ACCOUNT_SID,
    auth_token: str = DEFAULT_AUTH_TOKEN,
    statuses: Sequence[str] = ("sent", "delivered"),
    messages: Sequence[Mapping[str, str]] | None = None,
    request_timeout: float = 30.0,
) -> BlastResult:
    """Send ``n`` signed status callbacks as fast as ``concurrency`` keep-alive connections allow.

    ``messages`` (dicts with ``sid``, ``to``, ``from``, optionally ``status_callback`` and ``error_code``) are
    cycled through once per status: every message gets ``statuses[0]``, then every message ``statuses[1]``…
    Without ``messages``, synthetic SIDs are used. ``url=None`` posts to each message's ``status_callback``.
    Requests are built and signed before the clock starts.
    """
    plan = _blast_plan(url, n, account_sid, auth_token, statuses, messages)
    counts: Counter[str] = Counter()
    latencies = [0.0] * n
    indices = iter(range(n))
    connector = TCPConnector(limit=concurrency, limit_per_host=concurrency, ttl_dns_cache=None)

    async def worker(session: ClientSession) -> None:
        for index in indices:
            target, body, headers = plan[index]
            started = time.perf_counter()
            try:
                async with session.post(target, data=body, headers=headers, allow_redirects=False) as response:
                    await response.read()
                    counts[str(response.status)] += 1
            except (ClientError, TimeoutError, OSError) as exc:
                counts["error:" + type(exc).__name__] += 1
            latencies[index] = time.perf_counter() - started

    async with ClientSession(
        connector=connector,
        cookie_jar=DummyCookieJar(),
        timeout=ClientTimeout(total=request_timeout),
        auto_decompress=False,
    ) as session:
        started = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(max(1, min(concurrency, n)))))
        elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    errors = sum(count for name, count in counts.items() if name.startswith("error"))

    def quantile(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000.0 if ordered else 0.0

    return BlastResult(
        sent=n,
        elapsed=elapsed,
        rate=n / elapsed if elapsed > 0 else 0.0,
        status_counts=dict(counts),
        errors=errors,
        latency_p50_ms=quantile(0.50),
        latency_p99_ms=quantile(0.99),
        concurrency=concurrency,
    )


def blast_callbacks(
    url: str | None,
    n: int,
    *,
    concurrency: int = 64,
    account_sid: str = DEFAULT_ACCOUNT_SID,
    auth_token: str = DEFAULT_AUTH_TOKEN,
    statuses: Sequence[str] = ("sent", "delivered"),
    messages: Sequence[Mapping[str, str]] | None = None,
    request_timeout: float = 30.0,
) -> BlastResult:
    """Synchronous :func:`blast_callbacks_async` (runs its own event loop, in a thread if one is running here)."""

    def run() -> BlastResult:
        return asyncio.run(
            blast_callbacks_async(
                url,
                n,
                concurrency=concurrency,
                account_sid=account_sid,
                auth_token=auth_token,
                statuses=statuses,
                messages=messages,
                request_timeout=request_timeout,
            )
        )

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return run()
    outcome: list[BlastResult] = []
    failure: list[BaseException] = []

    def target() -> None:
        try:
            outcome.append(run())
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=target, name="fake-twilio-blast")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return outcome[0]


# -- a fake in another process ------------------------------------------------------------------------------------


class FakeTwilioControl:
    """Drives a fake Twilio over its ``/_fake/`` routes (one in another process, say)."""

    def __init__(self, base_url: str, *, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def _call(self, method: str, path: str, payload: Any = None) -> Any:
        url = self.base_url + path
        _check_http_url(url)
        data = json.dumps(payload).encode() if payload is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else {}
        request = urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"fake Twilio {method} {path}: {exc.code} {exc.read().decode()}") from exc

    def health(self) -> bool:
        try:
            return bool(self._call("GET", "/_fake/health").get("ok"))
        except (OSError, RuntimeError):
            return False

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/_fake/stats")
        return result

    def messages(self, *, sender: str | None = None, to: str | None = None) -> list[dict[str, Any]]:
        query = urlencode({key: value for key, value in (("sender", sender), ("to", to)) if value})
        result: list[dict[str, Any]] = self._call("GET", "/_fake/messages" + (f"?{query}" if query else ""))["messages"]
        return result

    def duplicates(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "/_fake/duplicates")["duplicates"]
        return result

    def requests(self, limit: int = 1000) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", f"/_fake/requests?limit={limit}")["requests"]
        return result

    def callbacks(self, kind: str | None = None) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "/_fake/callbacks" + (f"?kind={kind}" if kind else ""))[
            "callbacks"
        ]
        return result

    def config(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/_fake/config")
        return result

    def configure(self, **changes: Any) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", "/_fake/config", changes)
        return result

    def reset(self, *, config: bool = False) -> None:
        self._call("POST", "/_fake/reset" + ("?config=1" if config else ""), {})


class FakeTwilioProcess(FakeTwilioControl):
    """A fake Twilio in a child process (``python -m tests.support.fake_twilio``), driven over HTTP.

    It outlives whatever the test does to other processes (a SIGKILLed client, say) and keeps counting.
    """

    def __init__(
        self,
        account_sid: str = DEFAULT_ACCOUNT_SID,
        auth_token: str = DEFAULT_AUTH_TOKEN,
        *,
        port: int = 0,
        config: Mapping[str, Any] | None = None,
        seed: int | None = None,
        python: str = sys.executable,
        startup_timeout: float = 20.0,
    ) -> None:
        super().__init__("http://127.0.0.1:0")
        self.account_sid = account_sid
        self.auth_token = auth_token
        self._command = [
            python,
            "-m",
            "tests.support.fake_twilio",
            "--port",
            str(port),
            "--account-sid",
            account_sid,
            "--auth-token",
            auth_token,
            "--quiet",
        ]
        if config:
            self._command += ["--config", json.dumps(dict(config))]
        if seed is not None:
            self._command += ["--seed", str(seed)]
        self._startup_timeout = startup_timeout
        self.process: subprocess.Popen[str] | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def start(self) -> Self:
        if self.process is not None:
            raise RuntimeError("already started")
        process = subprocess.Popen(self._command, stdout=subprocess.PIPE, text=True, cwd=REPOSITORY_ROOT)  # noqa: S603
        self.process = process
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], self._startup_timeout)
        line = process.stdout.readline().strip() if ready else ""
        if not line.startswith("http://"):
            self.stop()
            raise RuntimeError(f"the fake Twilio process did not start (got {line!r})")
        self.base_url = line
        return self

    def stop(self) -> None:
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(10.0)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5.0)
        if process.stdout is not None:
            process.stdout.close()
        self.process = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


# -- command line -------------------------------------------------------------------------------------------------


def _serve_main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.support.fake_twilio",
        description="Serve a fake Twilio Messaging API; prints the base URL, serves until Ctrl-C or SIGTERM. "
        "Subcommand 'blast' fires signed status callbacks instead (see 'blast --help').",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8799, help="0 picks a free port (default: 8799)")
    parser.add_argument("--account-sid", default=DEFAULT_ACCOUNT_SID)
    parser.add_argument("--auth-token", default=DEFAULT_AUTH_TOKEN)
    parser.add_argument("--callback-delay", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--config", default=None, help="JSON object of FakeConfig fields")
    parser.add_argument("--quiet", action="store_true", help="print only the base URL")
    args = parser.parse_args(argv)
    config = json.loads(args.config) if args.config else {}
    fake = FakeTwilio(
        args.account_sid,
        args.auth_token,
        host=args.host,
        port=args.port,
        callback_delay=args.callback_delay,
        seed=args.seed,
        **config,
    )
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda _signum, _frame: stopping.set())
    fake.start()
    print(fake.base_url, flush=True)
    if not args.quiet:
        print(
            f"fake Twilio at {fake.base_url} (account {fake.account_sid}); Ctrl-C to stop", file=sys.stderr, flush=True
        )
    try:
        while not stopping.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()
    return 0


def _blast_main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.support.fake_twilio blast",
        description="Fire N signed Twilio status callbacks as fast as possible; prints a JSON result.",
    )
    parser.add_argument("--url", default=None, help="callback URL (default: each message's StatusCallback)")
    parser.add_argument("-n", "--n", type=int, required=True)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--account-sid", default=DEFAULT_ACCOUNT_SID)
    parser.add_argument("--auth-token", default=DEFAULT_AUTH_TOKEN)
    parser.add_argument("--statuses", default="sent,delivered")
    parser.add_argument("--messages-from", default=None, help="base URL of a fake whose accepted messages to use")
    args = parser.parse_args(argv)
    messages: list[dict[str, str]] | None = None
    if args.messages_from:
        messages = [
            {
                "sid": item["sid"],
                "to": item["to"],
                "from": item["from_"] or "+15005550006",
                "status_callback": item["status_callback"] or "",
            }
            for item in FakeTwilioControl(args.messages_from).messages()
        ] or None
    result = blast_callbacks(
        args.url,
        args.n,
        concurrency=args.concurrency,
        account_sid=args.account_sid,
        auth_token=args.auth_token,
        statuses=[status for status in args.statuses.split(",") if status],
        messages=messages,
    )
    print(json.dumps(result.to_dict()), flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments and arguments[0] == "blast":
        return _blast_main(arguments[1:])
    return _serve_main(arguments)


if __name__ == "__main__":
    sys.exit(main())
