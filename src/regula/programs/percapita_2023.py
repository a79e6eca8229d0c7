"""Programa Nacional de Redução das Filas de Cirurgias Eletivas, Exames Complementares e Consultas Especializadas
(Portaria GM/MS 90, 3 Feb 2023): the per-capita distribution of its R$ 600,000,000 over the 27 UFs and the
program's registration and payment rules. Pure module.

* **Distribution** (art. 6 §1 and the Annex): proportional to the IBGE/TCU 2021 population estimate —
  ``value = round(600,000,000 × population ÷ total, 2)``, ``⅓ = round(value ÷ 3, 2)``, ROUND_HALF_UP; this
  reproduces every cell of the Annex to the centavo (tests/programs/test_percapita_2023.py). The Annex's "Total"
  row (R$ 600,000,000.00 / R$ 200,000,000.00) is the sum *before* rounding: the 27 rounded values add up to
  R$ 600,000,000.01 and the 27 thirds to R$ 200,000,000.01 — :func:`distribution_totals` gives both.
* **Payment** (art. 8 §3): ⅓ of each state's value up front (I) "para fomentar o início do Programa"; the rest
  against production registered in SIA/SIH (II). §2: transfers require the state plan and the CIB resolution.
  Art. 14: an up-front third not proven by production may be deducted from the MAC ceiling.
* **Registration** (art. 10): the differentiated values are registered in AIH or APAC with caráter de atendimento
  **1 – Eletivo** (I), under the specific series: 5th digit of the authorization number **5** in AIH and **6** in
  APAC (II a, b) — the same digits :mod:`regula.production.authorization` issues for ``reducao_filas``.
* **Complement** (art. 9): exceptionally, managers may complement the procedures' values with federal money up to
  100% of the SUS table value.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Final, Literal

from regula.core.errors import FieldError, ValidationFailed
from regula.programs.money import ZERO, brl, centavos

TOTAL_2023: Final = Decimal("600000000.00")  # Portaria GM/MS 90/2023, Annex: "Valor Disponibilizado"
POPULATION_SOURCE: Final = "IBGE – Estimativas de população TCU 2021 (Portaria GM/MS 90/2023, Anexo)"

# Annex, "POP TCU IBGE 2021": (IBGE UF code, sigla, name, population). The input of the distribution; the Annex's
# money columns are the test's expected values, kept apart from this table.
POPULATION_2021: Final[tuple[tuple[str, str, str, int], ...]] = (
    ("11", "RO", "Rondônia", 1_815_278),
    ("12", "AC", "Acre", 906_876),
    ("13", "AM", "Amazonas", 4_269_995),
    ("14", "RR", "Roraima", 652_713),
    ("15", "PA", "Pará", 8_777_124),
    ("16", "AP", "Amapá", 877_613),
    ("17", "TO", "Tocantins", 1_607_363),
    ("21", "MA", "Maranhão", 7_153_262),
    ("22", "PI", "Piauí", 3_289_290),
    ("23", "CE", "Ceará", 9_240_580),
    ("24", "RN", "Rio Grande do Norte", 3_560_903),
    ("25", "PB", "Paraíba", 4_059_905),
    ("26", "PE", "Pernambuco", 9_674_793),
    ("27", "AL", "Alagoas", 3_365_351),
    ("28", "SE", "Sergipe", 2_338_474),
    ("29", "BA", "Bahia", 14_985_284),
    ("31", "MG", "Minas Gerais", 21_411_923),
    ("32", "ES", "Espírito Santo", 4_108_508),
    ("33", "RJ", "Rio de Janeiro", 17_463_349),
    ("35", "SP", "São Paulo", 46_649_132),
    ("41", "PR", "Paraná", 11_597_484),
    ("42", "SC", "Santa Catarina", 7_338_473),
    ("43", "RS", "Rio Grande do Sul", 11_466_630),
    ("50", "MS", "Mato Grosso do Sul", 2_839_188),
    ("51", "MT", "Mato Grosso", 3_567_234),
    ("52", "GO", "Goiás", 7_206_589),
    ("53", "DF", "Distrito Federal", 3_094_325),
)

# Art. 10: registration of the program's production.
CARATER_ELETIVO: Final = "01"  # caráter de atendimento 1 – Eletivo (as the SIA/SIH fields write it, two digits)
NUMBERING_DIGIT: Final[dict[str, str]] = {"aih": "5", "apac": "6"}  # art. 10 II a (AIH), b (APAC)
COMPLEMENT_LIMIT_RATE: Final = Decimal("1.00")  # art. 9: up to 100% of the SUS table value

Instrument = Literal["aih", "apac"]


@dataclass(frozen=True)
class UfShare:
    uf_code: str
    uf: str
    name: str
    population: int
    amount: Decimal  # "Proporção Per Capita"
    upfront: Decimal  # "Vr. 1/3" (art. 8 §3 I)

    @property
    def on_production(self) -> Decimal:
        """The rest, paid against SIA/SIH production (art. 8 §3 II)."""
        return self.amount - self.upfront


def per_capita(
    populations: tuple[tuple[str, str, str, int], ...] = POPULATION_2021, total: Decimal = TOTAL_2023
) -> tuple[UfShare, ...]:
    """The Annex: each UF's share of ``total`` by population, and its up-front third (art. 6 §1, art. 8 §3 I)."""
    everyone = sum(p for *_rest, p in populations)
    shares = []
    for uf_code, uf, name, population in populations:
        amount = centavos(total * population / everyone)
        shares.append(UfShare(uf_code, uf, name, population, amount, centavos(amount / 3)))
    return tuple(shares)


def distribution_totals(shares: tuple[UfShare, ...]) -> tuple[int, Decimal, Decimal]:
    """(population, Σ values, Σ thirds) of the rounded rows (see the module docstring on the Annex's total row)."""
    return (
        sum(s.population for s in shares),
        sum((s.amount for s in shares), ZERO),
        sum((s.upfront for s in shares), ZERO),
    )


def share_of(uf: str) -> UfShare:
    """The Annex row of a UF (sigla, e.g. ``"SC"``)."""
    for share in per_capita():
        if share.uf == uf.upper():
            return share
    raise ValidationFailed(
        "UF desconhecida.", code="uf_invalida", errors=[FieldError("uf", "uf_invalida", f"UF desconhecida: {uf}.")]
    )


def numbering_digit(instrument: Instrument) -> str:
    """The 5th digit of the authorization number of the program's production (art. 10 II): AIH 5, APAC 6."""
    try:
        return NUMBERING_DIGIT[instrument]
    except KeyError:
        raise ValidationFailed(
            "Instrumento inválido.",
            code="instrumento_invalido",
            errors=[FieldError("instrument", "instrumento_invalido", "O programa registra produção em AIH ou APAC.")],
        ) from None


def is_program_authorization(number: str, instrument: Instrument) -> bool:
    """Whether a 13-digit AIH/APAC number is in the program's series (art. 10 II): 5th digit 5 (AIH) / 6 (APAC).
    Full validation of the number (check digit, UF) is :func:`regula.production.authorization`'s job."""
    digits = "".join(ch for ch in number if ch.isdigit())
    return len(digits) == 13 and digits[4] == numbering_digit(instrument)


def counts_as_program_production(*, number: str, instrument: Instrument, carater: str) -> bool:
    """A production record is the program's (paid by art. 8 §3 II) only in the program's numbering series and with
    caráter de atendimento 1 – Eletivo (art. 10 I–II). ``carater`` as the SIA/SIH write it ("1" or "01")."""
    return carater.strip().zfill(2) == CARATER_ELETIVO and is_program_authorization(number, instrument)


@dataclass(frozen=True)
class Complement:
    table_value: Decimal  # SUS table (SIGTAP) value of the procedure
    complement: Decimal  # federal complement per procedure
    total: Decimal  # table value + complement

    @property
    def rate(self) -> Decimal:
        return (self.complement / self.table_value) if self.table_value else ZERO


def complement(table_value: Decimal, requested: Decimal) -> Complement:
    """The federal complement of a procedure of the state plan: at most 100% of the SUS table value (art. 9).
    A request above the limit is refused (not silently capped): the plan must state what it pays."""
    if table_value < 0:
        raise ValidationFailed.for_field(
            "table_value", "valor_negativo", "O valor da Tabela SUS não pode ser negativo."
        )
    if requested < 0:
        raise ValidationFailed.for_field("complement", "valor_negativo", "O complemento não pode ser negativo.")
    table = centavos(table_value)
    value = centavos(requested)
    limit = centavos(table * COMPLEMENT_LIMIT_RATE)
    if value > limit:
        raise ValidationFailed.for_field(
            "complement",
            "complemento_acima_do_limite",
            f"O complemento federal é limitado a 100% do valor da Tabela SUS (até {brl(limit)}).",
        )
    return Complement(table_value=table, complement=value, total=table + value)


def max_complement(table_value: Decimal) -> Decimal:
    """The largest federal complement allowed for a procedure (art. 9: 100% of the SUS table value)."""
    if table_value < 0:
        raise ValidationFailed.for_field(
            "table_value", "valor_negativo", "O valor da Tabela SUS não pode ser negativo."
        )
    return centavos(centavos(table_value) * COMPLEMENT_LIMIT_RATE)
