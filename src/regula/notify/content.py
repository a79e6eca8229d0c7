"""What messages say: Brazilian Portuguese Jinja2 templates, one per message kind.

Rules (issue 5, item 3): never a clinical detail — no OCI name, no CID, only "consulta especializada"; always the
protocol number and how to follow the queue; an SMS fits one GSM-7 segment (160 characters) where possible. Some
Brazilian carriers strip or garble accents, and any character outside GSM-7 (ã, õ, ç, í…) turns the whole SMS into
UCS-2 with 70 characters per segment, so SMS bodies are written without accents; WhatsApp keeps them.
"""

from __future__ import annotations

import math
import unicodedata
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo

import jinja2

TEMPLATES_DIR: Final = Path(__file__).parent / "templates"

#: Message kinds and whether they are critical (a failure goes to the navigators) and the question they ask.
KINDS: Final[dict[str, tuple[bool, str | None]]] = {
    "fila_entrada": (False, None),
    "posicao": (False, None),
    "agendamento": (True, "aviso"),
    "confirmacao": (True, "confirmacao"),
    "lembrete": (False, None),
    "oferta": (True, "oferta"),
    "validacao": (False, "validacao"),
    "validacao_confirma": (False, "validacao_confirma"),
    "confirmada": (False, None),
    "liberada": (False, None),
    "continua": (False, None),
    "encerrada": (False, None),
    "falta": (False, None),
    "ajuda": (False, None),
    "optout": (False, None),
}
KIND_LABELS_PT: Final[dict[str, str]] = {
    "fila_entrada": "Entrada na fila",
    "posicao": "Posição e previsão",
    "agendamento": "Consulta marcada",
    "confirmacao": "Pedido de confirmação",
    "lembrete": "Lembrete",
    "oferta": "Oferta de vaga liberada",
    "validacao": "Validação (ainda precisa?)",
    "validacao_confirma": "Confirmação de saída da fila",
    "confirmada": "Presença confirmada",
    "liberada": "Vaga liberada",
    "continua": "Continua na fila",
    "encerrada": "Solicitação encerrada",
    "falta": "Após a falta",
    "ajuda": "Ajuda",
    "optout": "Saída das mensagens",
}

# The GSM 03.38 basic character set (one septet each) and its extension table (two septets each).
GSM7_BASIC: Final = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿"
    "abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED: Final = frozenset("^{}\\[~]|€")
WEEKDAYS_PT: Final = ("segunda", "terça", "quarta", "quinta", "sexta", "sábado", "domingo")


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # noqa: S701 - plain text for SMS/WhatsApp, never HTML
        keep_trailing_newline=False,
        # The templates are package files: never re-checked on disk (a stat per message cost ~10% of an
        # allocation commit writing 22,000 messages).
        auto_reload=False,
    )


def to_gsm7(text: str) -> str:
    """Text an SMS can carry in GSM-7 on every carrier: accents removed, other characters replaced."""
    out = []
    for ch in unicodedata.normalize("NFKD", text):
        if unicodedata.combining(ch):
            continue
        if ch in GSM7_BASIC or ch in GSM7_EXTENDED:
            out.append(ch)
        elif ch in "\u2013\u2014":
            out.append("-")
        elif ch in "\u201c\u201d":
            out.append('"')
        elif ch in "\u2018\u2019":
            out.append("'")
        else:
            out.append("?")
    return "".join(out)


def segments(text: str) -> int:
    """SMS segments this text takes: GSM-7 (160, or 153 per part) when it can, else UCS-2 (70, or 67)."""
    if all(ch in GSM7_BASIC or ch in GSM7_EXTENDED for ch in text):
        septets = sum(2 if ch in GSM7_EXTENDED else 1 for ch in text)
        return 1 if septets <= 160 else math.ceil(septets / 153)
    units = len(text.encode("utf-16-le")) // 2
    return 1 if units <= 70 else math.ceil(units / 67)


def render(kind: str, variables: dict[str, Any], channel: str) -> str:
    """The message body of this kind for this channel."""
    if kind not in KINDS:
        raise KeyError(f"unknown message kind {kind!r}")
    text = _environment().get_template(f"{kind}.txt").render(**variables).strip()
    text = " ".join(text.split())
    return to_gsm7(text) if channel == "sms" else text


def when_variables(starts_at: datetime, timezone: str) -> dict[str, str]:
    """Day and time of an appointment as a citizen reads them, in their own time zone."""
    local = starts_at.astimezone(ZoneInfo(timezone))
    return {
        "day": f"{WEEKDAYS_PT[local.weekday()]}, {local:%d/%m}",
        "time": f"{local:%H}h" if local.minute == 0 else f"{local:%H}h{local:%M}",
    }


def mask_name(name: str) -> str:
    """First name and initials, for places where a name must be shown without exposing it."""
    parts = name.split()
    if not parts:
        return ""
    return " ".join([parts[0], *(p[0] + "." for p in parts[1:] if p[0].isupper())])
