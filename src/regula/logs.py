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
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
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
