"""Structured logs: one JSON object per line on stderr (or plain text for people at a terminal)."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from regula.config import Settings

_RESERVED = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


def mask_phone(address: str | None) -> str:
    """A phone number as logs may show it: the country code and the last four digits (``+55*******1234``).

    Enough to tell two numbers apart while debugging a channel, not enough to call anyone (no personal data in
    logs). A channel prefix such as ``whatsapp:`` is kept.
    """
    if not address:
        return ""
    prefix, _, number = address.rpartition(":")
    digits = "".join(ch for ch in number if ch.isdigit())
    if len(digits) <= 6:
        return f"{prefix + ':' if prefix else ''}{'*' * len(digits)}"
    return f"{prefix + ':' if prefix else ''}+{digits[:2]}{'*' * (len(digits) - 6)}{digits[-4:]}"


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ``ts`` (UTC, milliseconds), ``level``, ``logger``, ``msg`` and the record's
    extra fields. The date part of ``ts`` is formatted once per second, not per line (the request log writes one
    line per request)."""

    _cached: tuple[int, str] = (-1, "")  # (second, its formatted date and time): one tuple, swapped whole

    def _timestamp(self, created: float) -> str:
        second = int(created)
        micros = round((created - second) * 1_000_000)
        if micros >= 1_000_000:  # rounds up into the next second: the slow, exact path
            return datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")
        cached_second, prefix = self._cached
        if second != cached_second:
            prefix = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
            self._cached = (second, prefix)
        return f"{prefix}.{micros // 1000:03d}+00:00"

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": self._timestamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _RESERVED and key[0] != "_":
                payload[key] = value
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str, ensure_ascii=False)


def configure_logging(settings: Settings, *, stream_is_cli: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if settings.log_json and not (stream_is_cli and sys.stderr.isatty()):
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    # The CLI shows progress bars; keep library chatter (pgserver logs every initdb/pg_ctl command line) at warning
    # level.
    for noisy in ("alembic", "asyncio", "uvicorn.access", "apscheduler", "pgserver"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
