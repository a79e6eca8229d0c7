"""Money of the programs: ``Decimal`` rounded to centavos, largest-remainder allocation, and JSON with money as
numbers of two decimals. Pure module.

Rounding rule of the programs (docs/decisions/0015-program-money.md): every amount is rounded to centavos with
``ROUND_HALF_UP`` at the point where the ordinance computes it (a percentage of a total, a per-capita share); the
parts of a total split across rows are allocated by largest remainder so that rows always add up to the total.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Final

CENTAVO: Final = Decimal("0.01")
ZERO: Final = Decimal("0.00")


def centavos(value: Decimal | int) -> Decimal:
    """``value`` rounded to centavos, half up (the programs' rounding rule)."""
    return Decimal(value).quantize(CENTAVO, rounding=ROUND_HALF_UP)


def percent(value: Decimal, rate: Decimal) -> Decimal:
    """``rate`` (a fraction, e.g. ``Decimal("0.30")``) of ``value``, rounded to centavos half up."""
    return centavos(value * rate)


def allocate(total: Decimal, weights: Sequence[Decimal]) -> list[Decimal]:
    """Split ``total`` (centavos) across ``weights`` in proportion, by largest remainder, so the parts add up to
    ``total`` exactly. Ties go to the earlier weight. Each part is at most its weight whenever ``total`` is at most
    the sum of the weights. All-zero weights only take a zero total."""
    total_c = int(centavos(total) * 100)
    weight_c = [int(centavos(w) * 100) for w in weights]
    if total_c < 0 or any(w < 0 for w in weight_c):
        raise ValueError("allocate needs non-negative amounts")
    whole = sum(weight_c)
    if whole == 0:
        if total_c:
            raise ValueError("cannot allocate a non-zero total over zero weights")
        return [ZERO for _ in weights]
    shares = [total_c * w // whole for w in weight_c]
    rest = total_c - sum(shares)
    order = sorted(range(len(weight_c)), key=lambda i: (-(total_c * weight_c[i] % whole), i))
    for i in order[:rest]:
        shares[i] += 1
    return [Decimal(s).scaleb(-2) for s in shares]


def money_text(value: Decimal) -> str:
    """``Decimal("1234.5")`` → ``"1234.50"``: the exact text of a money value (JSON strings of the API)."""
    return f"{centavos(value):.2f}"


def brl(value: Decimal) -> str:
    """``Decimal("1234567.8")`` → ``"R$ 1.234.567,80"``: money as people in Brazil read it."""
    text = f"{centavos(value):,.2f}"  # 1,234,567.80
    return "R$ " + text.replace(",", "_").replace(".", ",").replace("_", ".")


def dumps(value: object, *, indent: int | None = 2) -> str:
    """JSON text where every ``Decimal`` is written as a number with two decimals (``1200000.00``), which the
    standard encoder cannot do (it would go through float). Accepts dicts with string keys, lists, tuples, strings,
    ints, bools, None and Decimals."""
    return _dump(value, indent, 0)


def _dump(value: object, indent: int | None, level: int) -> str:
    if isinstance(value, Decimal):
        return money_text(value)
    if isinstance(value, Mapping):
        items = [f"{json.dumps(str(k), ensure_ascii=False)}: {_dump(v, indent, level + 1)}" for k, v in value.items()]
        return _join(items, "{", "}", indent, level)
    if isinstance(value, list | tuple):
        return _join([_dump(v, indent, level + 1) for v in value], "[", "]", indent, level)
    if value is None or isinstance(value, bool | int | str):
        return json.dumps(value, ensure_ascii=False)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def _join(items: list[str], opening: str, closing: str, indent: int | None, level: int) -> str:
    if not items:
        return opening + closing
    if indent is None:
        return opening + ", ".join(items) + closing
    inner = " " * (indent * (level + 1))
    return opening + "\n" + ",\n".join(inner + item for item in items) + "\n" + " " * (indent * level) + closing
