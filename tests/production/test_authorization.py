"""APAC/AIH and CMD authorization numbers: check digit, program digit, structure, ranges (pure)."""

from __future__ import annotations

import pytest

from regula.core.errors import ValidationFailed
from regula.production import authorization as auth

# Real OCI APAC numbers (UF 33, 2026, 5th digit 7), as a public OCI billing tool records them (Cisbaf/Apac-Oci,
# .context/tasks/T-025): their last digit is the first twelve, read as one integer, mod 11.
REAL_OCI_APACS = ("3326702390979", "3326702390924", "3326702390891")


def _codes(exc: pytest.ExceptionInfo[ValidationFailed]) -> list[str]:
    return [e.code for e in exc.value.errors]


@pytest.mark.parametrize("number", REAL_OCI_APACS)
def test_real_oci_apac_numbers_are_valid(number: str) -> None:
    parsed = auth.parse_authorization(number)
    assert parsed.instrument == "apac"
    assert parsed.program == "pmae"
    assert auth.check_digit(number[:12]) == number[12]
    assert parsed.formatted == f"{number[:2]}.{number[2:4]}.7.{number[5:12]}-{number[12]}"


def test_check_digit_is_the_first_twelve_digits_mod_11() -> None:
    assert auth.check_digit("422670000001") == str(422670000001 % 11)
    # A remainder of 10 does not fit in one digit: it is written 0, and such sequences are never issued.
    ten = next(f"4226700{s:05d}" for s in range(100) if int(f"4226700{s:05d}") % 11 == 10)
    assert auth.check_digit(ten) == "0"
    assert auth.parse_apac_aih(ten + "0").number == ten + "0"
    assert not auth.issuable("apac", ten[:5], int(ten[5:]))
    assert auth.issuable("apac", ten[:5], int(ten[5:]) + 1)


def test_wrong_check_digit_length_and_characters_are_field_errors() -> None:
    good = REAL_OCI_APACS[0]
    wrong = good[:12] + str((int(good[12]) + 1) % 10)
    with pytest.raises(ValidationFailed) as exc:
        auth.parse_authorization(wrong, field="numero")
    assert _codes(exc) == ["autorizacao_digito_verificador"]
    assert exc.value.errors[0].field == "numero"
    assert "dígito verificador" in exc.value.errors[0].message
    with pytest.raises(ValidationFailed) as exc:
        auth.parse_authorization(good[:-1] + "X")
    assert _codes(exc) == ["autorizacao_formato"]
    with pytest.raises(ValidationFailed) as exc:
        auth.parse_authorization(good[:10])
    assert _codes(exc) == ["autorizacao_tamanho"]
    with pytest.raises(ValidationFailed) as exc:
        auth.parse_authorization(auth.compose_apac_aih("99267", 12))  # 99 is no UF (APAC)
    assert _codes(exc) == ["autorizacao_uf"]


def test_separators_are_accepted() -> None:
    assert auth.parse_authorization("33.26.7.0239097-9").number == REAL_OCI_APACS[0]


@pytest.mark.parametrize(
    ("instrument", "program", "digit"),
    [
        ("apac", "pmae", "7"),
        ("apac", "complementar", "9"),  # SAES componente complementar, art. 14 I
        ("aih", "complementar", "8"),
        ("apac", "reducao_filas", "6"),  # Portaria 90/2023, art. 10 II
        ("aih", "reducao_filas", "5"),
    ],
)
def test_program_digit(instrument: str, program: str, digit: str) -> None:
    number = auth.compose_apac_aih(f"4226{digit}", 123)
    parsed = auth.parse_authorization(number, instrument=instrument, program=program)
    assert parsed.program == program
    assert parsed.number[4] == digit


def test_program_digit_mismatch_names_the_expected_digit() -> None:
    complementar = auth.compose_apac_aih("42269", 5)
    with pytest.raises(ValidationFailed) as exc:
        auth.parse_authorization(complementar, instrument="apac", program="pmae")
    assert _codes(exc) == ["autorizacao_programa_divergente"]
    assert "deve ser 7" in exc.value.message
    with pytest.raises(ValidationFailed) as exc:
        auth.parse_authorization(auth.compose_apac_aih("42267", 5), instrument="aih", program="pmae")
    assert _codes(exc) == ["autorizacao_programa_invalido"]  # OCIs are outpatient: no AIH numbering


def test_aih_is_told_apart_by_its_program_digit() -> None:
    assert auth.parse_authorization(auth.compose_apac_aih("42268", 1)).instrument == "aih"
    assert auth.parse_authorization(auth.compose_apac_aih("42265", 1)).instrument == "aih"
    assert auth.parse_authorization(auth.compose_apac_aih("42266", 1)).instrument == "apac"


# -- CMD ---------------------------------------------------------------------------------------------------------------


def test_cmd_number_structure() -> None:
    prefix = auth.cmd_prefix("420540-M-26-01-000000")
    number = auth.compose_cmd(prefix, 42)
    assert len(number) == 25  # 24 characters and the check digit
    parsed = auth.parse_authorization(number)
    assert parsed.instrument == "cmd"
    assert parsed.formatted == f"420540-M-26-01-000000-0000042-{number[-1]}"
    cmd = auth.parse_cmd(parsed.formatted)
    assert cmd.identifier == "01"  # positions 10-11
    assert cmd.sequence == 42


def test_cmd_positions_12_to_17_must_be_zero_for_the_complementary_component() -> None:
    with pytest.raises(ValidationFailed) as exc:
        auth.parse_cmd("420540-M-26-01-000100-0000042-7")
    assert _codes(exc) == ["autorizacao_cmd_posicoes_12_17"]
    # Outside the complementary component the ordinance says nothing about those positions.
    assert auth.parse_cmd("420540-M-26-01-000100-0000042-7", complementar=False).identifier == "01"


def test_cmd_format_errors_name_the_positions() -> None:
    with pytest.raises(ValidationFailed) as exc:
        auth.parse_cmd("42054009260100000000000427")
    assert _codes(exc) == ["autorizacao_cmd_tamanho"]
    with pytest.raises(ValidationFailed) as exc:
        auth.parse_cmd("420540-9-26-AB-000000-0000042-7")
    assert _codes(exc) == ["autorizacao_cmd_formato"]
    message = exc.value.errors[0].message
    assert "posição 7" in message
    assert "10 e 11" in message


# -- ranges ------------------------------------------------------------------------------------------------------------


def test_range_bounds_accept_numbers_with_or_without_check_digit() -> None:
    first = auth.compose_apac_aih("42267", 1)
    bounds = auth.range_bounds("apac", "pmae", first, "422670009999", uf_code="42")
    assert bounds.prefix == "42267"
    assert (bounds.first_seq, bounds.last_seq) == (1, 9999)


def test_range_errors() -> None:
    with pytest.raises(ValidationFailed) as exc:
        auth.range_bounds("apac", "pmae", "422690000001", "422690000100", uf_code="42")
    assert {e.code for e in exc.value.errors} == {"autorizacao_programa_divergente"}
    assert {e.field for e in exc.value.errors} == {"inicio", "fim"}
    with pytest.raises(ValidationFailed) as exc:
        auth.range_bounds("apac", "pmae", "412670000001", "412670000100", uf_code="42")
    assert {e.code for e in exc.value.errors} == {"faixa_uf_divergente"}
    with pytest.raises(ValidationFailed) as exc:
        auth.range_bounds("apac", "pmae", "422670000100", "422670000001")
    assert _codes(exc) == ["faixa_invertida"]
    with pytest.raises(ValidationFailed) as exc:
        auth.range_bounds("apac", "pmae", "422670000001", "422570000100")
    assert _codes(exc) == ["faixa_prefixos_diferentes"]


def test_cmd_range() -> None:
    bounds = auth.range_bounds("cmd", "complementar", "420540M26010000000000000", "420540M26010000000009999")
    assert bounds.prefix == "420540M2601000000"
    assert (bounds.first_seq, bounds.last_seq) == (0, 9999)
