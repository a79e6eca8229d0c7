"""Federal money of the PMAE ("Mais Acesso a Especialistas"): the incentive for the implementation of the PAR and
the 30/70 split of the OCI funding. Pure rules (Portaria GM/MS 3.492/2024 as amended; docs/programs.md,
docs/decisions/0015-program-money.md).

* **Incentive** (art. 15 §1 as amended), by the population covered by the PAR:
  I — more than 1,000,000 inhabitants: R$ 1,200,000.00;
  II — more than 500,000 up to 1,000,000: R$ 600,000.00;
  III — up to 499,999: R$ 360,000.00 (the amendment dropped the original floor of "more than 100,000").
  **Exactly 500,000** fits neither text (II starts *above* 500,000, III stops at 499,999). regula puts it in III,
  R$ 360,000.00: II's "mais de" is an explicit condition 500,000 does not meet, and the brackets' own pattern puts
  each boundary in the lower bracket (1,000,000 is in II, not I). See decision record 0015.
* **Incentive halves** (art. 15 §2): 50% after the SAES approves the PAR (I); 50% after 50% of the PAR's planned
  financial production has been executed (II).
* **OCI funding** (art. 16 as amended): 30% of the approved value up front to the executing managers (I, after the
  approval and the CIB resolution naming them, §1); 70% against production concluded adequately (II), conditional
  on the PAR's commitments (§4). The ledger that applies it over time is :mod:`regula.programs.ledger`.

Rounding: ROUND_HALF_UP to centavos; the second part of any split is the total minus the first, so the parts always
add up to the total.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from regula.core.errors import FieldError, ValidationFailed
from regula.programs.money import ZERO, centavos, percent

# Portaria GM/MS 3.492/2024 as amended, art. 15 §1: (population above which the bracket starts, amount).
INCENTIVE_LARGE: Final = Decimal("1200000.00")  # I — more than 1,000,000 inhabitants
INCENTIVE_MEDIUM: Final = Decimal("600000.00")  # II — more than 500,000 up to 1,000,000
INCENTIVE_SMALL: Final = Decimal("360000.00")  # III — up to 499,999 (and exactly 500,000: decision 0015)
LARGE_ABOVE: Final = 1_000_000
MEDIUM_ABOVE: Final = 500_000
INCENTIVE_FIRST_RATE: Final = Decimal("0.50")  # art. 15 §2 I
EXECUTION_THRESHOLD: Final = Decimal("0.50")  # art. 15 §2 II: 50% of the planned financial production
OCI_ADVANCE_RATE: Final = Decimal("0.30")  # art. 16 I
OCI_PRODUCTION_RATE: Final = Decimal("0.70")  # art. 16 II


@dataclass(frozen=True)
class Incentive:
    population: int
    amount: Decimal
    first: Decimal  # after the SAES approval (art. 15 §2 I)
    second: Decimal  # after 50% of the planned financial production is executed (art. 15 §2 II)


@dataclass(frozen=True)
class IncentiveDue:
    first: bool
    second: bool
    amount: Decimal  # the sum of the halves that are due


@dataclass(frozen=True)
class OciSplit:
    approved: Decimal
    advance: Decimal  # 30% (art. 16 I)
    production: Decimal  # 70% (art. 16 II) = approved − advance


def _invalid(field: str, code: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, code=code, errors=[FieldError(field, code, message)])


def incentive_amount(population: int) -> Decimal:
    """The incentive for a PAR covering ``population`` inhabitants (art. 15 §1 as amended; 500,000 → bracket III,
    decision 0015)."""
    if isinstance(population, bool) or not isinstance(population, int):
        raise _invalid("population", "populacao_invalida", "A população deve ser um número inteiro de habitantes.")
    if population <= 0:
        raise _invalid("population", "populacao_invalida", "A população deve ser maior que zero.")
    if population > LARGE_ABOVE:
        return INCENTIVE_LARGE
    if population > MEDIUM_ABOVE:
        return INCENTIVE_MEDIUM
    return INCENTIVE_SMALL


def incentive(population: int) -> Incentive:
    """The incentive and its two halves (art. 15 §1–§2)."""
    amount = incentive_amount(population)
    first = percent(amount, INCENTIVE_FIRST_RATE)
    return Incentive(population=population, amount=amount, first=first, second=amount - first)


def execution_reached(executed_value: Decimal, planned_value: Decimal) -> bool:
    """Whether 50% of the PAR's planned financial production has been executed (art. 15 §2 II). A plan with no
    planned value never reaches it."""
    if executed_value < 0 or planned_value < 0:
        raise _invalid("executed_value", "valor_negativo", "Valores de produção não podem ser negativos.")
    if planned_value == 0:
        return False
    return centavos(executed_value) >= centavos(planned_value) * EXECUTION_THRESHOLD


def incentive_due(
    population: int, *, saes_approved: bool, executed_value: Decimal, planned_value: Decimal
) -> IncentiveDue:
    """Which halves of the incentive are due (art. 15 §2): the first once the SAES approved the PAR; the second
    once 50% of the planned financial production has been executed — and, the steps being successive ("em duas
    etapas"), never before the first (a PAR that is not approved has no planned production to execute)."""
    inc = incentive(population)
    first = saes_approved
    second = saes_approved and execution_reached(executed_value, planned_value)
    return IncentiveDue(
        first=first,
        second=second,
        amount=(inc.first if first else ZERO) + (inc.second if second else ZERO),
    )


def oci_split(approved: Decimal) -> OciSplit:
    """The OCI funding of an approved value: 30% advance (art. 16 I) and the 70% balance on production (II)."""
    if approved < 0:
        raise _invalid("approved", "valor_negativo", "O valor aprovado não pode ser negativo.")
    total = centavos(approved)
    advance = oci_advance(total)
    return OciSplit(approved=total, advance=advance, production=total - advance)


def oci_advance(approved: Decimal) -> Decimal:
    """30% of the value approved in the PAR, rounded half up (art. 16 I)."""
    return percent(approved, OCI_ADVANCE_RATE)


def oci_production_share(approved: Decimal) -> Decimal:
    """The 70% paid against production (art. 16 II): the approved value minus the advance, so 30% + 70% is always
    exactly the approved value."""
    total = centavos(approved)
    return total - oci_advance(total)
