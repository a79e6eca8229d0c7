"""Authorization numbers of SUS production: APAC and AIH (13 digits) and the CMD number (24 characters and a check
digit). Pure module: parsing, validation with Portuguese field errors and stable codes, and composition of new
numbers from a range; issuing them without duplicates is ``production.numbering.issue_number``.

APAC / AIH: ``UU AA P SSSSSSS D`` — the UF's IBGE code, the year, the program digit (5th position), a 7-digit
sequence and the check digit.

* The OCI is registered in APAC "em numeração específica" (Portaria GM/MS 3.492/2024 as amended, art. 16 §2; the
  SIA's published rule for PMAE/OCI APACs is the 5th digit **7** — regula's reference-data notes,
  shared/data/README.md, checked on real OCI APAC numbers).
* The complementary component of "Agora Tem Especialistas": 5th digit **8** in AIH and **9** in APAC (Portaria
  SAES on the complementary component, art. 14 I).
* The 2023 queue-reduction program: 5th digit **5** in AIH and **6** in APAC (Portaria GM/MS 90/2023, art. 10 II).
* Check digit: the first 12 digits read as one integer, modulo 11 (shared/data/README.md; confirmed on the real
  APAC numbers in tests/production/test_authorization.py). None of the ordinances states what happens when the
  remainder is 10, which one digit cannot hold. The convention of the public AIH/APAC range calculators is to
  write 0, so **validation accepts 0 for a remainder of 10**; and **regula never issues such a number** (it skips
  that sequence), so every number it issues is valid under any reading.

CMD: ``999999-A-99-99-999999-9999999-D`` (Portaria SAES on the complementary component, art. 14 II): 24
alphanumeric characters and a check digit — positions 1–6 digits, 7 a letter, 8–9 digits, **10–11 the special
identifier of the complementary component** (art. 15, Annex VI), **12–17 all zeros for the complementary
component** (art. 15 sole paragraph), 18–24 a 7-digit sequence, 25 the check digit D. Annex V, which details the
structure and the check digit, is not part of regula's reference texts: validation checks the structure and that
D is a digit, never its value; numbers regula issues get D by :func:`cmd_check_digit`, the APAC/AIH rule applied to
the 23 digits (the letter left out) — a provisional choice documented in docs/production.md, to be replaced by
Annex V's rule when it is read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

from regula.core.errors import FieldError, ValidationFailed
from regula.territory.reference import UFS

Instrument = Literal["apac", "aih", "cmd"]
Program = Literal["pmae", "complementar", "reducao_filas"]

INSTRUMENTS: Final[tuple[Instrument, ...]] = ("apac", "aih", "cmd")
PROGRAMS: Final[tuple[Program, ...]] = ("pmae", "complementar", "reducao_filas")
INSTRUMENT_LABELS_PT: Final[dict[str, str]] = {
    "apac": "APAC",
    "aih": "AIH",
    "cmd": "CMD",
}
PROGRAM_LABELS_PT: Final[dict[str, str]] = {
    "pmae": "PMAE / OCI",
    "complementar": "Agora Tem Especialistas — componente complementar",
    "reducao_filas": "Programa Nacional de Redução das Filas (2023)",
}

#: (instrument, program) → the 5th digit of the number. See the module docstring for the sources.
PROGRAM_DIGITS: Final[dict[tuple[str, str], str]] = {
    ("apac", "pmae"): "7",
    ("apac", "complementar"): "9",  # SAES, componente complementar, art. 14 I
    ("aih", "complementar"): "8",  # SAES, componente complementar, art. 14 I
    ("apac", "reducao_filas"): "6",  # Portaria GM/MS 90/2023, art. 10 II b
    ("aih", "reducao_filas"): "5",  # Portaria GM/MS 90/2023, art. 10 II a
}

APAC_AIH_LENGTH: Final = 13
CMD_LENGTH: Final = 25  # 24 characters + the check digit
SEQUENCE_DIGITS: Final = 7
MAX_SEQUENCE: Final = 10**SEQUENCE_DIGITS - 1
APAC_PREFIX_LENGTH: Final = 5  # UF (2) + year (2) + program digit
CMD_PREFIX_LENGTH: Final = 17  # positions 1–17; the sequence is 18–24
CMD_RESERVED_ZEROS: Final = "000000"  # positions 12–17 of a complementary-component CMD number

_UF_CODES: Final = frozenset(code for code, _name in UFS.values())
_CNRAC_UF: Final = "99"  # AIH of the national high-complexity referral center (CNRAC)
_SEPARATORS: Final = re.compile(r"[\s.\-/]")
_CMD: Final = re.compile(r"^(\d{6})([A-Z])(\d{2})(\d{2})(\d{6})(\d{7})(\d)$")
_CMD_PREFIX: Final = re.compile(r"^(\d{6})([A-Z])(\d{2})(\d{2})(\d{6})$")


def _error(field: str, code: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, code=code, errors=[FieldError(field, code, message)])


def _clean(raw: str) -> str:
    return _SEPARATORS.sub("", raw or "").upper()


# -- APAC / AIH ----------------------------------------------------------------------------------------------------


def check_digit(first12: str) -> str:
    """The check digit of an APAC/AIH number: its first 12 digits as an integer, mod 11 (10 is written 0)."""
    if len(first12) != APAC_AIH_LENGTH - 1 or not first12.isdigit():
        raise ValueError(f"expected 12 digits, got {first12!r}")
    remainder = int(first12) % 11
    return "0" if remainder == 10 else str(remainder)


def remainder_is_ten(first12: str) -> bool:
    """Whether the mod-11 remainder is 10: regula never issues such a number (see the module docstring)."""
    return int(first12) % 11 == 10


def program_for_digit(instrument: str, digit: str) -> str | None:
    for (inst, program), d in PROGRAM_DIGITS.items():
        if inst == instrument and d == digit:
            return program
    return None


@dataclass(frozen=True, slots=True)
class ApacAihNumber:
    number: str  # the 13 digits

    @property
    def uf_code(self) -> str:
        return self.number[:2]

    @property
    def year(self) -> str:
        return self.number[2:4]

    @property
    def program_digit(self) -> str:
        return self.number[4]

    @property
    def prefix(self) -> str:
        return self.number[:APAC_PREFIX_LENGTH]

    @property
    def sequence(self) -> int:
        return int(self.number[APAC_PREFIX_LENGTH:12])

    @property
    def formatted(self) -> str:
        """``42.26.7.0000123-4``: how people read it on a form."""
        n = self.number
        return f"{n[:2]}.{n[2:4]}.{n[4]}.{n[5:12]}-{n[12]}"


def parse_apac_aih(raw: str, *, field: str = "numero_autorizacao", instrument: str | None = None) -> ApacAihNumber:
    """A valid APAC/AIH number, or ``ValidationFailed`` on ``field``.

    Codes: ``autorizacao_formato`` (not digits), ``autorizacao_tamanho`` (not 13 digits), ``autorizacao_uf``
    (the first two digits are no UF's IBGE code), ``autorizacao_digito_verificador``.
    """
    digits = _clean(raw)
    if not digits.isdigit():
        raise _error(field, "autorizacao_formato", "O número de autorização deve ter apenas números.")
    if len(digits) != APAC_AIH_LENGTH:
        raise _error(
            field,
            "autorizacao_tamanho",
            f"O número de APAC/AIH tem {APAC_AIH_LENGTH} dígitos; foram informados {len(digits)}.",
        )
    uf = digits[:2]
    if uf not in _UF_CODES and not (instrument == "aih" and uf == _CNRAC_UF):
        raise _error(
            field,
            "autorizacao_uf",
            f"Os dois primeiros dígitos ({uf}) devem ser o código IBGE da UF que distribuiu a numeração.",
        )
    if digits[12] != check_digit(digits[:12]):
        raise _error(
            field,
            "autorizacao_digito_verificador",
            "Número de autorização inválido: o dígito verificador não confere.",
        )
    return ApacAihNumber(digits)


def expect_program(number: ApacAihNumber, instrument: str, program: str, *, field: str = "numero_autorizacao") -> None:
    """``ValidationFailed`` ``autorizacao_programa_divergente`` when the 5th digit is not the program's."""
    wanted = PROGRAM_DIGITS.get((instrument, program))
    if wanted is None:
        raise _error(
            field,
            "autorizacao_programa_invalido",
            f"O programa {PROGRAM_LABELS_PT.get(program, program)} não tem numeração própria em "
            f"{INSTRUMENT_LABELS_PT.get(instrument, instrument)}.",
        )
    if number.program_digit != wanted:
        found = program_for_digit(instrument, number.program_digit)
        found_text = f" ({PROGRAM_LABELS_PT[found]})" if found else ""
        raise _error(
            field,
            "autorizacao_programa_divergente",
            f"O 5º dígito do número é {number.program_digit}{found_text}; para "
            f"{INSTRUMENT_LABELS_PT.get(instrument, instrument)} do programa {PROGRAM_LABELS_PT[program]} deve "
            f"ser {wanted}.",
        )


def compose_apac_aih(prefix: str, sequence: int) -> str:
    """The 13-digit number of ``sequence`` in a range whose first five digits are ``prefix``."""
    if len(prefix) != APAC_PREFIX_LENGTH or not prefix.isdigit() or not 0 <= sequence <= MAX_SEQUENCE:
        raise ValueError(f"bad APAC/AIH prefix or sequence: {prefix!r}, {sequence}")
    first12 = f"{prefix}{sequence:0{SEQUENCE_DIGITS}d}"
    return first12 + check_digit(first12)


# -- CMD -------------------------------------------------------------------------------------------------------------


def cmd_check_digit(first24: str) -> str:
    """Provisional check digit of a CMD number (see the module docstring): the 23 digits of positions 1–6 and 8–24
    as an integer, mod 11, 10 written 0."""
    if len(first24) != CMD_LENGTH - 1:
        raise ValueError(f"expected 24 characters, got {first24!r}")
    digits = first24[:6] + first24[7:]
    if not digits.isdigit():
        raise ValueError(f"expected digits outside position 7, got {first24!r}")
    remainder = int(digits) % 11
    return "0" if remainder == 10 else str(remainder)


@dataclass(frozen=True, slots=True)
class CmdNumber:
    number: str  # the 25 characters, without separators

    @property
    def identifier(self) -> str:
        """Positions 10–11: the special identifier (Portaria SAES, componente complementar, art. 15)."""
        return self.number[9:11]

    @property
    def prefix(self) -> str:
        return self.number[:CMD_PREFIX_LENGTH]

    @property
    def sequence(self) -> int:
        return int(self.number[CMD_PREFIX_LENGTH : CMD_LENGTH - 1])

    @property
    def formatted(self) -> str:
        """``999999-A-99-99-999999-9999999-D``."""
        n = self.number
        return f"{n[:6]}-{n[6]}-{n[7:9]}-{n[9:11]}-{n[11:17]}-{n[17:24]}-{n[24]}"


_CMD_SEGMENTS: Final = (
    (0, 6, "as posições 1 a 6 devem ser números"),
    (6, 7, "a posição 7 deve ser uma letra"),
    (7, 9, "as posições 8 e 9 devem ser números"),
    (9, 11, "as posições 10 e 11 (identificador especial) devem ser números"),
    (11, 17, "as posições 12 a 17 devem ser números"),
    (17, 24, "as posições 18 a 24 devem ser números"),
    (24, 25, "a posição 25 (dígito verificador) deve ser um número"),
)


def parse_cmd(raw: str, *, field: str = "numero_autorizacao", complementar: bool = True) -> CmdNumber:
    """A CMD authorization number with the structure of the SAES ordinance, art. 14 II, or ``ValidationFailed``.

    Codes: ``autorizacao_cmd_tamanho``, ``autorizacao_cmd_formato`` (the message names the positions that are
    wrong), ``autorizacao_cmd_posicoes_12_17`` (complementary component: positions 12–17 must be zeros, art. 15
    sole paragraph; checked when ``complementar``).
    """
    text = _clean(raw)
    if len(text) != CMD_LENGTH:
        raise _error(
            field,
            "autorizacao_cmd_tamanho",
            "O número de autorização do CMD tem 24 caracteres e um dígito verificador "
            f"(999999-A-99-99-999999-9999999-D); foram informados {len(text)}.",
        )
    if not _CMD.match(text):
        wrong = [
            message
            for start, end, message in _CMD_SEGMENTS
            if not (text[start:end].isalpha() if start == 6 else text[start:end].isdigit())
        ]
        raise _error(
            field,
            "autorizacao_cmd_formato",
            "Número de autorização do CMD fora do formato 999999-A-99-99-999999-9999999-D: " + "; ".join(wrong) + ".",
        )
    if complementar and text[11:17] != CMD_RESERVED_ZEROS:
        raise _error(
            field,
            "autorizacao_cmd_posicoes_12_17",
            "Nas autorizações do componente complementar, as posições 12 a 17 do número do CMD devem ser zeros.",
        )
    return CmdNumber(text)


def cmd_prefix(raw: str, *, field: str = "prefixo", complementar: bool = True) -> str:
    """Positions 1–17 of a CMD range (``999999-A-99-99-000000``), checked like :func:`parse_cmd`."""
    text = _clean(raw)
    if not _CMD_PREFIX.match(text):
        raise _error(
            field,
            "autorizacao_cmd_formato",
            "O início da faixa do CMD deve ter o formato 999999-A-99-99-999999 (posições 1 a 17).",
        )
    if complementar and text[11:17] != CMD_RESERVED_ZEROS:
        raise _error(
            field,
            "autorizacao_cmd_posicoes_12_17",
            "Nas autorizações do componente complementar, as posições 12 a 17 do número do CMD devem ser zeros.",
        )
    return text


def compose_cmd(prefix: str, sequence: int) -> str:
    if len(prefix) != CMD_PREFIX_LENGTH or not 0 <= sequence <= MAX_SEQUENCE:
        raise ValueError(f"bad CMD prefix or sequence: {prefix!r}, {sequence}")
    first24 = f"{prefix}{sequence:0{SEQUENCE_DIGITS}d}"
    return first24 + cmd_check_digit(first24)


# -- any number ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ParsedAuthorization:
    number: str  # normalized: 13 digits or 25 characters
    instrument: Instrument
    program: str | None  # known from the 5th digit (APAC/AIH) or None
    formatted: str


def parse_authorization(
    raw: str,
    *,
    field: str = "numero_autorizacao",
    instrument: str | None = None,
    program: str | None = None,
) -> ParsedAuthorization:
    """Any authorization number regula handles, validated on entry.

    ``instrument`` (apac, aih or cmd) may be left out: 25 characters read as CMD, 13 digits as APAC — or AIH when
    the 5th digit is an AIH program's (8 or 5). With ``program``, the 5th digit must be that program's (APAC/AIH).
    """
    text = _clean(raw)
    if not text:
        raise _error(field, "obrigatorio", "Informe o número de autorização.")
    if instrument not in (None, *INSTRUMENTS):
        raise _error("instrumento", "instrumento_invalido", "Instrumento deve ser apac, aih ou cmd.")
    if instrument == "cmd" or (instrument is None and len(text) == CMD_LENGTH):
        cmd = parse_cmd(text, field=field, complementar=program in (None, "complementar"))
        return ParsedAuthorization(cmd.number, "cmd", program, cmd.formatted)
    number = parse_apac_aih(text, field=field, instrument=instrument)
    chosen: Instrument
    if instrument in ("apac", "aih"):
        chosen = "aih" if instrument == "aih" else "apac"
    else:
        chosen = "aih" if program_for_digit("aih", number.program_digit) else "apac"
    if program is not None:
        expect_program(number, chosen, program, field=field)
    return ParsedAuthorization(
        number.number, chosen, program or program_for_digit(chosen, number.program_digit), number.formatted
    )


def format_authorization(number: str | None) -> str:
    """How people read a stored number (13 digits or 25 characters); anything else as it is."""
    if not number:
        return "—"
    if len(number) == APAC_AIH_LENGTH and number.isdigit():
        return ApacAihNumber(number).formatted
    if len(number) == CMD_LENGTH:
        return CmdNumber(number).formatted
    return number


# -- ranges ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RangeBounds:
    prefix: str  # APAC/AIH: 5 digits; CMD: 17 characters
    first_seq: int
    last_seq: int


def range_bounds(
    instrument: str,
    program: str,
    first: str,
    last: str,
    *,
    uf_code: str | None = None,
) -> RangeBounds:
    """Check a numeric range the state distributes (SAES ordinance art. 16–17) and return its prefix and sequence
    bounds. ``first``/``last``: whole numbers (13 or 25 characters, check digit verified) or without the check
    digit (12 or 24). For APAC/AIH, the 5th digit must be the program's and, with ``uf_code``, the first two digits
    the establishment's UF. Every problem is a field error on ``inicio``/``fim``.
    """
    errors: list[FieldError] = []
    if instrument not in INSTRUMENTS:
        raise _error("instrumento", "instrumento_invalido", "Instrumento deve ser apac, aih ou cmd.")
    if program not in PROGRAMS:
        raise _error("programa", "programa_invalido", f"Programa deve ser um de: {', '.join(PROGRAMS)}.")
    bounds: list[tuple[str, int]] = []
    for name, raw in (("inicio", first), ("fim", last)):
        try:
            bounds.append(_bound(instrument, program, name, raw, uf_code))
        except ValidationFailed as exc:
            errors.extend(exc.errors)
    if errors:
        raise ValidationFailed("Faixa de numeração inválida.", errors=errors)
    (p1, s1), (p2, s2) = bounds
    if p1 != p2:
        raise _error(
            "fim",
            "faixa_prefixos_diferentes",
            "Início e fim da faixa devem ter o mesmo começo (UF, ano e programa; no CMD, as posições 1 a 17).",
        )
    if s1 > s2:
        raise _error("fim", "faixa_invertida", "O fim da faixa vem antes do início.")
    return RangeBounds(p1, s1, s2)


def _bound(instrument: str, program: str, field: str, raw: str, uf_code: str | None) -> tuple[str, int]:
    text = _clean(raw)
    if instrument == "cmd":
        if len(text) == CMD_LENGTH - 1:
            text += cmd_check_digit(text) if _CMD.match(text + "0") else "0"
        cmd = parse_cmd(text, field=field, complementar=program == "complementar")
        return cmd.prefix, cmd.sequence
    if len(text) == APAC_AIH_LENGTH - 1 and text.isdigit():
        text += check_digit(text)
    number = parse_apac_aih(text, field=field, instrument=instrument)
    expect_program(number, instrument, program, field=field)
    if uf_code is not None and number.uf_code != uf_code:
        raise _error(
            field,
            "faixa_uf_divergente",
            f"A faixa começa com {number.uf_code}, mas o estabelecimento fica na UF de código IBGE {uf_code}.",
        )
    return number.prefix, number.sequence


def compose(instrument: str, prefix: str, sequence: int) -> str:
    return compose_cmd(prefix, sequence) if instrument == "cmd" else compose_apac_aih(prefix, sequence)


def issuable(instrument: str, prefix: str, sequence: int) -> bool:
    """Whether regula may issue this sequence: APAC/AIH numbers whose remainder is 10 are skipped."""
    if instrument == "cmd":
        return True
    return not remainder_is_ten(f"{prefix}{sequence:0{SEQUENCE_DIGITS}d}")
