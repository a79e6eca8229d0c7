"""CPF and CNS: normalization, validation by the official check-digit rules, display masks, generators.

CPF (Receita Federal): 9 digits and two mod-11 check digits. The first uses weights 10..2 over the 9 digits, the
second weights 11..2 over the 9 digits and the first check digit; each is ``11 - sum % 11``, or 0 when the
remainder is 0 or 1. Numbers with 11 equal digits satisfy that rule but are not valid CPFs.

CNS (Cartão Nacional de Saúde), rules as published by the Ministry of Health (e-SUS APS integration layout):

- definitive numbers start with 1 or 2. The first 11 digits are a PIS; ``sum`` is their weighted sum with weights
  15..5, ``dv = 11 - sum % 11`` (11 becomes 0). When ``dv`` is 10, the number is ``PIS + "001" + dv'`` with
  ``dv' = 11 - (sum + 2) % 11``, otherwise ``PIS + "000" + dv``. A definitive number is valid when it equals the
  number rebuilt from its first 11 digits.
- provisional numbers start with 7, 8 or 9 and are valid when the weighted sum of all 15 digits (weights 15..1)
  is a multiple of 11. Every valid definitive number also satisfies that sum.

What the rules can and cannot catch (proved in the module's tests):

- CNS: weight 11 ≡ 0 (mod 11) falls on the 5th digit, so a change to that digit alone goes unnoticed; any other
  single-digit change, and any swap of two different adjacent digits, is caught.
- CPF: every change to the 2nd–5th and 7th–11th digits is caught. A change to the 1st or the 6th digit can go
  unnoticed, only when the first check digit is 0 (both remainders 0 and 1 map to check digit 0). A swap of two
  different adjacent digits among the first nine is caught whenever the first check digit is not 0, and a swap of
  the two check digits always.
"""

from __future__ import annotations

import random
from typing import Literal

from regula.core.errors import ValidationFailed

CnsKind = Literal["definitivo", "provisorio"]

# Punctuation people type or paste around document numbers; anything else is refused rather than dropped, so
# "123.456.789-0x" is an error and not the 10-digit "1234567890".
_SEPARATORS = frozenset(".-/")

_CPF_LENGTH = 11
_CNS_LENGTH = 15
_CNS_DEFINITIVE_STARTS = frozenset("12")
_CNS_PROVISIONAL_STARTS = frozenset("789")

_NAME_PARTICLES = frozenset({"da", "das", "de", "del", "di", "do", "dos", "du", "e", "y"})


def normalize_digits(raw: str, *, field: str = "documento", code: str = "documento_formato") -> str:
    """The digits of ``raw``, dropping dots, dashes, slashes and white space.

    Any other character (a letter, a comma, a non-ASCII digit) raises ``ValidationFailed`` on ``field`` with
    ``code``; the validators pass their own (``cpf``/``cpf_formato``, ``cns``/``cns_formato``).
    """
    digits: list[str] = []
    for char in raw:
        if "0" <= char <= "9":
            digits.append(char)
        elif char in _SEPARATORS or char.isspace():
            continue
        else:
            raise ValidationFailed.for_field(
                field, code, f"Caractere inválido {char!r}: use apenas números (pontos, traços e barras são aceitos)."
            )
    return "".join(digits)


# --- CPF ----------------------------------------------------------------------------------------------------


def _cpf_check_digit(digits: str) -> int:
    """Check digit over ``digits`` (9 or 10 of them), weights len+1 down to 2."""
    weight = len(digits) + 1
    total = sum(int(d) * (weight - i) for i, d in enumerate(digits))
    remainder = total % 11
    return 0 if remainder < 2 else 11 - remainder


def _cpf_check_digits(base9: str) -> str:
    first = _cpf_check_digit(base9)
    return f"{first}{_cpf_check_digit(base9 + str(first))}"


def validate_cpf(raw: str, field: str = "cpf") -> str:
    """The 11 digits of a valid CPF; ``ValidationFailed`` on ``field`` otherwise.

    Codes: ``cpf_formato`` (characters or length), ``cpf_repetido`` (11 equal digits, which pass the arithmetic
    but are never issued), ``cpf_digito_verificador``.
    """
    digits = normalize_digits(raw, field=field, code="cpf_formato")
    if len(digits) != _CPF_LENGTH:
        raise ValidationFailed.for_field(
            field, "cpf_formato", f"O CPF deve ter 11 dígitos; foram informados {len(digits)}."
        )
    if len(set(digits)) == 1:
        raise ValidationFailed.for_field(
            field, "cpf_repetido", "CPF inválido: números com todos os dígitos iguais não são aceitos."
        )
    if digits[9:] != _cpf_check_digits(digits[:9]):
        raise ValidationFailed.for_field(
            field, "cpf_digito_verificador", "CPF inválido: os dígitos verificadores não conferem."
        )
    return digits


def is_valid_cpf(raw: str) -> bool:
    try:
        validate_cpf(raw)
    except ValidationFailed:
        return False
    return True


def _cpf_digits_for_display(raw: str) -> str:
    digits = normalize_digits(raw, field="cpf", code="cpf_formato")
    if len(digits) != _CPF_LENGTH:
        raise ValidationFailed.for_field("cpf", "cpf_formato", "O CPF deve ter 11 dígitos.")
    return digits


def format_cpf(raw: str) -> str:
    """``12345678909`` → ``123.456.789-09`` (the check digits are not verified: this only formats)."""
    d = _cpf_digits_for_display(raw)
    return f"{d[:3]}.{d[3:6]}.{d[6:9]}-{d[9:]}"


def mask_cpf(raw: str) -> str:
    """``12345678909`` → ``***.456.789-**``: the masking federal government portals use for published CPFs
    (digits 4 to 9 shown), enough to tell people apart and too little to identify anyone."""
    d = _cpf_digits_for_display(raw)
    return f"***.{d[3:6]}.{d[6:9]}-**"


def generate_cpf(rng: random.Random) -> str:
    """A valid CPF (11 digits) drawn from ``rng``; for tests and demo data."""
    while True:
        base = "".join(str(rng.randrange(10)) for _ in range(9))
        if len(set(base)) > 1:  # the only bases whose CPF would be all-equal digits
            return base + _cpf_check_digits(base)


# --- CNS ----------------------------------------------------------------------------------------------------


def _cns_weighted_sum(digits: str) -> int:
    return sum(int(d) * (15 - i) for i, d in enumerate(digits))


def _cns_from_pis(pis: str) -> str:
    """The definitive CNS built from its first 11 digits (the PIS), per the Ministry's routine."""
    total = _cns_weighted_sum(pis)
    dv = 11 - total % 11
    if dv == 11:
        dv = 0
    if dv == 10:
        dv = 11 - (total + 2) % 11
        return f"{pis}001{dv}"
    return f"{pis}000{dv}"


def validate_cns(raw: str, field: str = "cns") -> str:
    """The 15 digits of a valid CNS; ``ValidationFailed`` on ``field`` otherwise.

    Codes: ``cns_formato`` (characters or length), ``cns_inicio_invalido`` (first digit not 1, 2, 7, 8 or 9),
    ``cns_digito_verificador``.
    """
    digits = normalize_digits(raw, field=field, code="cns_formato")
    if len(digits) != _CNS_LENGTH:
        raise ValidationFailed.for_field(
            field, "cns_formato", f"O CNS deve ter 15 dígitos; foram informados {len(digits)}."
        )
    if digits[0] in _CNS_DEFINITIVE_STARTS:
        valid = digits == _cns_from_pis(digits[:11])
    elif digits[0] in _CNS_PROVISIONAL_STARTS:
        valid = _cns_weighted_sum(digits) % 11 == 0
    else:
        raise ValidationFailed.for_field(
            field,
            "cns_inicio_invalido",
            "CNS inválido: o número deve começar com 1 ou 2 (definitivo) ou com 7, 8 ou 9 (provisório).",
        )
    if not valid:
        raise ValidationFailed.for_field(
            field, "cns_digito_verificador", "CNS inválido: o dígito verificador não confere."
        )
    return digits


def is_valid_cns(raw: str) -> bool:
    try:
        validate_cns(raw)
    except ValidationFailed:
        return False
    return True


def cns_kind(cns: str) -> CnsKind:
    """Whether a (valid) CNS is definitive or provisional; ``ValidationFailed`` if it is not valid."""
    digits = validate_cns(cns)
    return "definitivo" if digits[0] in _CNS_DEFINITIVE_STARTS else "provisorio"


def _cns_digits_for_display(raw: str) -> str:
    digits = normalize_digits(raw, field="cns", code="cns_formato")
    if len(digits) != _CNS_LENGTH:
        raise ValidationFailed.for_field("cns", "cns_formato", "O CNS deve ter 15 dígitos.")
    return digits


def format_cns(raw: str) -> str:
    """``898001234567894`` → ``898 0012 3456 7894``, the grouping printed on the card."""
    d = _cns_digits_for_display(raw)
    return f"{d[:3]} {d[3:7]} {d[7:11]} {d[11:]}"


def mask_cns(raw: str) -> str:
    """Only the last four digits: ``*** **** **** 7894``."""
    d = _cns_digits_for_display(raw)
    return f"*** **** **** {d[11:]}"


def generate_cns(rng: random.Random, kind: CnsKind = "definitivo") -> str:
    """A valid CNS of the given kind drawn from ``rng``; for tests and demo data."""
    if kind == "definitivo":
        pis = rng.choice("12") + "".join(str(rng.randrange(10)) for _ in range(10))
        return _cns_from_pis(pis)
    if kind != "provisorio":
        raise ValueError(f"unknown CNS kind {kind!r}")
    while True:
        # The last digit (weight 1) closes the sum to a multiple of 11; when that would take a "10", draw again.
        body = rng.choice("789") + "".join(str(rng.randrange(10)) for _ in range(13))
        last = -_cns_weighted_sum(body) % 11
        if last < 10:
            return f"{body}{last}"


# --- names --------------------------------------------------------------------------------------------------


def mask_name(name: str) -> str:
    """First name and the initials of the other names, for pages anyone can see.

    ``Maria da Silva Souza`` → ``Maria S. S.``; connecting particles (da, de, dos, e…) are left out.
    """
    words = name.split()
    if not words:
        return ""
    first, rest = words[0], words[1:]
    initials = [f"{w[0].upper()}." for w in rest if w.lower() not in _NAME_PARTICLES]
    # Names typed all in upper or lower case are shown capitalized; mixed case is kept as the person wrote it.
    shown = first.capitalize() if first.isupper() or first.islower() else first
    return " ".join([shown, *initials])
