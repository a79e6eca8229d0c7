"""What messages say: Brazilian Portuguese Jinja2 templates, one per message kind.

Rules (issue 5, item 3): never a clinical detail — no OCI name, no CID, only "consulta especializada"; always the
protocol number and how to follow the queue; an SMS fits one GSM-7 segment (160 characters) where possible. Some
Brazilian carriers strip or garble accents, and any character outside GSM-7 (ã, õ, ç, í…) turns the whole SMS into
UCS-2 with 70 characters per segment, so SMS bodies are written without accents; WhatsApp keeps them.
"""

from __future__ import annotations

import functools
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
    """The message body of this kind for this channel.

    Byte for byte :func:`render_template`'s, but each template is rendered once per (kind, channel, values that
    shape it) with markers where it prints a variable as it is, and the values are put in their place afterwards:
    an allocation commit renders 22,000 bodies of three templates (see :func:`_skeleton` for when that is exact)."""
    if kind not in KINDS:
        raise KeyError(f"unknown message kind {kind!r}")
    printed, shaping = _names(kind)
    values: dict[str, str] = {}
    key: list[Any] = [kind, channel]
    for name in sorted(shaping):
        if name not in variables:
            return render_template(kind, variables, channel)  # StrictUndefined names it
        value = variables[name]
        if name in printed and type(value) is str and value and value == " ".join(value.split()):
            values[name] = value
        elif isinstance(value, str | int | bool | None) and not (isinstance(value, str) and _MARKS & set(value)):
            key.append((name, type(value).__name__, value))  # the type too: False == 0 as a key
        else:
            return render_template(kind, variables, channel)
    parts = _skeleton(tuple(key), frozenset(values))
    if parts is None:
        return render_template(kind, variables, channel)
    sms = channel == "sms"
    return "".join(
        part if name is None else (_gsm7_value(values[name]) if sms else values[name]) for part, name in parts
    )


def render_template(kind: str, variables: dict[str, Any], channel: str) -> str:
    """The message body of this kind for this channel, rendered by Jinja2 from ``variables`` (the definition)."""
    if kind not in KINDS:
        raise KeyError(f"unknown message kind {kind!r}")
    text = _environment().get_template(f"{kind}.txt").render(**variables).strip()
    text = " ".join(text.split())
    return to_gsm7(text) if channel == "sms" else text


#: A printed variable's place in a skeleton (private-use characters: no template or value holds them).
_OPEN, _CLOSE = "\ue000", "\ue001"
_MARKS = frozenset(_OPEN + _CLOSE)
#: Nodes a template may hold for its skeleton to be exact: text, printed names, conditions on constants and names.
_PLAIN_NODES = (
    jinja2.nodes.Template,
    jinja2.nodes.Output,
    jinja2.nodes.TemplateData,
    jinja2.nodes.Name,
    jinja2.nodes.Const,
    jinja2.nodes.If,
    jinja2.nodes.Not,
    jinja2.nodes.And,
    jinja2.nodes.Or,
)


@cache
def _names(kind: str) -> tuple[frozenset[str], frozenset[str]]:
    """(names the template only ever prints as they are, ``{{ name }}`` directly in its text; every name it reads).
    A template with anything else (a filter, a loop, an include…) prints nothing "as it is": no name is put in
    afterwards, and every one it reads shapes the skeleton."""
    env = _environment()
    assert env.loader is not None
    source = env.loader.get_source(env, f"{kind}.txt")[0]
    tree = env.parse(source)
    read = frozenset(node.name for node in tree.find_all(jinja2.nodes.Name))
    if _MARKS & set(source) or any(not isinstance(node, _PLAIN_NODES) for node in _walk(tree)):
        return frozenset(), read
    direct: dict[str, int] = {}
    for output in tree.find_all(jinja2.nodes.Output):
        for node in output.nodes:
            if isinstance(node, jinja2.nodes.Name):
                direct[node.name] = direct.get(node.name, 0) + 1
    every: dict[str, int] = {}
    for node in tree.find_all(jinja2.nodes.Name):
        every[node.name] = every.get(node.name, 0) + 1
    return frozenset(name for name, n in direct.items() if every[name] == n), read


def _walk(node: jinja2.nodes.Node) -> list[jinja2.nodes.Node]:
    return [node, *(n for child in node.iter_child_nodes() for n in _walk(child))]


@functools.lru_cache(maxsize=1024)
def _skeleton(key: tuple[Any, ...], printed: frozenset[str]) -> tuple[tuple[str, str | None], ...] | None:
    """The body of ``key`` (kind, channel, the values that shape it) as text parts and the printed names between
    them, or None when it cannot be exact. Exact because a printed value goes into the text as ``str`` (no filter,
    no escaping), holds no outer or repeated whitespace (so the whitespace folding of the body is the same with it
    or its marker) and is not empty, and ``to_gsm7`` works character by character (decomposition, then combining
    marks dropped), so it can be applied to the text and to each value apart."""
    kind, channel, *shaping = key
    markers = {name: f"{_OPEN}{name}{_CLOSE}" for name in printed}
    values = {name: value for name, _, value in shaping}
    text = _environment().get_template(f"{kind}.txt").render(**values, **markers).strip()
    text = " ".join(text.split())
    parts: list[tuple[str, str | None]] = []
    rest = text
    while _OPEN in rest:
        before, _, after = rest.partition(_OPEN)
        name, closed, rest = after.partition(_CLOSE)
        if not closed or name not in printed:
            return None
        parts.append((to_gsm7(before) if channel == "sms" else before, None))
        parts.append(("", name))
    if _CLOSE in rest:
        return None
    parts.append((to_gsm7(rest) if channel == "sms" else rest, None))
    return tuple(part for part in parts if part != ("", None))


@functools.lru_cache(maxsize=4096)
def _gsm7_value(value: str) -> str:
    return to_gsm7(value)


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
