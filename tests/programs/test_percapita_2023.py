"""Portaria GM/MS 90/2023: the Annex's per-capita table to the centavo, and the program's rules (art. 8–10)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from regula.core.errors import ValidationFailed
from regula.production.authorization import PROGRAM_DIGITS
from regula.programs.percapita_2023 import (
    COMPLEMENT_LIMIT_RATE,
    complement,
    counts_as_program_production,
    distribution_totals,
    is_program_authorization,
    max_complement,
    numbering_digit,
    per_capita,
    share_of,
)

D = Decimal

# Transcribed from the Annex of Portaria GM/MS 90/2023 (shared/regulations/portaria-gm-ms-90-2023-reducao-filas.txt):
# COD UF, SIGLA, "Proporção Per Capita", "Vr. 1/3". The populations are the module's input, not repeated here.
ANNEX = [
    ("11", "RO", "5.105.845,00", "1.701.948,33"),
    ("12", "AC", "2.550.776,40", "850.258,80"),
    ("13", "AM", "12.010.244,50", "4.003.414,83"),
    ("14", "RR", "1.835.890,37", "611.963,46"),
    ("15", "PA", "24.687.477,44", "8.229.159,15"),
    ("16", "AP", "2.468.468,16", "822.822,72"),
    ("17", "TO", "4.521.041,04", "1.507.013,68"),
    ("21", "MA", "20.120.029,55", "6.706.676,52"),
    ("22", "PI", "9.251.808,75", "3.083.936,25"),
    ("23", "CE", "25.991.043,34", "8.663.681,11"),
    ("24", "RN", "10.015.776,52", "3.338.592,17"),
    ("25", "PB", "11.419.322,90", "3.806.440,97"),
    ("26", "PE", "27.212.357,25", "9.070.785,75"),
    ("27", "AL", "9.465.746,06", "3.155.248,69"),
    ("28", "SE", "6.577.442,01", "2.192.480,67"),
    ("29", "BA", "42.149.212,05", "14.049.737,35"),
    ("31", "MG", "60.225.464,06", "20.075.154,69"),
    ("32", "ES", "11.556.028,89", "3.852.009,63"),
    ("33", "RJ", "49.119.282,63", "16.373.094,21"),
    ("35", "SP", "131.210.336,53", "43.736.778,84"),
    ("41", "PR", "32.620.323,54", "10.873.441,18"),
    ("42", "SC", "20.640.973,81", "6.880.324,60"),
    ("43", "RS", "32.252.269,58", "10.750.756,53"),
    ("50", "MS", "7.985.803,74", "2.661.934,58"),
    ("51", "MT", "10.033.583,77", "3.344.527,92"),
    ("52", "GO", "20.270.022,77", "6.756.674,26"),
    ("53", "DF", "8.703.429,35", "2.901.143,12"),
]
ANNEX_TOTAL_POPULATION = 213_317_639


def brl(text: str) -> Decimal:
    return D(text.replace(".", "").replace(",", "."))


def test_per_capita_reproduces_the_annex_to_the_centavo() -> None:
    shares = per_capita()
    assert len(shares) == 27
    got = [(s.uf_code, s.uf, s.amount, s.upfront) for s in shares]
    expected = [(code, uf, brl(amount), brl(third)) for code, uf, amount, third in ANNEX]
    assert got == expected


def test_annex_total_row() -> None:
    # The Annex's total row is the sum before rounding; the rounded rows add up to one centavo more each.
    population, amount, upfront = distribution_totals(per_capita())
    assert population == ANNEX_TOTAL_POPULATION
    assert amount == D("600000000.01")
    assert upfront == D("200000000.01")


def test_rest_is_paid_on_production() -> None:
    sc = share_of("sc")
    assert sc.name == "Santa Catarina" and sc.population == 7_338_473
    assert sc.upfront + sc.on_production == sc.amount
    with pytest.raises(ValidationFailed):
        share_of("XX")


def test_numbering_digits_art_10() -> None:
    assert numbering_digit("aih") == "5"
    assert numbering_digit("apac") == "6"
    # The same digits production issues for the program.
    assert PROGRAM_DIGITS[("aih", "reducao_filas")] == "5"
    assert PROGRAM_DIGITS[("apac", "reducao_filas")] == "6"
    assert is_program_authorization("4223600000013", "apac")
    assert not is_program_authorization("4223700000013", "apac")
    assert is_program_authorization("42.23.5.0000001-3", "aih")
    assert not is_program_authorization("422350000001", "aih")  # 12 digits


def test_program_production_is_elective_in_the_special_series() -> None:
    assert counts_as_program_production(number="4223600000013", instrument="apac", carater="1")
    assert counts_as_program_production(number="4223600000013", instrument="apac", carater="01")
    assert not counts_as_program_production(number="4223600000013", instrument="apac", carater="02")  # urgência
    assert not counts_as_program_production(number="4223600000013", instrument="aih", carater="1")  # AIH needs 5


def test_complement_up_to_100_percent_of_the_table() -> None:
    assert D("1.00") == COMPLEMENT_LIMIT_RATE
    c = complement(D("150.00"), D("150.00"))
    assert (c.complement, c.total, c.rate) == (D("150.00"), D("300.00"), D("1"))
    assert complement(D("150.00"), D("0")).total == D("150.00")
    assert max_complement(D("80.555")) == D("80.56")
    with pytest.raises(ValidationFailed) as info:
        complement(D("150.00"), D("150.01"))
    assert info.value.errors[0].code == "complemento_acima_do_limite"
    assert "R$ 150,00" in info.value.errors[0].message
    with pytest.raises(ValidationFailed):
        complement(D("-1"), D("0"))


def test_numbers_issued_by_production_for_the_program_count() -> None:
    # Production composes the program's numbers (UF 42, year 23, digit 6 / 5); the program recognizes them.
    from regula.production.authorization import compose_apac_aih, parse_apac_aih, program_for_digit

    apac = compose_apac_aih("42236", 123)
    aih = compose_apac_aih("42235", 123)
    parsed = parse_apac_aih(apac, instrument="apac")  # a valid number, check digit included
    assert program_for_digit("apac", parsed.program_digit) == "reducao_filas"
    assert counts_as_program_production(number=apac, instrument="apac", carater="1")
    assert counts_as_program_production(number=aih, instrument="aih", carater="01")
    assert not counts_as_program_production(number=aih, instrument="apac", carater="1")
