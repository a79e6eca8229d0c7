"""COR and sanctions of an operator, month by month — issue 14 item 5 as regula applies Portaria Conjunta MS/AGU
7.702/2025 (shared/regulations/portaria-conjunta-ms-agu-7702-2025-ressarcimento.txt).

Pure module: no database, no I/O, no clock. :func:`evaluate` takes an operator's consecutive competências (its
annual maximum, whether it is a large operator of national reach, whether SAES authorized the lower COR minimum,
and per month the matrix's planned value and the production items) and returns per month the counted value, the
carry-over, the COR, the execution, the run of months below 90% and the sanction. ``regula ressarcimento evaluate``
(``cli.py``) and the pages use it; ``docs/ressarcimento.md`` has the JSON schema and worked examples and decision
0017 records the interpretations below.

The rules
=========

**Counted value** (art. 15 §6, §5; art. 4 §3). Only authorized (homologated) items count; an unauthorized item is
ignored and uses no cap (art. 15 §6: "vedada a possibilidade de serem computados para cálculo de COR"). Items are
taken in input order; each counts ``min(value, room)``, so an item that crosses a cap counts partially and the rest
is lost (it never moves to a later month or another item). The room is:

* the **annual maximum** minus what was already counted in the same calendar year (art. 15 §5);
* for **large operators of national reach** also the item's own cap in the year (art. 4 §3): its region's share of
  the annual maximum — NE 24%, N 8%, CO 10%, SE 36.5%, S 11.5% (incisos I–V) — or, for a **strategic** item, the
  10% strategic cap (inciso VI) *instead of* its region's. A strategic item uses only the strategic cap and the
  annual maximum; it never consumes its region's cap. Other operators ignore region and strategic.

When an item crosses the annual maximum and its regional (or strategic) cap at once, it counts the *smaller* of
the two rooms, and that same counted amount is added to both the year's total and that cap's use. The shares add
up to 100% of the annual maximum, so the regional caps alone never allow more than the annual maximum. Caps
restart on 1 January: what was counted in December uses nothing of January's room.

**COR** (art. 15 §1–3). The minimum **M** is R$ 100.000,00, or R$ 50.000,00 where SAES authorized the exception
(§2). The **available** value of a month is its counted value plus the values carried in (below) — nothing else:
not the expired values, not the production that was not authorized or exceeded a cap. A COR is issued when the
available value reaches ``0.9 × M`` (production "até 10% inferior" is tolerated, §3), compared exactly, and then
covers the whole available value (the carried values included, which are thereby used up).

**Carry-over** (art. 15 §4, "por um período de até noventa dias"). Without a COR the whole available value is
carried out, as lots that each keep their month of origin *o*: the month's own counted value is a new lot with
origin *o* = this month; a lot that was carried in and is carried out again keeps its **original** origin (it is
not renewed by being carried). A lot is usable (carried in) in *o*+1, *o*+2 and *o*+3; in *o*+4 it is no longer
carried in and is reported as **expired** in that month. A carried value is not capped again (the caps apply when
production is counted, in its own month and year). The first month of the input starts with nothing carried in.
Hence, per month and exactly: ``counted + carried_in = cor + carried_out``, and
``carried_out(previous month) = carried_in + expired`` (in the first month, ``carried_in = expired = 0``).

**Execution and sanctions** (art. 17). Execution of a month = counted value ÷ the matrix's planned value of that
month, as a percentage; a month with planned value 0 counts as 100%. A month is **below 90%** when
``counted < 0.9 × planned``, compared exactly (planned 0 is therefore never below). Execution uses the month's own
counted value (after caps), not carried values. ``months_below_90`` is the length of the current run of
consecutive months below 90%, this month included, or 0 for a month at or above 90%, which ends the run; nothing
else resets it (not a COR, not 1 January). The run before the first month of the input is not known and taken as
empty, so the input should start at the operator's first competência (or after a month at or above 90%).

* months 1–3 of a run: sanction ``nenhuma``, fine 0;
* month 4 (more than ninety days, art. 17 I): ``multa``; the fine is 10% of the planned value not performed over
  the run's four months, ``0.1 × Σ (planned − counted)`` over months 1–4 of the run;
* months 5 and 6: ``multa``; each adds 10% of its own shortfall, ``0.1 × (planned − counted)``;
* month 7 and later (more than 180 days, art. 17 II): ``exclusao``; each month still adds 10% of its own shortfall
  (the 7th included), because the fine and the exclusion are distinct sanctions of the same provision.

``fine`` is the fine *proposed in that month* (the 4th month carries the four-month base; later months only their
own shortfall), never a running total. A proposed sanction is notified and becomes final after the 15-day
challenge window of art. 17 §1 (``rules.sanction_window``), which is a matter of dates, not of this evaluation.

**Money and rounding.** Every amount is a :class:`~decimal.Decimal`, computed exactly (no intermediate rounding:
the caps, 0.9 × M, 0.9 × planned and the fines are exact products) and **each reported value is rounded once** to
centavos, half up (``ROUND_HALF_UP``); ``execution_pct`` is rounded once to two decimals, half up, from the exact
fraction. Because each value is rounded on its own, the identities above hold exactly on
:func:`evaluate_exact`'s values and may be off by a centavo on the rounded ones (:func:`evaluate`).

**Input checks.** Competências are ``AAAAMM`` (month 01–12), consecutive and in increasing order; amounts are
finite, non-negative, at most R$ 10¹² and with at most six decimal places (so every computation above is exact).
Anything else raises :class:`~regula.core.errors.ValidationFailed` whose :class:`~regula.core.errors.FieldError`
names the field (``months[2].competencia``; :func:`parse_input` names the JSON path, ``months[2].planned_brl``).
"""

from __future__ import annotations

import decimal
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from fractions import Fraction
from typing import Final, Literal

from regula.core.errors import FieldError, ValidationFailed

Sanction = Literal["nenhuma", "multa", "exclusao"]


class Region(StrEnum):
    """Geographic region of the unit that provided the service (art. 4 §3 I–V)."""

    N = "N"
    NE = "NE"
    CO = "CO"
    SE = "SE"
    S = "S"


REGION_LABELS_PT: Final[dict[Region, str]] = {
    Region.N: "Norte",
    Region.NE: "Nordeste",
    Region.CO: "Centro-Oeste",
    Region.SE: "Sudeste",
    Region.S: "Sul",
}

#: Art. 4 §3 I–V: each region's share of a large national operator's annual maximum.
REGION_SHARES: Final[dict[Region, Decimal]] = {
    Region.NE: Decimal("0.24"),  # inciso I
    Region.N: Decimal("0.08"),  # inciso II
    Region.CO: Decimal("0.10"),  # inciso III
    Region.SE: Decimal("0.365"),  # inciso IV
    Region.S: Decimal("0.115"),  # inciso V
}
#: Art. 4 §3 VI: strategic services, in any region.
STRATEGIC_SHARE: Final = Decimal("0.10")

#: Art. 15 §1: the COR's monthly minimum; §2: the minimum SAES may authorize as an exception.
MINIMUM: Final = Decimal("100000")
MINIMUM_EXCEPTION: Final = Decimal("50000")
#: Art. 15 §3: production up to 10% below the minimum still gets a COR.
COR_TOLERANCE: Final = Decimal("0.9")
#: Art. 15 §4: a carried value is usable in o+1 .. o+CARRY_MONTHS ("até noventa dias").
CARRY_MONTHS: Final = 3
#: Art. 17: a month is below 90% when counted < EXECUTION_FLOOR × planned.
EXECUTION_FLOOR: Final = Decimal("0.9")
#: Art. 17 I: the fine is 10% of the value not performed; from the 4th month of a run (more than 90 days).
FINE_RATE: Final = Decimal("0.10")
FINE_MONTH: Final = 4
#: Art. 17 II: exclusion from the 7th month of a run (more than 180 days).
EXCLUSION_MONTH: Final = 7

MAX_AMOUNT: Final = Decimal(10) ** 12
MAX_DECIMAL_PLACES: Final = 6
CENTAVO: Final = Decimal("0.01")

_COMPETENCIA = re.compile(r"^(\d{4})(0[1-9]|1[0-2])$")
# Every amount has at most 13 integer digits and 6 decimal places; products with the shares add 3 places; sums of
# many items add a few integer digits. 60 significant digits keep every operation exact; Inexact is trapped so a
# violation would be a loud error, never a silent rounding.
_EXACT = decimal.Context(prec=60, rounding=ROUND_HALF_UP, traps=[decimal.Inexact, decimal.InvalidOperation])


@dataclass(frozen=True)
class Item:
    """One production item: its value (R$), whether the regulation authorized it (art. 15 §6), the region of the
    unit that provided it and whether it is a strategic service (art. 4 §3 VI)."""

    value: Decimal
    authorized: bool
    region: Region
    strategic: bool


@dataclass(frozen=True)
class MonthInput:
    competencia: str  # "AAAAMM"
    planned: Decimal  # the approved matrix's planned value for the month (art. 17)
    production: tuple[Item, ...]


@dataclass(frozen=True)
class EvaluationInput:
    minimum_exception: bool  # SAES authorized the R$ 50.000 minimum (art. 15 §2)
    annual_max: Decimal  # the operator's annual maximum set by SAES (art. 15 §5)
    national_large: bool  # large operator of national reach: regional caps apply (art. 4 §3)
    months: tuple[MonthInput, ...]


@dataclass(frozen=True)
class MonthResult:
    competencia: str
    counted: Decimal
    carried_in: Decimal
    available: Decimal
    cor_issued: bool
    cor: Decimal
    carried_out: Decimal
    expired: Decimal
    execution_pct: Decimal
    months_below_90: int
    sanction: Sanction
    fine: Decimal

    def rounded(self) -> MonthResult:
        """Every money value rounded once to centavos and the execution to two decimals, half up."""
        return replace(
            self,
            counted=round_money(self.counted),
            carried_in=round_money(self.carried_in),
            available=round_money(self.available),
            cor=round_money(self.cor),
            carried_out=round_money(self.carried_out),
            expired=round_money(self.expired),
            execution_pct=round_money(self.execution_pct),
            fine=round_money(self.fine),
        )


def round_money(value: Decimal) -> Decimal:
    """Round to centavos, half up (the house rule for reported money)."""
    return value.quantize(CENTAVO, rounding=ROUND_HALF_UP)


def minimum(minimum_exception: bool) -> Decimal:
    """M: R$ 100.000 (art. 15 §1) or R$ 50.000 with the SAES exception (§2)."""
    return MINIMUM_EXCEPTION if minimum_exception else MINIMUM


def cor_threshold(minimum_exception: bool) -> Decimal:
    """The available value from which a COR is issued: 0.9 × M (art. 15 §3)."""
    return COR_TOLERANCE * minimum(minimum_exception)


def month_index(competencia: str) -> int:
    """Months since year 0 of a valid ``AAAAMM`` (so consecutive competências differ by 1)."""
    return int(competencia[:4]) * 12 + int(competencia[4:]) - 1


def competencia_of(index: int) -> str:
    year, month0 = divmod(index, 12)
    return f"{year:04d}{month0 + 1:02d}"


def execution_pct(counted: Decimal, planned: Decimal) -> Decimal:
    """Counted ÷ planned as a percentage, rounded once to two decimals half up (planned 0 counts as 100%)."""
    if planned == 0:
        return Decimal("100.00")
    exact = Fraction(counted) * 100 / Fraction(planned)
    hundredths = math.floor(exact * 100 + Fraction(1, 2))  # exact ≥ 0, so floor(x + ½) is half up
    return Decimal(hundredths).scaleb(-2)


# ---------------------------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------------------------


def _invalid(path: str, code: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, code=code, errors=[FieldError(path, code, message)])


def check_amount(value: object, path: str) -> Decimal:
    """A money amount: a finite, non-negative number up to R$ 10¹² with at most six decimal places."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int | float):
        raise _invalid(path, "numero_invalido", f"{path}: informe um número (valor em reais).")
    number = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    if not number.is_finite():
        raise _invalid(path, "numero_invalido", f"{path}: informe um número finito.")
    if number < 0:
        raise _invalid(path, "valor_negativo", f"{path}: o valor não pode ser negativo.")
    if number > MAX_AMOUNT:
        raise _invalid(path, "valor_muito_grande", f"{path}: o valor não pode passar de R$ 1.000.000.000.000,00.")
    exponent = number.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent < -MAX_DECIMAL_PLACES:
        raise _invalid(path, "casas_decimais", f"{path}: use no máximo {MAX_DECIMAL_PLACES} casas decimais.")
    return number


def check_competencia(value: object, path: str) -> str:
    if not isinstance(value, str) or not _COMPETENCIA.match(value):
        raise _invalid(
            path, "competencia_invalida", f"{path}: a competência deve ter o formato AAAAMM (mês de 01 a 12)."
        )
    return value


def _check_sequence(competencias: Sequence[str], key: str) -> None:
    """Competências consecutive and in increasing order (issue 14 item 5)."""
    for i in range(1, len(competencias)):
        previous, current = competencias[i - 1], competencias[i]
        if month_index(current) != month_index(previous) + 1:
            expected = competencia_of(month_index(previous) + 1)
            if month_index(current) <= month_index(previous):
                code, what = "competencia_fora_de_ordem", "fora de ordem ou repetida"
            else:
                code, what = "competencia_nao_consecutiva", "não consecutiva (há meses faltando)"
            raise _invalid(
                f"months[{i}].{key}",
                code,
                f"months[{i}].{key}: competência {current} {what}; depois de {previous} deve vir {expected}.",
            )


def _validate(data: EvaluationInput) -> None:
    check_amount(data.annual_max, "annual_max")
    for i, month in enumerate(data.months):
        check_competencia(month.competencia, f"months[{i}].competencia")
        check_amount(month.planned, f"months[{i}].planned")
        for j, item in enumerate(month.production):
            check_amount(item.value, f"months[{i}].production[{j}].value")
            if not isinstance(item.region, Region):
                try:
                    Region(item.region)
                except ValueError:
                    raise _region_error(f"months[{i}].production[{j}].region") from None
    _check_sequence([m.competencia for m in data.months], "competencia")


def _region_error(path: str) -> ValidationFailed:
    options = ", ".join(r.value for r in Region)
    return _invalid(path, "regiao_invalida", f"{path}: região inválida; use uma de: {options}.")


# ---------------------------------------------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class YearCaps:
    """What was counted in one calendar year: in total and per cap (a region's, or the strategic one). Caps restart
    on 1 January: one instance per calendar year."""

    total: Decimal = Decimal(0)
    by_cap: dict[str, Decimal] = field(default_factory=dict)

    def used(self, cap: str) -> Decimal:
        return self.by_cap.get(cap, Decimal(0))

    def add(self, cap: str | None, amount: Decimal) -> None:
        self.total += amount
        if cap is not None:
            self.by_cap[cap] = self.used(cap) + amount


_STRATEGIC_CAP: Final = "strategic"


def cap_share(item: Item) -> tuple[str, Decimal]:
    """The cap an item of a large national operator uses (art. 4 §3): the strategic 10% (VI) for a strategic item,
    else its region's share (I–V)."""
    if item.strategic:
        return _STRATEGIC_CAP, STRATEGIC_SHARE
    region = Region(item.region)
    return region.value, REGION_SHARES[region]


def count_month(production: Sequence[Item], annual_max: Decimal, national_large: bool, year: YearCaps) -> Decimal:
    """The month's counted value; updates ``year`` (art. 15 §5–6, art. 4 §3). Exact."""
    counted = Decimal(0)
    for item in production:
        if not item.authorized:
            continue  # art. 15 §6: never computed for the COR, and uses no cap
        room = annual_max - year.total
        cap: str | None = None
        if national_large:
            cap, share = cap_share(item)
            room = min(room, share * annual_max - year.used(cap))
        amount = min(item.value, max(room, Decimal(0)))
        year.add(cap, amount)
        counted += amount
    return counted


def evaluate_exact(data: EvaluationInput) -> tuple[MonthResult, ...]:
    """:func:`evaluate` without rounding the money values (``execution_pct`` is rounded once from the exact
    fraction). For checking identities; reports use :func:`evaluate`."""
    _validate(data)
    with decimal.localcontext(_EXACT):
        return _run(data)


def _run(data: EvaluationInput) -> tuple[MonthResult, ...]:
    threshold = cor_threshold(data.minimum_exception)
    years: dict[int, YearCaps] = {}
    lots: list[tuple[int, Decimal]] = []  # carried out of the previous month: (month of origin, amount)
    run: list[tuple[Decimal, Decimal]] = []  # the current run below 90%: (planned, counted) per month
    results: list[MonthResult] = []
    for month in data.months:
        m = month_index(month.competencia)
        year = years.setdefault(m // 12, YearCaps())
        counted = count_month(month.production, data.annual_max, data.national_large, year)

        # Art. 15 §4: lots of origin o are usable in o+1..o+3; in o+4 they expire.
        alive = [(o, v) for o, v in lots if m - o <= CARRY_MONTHS]
        expired = sum((v for o, v in lots if m - o > CARRY_MONTHS), Decimal(0))
        carried_in = sum((v for _, v in alive), Decimal(0))
        available = counted + carried_in

        # Art. 15 §1–3: COR at 0.9 × M, for the whole available value.
        cor_issued = available >= threshold
        if cor_issued:
            cor, carried_out, lots = available, Decimal(0), []
        else:
            cor, carried_out = Decimal(0), available
            lots = [*alive, (m, counted)] if counted > 0 else alive

        # Art. 17: runs of months below 90%, fine from the 4th month, exclusion from the 7th.
        planned = month.planned
        if counted < EXECUTION_FLOOR * planned:
            run.append((planned, counted))
        else:
            run = []
        sanction, fine = _sanction(run)

        results.append(
            MonthResult(
                competencia=month.competencia,
                counted=counted,
                carried_in=carried_in,
                available=available,
                cor_issued=cor_issued,
                cor=cor,
                carried_out=carried_out,
                expired=expired,
                execution_pct=execution_pct(counted, planned),
                months_below_90=len(run),
                sanction=sanction,
                fine=fine,
            )
        )
    return tuple(results)


def _sanction(run: Sequence[tuple[Decimal, Decimal]]) -> tuple[Sanction, Decimal]:
    """Art. 17 I–II on the current run (planned, counted per month, oldest first)."""
    n = len(run)
    if n < FINE_MONTH:
        return "nenhuma", Decimal(0)
    if n == FINE_MONTH:
        base = sum((planned - counted for planned, counted in run), Decimal(0))
    else:
        planned, counted = run[-1]
        base = planned - counted
    return ("exclusao" if n >= EXCLUSION_MONTH else "multa"), FINE_RATE * base


def evaluate(data: EvaluationInput) -> tuple[MonthResult, ...]:
    """Apply issue 14 item 5 to the operator's consecutive months; every reported value rounded once, half up.

    Raises :class:`ValidationFailed` naming the field (``months[i].competencia``, ``annual_max``…) on bad input."""
    return tuple(r.rounded() for r in evaluate_exact(data))


# ---------------------------------------------------------------------------------------------------------------
# JSON
# ---------------------------------------------------------------------------------------------------------------


def _require(obj: Mapping[str, object], key: str, path: str) -> object:
    if key not in obj:
        full = f"{path}.{key}" if path else key
        raise _invalid(full, "campo_obrigatorio", f"{full}: campo obrigatório.")
    return obj[key]


def _bool(value: object, path: str) -> bool:
    if not isinstance(value, bool):
        raise _invalid(path, "booleano_invalido", f"{path}: informe true ou false.")
    return value


def _object(value: object, path: str) -> Mapping[str, object]:
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        where = path or "documento"
        raise _invalid(path or "$", "objeto_invalido", f"{where}: esperado um objeto JSON.")
    return value


def _list(value: object, path: str) -> list[object]:
    if not isinstance(value, list):
        raise _invalid(path, "lista_invalida", f"{path}: esperada uma lista JSON.")
    return value


def _unknown_keys(obj: Mapping[str, object], allowed: set[str], path: str) -> None:
    for key in obj:
        if key not in allowed:
            full = f"{path}.{key}" if path else key
            raise _invalid(
                full, "campo_desconhecido", f"{full}: campo desconhecido; use: {', '.join(sorted(allowed))}."
            )


def parse_input(raw: object) -> EvaluationInput:
    """The evaluation input from the issue's JSON (already decoded; decode numbers with ``parse_float=Decimal``
    to keep them exact — floats are read through their shortest repr). Raises :class:`ValidationFailed` naming
    the JSON path (``months[1].production[0].value_brl``) on bad input."""
    root = _object(raw, "")
    _unknown_keys(root, {"minimum_exception", "annual_max_brl", "national_large", "months"}, "")
    minimum_exception = _bool(_require(root, "minimum_exception", ""), "minimum_exception")
    annual_max = check_amount(_require(root, "annual_max_brl", ""), "annual_max_brl")
    national_large = _bool(_require(root, "national_large", ""), "national_large")
    months: list[MonthInput] = []
    for i, raw_month in enumerate(_list(_require(root, "months", ""), "months")):
        mpath = f"months[{i}]"
        month = _object(raw_month, mpath)
        _unknown_keys(month, {"competencia", "planned_brl", "production"}, mpath)
        competencia = check_competencia(_require(month, "competencia", mpath), f"{mpath}.competencia")
        planned = check_amount(_require(month, "planned_brl", mpath), f"{mpath}.planned_brl")
        items: list[Item] = []
        for j, raw_item in enumerate(_list(_require(month, "production", mpath), f"{mpath}.production")):
            ipath = f"{mpath}.production[{j}]"
            item = _object(raw_item, ipath)
            _unknown_keys(item, {"value_brl", "authorized", "region", "strategic"}, ipath)
            value = check_amount(_require(item, "value_brl", ipath), f"{ipath}.value_brl")
            authorized = _bool(_require(item, "authorized", ipath), f"{ipath}.authorized")
            region_raw = _require(item, "region", ipath)
            if not isinstance(region_raw, str) or region_raw not in Region.__members__:
                raise _region_error(f"{ipath}.region")
            strategic = _bool(_require(item, "strategic", ipath), f"{ipath}.strategic")
            items.append(Item(value=value, authorized=authorized, region=Region(region_raw), strategic=strategic))
        months.append(MonthInput(competencia=competencia, planned=planned, production=tuple(items)))
    _check_sequence([m.competencia for m in months], "competencia")
    return EvaluationInput(
        minimum_exception=minimum_exception,
        annual_max=annual_max,
        national_large=national_large,
        months=tuple(months),
    )


def month_to_json(result: MonthResult) -> dict[str, object]:
    """One month in the issue's output keys; money and the percentage as Decimals with two decimals (serialize
    with :func:`dumps` to write them as JSON numbers with two decimals)."""
    r = result.rounded()  # idempotent on already rounded results
    return {
        "competencia": r.competencia,
        "counted_brl": r.counted,
        "carried_in_brl": r.carried_in,
        "available_brl": r.available,
        "cor_issued": r.cor_issued,
        "cor_brl": r.cor,
        "carried_out_brl": r.carried_out,
        "expired_brl": r.expired,
        "execution_pct": r.execution_pct,
        "months_below_90": r.months_below_90,
        "sanction": r.sanction,
        "fine_brl": r.fine,
    }


def results_to_json(results: Sequence[MonthResult]) -> dict[str, object]:
    """``{"months": [...]}`` with the issue's output keys; money values are :class:`Decimal` quantized to two
    decimals, which :func:`dumps` writes as JSON numbers (``90000.00``)."""
    return {"months": [month_to_json(r) for r in results]}


def dumps(value: object, *, indent: int = 2) -> str:
    """JSON text in which every :class:`Decimal` is written as a JSON number as it is (``90000.00``, never a
    float's ``90000.0`` nor a string). Accepts dicts with string keys, lists, tuples, str, bool, int, None."""
    return _dump(value, indent, 0)


def _dump(value: object, indent: int, level: int) -> str:
    pad, inner = " " * (indent * level), " " * (indent * (level + 1))
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError("non-finite Decimal")
        return format(value, "f")
    if isinstance(value, Mapping):
        if not value:
            return "{}"
        parts = [
            f"{inner}{json.dumps(str(k), ensure_ascii=False)}: {_dump(v, indent, level + 1)}" for k, v in value.items()
        ]
        return "{\n" + ",\n".join(parts) + "\n" + pad + "}"
    if isinstance(value, list | tuple):
        if not value:
            return "[]"
        return "[\n" + ",\n".join(inner + _dump(v, indent, level + 1) for v in value) + "\n" + pad + "]"
    if value is None or isinstance(value, bool | int | str):
        return json.dumps(value, ensure_ascii=False)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")
