"""An OCI's completion rule and its clock, over the procedures recorded for it. Pure module.

Sources:

* An OCI is "o conjunto de procedimentos [...] integrados para concluir uma etapa na linha de cuidado" (Portaria
  GM/MS 3.492/2024, art. 5 §1); its rol states the procedures and whether they are mandatory or eventual (art. 6
  §2 II), and production control checks the procedures of each OCI by their codes (amendment to 3.492/2024, art.
  14 §3 I–II). regula reads the composition from SIGTAP (``rl_procedimento_compativel``: type 5 mandatory, 1
  compatible) through ``regula.catalog``.
* **Conclusion rule**: every mandatory procedure registered; and, for OCIs with attribute 053 (PMAE), at least
  :data:`regula.catalog.policy.PMAE_MIN_SECONDARIES` (2) different secondary procedures, one of them the specialist
  consultation 0301010072 or the teleconsultation 0301010307 where the OCI accepts it. The PMAE minimum is not in
  the ordinances' text nor in any SIGTAP table: it is the SIA's critique 000013 ("PMAE EXIGE PELO MENOS 2
  PROC.SEC. SENDO UM OBRIG.(030101007 OU 030101030)"), which rejects the APAC otherwise — the APAC being where the
  OCI's conclusion must be registered (art. 16 §2 as amended). See ``regula.catalog.policy``. Attributes 056/057
  (the OCI requires a CT / an MRI) add a group "at least one of the OCI's tomography / MRI procedures".
* **Quantities**: a procedure registered more times than SIGTAP's QT_PERMITIDA is flagged, not refused (the
  record says what happened; production control reports it — art. 14 §3 II).
* **tM clock**: from the first to the last procedure (amendment, art. 14 §3 III). While the OCI is open, the clock
  runs from the first procedure to today. **tR** (the recommended time, Portaria 3.492/2024 art. 6 §2 III and the
  original art. 14 §2 III) has no published value per OCI (the reference catalog's ``tR_days`` is empty for all
  34): regula uses half of tM, rounded up (15 days in oncology, 30 elsewhere), and warns :data:`TM_WARNING_DAYS`
  days before tM — regula's choices, documented in docs/production.md.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Final

from regula.catalog.schemas import OciSummary, SecondaryItem
from regula.waitlist import measures

ROLE_MANDATORY: Final = "obrigatorio"
ROLE_CONSULTATION: Final = "consulta"  # the PMAE consultation pair
ROLE_OPTIONAL: Final = "opcional"
ROLE_LABELS_PT: Final = {
    ROLE_MANDATORY: "Obrigatório",
    ROLE_CONSULTATION: "Consulta (regra PMAE)",
    ROLE_OPTIONAL: "Opcional",
}

TM_WARNING_DAYS: Final = 7


def recommended_days(max_days: int) -> int:
    """tR of an OCI whose tM is ``max_days`` (see the module docstring)."""
    return max(1, math.ceil(max_days / 2))


def tm_warning_day(max_days: int) -> int:
    """The day of the clock when the "close to tM" alert goes out."""
    return max(1, max_days - TM_WARNING_DAYS)


@dataclass(frozen=True, slots=True)
class Performed:
    code: str
    quantity: int
    performed_on: date


@dataclass(frozen=True, slots=True)
class ChecklistItem:
    code: str
    name: str
    qty_allowed: int | None
    done_qty: int

    @property
    def done(self) -> bool:
        return self.done_qty > 0


@dataclass(frozen=True, slots=True)
class GroupStatus:
    source: str  # the attribute behind it: 053 (PMAE), 056 (CT), 057 (MRI)
    rule: str
    codes: tuple[tuple[str, str], ...]  # (code, name)
    done_codes: tuple[str, ...]

    @property
    def satisfied(self) -> bool:
        return bool(self.done_codes)


@dataclass(frozen=True, slots=True)
class OverQuantity:
    code: str
    name: str
    done: int
    allowed: int


@dataclass(frozen=True, slots=True)
class Clock:
    first_on: date | None
    last_on: date | None
    span_days: int | None  # last − first
    elapsed_days: int | None  # open: today − first; concluded: the span
    max_days: int  # tM
    recommended_days: int  # tR
    concluded: bool

    @property
    def started(self) -> bool:
        return self.first_on is not None

    @property
    def within_tm(self) -> bool | None:
        """True/False once concluded; while open, False as soon as tM is exceeded, else None (not decided)."""
        if self.elapsed_days is None:
            return None
        if self.concluded and self.first_on is not None and self.last_on is not None:
            return measures.within_tm(self.first_on, self.last_on, self.max_days)
        return False if self.elapsed_days > self.max_days else None

    @property
    def level(self) -> str:
        """ok, atencao (past tR), alerta (close to tM), vencido (past tM) — or nao_iniciado."""
        days = self.elapsed_days
        if days is None:
            return "nao_iniciado"
        if days > self.max_days:
            return "vencido"
        if self.concluded:
            return "ok"
        if days >= tm_warning_day(self.max_days):
            return "alerta"
        if days >= self.recommended_days:
            return "atencao"
        return "ok"

    @property
    def percent(self) -> int:
        return round(100 * (self.elapsed_days or 0) / self.max_days) if self.max_days > 0 else 0

    @property
    def remaining_days(self) -> int | None:
        return None if self.elapsed_days is None else self.max_days - self.elapsed_days


@dataclass(frozen=True, slots=True)
class Progress:
    mandatory: tuple[ChecklistItem, ...]
    groups: tuple[GroupStatus, ...]
    min_secondaries: int | None
    distinct_secondaries: int
    over_quantity: tuple[OverQuantity, ...]
    clock: Clock

    @property
    def mandatory_ok(self) -> bool:
        return all(item.done for item in self.mandatory)

    @property
    def groups_ok(self) -> bool:
        return all(g.satisfied for g in self.groups)

    @property
    def min_secondaries_ok(self) -> bool:
        return self.min_secondaries is None or self.distinct_secondaries >= self.min_secondaries

    @property
    def pmae_ok(self) -> bool:
        """The PMAE rule (SIA critique 000013): the minimum number of secondaries and the consultation group."""
        consultation = [g for g in self.groups if g.source == "053"]
        return self.min_secondaries_ok and all(g.satisfied for g in consultation)

    @property
    def complete(self) -> bool:
        return self.mandatory_ok and self.groups_ok and self.min_secondaries_ok

    @property
    def missing(self) -> tuple[str, ...]:
        """What still prevents the conclusion, in Portuguese."""
        out = [f"Procedimento obrigatório não registrado: {i.code} – {i.name}." for i in self.mandatory if not i.done]
        for g in self.groups:
            if not g.satisfied:
                options = ", ".join(code for code, _name in g.codes)
                out.append(f"{g.rule}: registre um de {options}.")
        if not self.min_secondaries_ok:
            out.append(
                f"Regra PMAE: são necessários ao menos {self.min_secondaries} procedimentos secundários diferentes; "
                f"há {self.distinct_secondaries}."
            )
        return tuple(out)


def composition_items(oci: OciSummary) -> dict[str, SecondaryItem]:
    """Every procedure the OCI's composition accepts, by code."""
    items: dict[str, SecondaryItem] = {}
    for item in (*oci.mandatory, *oci.consultation_one_of, *oci.optional):
        items.setdefault(item.code, item)
    for group in oci.one_of_groups:
        for item in group.codes:
            items.setdefault(item.code, item)
    return items


def role_of(oci: OciSummary, code: str) -> str | None:
    """The procedure's role in the OCI, or None when it is not part of its composition."""
    if any(i.code == code for i in oci.mandatory):
        return ROLE_MANDATORY
    if any(i.code == code for i in oci.consultation_one_of):
        return ROLE_CONSULTATION
    return ROLE_OPTIONAL if code in composition_items(oci) else None


def quantities(performed: Iterable[Performed]) -> dict[str, int]:
    totals: dict[str, int] = defaultdict(int)
    for p in performed:
        totals[p.code] += p.quantity
    return dict(totals)


def evaluate(
    oci: OciSummary,
    performed: Iterable[Performed],
    *,
    today: date,
    concluded: bool = False,
    max_days: int | None = None,
    tr_days: int | None = None,
) -> Progress:
    """The OCI's progress over the valid procedures recorded for it. ``max_days`` (tM) defaults to the catalog's
    (the OCI's in force today), ``tr_days`` (tR) to half of tM — pass the execution's own (decision 22)."""
    done = list(performed)
    totals = quantities(done)
    items = composition_items(oci)
    mandatory = tuple(ChecklistItem(i.code, i.name, i.qty, totals.get(i.code, 0)) for i in oci.mandatory)
    groups = tuple(
        GroupStatus(
            g.source,
            g.rule,
            tuple((i.code, i.name) for i in g.codes),
            tuple(i.code for i in g.codes if totals.get(i.code, 0) > 0),
        )
        for g in oci.one_of_groups
    )
    over = tuple(
        OverQuantity(code, items[code].name, n, items[code].qty or 0)
        for code, n in sorted(totals.items())
        if code in items and items[code].qty is not None and n > (items[code].qty or 0)
    )
    tm = max_days if max_days is not None else oci.max_days
    first = min((p.performed_on for p in done), default=None)
    last = max((p.performed_on for p in done), default=None)
    span = (last - first).days if first is not None and last is not None else None
    if first is None:
        elapsed = None
    elif concluded:
        elapsed = span
    else:
        elapsed = max((today - first).days, span or 0)
    tr = min(tr_days, tm) if tr_days is not None else recommended_days(tm)
    clock = Clock(first, last, span, elapsed, tm, tr, concluded)
    return Progress(
        mandatory=mandatory,
        groups=groups,
        min_secondaries=oci.min_secondaries,
        distinct_secondaries=sum(1 for code in totals if code in items),
        over_quantity=over,
        clock=clock,
    )
