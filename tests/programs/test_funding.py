"""The PAR incentive (Portaria GM/MS 3.492/2024 as amended, art. 15) and the OCI 30/70 split (art. 16)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from regula.core.errors import ValidationFailed
from regula.programs.funding import (
    Incentive,
    execution_reached,
    incentive,
    incentive_amount,
    incentive_due,
    oci_advance,
    oci_production_share,
    oci_split,
)

D = Decimal


@pytest.mark.parametrize(
    ("population", "amount"),
    [
        (1, "360000.00"),  # the amendment dropped the original floor of 100,000 inhabitants
        (99_999, "360000.00"),
        (499_999, "360000.00"),  # III: up to 499,999
        (500_000, "360000.00"),  # neither II ("mais de 500.000") nor III's text: decision 0015, lower bracket
        (500_001, "600000.00"),  # II: more than 500,000
        (1_000_000, "600000.00"),  # II: up to 1,000,000
        (1_000_001, "1200000.00"),  # I: more than 1,000,000
        (12_000_000, "1200000.00"),
    ],
)
def test_incentive_brackets_at_their_boundaries(population: int, amount: str) -> None:
    result = incentive(population)
    assert result == Incentive(population, D(amount), D(amount) / 2, D(amount) / 2)
    assert result.first + result.second == result.amount


@pytest.mark.parametrize("population", [0, -1])
def test_incentive_needs_a_positive_population(population: int) -> None:
    with pytest.raises(ValidationFailed) as info:
        incentive_amount(population)
    assert info.value.errors[0].field == "population"
    assert info.value.errors[0].code == "populacao_invalida"


def test_incentive_halves_due() -> None:
    # §2 I: first half after SAES approval; II: second after 50% of the planned financial production.
    nothing = incentive_due(600_000, saes_approved=False, executed_value=D("900"), planned_value=D("1000"))
    assert (nothing.first, nothing.second, nothing.amount) == (False, False, D("0.00"))
    first = incentive_due(600_000, saes_approved=True, executed_value=D("499.99"), planned_value=D("1000"))
    assert (first.first, first.second, first.amount) == (True, False, D("300000.00"))
    both = incentive_due(600_000, saes_approved=True, executed_value=D("500.00"), planned_value=D("1000"))
    assert (both.first, both.second, both.amount) == (True, True, D("600000.00"))


def test_execution_threshold() -> None:
    assert execution_reached(D("50.00"), D("100.00"))
    assert not execution_reached(D("49.99"), D("100.00"))
    assert not execution_reached(D("0"), D("0"))  # nothing planned: nothing to execute
    assert execution_reached(D("50.01"), D("100.01"))  # half of 100.01 is 50.005
    assert not execution_reached(D("50.00"), D("100.01"))
    with pytest.raises(ValidationFailed):
        execution_reached(D("-1"), D("10"))


def test_oci_split_30_70() -> None:
    split = oci_split(D("100000.00"))
    assert (split.advance, split.production) == (D("30000.00"), D("70000.00"))
    odd = oci_split(D("0.05"))  # 30% = 0.015 → 0.02 half up; the 70% is the rest
    assert (odd.advance, odd.production) == (D("0.02"), D("0.03"))
    assert oci_advance(D("33.33")) == D("10.00")
    assert oci_production_share(D("33.33")) == D("23.33")
    with pytest.raises(ValidationFailed):
        oci_split(D("-0.01"))


@given(st.decimals(min_value=0, max_value=10**9, places=2, allow_nan=False, allow_infinity=False))
def test_split_adds_up(approved: Decimal) -> None:
    split = oci_split(approved)
    assert split.advance + split.production == approved
    assert abs(split.advance - approved * D("0.3")) <= D("0.005")


@given(st.integers(min_value=1, max_value=300_000_000))
def test_incentive_is_monotonic_and_one_of_three(population: int) -> None:
    amount = incentive_amount(population)
    assert amount in {D("360000.00"), D("600000.00"), D("1200000.00")}
    assert incentive_amount(population + 1) >= amount
