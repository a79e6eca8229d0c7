"""What every server-rendered page shares: who is asking, their territory, field errors, labels people read (in
Portuguese), pagination and short messages after a POST-redirect-GET. Forms are decoded and submitted through
``regula.web.forms``."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from litestar import Request

from regula.access.labels import jurisdiction_label as jurisdiction_label
from regula.access.policy import ROLE_LABELS_PT, JurisdictionKind, Role
from regula.access.service import Principal
from regula.core.errors import FieldError, PermissionDenied
from regula.territory.labels import municipality_label as municipality_label
from regula.territory.labels import scope_label as scope_label
from regula.territory.labels import title_case as title_case
from regula.territory.reference import Municipality, territory
from regula.waitlist import measures
from regula.waitlist import service as wl
from regula.waitlist.states import STATUS_LABELS_PT, EntryStatus

PAGE_SIZE = 50

RISK_LABELS_PT: dict[str, str] = {
    "vermelho": "Vermelho",
    "amarelo": "Amarelo",
    "verde": "Verde",
    "azul": "Azul",
}
RISK_HINTS_PT: dict[str, str] = {
    "vermelho": "maior gravidade: prioridade máxima",
    "amarelo": "gravidade moderada: prioridade alta",
    "verde": "prioridade intermediária",
    "azul": "eletivo: menor prioridade clínica",
}
SEX_LABELS_PT: dict[str, str] = {"F": "Feminino", "M": "Masculino"}
RACE_LABELS_PT: dict[str, str] = {
    "branca": "Branca",
    "preta": "Preta",
    "parda": "Parda",
    "amarela": "Amarela",
    "indigena": "Indígena",
    "sem_informacao": "Sem informação",
}
LEGAL_PRIORITY_LABELS_PT: dict[str, str] = {
    "idoso_80": "Pessoa idosa (80 anos ou mais)",
    "idoso_60": "Pessoa idosa (60 anos ou mais)",
    "gestante": "Gestante",
    "pessoa_com_deficiencia": "Pessoa com deficiência",
    "tea": "Pessoa com transtorno do espectro autista",
}
CHANNEL_LABELS_PT: dict[str, str] = {"sms": "SMS", "whatsapp": "WhatsApp", "nenhum": "Nenhum"}
SCOPE_KIND_LABELS_PT: dict[str, str] = {"region": "Região de saúde", "macro": "Macrorregião", "uf": "UF"}

# Score components in the order people read them (regula.waitlist.priority.COMPONENT_KEYS).
SCORE_COMPONENT_LABELS_PT: tuple[tuple[str, str], ...] = (
    ("classe", "Classe de risco"),
    ("promocao_de_classe", "Promoção de classe por espera"),
    ("prioridade_legal", "Prioridade legal"),
    ("espera", "Dias de espera"),
    ("prazo", "Pressão do prazo (tM)"),
    ("equidade", "Equidade"),
)


def principal(request: Request[Any, Any, Any]) -> Principal:
    user = request.scope.get("user")
    if not isinstance(user, Principal):  # pages are guarded; this is a programming error, not a user's
        raise PermissionDenied("Entre no sistema para continuar.", code="nao_autenticado")
    return user


def actor(request: Request[Any, Any, Any]) -> wl.Actor:
    return wl.Actor.of(principal(request))


def short_oci_name(name: str) -> str:
    """SIGTAP names start with "OCI " (or "OCI - "): on a crowded line, the rest says it."""
    for prefix in ("OCI - ", "OCI "):
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def readable_oci_name(name: str) -> str:
    """``OCI AVALIAÇÃO DIAGNÓSTICA EM ORTOPEDIA`` → ``Avaliação diagnóstica em ortopedia``: narrower, for charts
    (codes such as GIN1 stay as they are)."""
    words = short_oci_name(name).split()
    out = [w if any(ch.isdigit() for ch in w) else _lower_but_numerals(w) for w in words]
    text = " ".join(out)
    return text[:1].upper() + text[1:]


_ROMAN = re.compile(r"(?:I{1,3}|IV|VI{0,3}|IX|X)")


def _lower_but_numerals(word: str) -> str:
    """Lower case, except the Roman numerals that number SIGTAP's staged OCIs (``CÂNCER DE MAMA - I``,
    ``COLO DO ÚTERO-II``): "mama - I", not "mama - i"."""
    return "-".join(part if _ROMAN.fullmatch(part) else part.lower() for part in word.split("-"))


def role_label(role: str | None) -> str:
    """A recorded role as people call it ("Solicitante (APS)"); a system actor's role (no such role) as recorded."""
    if not role:
        return ""
    try:
        return ROLE_LABELS_PT[Role(role)]
    except ValueError:
        return role


def status_label(status: str) -> str:
    try:
        return STATUS_LABELS_PT[EntryStatus(status)]
    except ValueError:
        return status


def visible_municipalities(p: Principal) -> list[Municipality]:
    """The municipalities inside the user's jurisdiction, by name."""
    return sorted((m for m in territory().all() if p.jurisdiction.covers_place(m)), key=lambda m: m.search_name)


def sub_scopes(p: Principal) -> list[tuple[str, str]]:
    """Jurisdictions a user may launch an allocation run for: their own and every UF, macro-region and health
    region inside it, as ``(value, label)``."""
    j = p.jurisdiction
    t = territory()
    out: list[tuple[str, str]] = [(str(j), f"{jurisdiction_label(j)} (toda a sua jurisdição)")]
    if j.kind is JurisdictionKind.NATIONAL:
        out += [(f"uf:{u.sigla}", u.name) for u in t.ufs()]
        return out
    if j.kind is JurisdictionKind.UF:
        out += [(f"macro:{m.code}", scope_label("macro", m.code)) for m in t.macro_regions(j.code)]
        out += [(f"region:{r.code}", scope_label("region", r.code)) for r in t.health_regions(j.code)]
    elif j.kind is JurisdictionKind.MACRO:
        out += [
            (f"region:{r.code}", scope_label("region", r.code)) for r in t.health_regions() if r.macro_code == j.code
        ]
    return out


# -- forms ---------------------------------------------------------------------------------------------------


def field_errors(errors: Iterable[FieldError]) -> dict[str, str]:
    """Field → the messages about it, joined; shown next to the field."""
    out: dict[str, list[str]] = {}
    for e in errors:
        out.setdefault(e.field, []).append(e.message)
    return {k: " ".join(dict.fromkeys(v)) for k, v in out.items()}


def parse_date_br(raw: str) -> date | None:
    """``AAAA-MM-DD`` (what a date input sends) or ``DD/MM/AAAA`` (what people type); None when neither."""
    text = raw.strip()
    try:
        if len(text) == 10 and text[2] == "/" and text[5] == "/":
            return date(int(text[6:]), int(text[3:5]), int(text[:2]))
        return date.fromisoformat(text)
    except ValueError:
        return None


# -- pagination ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    number: int
    size: int
    total: int

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.size))

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages


#: Pages past this one are empty anyway; a larger number would only overflow the query's OFFSET (bigint).
MAX_PAGE = 1_000_000


def page_number(raw: int | None) -> int:
    return min(max(1, raw or 1), MAX_PAGE)


# -- display -------------------------------------------------------------------------------------------------


def tm_clock(days: int | None, max_days: int) -> dict[str, Any] | None:
    """The tM clock of an entry: days waited (``waitlist.measures``) against the OCI's maximum time, and how
    alarming that is: ``alerta`` past 75% of tM (when the navigators are called in), ``vencido`` past tM, and
    ``atencao`` from half of it. The thresholds are the measures' integer comparisons, never the rounded percent."""
    if days is None or max_days <= 0:
        return None
    percent = measures.tm_percent(days, max_days)
    if measures.past_tm(days, max_days):
        level = "vencido"
    elif measures.past_escalation(days, max_days):
        level = "alerta"
    else:
        level = "atencao" if 2 * days >= max_days else "ok"
    return {"days": days, "max_days": max_days, "percent": percent, "bar": min(percent, 100), "level": level}


def entry_tm_clock(entry: Any, today: date, tz: str) -> dict[str, Any] | None:
    """:func:`tm_clock` of an entry-like row (``measures.entry_clock``) on ``today``, with its ``deadline``: the
    day days waited reaches tM, later by each day the clock was paused, the current pause counted to today (so a
    suspended entry's deadline moves a day for each day it stays suspended, as its clock stands still)."""
    clock = measures.entry_clock(entry, today, tz)
    if clock is None:
        return None
    view = tm_clock(clock.days, clock.max_days)
    if view is not None:
        view["deadline"] = clock.deadline
    return view


def fmt_int(n: int | float | None) -> str:
    if n is None:
        return "—"
    return f"{round(n):,}".replace(",", ".")


def fmt_decimal(x: float | None, places: int = 1) -> str:
    if x is None:
        return "—"
    return f"{x:,.{places}f}".replace(",", "_").replace(".", ",").replace("_", ".")


def fmt_phone(phone: str | None) -> str:
    """``+5548999887766`` → ``(48) 99988-7766``; anything else as it is."""
    if not phone:
        return "—"
    digits = phone.removeprefix("+55")
    if phone.startswith("+55") and digits.isdigit() and len(digits) in (10, 11):
        return f"({digits[:2]}) {digits[2:-4]}-{digits[-4:]}"
    return phone


def fmt_date(d: date | datetime | None) -> str:
    if d is None:
        return "—"
    return f"{d:%d/%m/%Y}"


def fmt_datetime(d: datetime | None, tz: str) -> str:
    if d is None:
        return "—"
    return f"{d.astimezone(ZoneInfo(tz)):%d/%m/%Y %H:%M}"
