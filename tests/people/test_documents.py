"""CPF and CNS: known vectors, normalization, masks, and property tests of what the check digits can catch."""

from __future__ import annotations

import random

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from regula.core.errors import ValidationFailed
from regula.people.documents import (
    cns_kind,
    format_cns,
    format_cpf,
    generate_cns,
    generate_cpf,
    is_valid_cns,
    is_valid_cpf,
    mask_cns,
    mask_cpf,
    mask_name,
    normalize_digits,
    validate_cns,
    validate_cpf,
)

# --- independent reimplementations, written from the published rules as plainly as possible ----------------


def reference_cpf_ok(cpf: str) -> bool:
    """Receita Federal's rule in its other common form: dv = (weighted sum × 10 mod 11) mod 10."""
    if len(cpf) != 11 or not cpf.isdigit() or cpf == cpf[0] * 11:
        return False
    d = [int(c) for c in cpf]
    dv1 = sum(d[i] * (10 - i) for i in range(9)) * 10 % 11 % 10
    dv2 = sum(d[i] * (11 - i) for i in range(10)) * 10 % 11 % 10
    return d[9] == dv1 and d[10] == dv2


def reference_cns_ok(cns: str) -> bool:
    """The Ministry of Health's two routines (validaCns / validaCnsProv), transcribed step by step."""
    if len(cns) != 15 or not cns.isdigit():
        return False
    if cns[0] in "12":
        pis = cns[:11]
        soma = sum(int(pis[i]) * (15 - i) for i in range(11))
        resto = soma % 11
        dv = 11 - resto
        if dv == 11:
            dv = 0
        if dv == 10:
            soma += 2
            resto = soma % 11
            dv = 11 - resto
            resultado = pis + "001" + str(dv)
        else:
            resultado = pis + "000" + str(dv)
        return cns == resultado
    if cns[0] in "789":
        soma = sum(int(cns[i]) * (15 - i) for i in range(15))
        return soma % 11 == 0
    return False


def _error(call: object, *args: str, **kwargs: str) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as info:
        call(*args, **kwargs)  # type: ignore[operator]
    return info.value


# --- CPF vectors ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "529.982.247-25",  # the well-known public test CPF
        "52998224725",
        "123.456.789-09",
        "111.444.777-35",
        " 529 982 247 25 ",
        "529982247/25",
    ],
)
def test_valid_cpfs(raw: str) -> None:
    digits = validate_cpf(raw)
    assert len(digits) == 11 and digits.isdigit()
    assert is_valid_cpf(raw)
    assert reference_cpf_ok(digits)


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("111.111.111-11", "cpf_repetido"),
        ("000.000.000-00", "cpf_repetido"),
        ("99999999999", "cpf_repetido"),
        ("529.982.247-24", "cpf_digito_verificador"),
        ("529.982.247-52", "cpf_digito_verificador"),
        ("123.456.789-00", "cpf_digito_verificador"),
        ("5299822472", "cpf_formato"),
        ("529982247255", "cpf_formato"),
        ("", "cpf_formato"),
        ("529.982.247-2x", "cpf_formato"),
        ("529,982,247-25", "cpf_formato"),
    ],
)
def test_invalid_cpfs(raw: str, code: str) -> None:
    error = _error(validate_cpf, raw, field="paciente.cpf")
    assert error.code == code
    assert [(e.field, e.code) for e in error.errors] == [("paciente.cpf", code)]
    assert error.message  # Portuguese, for people
    assert not is_valid_cpf(raw)


def test_repeated_digits_pass_the_arithmetic_but_are_refused() -> None:
    # Why cpf_repetido exists: 111.111.111-11 satisfies both check digits.
    assert all(reference_cpf_ok(str(d) * 11) is False for d in range(10))  # the reference refuses them too
    d = [1] * 11
    assert sum(d[i] * (10 - i) for i in range(9)) * 10 % 11 % 10 == 1


def test_cpf_default_field_name() -> None:
    assert _error(validate_cpf, "1").errors[0].field == "cpf"


# --- CNS vectors ---------------------------------------------------------------------------------------------

# Computed by hand from the rule:
#   10000000000: sum 1×15 = 15, 15 mod 11 = 4, dv 7            → 100000000000007
#   20000000000: sum 2×15 = 30, 30 mod 11 = 8, dv 3            → 200000000000003
#   10000000006: sum 15 + 6×5 = 45, 45 mod 11 = 1, dv 10 → "001" + (11 − 47 mod 11) = 8 → 100000000060018
#   700000000000005: 7×15 + 5×1 = 110 = 10 × 11                 (provisional)
#   89800123456789?: weighted sum 560 ≡ 10 (mod 11), so ? = 1    → 898001234567891 (provisional)
# And one published example (docs of the `brado` Brazilian-documents library): 144 0826 2726 0004.
VALID_CNS = {
    "100000000000007": "definitivo",
    "200000000000003": "definitivo",
    "100000000060018": "definitivo",
    "144 0826 2726 0004": "definitivo",
    "700000000000005": "provisorio",
    "898.0012.3456.7891": "provisorio",
}


def test_hand_computed_provisional_vector() -> None:
    digits = "898001234567891"  # 8×15 + 9×14 + … + 9×2 = 560, so the last digit is 1
    assert sum(int(c) * (15 - i) for i, c in enumerate(digits)) % 11 == 0


@pytest.mark.parametrize(("raw", "kind"), VALID_CNS.items())
def test_valid_cns(raw: str, kind: str) -> None:
    digits = validate_cns(raw)
    assert len(digits) == 15
    assert is_valid_cns(raw)
    assert cns_kind(raw) == kind
    assert reference_cns_ok(digits)


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("100000000000008", "cns_digito_verificador"),
        ("100000000060008", "cns_digito_verificador"),  # dv 10 must become "001" + 8, not "000" + …
        ("100000000000015", "cns_digito_verificador"),  # weighted sum is 0 mod 11 but digits 12-14 are not 000
        ("700000000000004", "cns_digito_verificador"),
        ("300000000000000", "cns_inicio_invalido"),
        ("000000000000000", "cns_inicio_invalido"),
        ("600000000000001", "cns_inicio_invalido"),
        ("10000000000007", "cns_formato"),
        ("1000000000000070", "cns_formato"),
        ("1000000000000O7", "cns_formato"),
        ("", "cns_formato"),
    ],
)
def test_invalid_cns(raw: str, code: str) -> None:
    error = _error(validate_cns, raw, field="cns_paciente")
    assert error.code == code
    assert [(e.field, e.code) for e in error.errors] == [("cns_paciente", code)]
    assert not is_valid_cns(raw)


def test_definitive_cns_needs_more_than_the_weighted_sum() -> None:
    # 1×15 + 1×2 + 5×1 = 22: a provisional-style sum that works, but the PIS 10000000000 gives …0007.
    cns = "100000000000015"
    assert sum(int(c) * (15 - i) for i, c in enumerate(cns)) % 11 == 0
    assert not is_valid_cns(cns)  # the PIS rule fixes digits 12-15 completely


def test_cns_kind_refuses_invalid() -> None:
    assert _error(cns_kind, "100000000000008").code == "cns_digito_verificador"


# --- normalization -------------------------------------------------------------------------------------------


def test_normalize_digits() -> None:
    assert normalize_digits("529.982.247-25") == "52998224725"
    assert normalize_digits(" 529 982\t247/25\n") == "52998224725"
    assert normalize_digits("529\u00a0982") == "529982"  # no-break space, as pasted from web pages
    assert normalize_digits("") == ""


@pytest.mark.parametrize("raw", ["529a", "529,982", "529_982", "٥٢٩", "52⁹", "+55"])
def test_normalize_refuses_other_characters(raw: str) -> None:
    error = _error(normalize_digits, raw, field="doc", code="doc_formato")
    assert (error.code, error.errors[0].field) == ("doc_formato", "doc")


# --- formats and masks ---------------------------------------------------------------------------------------


def test_cpf_format_and_mask() -> None:
    assert format_cpf("12345678909") == "123.456.789-09"
    assert format_cpf("123.456.789-09") == "123.456.789-09"
    assert mask_cpf("12345678909") == "***.456.789-**"
    assert mask_cpf("529.982.247-25") == "***.982.247-**"
    assert _error(mask_cpf, "1234").code == "cpf_formato"


def test_cns_format_and_mask() -> None:
    assert format_cns("898001234567891") == "898 0012 3456 7891"
    assert mask_cns("898 0012 3456 7891") == "*** **** **** 7891"
    assert _error(mask_cns, "12").code == "cns_formato"


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        ("Maria da Silva Souza", "Maria S. S."),
        ("  maria   DA silva ", "Maria S."),
        ("JOSÉ DOS SANTOS E SILVA", "José S. S."),
        ("Ana", "Ana"),
        ("João Érico Ávila", "João É. Á."),
        ("McKenzie de Oliveira", "McKenzie O."),
        ("", ""),
    ],
)
def test_mask_name(name: str, masked: str) -> None:
    assert mask_name(name) == masked


# --- properties ----------------------------------------------------------------------------------------------

# A seeded PRNG rather than st.randoms(): the generators loop until they draw a usable number, and Hypothesis'
# minimal "random" (all zeros) never does.
rngs = st.integers(min_value=0, max_value=2**64 - 1).map(random.Random)
positions_cpf = st.integers(0, 10)
positions_cns = st.integers(0, 14)
digits = st.integers(0, 9)


def _replace(number: str, position: int, digit: int) -> str:
    return number[:position] + str(digit) + number[position + 1 :]


def _swap(number: str, position: int) -> str:
    chars = list(number)
    chars[position], chars[position + 1] = chars[position + 1], chars[position]
    return "".join(chars)


@given(rngs)
def test_generated_cpfs_are_valid(rng: random.Random) -> None:
    cpf = generate_cpf(rng)
    assert validate_cpf(cpf) == cpf
    assert reference_cpf_ok(cpf)
    assert validate_cpf(format_cpf(cpf)) == cpf


@given(rngs, st.sampled_from(["definitivo", "provisorio"]))
def test_generated_cns_are_valid(rng: random.Random, kind: str) -> None:
    cns = generate_cns(rng, kind)  # type: ignore[arg-type]
    assert validate_cns(cns) == cns
    assert reference_cns_ok(cns)
    assert cns_kind(cns) == kind
    assert validate_cns(format_cns(cns)) == cns


def test_generators_are_deterministic_for_a_seed() -> None:
    assert generate_cpf(random.Random(7)) == generate_cpf(random.Random(7))
    assert generate_cns(random.Random(7), "provisorio") == generate_cns(random.Random(7), "provisorio")
    with pytest.raises(ValueError, match="kind"):
        generate_cns(random.Random(7), "outro")  # type: ignore[arg-type]


@given(st.text(alphabet="0123456789", min_size=11, max_size=11))
def test_cpf_validator_agrees_with_the_reference(cpf: str) -> None:
    assert is_valid_cpf(cpf) == reference_cpf_ok(cpf)


@given(st.one_of(st.text(alphabet="0123456789", min_size=15, max_size=15), rngs.map(generate_cns)))
def test_cns_validator_agrees_with_the_reference(cns: str) -> None:
    assert is_valid_cns(cns) == reference_cns_ok(cns)


# CPF: which single-digit changes the rule catches. The first check digit maps both remainders 0 and 1 to 0,
# and the 1st digit has weight 11 ≡ 0 in the second sum; together they let a change to the 1st digit (any
# δ ≡ ±1 mod 11) or to the 6th (δ ≡ ±2) slip through, and only when the first check digit is 0. Everything
# else is caught: proved in the module docstring of regula.people.documents, checked here.


@given(rngs, positions_cpf, digits)
def test_cpf_single_digit_change_is_caught(rng: random.Random, position: int, digit: int) -> None:
    cpf = generate_cpf(rng)
    assume(cpf[position] != str(digit))
    assume(position not in (0, 5) or cpf[9] != "0")
    assert not is_valid_cpf(_replace(cpf, position, digit))


def test_cpf_blind_spot_is_real() -> None:
    # 704.999.622-06 and 804.999.622-06 are both valid: the documented weakness, not a validator bug.
    assert is_valid_cpf("70499962206") and is_valid_cpf("80499962206")
    assert reference_cpf_ok("80499962206")


@given(rngs, st.integers(0, 9))
def test_cpf_adjacent_swap_is_caught(rng: random.Random, position: int) -> None:
    cpf = generate_cpf(rng)
    assume(cpf[position] != cpf[position + 1])
    # Guaranteed: swaps inside the first nine digits when the first check digit is not 0, and the swap of the
    # two check digits. A swap of the 9th digit with the first check digit is not.
    assume(position == 9 or (position <= 7 and cpf[9] != "0"))
    assert not is_valid_cpf(_swap(cpf, position))


def test_cpf_swap_into_the_check_digit_can_slip() -> None:
    cpf = "78767602010"
    assert is_valid_cpf(cpf) and is_valid_cpf(_swap(cpf, 8))


# CNS: weights 15..1; 11 falls on the 5th digit (index 4) and is 0 mod 11, so that digit is unprotected. Every
# other weight is non-zero mod 11 (11 is prime): a change of δ ∈ ±1..9 moves the sum off a multiple of 11.


def test_cns_weights_mod_11() -> None:
    assert [i for i in range(15) if (15 - i) % 11 == 0] == [4]


@given(rngs, st.sampled_from(["definitivo", "provisorio"]), positions_cns, digits)
def test_cns_single_digit_change_is_caught(rng: random.Random, kind: str, position: int, digit: int) -> None:
    cns = generate_cns(rng, kind)  # type: ignore[arg-type]
    assume(cns[position] != str(digit))
    changed = _replace(cns, position, digit)
    if position == 4:
        assert is_valid_cns(changed)  # the rule cannot see it
    else:
        assert not is_valid_cns(changed)


@given(rngs, st.sampled_from(["definitivo", "provisorio"]), st.integers(0, 13))
def test_cns_adjacent_swap_is_caught(rng: random.Random, kind: str, position: int) -> None:
    # Adjacent weights differ by 1, so swapping digits a ≠ b changes the sum by ±(a − b), never a multiple of 11.
    cns = generate_cns(rng, kind)  # type: ignore[arg-type]
    assume(cns[position] != cns[position + 1])
    assert not is_valid_cns(_swap(cns, position))
