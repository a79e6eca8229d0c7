"""What the catalog domain returns to the rest of regula (CLI, HTTP, other domains): plain frozen dataclasses,
never table models. Money is ``Decimal``; JSON renders it as a number with its exact digits (catalog.routes)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

from litestar.params import KwargDefinition
from msgspec import Struct

# Money in reais: exact in Python; documented (OpenAPI) and rendered (routes.MoneyAsNumberResponse) as a number.
Money = Annotated[Decimal, KwargDefinition(schema_extra={"type": "number"})]

# TP_COMPLEXIDADE of SIGTAP.
COMPLEXITY_PT: dict[str, str] = {
    "0": "Não se aplica",
    "1": "Atenção Básica",
    "2": "Média Complexidade",
    "3": "Alta Complexidade",
}


@dataclass(frozen=True, slots=True)
class SecondaryItem:
    """A secondary procedure of an OCI. ``qty``: how many times it may be registered (QT_PERMITIDA); None when
    SIGTAP sets no quantity (QT_PERMITIDA 0)."""

    code: str
    name: str
    qty: int | None


@dataclass(frozen=True, slots=True)
class OneOfGroupItem:
    """At least one of ``codes`` must be registered (see catalog.policy)."""

    source: str  # complementary attribute behind the rule, e.g. "053"
    rule: str
    codes: list[SecondaryItem]


@dataclass(frozen=True, slots=True)
class CodeName:
    code: str
    name: str


@dataclass(frozen=True, slots=True)
class CidItem:
    code: str
    name: str
    principal: bool | None


@dataclass(frozen=True, slots=True)
class HabilitacaoItem:
    code: str
    group: str
    name: str


@dataclass(frozen=True, slots=True)
class RuleItem:
    code: str
    name: str
    description: str | None


@dataclass(frozen=True, slots=True)
class ValueComponents:
    sa: Money  # serviço ambulatorial
    sh: Money  # serviço hospitalar
    sp: Money  # serviço profissional


@dataclass(frozen=True, slots=True)
class OciSummary:
    """An OCI of one competência with its composition.

    ``mandatory`` holds the SIGTAP TP_COMPATIBILIDADE 5 secondaries. ``optional`` holds the TP 1 secondaries
    except the PMAE consultation pair (0301010072 / 0301010307): those are listed in ``consultation_one_of``
    instead, because under PMAE one of them is required (catalog.policy), so calling them optional would mislead
    (the same split as the reference catalog's ``optional`` / ``mandatory_one_of``). A procedure named by an
    attribute group (056/057, in ``one_of_groups``) stays in ``optional`` as well: each one of them is optional,
    only the group is not.
    """

    code: str
    name: str
    competencia: str
    subgroup: str
    subgroup_name: str
    forma_organizacao: str
    forma_organizacao_name: str
    value_brl: Money
    max_days: int  # tM, program policy
    sex: str | None  # "M" / "F"; None = any
    age_min_months: int | None  # None = no limit
    age_max_months: int | None
    mandatory: list[SecondaryItem]
    optional: list[SecondaryItem]
    consultation_one_of: list[SecondaryItem]
    min_secondaries: int | None
    one_of_groups: list[OneOfGroupItem]
    cids: list[str]
    attributes: list[str]


@dataclass(frozen=True, slots=True)
class OciDetail(OciSummary):
    """An OCI with everything SIGTAP says about it."""

    sex_sigtap: str  # M, F, I (both) or N (not applicable)
    complexity: str
    complexity_name: str
    max_executions: int | None
    value_components: ValueComponents
    financing: CodeName
    rubrica: CodeName | None
    description: str | None
    cid_details: list[CidItem]
    attribute_details: list[CodeName]
    habilitacoes: list[HabilitacaoItem]
    rules: list[RuleItem]
    other_compatible: list[SecondaryItem]  # compatibility types other than 1 and 5, if SIGTAP ever has them


@dataclass(frozen=True, slots=True)
class VersionInfo:
    competencia: str
    source_filename: str
    sha256: str
    imported_at: datetime
    oci_count: int
    procedure_count: int
    cid_count: int
    attribute_count: int
    habilitacao_count: int
    rule_count: int
    current: bool


@dataclass(frozen=True, slots=True)
class ImportResult:
    competencia: str
    source_filename: str
    sha256: str
    unchanged: bool  # True: this very file was already imported, nothing was written
    oci_count: int
    procedure_count: int
    cid_count: int
    attribute_count: int
    habilitacao_count: int
    rule_count: int
    current_competencia: str  # the newest competência after the import

    def describe(self) -> str:
        """One line for a person at the terminal (``regula seed``, ``regula demo``)."""
        month = f"{self.competencia[4:]}/{self.competencia[:4]}"
        what = "já importada, nada mudou" if self.unchanged else "importada"
        return f"competência {month} {what}: {self.oci_count} OCIs, {self.procedure_count} procedimentos"


# -- referral protocols (decision 0020) ---------------------------------------------------------------------------


class ChecklistItemIO(Struct, forbid_unknown_fields=True):
    """One item the APS team confirms: ``key`` (snake_case, stable), ``label`` (Portuguese), whether required."""

    key: str
    label: str
    required: bool = True


class ProtocolIn(Struct, forbid_unknown_fields=True):
    """A new version of an OCI's referral protocol (Portaria 3.492/2024 art. 10 §1 III), effective from
    ``effective_from`` (today or later), with the ``reason`` for the change. tR/tM null = the global defaults."""

    effective_from: date
    reason: str
    checklist: list[ChecklistItemIO] = []
    required_exams: list[str] = []
    accepted_cids: list[str] = []
    priority_hints: list[str] = []
    teleconsultation_required: bool = False
    tr_days: int | None = None
    tm_days: int | None = None


class ProtocolOut(Struct):
    """A version of an OCI's protocol (version 0: no version stored, the default protocol), with tR/tM resolved."""

    oci_code: str
    version: int
    effective_from: date
    checklist: list[ChecklistItemIO]
    required_exams: list[str]
    accepted_cids: list[str]
    priority_hints: list[str]
    teleconsultation_required: bool
    tr_days: int | None
    tm_days: int | None
    care_tr_days: int  # tR in force: the protocol's or the global default
    care_tm_days: int  # tM in force
    care_times_source: str  # "protocolo" or "padrao"
    created_by: str
    reason: str
    in_force: bool  # the version in force on the day asked (today by default)


class ProtocolPage(Struct):
    items: list[ProtocolOut]
    total: int
    offset: int
    limit: int
