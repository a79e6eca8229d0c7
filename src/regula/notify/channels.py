"""Channels behind one interface: Twilio SMS, Twilio WhatsApp, and the console (the demo's default); tests add a
memory channel of their own (tests/support/channels.py).

A channel sends one message and says what happened, in four words the dispatcher understands:

* ``sent`` — the provider accepted it (we have its SID);
* ``retry`` — it certainly did not (429, connection refused): try again later;
* ``unknown`` — it may have (a timeout, a 5xx, a dropped connection): look it up before any resend;
* ``failed`` — refused for good (invalid number, unsubscribed, no approved template).

A fifth, ``error``, is the dispatcher's own: the channel raised instead of answering. It may or may not have gone
out, so it is looked up before the next try, retried with backoff and, after ``REGULA_NOTIFY_MAX_ATTEMPTS``,
marked ``falhou``.

``lookup`` finds a message at the provider by recipient, sender and body — how an ``unknown`` outcome, or a
dispatcher that died between the HTTP call and its commit, is settled without sending twice (see
docs/decisions/0007-outbox-exactly-once.md).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from regula.config import Settings
from regula.logs import mask_phone

log = logging.getLogger("regula.notify")

Outcome = Literal["sent", "retry", "unknown", "failed", "error"]

#: WhatsApp templates number their variables; this is the order regula fills {{1}}, {{2}}… from a message's
#: variables, skipping the ones a kind does not have.
WHATSAPP_VARIABLE_ORDER = ("protocol", "day", "time", "place", "city", "when", "reply_hours", "position", "estimate")


@dataclass(frozen=True)
class Envelope:
    """One claimed message, as a channel needs it."""

    id: int
    channel: str
    kind: str
    to: str
    body: str
    variables: dict[str, Any]
    sender: str
    status_callback: str | None = None
    in_session: bool = False  # WhatsApp: the citizen wrote to us in the last 24 hours (free text allowed)
    claimed_at: datetime | None = None


@dataclass(frozen=True)
class SendResult:
    outcome: Outcome
    sid: str | None = None
    provider_status: str | None = None
    error_code: str | None = None
    error: str | None = None
    retry_after: float | None = None


class Channel(Protocol):
    name: str

    def senders(self) -> Sequence[str]: ...

    async def send(self, envelope: Envelope) -> SendResult: ...

    async def lookup(self, envelope: Envelope) -> SendResult | None: ...

    async def close(self) -> None: ...


class ConsoleChannel:
    """Writes a line per message to the log (its id and kind, no text); the web app's message log shows the
    text. Sent at once (``enviada``)."""

    name = "console"

    def senders(self) -> Sequence[str]:
        return ["console"]

    async def send(self, envelope: Envelope) -> SendResult:
        # Neither the body nor the number: logs carry no personal data (the message page shows the text to
        # those allowed to read it). ``message`` is a reserved LogRecord attribute (logging raises KeyError on it,
        # and every send failed), hence ``message_id``.
        log.info(
            "mensagem %d (%s) enviada pelo console para %s",
            envelope.id,
            envelope.kind,
            mask_phone(envelope.to),
            extra={"message_id": envelope.id, "channel": self.name},
        )
        # "sent", not "delivered": the line reached the log, no phone — the outbox says ``enviada``, never
        # ``entregue``, for a message nobody received.
        return SendResult("sent", sid=f"console-{envelope.id}", provider_status="sent")

    async def lookup(self, envelope: Envelope) -> SendResult | None:
        return None  # nothing leaves the process, so a message is never half-sent

    async def close(self) -> None:
        return None


class TwilioChannel:
    """SMS or WhatsApp through Twilio's REST API (``REGULA_TWILIO_API_BASE`` points it at a fake in tests)."""

    def __init__(self, settings: Settings, kind: Literal["sms", "whatsapp"]) -> None:
        if not settings.twilio_account_sid or settings.twilio_auth_token is None:
            raise ValueError("Twilio não configurado: defina REGULA_TWILIO_ACCOUNT_SID e REGULA_TWILIO_AUTH_TOKEN.")
        self.name: str = kind
        self.settings = settings
        if kind == "sms":
            self._senders = list(settings.twilio_sms_senders)
        else:
            self._senders = [f"whatsapp:{settings.twilio_whatsapp_sender}"] if settings.twilio_whatsapp_sender else []
        if not self._senders:
            raise ValueError(f"Nenhum número remetente configurado para {kind}.")
        self._client: Any = None

    def _twilio(self) -> Any:
        if self._client is None:
            from twilio.rest import Client

            self._client = Client(
                self.settings.twilio_account_sid,
                self.settings.twilio_auth_token.get_secret_value() if self.settings.twilio_auth_token else None,
                http_client=_async_http_client(),
            )
            self._client.api.base_url = self.settings.twilio_api_base.rstrip("/")
        return self._client

    def senders(self) -> Sequence[str]:
        return self._senders

    def _payload(self, envelope: Envelope) -> dict[str, Any] | SendResult:
        payload: dict[str, Any] = {"to": envelope.to, "from_": envelope.sender}
        if envelope.status_callback:
            payload["status_callback"] = envelope.status_callback
        if self.name == "whatsapp" and not envelope.in_session:
            # Outside the 24-hour window WhatsApp only takes an approved template.
            content_sid = self.settings.twilio_content_sids.get(envelope.kind)
            if not content_sid:
                return SendResult("failed", error_code="sem_modelo", error=f"sem modelo aprovado para {envelope.kind}")
            values = [str(envelope.variables[k]) for k in WHATSAPP_VARIABLE_ORDER if envelope.variables.get(k)]
            payload["content_sid"] = content_sid
            payload["content_variables"] = json.dumps({str(i + 1): v for i, v in enumerate(values)})
        else:
            payload["body"] = envelope.body
        return payload

    async def send(self, envelope: Envelope) -> SendResult:
        from twilio.base.exceptions import TwilioRestException

        payload = self._payload(envelope)
        if isinstance(payload, SendResult):
            return payload
        try:
            # twilio's async client does not apply a timeout of its own.
            async with asyncio.timeout(self.settings.twilio_timeout_seconds):
                message = await self._twilio().messages.create_async(**payload)
        except TwilioRestException as exc:
            return _classify(exc)
        except TimeoutError as exc:
            return SendResult("unknown", error_code="timeout", error=repr(exc))
        except OSError as exc:
            # Refused before anything was sent is safe to retry; anything else may have reached Twilio.
            refused = isinstance(exc, ConnectionRefusedError) or "Cannot connect" in str(exc)
            return SendResult("retry" if refused else "unknown", error_code="conexao", error=repr(exc))
        except Exception as exc:  # aiohttp's ServerDisconnectedError and friends: outcome unknown
            return SendResult("unknown", error_code="erro", error=repr(exc))
        return SendResult("sent", sid=message.sid, provider_status=message.status)

    async def lookup(self, envelope: Envelope) -> SendResult | None:
        since = (envelope.claimed_at or datetime.now().astimezone()) - timedelta(minutes=5)
        # Newest first; a queued message has no date_sent yet, so filter on date_created here.
        async with asyncio.timeout(self.settings.twilio_timeout_seconds * 3):
            found = await self._twilio().messages.list_async(to=envelope.to, from_=envelope.sender, limit=50)
        payload = self._payload(envelope)
        body = payload.get("body") if isinstance(payload, dict) else None
        for m in found:
            recent = m.date_created is None or m.date_created >= since
            if recent and (body is None or m.body == body):
                return SendResult("sent", sid=m.sid, provider_status=m.status)
        return None

    async def close(self) -> None:
        if self._client is not None:
            await self._client.http_client.close()


def _async_http_client() -> Any:
    from twilio.http.async_http_client import AsyncTwilioHttpClient

    # No max_retries: regula retries by itself, after deciding whether a retry is safe.
    return AsyncTwilioHttpClient()


def _classify(exc: Any) -> SendResult:
    status = int(getattr(exc, "status", 0) or 0)
    code = str(getattr(exc, "code", "") or status)
    text = str(getattr(exc, "msg", exc))
    if status == 429:
        return SendResult("retry", error_code=code, error=text)
    if status >= 500:
        return SendResult("unknown", error_code=code, error=text)  # Twilio may have taken it
    return SendResult("failed", error_code=code, error=text)


def build_channels(settings: Settings) -> dict[str, Channel]:
    """The channels this deployment can use, by message channel name."""
    if settings.notify_channel == "console":
        return {"console": ConsoleChannel()}
    channels: dict[str, Channel] = {"console": ConsoleChannel(), "sms": TwilioChannel(settings, "sms")}
    if settings.twilio_whatsapp_sender:
        channels["whatsapp"] = TwilioChannel(settings, "whatsapp")
    return channels


# -- the providers' delivery statuses -----------------------------------------------------------------------

#: How far along a provider status is: receipts arrive in any order, and a later one never moves a message back.
PROVIDER_RANK = {
    "accepted": 1,
    "scheduled": 1,
    "queued": 2,
    "sending": 3,
    "sent": 4,
    "failed": 5,
    "undelivered": 5,
    "delivered": 6,
    "read": 7,
}


def status_for(provider_status: str | None) -> str:
    """The message status (as stored) a provider's delivery status means."""
    if provider_status in ("delivered", "read"):
        return "entregue"
    if provider_status in ("failed", "undelivered"):
        return "falhou"
    return "enviada"
