"""The waitlist priority policy: a versioned, configurable rule that turns an entry's facts into an integer score
with a breakdown an operator can read.

Pure module: no database, no I/O.

How a score is built (all integer arithmetic, so it is deterministic and reproducible in the numpy bulk path)::

    score = class points                     (rank of the clinical risk class × band)
          + class promotion                  (one band, only if ``cross_class_aging_days`` is set and exceeded)
          + legal priority                   (pessoa idosa 60+/80+, gestante, pessoa com deficiência / TEA; capped)
          + waiting                          (points per day waited, capped)
          + deadline pressure                (grows with the elapsed fraction of tM, steeply after a threshold)
          + equity                           (race/color, CadÚnico, vulnerability index, optionally sex; hard-capped)

Everything after the class points is the *within-band* part. The policy validation guarantees that its largest
possible value is below ``band``, so a higher clinical class always outranks a lower one (class dominance) unless
the policy explicitly ages entries across classes with ``cross_class_aging_days``.

Legal sources:

* Equity "com ênfase em gênero e raça/etnia", considering the social determinants of health: Portaria GM/MS
  3.492/2024, art. 3 VIII. Applied only *within* a clinical class and bounded by ``equity.max_points``.
* Transparent queue management and second-generation regulation (user focus, telling citizens their situation in
  the queue): Portaria GM/MS 3.492/2024, art. 10 §2 I, V and VI — hence the explained breakdown.
* Queues individualized by CPF/CNS and organized by OCI: Portaria GM/MS 3.492/2024, art. 14 §1–2 (as amended).
* tM, the maximum time of an OCI: Portaria GM/MS 3.492/2024, art. 14 §3 III (as amended). The ordinance defines tM
  as the time between the first and the last procedure of the OCI; using it as the yardstick for deadline pressure
  while an entry waits is a policy choice of regula (an entry that waits close to tM is unlikely to complete on time).
* Pessoa idosa (60+) and the special priority of people aged 80+ over other older people: Lei 10.741/2003
  (Estatuto da Pessoa Idosa) art. 1 and art. 3 §2, and art. 15 §7 for health care, as amended by Lei 13.466/2017.
* Gestantes and pessoas com deficiência: Lei 10.048/2000 art. 1; Lei 13.146/2015 (LBI) art. 9.
* TEA: Lei 12.764/2012 art. 1 §2 considers the person with autism spectrum disorder a person with disability for
  all legal purposes, so the TEA and disability points do not stack (the larger one applies).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Final, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from regula.core.errors import FieldError, ValidationFailed

RiskClass = Literal["vermelho", "amarelo", "verde", "azul"]
RaceColor = Literal["branca", "preta", "parda", "amarela", "indigena", "sem_informacao"]
Sex = Literal["M", "F"]

RISK_CLASSES: Final[tuple[str, ...]] = ("vermelho", "amarelo", "verde", "azul")
RACE_COLORS: Final[tuple[str, ...]] = ("branca", "preta", "parda", "amarela", "indigena", "sem_informacao")
SEXES: Final[tuple[str, ...]] = ("M", "F")

#: Breakdown keys whose integer values add up to ``Score.value``.
COMPONENT_KEYS: Final[tuple[str, ...]] = (
    "classe",
    "promocao_de_classe",
    "prioridade_legal",
    "espera",
    "prazo",
    "equidade",
)

RACE_COLOR_LABELS_PT: Final[dict[str, str]] = {
    "branca": "branca",
    "preta": "preta",
    "parda": "parda",
    "amarela": "amarela",
    "indigena": "indígena",
    "sem_informacao": "sem informação",
}


def _fmt(n: int) -> str:
    return f"{n:,}".replace(",", ".")  # 20000 -> "20.000" (Brazilian thousands separator)


# Upper bounds for single parameters. They keep every intermediate value of the numpy path far below 2**63.
_MAX_BAND: Final = 10_000_000
_MAX_POINTS: Final = 1_000_000
_MAX_RATE: Final = 1_000.0


# --------------------------------------------------------------------------------------------------------------
# Facts
# --------------------------------------------------------------------------------------------------------------


def _fact_error(field: str, code: str, message: str) -> ValidationFailed:
    return ValidationFailed(
        "Dados da entrada inválidos para o cálculo de prioridade.",
        code="dados_invalidos",
        errors=[FieldError(field, code, message)],
    )


@dataclass(frozen=True, slots=True)
class PriorityFacts:
    """What the policy needs to know about one waitlist entry on one day.

    ``authorized_on`` starts the waiting clock; ``suspended_days`` are days the clock was paused (status
    ``suspensa`` and the like) and do not count as waiting. ``max_days`` is the OCI's tM (Portaria GM/MS
    3.492/2024, art. 14 §3 III as amended). ``vulnerability_index`` is 0..1, higher meaning more vulnerable, or
    None when unknown. ``oci_sex`` is the SIGTAP sex restriction of the OCI ("M", "F" or None when unrestricted).
    """

    risk_class: RiskClass
    authorized_on: date
    today: date
    suspended_days: int
    max_days: int
    age_years: int
    pregnant: bool
    disability: bool
    autism: bool
    race_color: RaceColor
    sex: Sex
    cadunico: bool
    vulnerability_index: float | None
    oci_sex: Sex | None

    def __post_init__(self) -> None:
        if self.risk_class not in RISK_CLASSES:
            raise _fact_error(
                "risk_class", "classe_de_risco_invalida", f"Classe de risco deve ser uma de: {', '.join(RISK_CLASSES)}."
            )
        if self.race_color not in RACE_COLORS:
            raise _fact_error("race_color", "raca_cor_invalida", f"Raça/cor deve ser uma de: {', '.join(RACE_COLORS)}.")
        if self.sex not in SEXES:
            raise _fact_error("sex", "sexo_invalido", "Sexo deve ser M ou F.")
        if self.oci_sex is not None and self.oci_sex not in SEXES:
            raise _fact_error("oci_sex", "sexo_invalido", "Restrição de sexo da OCI deve ser M, F ou vazia.")
        if self.suspended_days < 0:
            raise _fact_error("suspended_days", "valor_negativo", "Dias de suspensão não podem ser negativos.")
        if self.max_days < 1:
            raise _fact_error(
                "max_days", "tempo_maximo_invalido", "O tempo máximo (tM) da OCI deve ser de pelo menos 1 dia."
            )
        if self.age_years < 0:
            raise _fact_error("age_years", "valor_negativo", "A idade não pode ser negativa.")
        vi = self.vulnerability_index
        if vi is not None and not (0.0 <= vi <= 1.0):  # also rejects NaN
            raise _fact_error(
                "vulnerability_index", "indice_fora_do_intervalo", "O índice de vulnerabilidade deve estar entre 0 e 1."
            )


# --------------------------------------------------------------------------------------------------------------
# Policy
# --------------------------------------------------------------------------------------------------------------

_CONFIG = ConfigDict(frozen=True, extra="forbid")


def _at_most_3_decimals(value: float, field: str) -> None:
    if abs(value * 1000 - round(value * 1000)) > 1e-6:
        raise PydanticCustomError(
            "casas_decimais_demais", "Use no máximo 3 casas decimais.", {"field": field, "value": value}
        )


class LegalPriorityPoints(BaseModel):
    """Points for legal priority groups. Idoso 80+ replaces (does not add to) idoso 60+; TEA and disability do not
    stack (Lei 12.764/2012 art. 1 §2); the groups that remain add up, capped at ``max_points``."""

    model_config = _CONFIG

    idoso_60: int = Field(
        30,
        ge=0,
        le=_MAX_POINTS,
        strict=True,
        description="Pontos para pessoa idosa (60 anos ou mais; Lei 10.741/2003).",
    )
    idoso_80: int = Field(
        60,
        ge=0,
        le=_MAX_POINTS,
        strict=True,
        description="Pontos para pessoa com 80 anos ou mais; deve superar idoso_60 (Lei 10.741/2003 art. 3 §2).",
    )
    gestante: int = Field(60, ge=0, le=_MAX_POINTS, strict=True, description="Pontos para gestante (Lei 10.048/2000).")
    deficiencia: int = Field(
        30, ge=0, le=_MAX_POINTS, strict=True, description="Pontos para pessoa com deficiência (Lei 13.146/2015)."
    )
    tea: int = Field(
        30,
        ge=0,
        le=_MAX_POINTS,
        strict=True,
        description="Pontos para pessoa com TEA (Lei 12.764/2012); não se soma aos de deficiência.",
    )
    max_points: int = Field(
        120, ge=0, le=_MAX_POINTS, strict=True, description="Teto da soma dos pontos de prioridade legal."
    )

    @model_validator(mode="after")
    def _eighty_above_sixty(self) -> Self:
        # Lei 10.741/2003 art. 3 §2 and art. 15 §7 (Lei 13.466/2017): 80+ have priority over the other older people.
        if self.idoso_80 < self.idoso_60 or (self.idoso_60 > 0 and self.idoso_80 == self.idoso_60):
            raise PydanticCustomError(
                "idoso_80_abaixo_de_idoso_60",
                "Os pontos para pessoas com 80 anos ou mais devem ser maiores que os de 60 anos ou mais "
                "(Estatuto da Pessoa Idosa, art. 3 §2).",
                {"field": "idoso_80"},
            )
        return self

    def worst_case(self) -> int:
        return min(self.max_points, self.idoso_80 + self.gestante + max(self.deficiencia, self.tea))


class AgingPoints(BaseModel):
    """Points for time waited: ``floor(days × points_per_day)``, capped at ``cap_points``."""

    model_config = _CONFIG

    points_per_day: float = Field(
        1.0, ge=0, le=_MAX_RATE, strict=True, description="Pontos por dia de espera (até 3 casas decimais)."
    )
    cap_points: int = Field(3000, ge=0, le=_MAX_POINTS, strict=True, description="Teto dos pontos por tempo de espera.")

    @model_validator(mode="after")
    def _decimals(self) -> Self:
        _at_most_3_decimals(self.points_per_day, "points_per_day")
        return self


class DeadlinePressure(BaseModel):
    """Points as the elapsed fraction of the OCI's tM grows: linear from 0 to ``points_at_threshold`` until
    ``threshold`` (e.g. 75 % of tM), then on a steeper line through ``points_at_limit`` at 100 % of tM, continuing
    past the deadline, capped at ``max_points``. The fraction is taken in whole per-mille (floor)."""

    model_config = _CONFIG

    threshold: float = Field(
        0.75,
        gt=0,
        lt=1,
        strict=True,
        description="Fração do tM a partir da qual a pressão de prazo cresce rapidamente (até 3 casas decimais).",
    )
    points_at_threshold: int = Field(
        25, ge=0, le=_MAX_POINTS, strict=True, description="Pontos quando a espera atinge o limiar."
    )
    points_at_limit: int = Field(
        200, ge=0, le=_MAX_POINTS, strict=True, description="Pontos quando a espera atinge 100% do tM."
    )
    max_points: int = Field(400, ge=0, le=_MAX_POINTS, strict=True, description="Teto dos pontos de prazo.")

    @model_validator(mode="after")
    def _shape(self) -> Self:
        _at_most_3_decimals(self.threshold, "threshold")
        if self.points_at_limit < self.points_at_threshold:
            raise PydanticCustomError(
                "pontos_de_prazo_decrescentes",
                "Os pontos no limite do tM não podem ser menores que os pontos no limiar.",
                {"field": "points_at_limit"},
            )
        if self.max_points < self.points_at_limit:
            raise PydanticCustomError(
                "teto_de_prazo_abaixo_do_limite",
                "O teto dos pontos de prazo não pode ser menor que os pontos no limite do tM.",
                {"field": "max_points"},
            )
        return self


class RaceColorWeights(BaseModel):
    """Equity points by race/color (IBGE categories). Portaria GM/MS 3.492/2024, art. 3 VIII."""

    model_config = _CONFIG

    branca: int = Field(0, ge=0, le=_MAX_POINTS, strict=True)
    preta: int = Field(10, ge=0, le=_MAX_POINTS, strict=True)
    parda: int = Field(10, ge=0, le=_MAX_POINTS, strict=True)
    amarela: int = Field(0, ge=0, le=_MAX_POINTS, strict=True)
    indigena: int = Field(10, ge=0, le=_MAX_POINTS, strict=True)
    sem_informacao: int = Field(0, ge=0, le=_MAX_POINTS, strict=True)


class SexWeights(BaseModel):
    """Equity points by sex, applied only when the OCI has no SIGTAP sex restriction. Default 0 (see module doc)."""

    model_config = _CONFIG

    M: int = Field(0, ge=0, le=_MAX_POINTS, strict=True)
    F: int = Field(0, ge=0, le=_MAX_POINTS, strict=True)


class EquityWeights(BaseModel):
    """Equity adjustment (Portaria GM/MS 3.492/2024, art. 3 VIII): the sum of the applicable markers, capped at
    ``max_points``. It never moves an entry out of its clinical class."""

    model_config = _CONFIG

    race_color: RaceColorWeights = Field(default_factory=RaceColorWeights)
    cadunico: int = Field(
        10, ge=0, le=_MAX_POINTS, strict=True, description="Pontos para família inscrita no CadÚnico."
    )
    vulnerability_index_max_points: int = Field(
        10,
        ge=0,
        le=_MAX_POINTS,
        strict=True,
        description="Pontos com índice de vulnerabilidade 1; proporcional (arredondado para baixo) abaixo disso.",
    )
    sex: SexWeights = Field(default_factory=SexWeights)
    max_points: int = Field(
        30, ge=0, le=_MAX_POINTS, strict=True, description="Teto do ajuste de equidade (no máximo 10% da faixa)."
    )

    @model_validator(mode="after")
    def _weights_within_cap(self) -> Self:
        weights: list[tuple[str, int]] = [(f"race_color.{k}", getattr(self.race_color, k)) for k in RACE_COLORS]
        weights += [
            ("cadunico", self.cadunico),
            ("vulnerability_index_max_points", self.vulnerability_index_max_points),
        ]
        weights += [(f"sex.{k}", getattr(self.sex, k)) for k in SEXES]
        for name, value in weights:
            if value > self.max_points:
                raise PydanticCustomError(
                    "peso_de_equidade_acima_do_teto",
                    "Peso de equidade ({value}) maior que o teto do ajuste de equidade ({cap}).",
                    {"field": name, "value": value, "cap": self.max_points},
                )
        return self


@dataclass(frozen=True, slots=True)
class _Compiled:
    """The policy flattened to plain ints and dicts, computed once per policy object."""

    version: str
    band: int
    class_points: dict[str, int]
    top_class: str
    idoso_60: int
    idoso_80: int
    gestante: int
    deficiencia: int
    tea: int
    legal_max: int
    aging_milli: int  # points per 1000 days
    aging_cap: int
    dl_threshold_pm: int  # threshold in per-mille of tM
    dl_at_threshold: int
    dl_at_limit: int
    dl_max: int
    race_points: dict[str, int]
    sex_points: dict[str, int]
    cadunico: int
    vuln_max: int
    equity_max: int
    cross_days: int | None


class PriorityPolicy(BaseModel):
    """A versioned, JSON-serializable priority policy. Construct with :func:`policy_from_json` to get
    :class:`~regula.core.errors.ValidationFailed` with Portuguese field errors; direct construction raises pydantic's
    ``ValidationError``.

    ``class_order`` lists the risk classes from highest to lowest; a class's points are its rank from the bottom
    times ``band`` (azul 0, verde 10.000, amarelo 20.000, vermelho 30.000 by default).
    """

    model_config = _CONFIG

    version: str = Field(
        "regula-1",
        min_length=1,
        max_length=40,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        description="Identificador da versão da política (gravado com cada pontuação).",
    )
    band: int = Field(
        10_000,
        ge=100,
        le=_MAX_BAND,
        strict=True,
        description="Pontos que separam uma classe de risco da seguinte.",
    )
    class_order: tuple[RiskClass, ...] = Field(
        ("vermelho", "amarelo", "verde", "azul"),
        description="Classes de risco da mais alta para a mais baixa.",
    )
    legal: LegalPriorityPoints = Field(default_factory=LegalPriorityPoints)
    aging: AgingPoints = Field(default_factory=AgingPoints)
    deadline: DeadlinePressure = Field(default_factory=DeadlinePressure)
    equity: EquityWeights = Field(default_factory=EquityWeights)
    cross_class_aging_days: int | None = Field(
        None,
        ge=1,
        le=3650,
        strict=True,
        description=(
            "Se definido, uma entrada que espera mais do que estes dias sobe uma faixa de classe. "
            "Vazio: uma classe mais baixa nunca ultrapassa uma mais alta."
        ),
    )

    _compiled: _Compiled = PrivateAttr()

    @model_validator(mode="after")
    def _invariants(self) -> Self:
        if sorted(self.class_order) != sorted(RISK_CLASSES):
            raise PydanticCustomError(
                "ordem_de_classes_invalida",
                "A ordem das classes deve conter cada classe (vermelho, amarelo, verde, azul) exatamente uma vez.",
                {"field": "class_order"},
            )
        # "Small relative to the band": equity may reorder people within a class, never dominate it.
        if self.equity.max_points * 10 > self.band:
            raise PydanticCustomError(
                "teto_de_equidade_alto_demais",
                "O teto do ajuste de equidade ({cap}) não pode passar de 10% da faixa entre classes ({band}).",
                {"field": "equity.max_points", "cap": _fmt(self.equity.max_points), "band": _fmt(self.band)},
            )
        within = self.within_band_max()
        if within >= self.band:
            raise PydanticCustomError(
                "pontos_excedem_faixa",
                "A soma dos tetos dentro de uma classe (prioridade legal {legal} + espera {aging} + prazo {deadline}"
                " + equidade {equity} = {within}) deve ser menor que a faixa entre classes ({band}); senão uma classe"
                " mais baixa poderia ultrapassar uma mais alta.",
                {
                    "field": "band",
                    "legal": _fmt(self.legal.worst_case()),
                    "aging": _fmt(self.aging.cap_points),
                    "deadline": _fmt(self.deadline.max_points),
                    "equity": _fmt(self.equity.max_points),
                    "within": _fmt(within),
                    "band": _fmt(self.band),
                },
            )
        return self

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """A copy; with ``update`` the result is validated again (and recompiled), so invariants keep holding.
        Never build policies with ``model_construct``: it skips the validation that guarantees class dominance."""
        copy = super().model_copy(update=update, deep=deep)
        if update:
            return type(self).model_validate(copy.model_dump())
        return copy

    def within_band_max(self) -> int:
        """The largest possible within-band total (everything but class points and promotion)."""
        return self.legal.worst_case() + self.aging.cap_points + self.deadline.max_points + self.equity.max_points

    @property
    def equity_max_points(self) -> int:
        return self.equity.max_points

    def model_post_init(self, context: Any, /) -> None:
        n = len(self.class_order)
        self._compiled = _Compiled(
            version=self.version,
            band=self.band,
            class_points={c: (n - 1 - i) * self.band for i, c in enumerate(self.class_order)},
            top_class=self.class_order[0],
            idoso_60=self.legal.idoso_60,
            idoso_80=self.legal.idoso_80,
            gestante=self.legal.gestante,
            deficiencia=self.legal.deficiencia,
            tea=self.legal.tea,
            legal_max=self.legal.max_points,
            aging_milli=round(self.aging.points_per_day * 1000),
            aging_cap=self.aging.cap_points,
            dl_threshold_pm=round(self.deadline.threshold * 1000),
            dl_at_threshold=self.deadline.points_at_threshold,
            dl_at_limit=self.deadline.points_at_limit,
            dl_max=self.deadline.max_points,
            race_points={k: getattr(self.equity.race_color, k) for k in RACE_COLORS},
            sex_points={k: getattr(self.equity.sex, k) for k in SEXES},
            cadunico=self.equity.cadunico,
            vuln_max=self.equity.vulnerability_index_max_points,
            equity_max=self.equity.max_points,
            cross_days=self.cross_class_aging_days,
        )


DEFAULT_POLICY: Final[PriorityPolicy] = PriorityPolicy()


def without_equity(policy: PriorityPolicy) -> PriorityPolicy:
    """``policy`` with every equity weight at zero and everything else as it is: the queue as it would be without
    the equity term (Portaria GM/MS 3.492/2024, art. 3 VIII), for the equity impact report. For any facts,
    ``compute_score(f, policy).value - compute_score(f, without_equity(policy)).value`` is the breakdown's
    ``equidade``."""
    zero = EquityWeights(
        race_color=RaceColorWeights(**dict.fromkeys(RACE_COLORS, 0)),
        cadunico=0,
        vulnerability_index_max_points=0,
        sex=SexWeights(**dict.fromkeys(SEXES, 0)),
        max_points=0,
    )
    return policy.model_copy(update={"equity": zero})


# pydantic error type -> (stable code, Portuguese message template using the error's ctx)
_PYDANTIC_MESSAGES: Final[dict[str, tuple[str, str]]] = {
    "missing": ("obrigatorio", "Campo obrigatório."),
    "extra_forbidden": ("campo_desconhecido", "Campo desconhecido."),
    "greater_than_equal": ("valor_abaixo_do_minimo", "Deve ser maior ou igual a {ge}."),
    "greater_than": ("valor_abaixo_do_minimo", "Deve ser maior que {gt}."),
    "less_than_equal": ("valor_acima_do_maximo", "Deve ser menor ou igual a {le}."),
    "less_than": ("valor_acima_do_maximo", "Deve ser menor que {lt}."),
    "int_type": ("tipo_invalido", "Informe um número inteiro."),
    "int_parsing": ("tipo_invalido", "Informe um número inteiro."),
    "int_from_float": ("tipo_invalido", "Informe um número inteiro."),
    "float_type": ("tipo_invalido", "Informe um número."),
    "float_parsing": ("tipo_invalido", "Informe um número."),
    "finite_number": ("tipo_invalido", "Informe um número finito."),
    "string_type": ("tipo_invalido", "Informe um texto."),
    "string_too_short": ("texto_curto", "Texto curto demais (mínimo {min_length} caracteres)."),
    "string_too_long": ("texto_longo", "Texto longo demais (máximo {max_length} caracteres)."),
    "string_pattern_mismatch": ("formato_invalido", "Use apenas letras, números, ponto, hífen e sublinhado."),
    "literal_error": ("valor_nao_permitido", "Valor não permitido; use um de: {expected}."),
    "model_type": ("tipo_invalido", "Informe um objeto."),
    "model_attributes_type": ("tipo_invalido", "Informe um objeto."),
    "dict_type": ("tipo_invalido", "Informe um objeto."),
    "tuple_type": ("tipo_invalido", "Informe uma lista."),
    "list_type": ("tipo_invalido", "Informe uma lista."),
    "json_invalid": ("json_invalido", "JSON inválido."),
    "json_type": ("json_invalido", "JSON inválido."),
}


def _path(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _field_errors(exc: ValidationError) -> list[FieldError]:
    errors: list[FieldError] = []
    for err in exc.errors():
        ctx: dict[str, Any] = {
            k: (int(v) if isinstance(v, float) and v.is_integer() else v) for k, v in (err.get("ctx") or {}).items()
        }
        if isinstance(ctx.get("expected"), str):
            ctx["expected"] = ctx["expected"].replace(" or ", " ou ")
        loc = list(err["loc"])
        if "field" in ctx:  # errors raised by model validators name the offending field themselves
            loc += str(ctx["field"]).split(".")
        kind = err["type"]
        if kind in _PYDANTIC_MESSAGES:
            code, template = _PYDANTIC_MESSAGES[kind]
            try:
                message = template.format(**ctx)
            except (KeyError, IndexError):
                message = template
        elif kind == "value_error" or kind.startswith(("int_", "float_", "bool_", "string_")):
            code, message = "valor_invalido", "Valor inválido."
        else:  # our PydanticCustomError: the type is the code, the message is already Portuguese
            code, message = kind, err["msg"]
        errors.append(FieldError(_path(loc) or "politica", code, message))
    return errors


def policy_from_json(data: Mapping[str, Any] | str | bytes) -> PriorityPolicy:
    """Build a policy from parsed JSON (a mapping) or JSON text. Missing fields take the defaults.

    Raises :class:`ValidationFailed` (code ``politica_invalida``) with one :class:`FieldError` per problem: dotted
    field path (``equity.race_color.preta``), stable code and Portuguese message.
    """
    try:
        if isinstance(data, str | bytes):
            return PriorityPolicy.model_validate_json(data)
        if not isinstance(data, Mapping):
            message = "A política deve ser um objeto JSON."
            raise ValidationFailed(
                "Política de prioridade inválida.",
                code="politica_invalida",
                errors=[FieldError("politica", "tipo_invalido", message)],
            )
        return PriorityPolicy.model_validate(dict(data))
    except ValidationError as exc:
        raise ValidationFailed(
            "Política de prioridade inválida.", code="politica_invalida", errors=_field_errors(exc)
        ) from None


def policy_to_json(policy: PriorityPolicy) -> dict[str, Any]:
    """The policy as plain JSON data; ``policy_from_json(policy_to_json(p)) == p``."""
    data: dict[str, Any] = json.loads(policy.model_dump_json())
    return data


# --------------------------------------------------------------------------------------------------------------
# Scoring
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Score:
    """An integer score and its breakdown. The integer values under :data:`COMPONENT_KEYS` add up to ``value``;
    other keys (days waited, reasons, the policy version) are there to explain it."""

    value: int
    breakdown: dict[str, int | str]


def _days_waited(elapsed_days: int, suspended_days: int) -> int:
    return max(0, elapsed_days - suspended_days)


def _deadline_points(c: _Compiled, days: int, max_days: int) -> int:
    elapsed_pm = days * 1000 // max_days
    thr = c.dl_threshold_pm
    if elapsed_pm <= thr:
        pts = c.dl_at_threshold * elapsed_pm // thr
    else:
        pts = c.dl_at_threshold + (c.dl_at_limit - c.dl_at_threshold) * (elapsed_pm - thr) // (1000 - thr)
    return min(c.dl_max, pts)


def _legal_points(c: _Compiled, age: int, pregnant: bool, disability: bool, autism: bool) -> int:
    pts = c.idoso_80 if age >= 80 else c.idoso_60 if age >= 60 else 0
    if pregnant:
        pts += c.gestante
    pts += max(c.deficiencia if disability else 0, c.tea if autism else 0)
    return min(c.legal_max, pts)


def _equity_raw(
    c: _Compiled, race: str, cadunico: bool, vi: float | None, sex: str, oci_sex: str | None
) -> tuple[int, int, int, int]:
    return (
        c.race_points[race],
        c.cadunico if cadunico else 0,
        int(vi * c.vuln_max) if vi is not None else 0,  # truncation == floor: vi >= 0
        c.sex_points[sex] if oci_sex is None else 0,
    )


def compute_score(facts: PriorityFacts, policy: PriorityPolicy = DEFAULT_POLICY) -> Score:
    """Score one entry. Pure integer arithmetic on values precomputed from the policy; deterministic."""
    c = policy._compiled
    elapsed = facts.today.toordinal() - facts.authorized_on.toordinal()
    days = _days_waited(elapsed, facts.suspended_days)

    class_pts = c.class_points[facts.risk_class]
    promoted = c.cross_days is not None and days > c.cross_days and facts.risk_class != c.top_class
    promotion = c.band if promoted else 0

    legal = _legal_points(c, facts.age_years, facts.pregnant, facts.disability, facts.autism)
    aging = min(c.aging_cap, days * c.aging_milli // 1000)
    deadline = _deadline_points(c, days, facts.max_days)
    race_p, cad_p, vuln_p, sex_p = _equity_raw(
        c, facts.race_color, facts.cadunico, facts.vulnerability_index, facts.sex, facts.oci_sex
    )
    equity_raw = race_p + cad_p + vuln_p + sex_p
    equity = min(c.equity_max, equity_raw)

    value = class_pts + promotion + legal + aging + deadline + equity

    legal_reasons: list[str] = []
    if facts.age_years >= 80 and c.idoso_80:
        legal_reasons.append("pessoa idosa com 80 anos ou mais")
    elif 60 <= facts.age_years < 80 and c.idoso_60:
        legal_reasons.append("pessoa idosa")
    if facts.pregnant and c.gestante:
        legal_reasons.append("gestante")
    if facts.autism and c.tea and (not facts.disability or c.tea >= c.deficiencia):
        legal_reasons.append("pessoa com TEA")
    elif facts.disability and c.deficiencia:
        legal_reasons.append("pessoa com deficiência")
    equity_reasons: list[str] = []
    if race_p:
        equity_reasons.append(f"raça/cor {RACE_COLOR_LABELS_PT[facts.race_color]} +{race_p}")
    if cad_p:
        equity_reasons.append(f"CadÚnico +{cad_p}")
    if vuln_p:
        equity_reasons.append(f"índice de vulnerabilidade {facts.vulnerability_index:.2f} +{vuln_p}".replace(".", ","))
    if sex_p:
        equity_reasons.append(f"sexo {facts.sex} +{sex_p}")

    breakdown: dict[str, int | str] = {
        "versao_politica": c.version,
        "classe_de_risco": facts.risk_class,
        "classe": class_pts,
    }
    if promoted:
        breakdown["promocao_de_classe"] = promotion
        breakdown["promocao_apos_dias"] = c.cross_days or 0
    breakdown.update(
        {
            "prioridade_legal": legal,
            "prioridade_legal_motivos": ", ".join(legal_reasons),
            "dias_de_espera": days,
            "dias_suspensos": facts.suspended_days,
            "espera": aging,
            "prazo": deadline,
            "tempo_maximo_dias": facts.max_days,
            "prazo_percentual": days * 100 // facts.max_days,
            "equidade": equity,
            "equidade_motivos": "; ".join(equity_reasons),
            "equidade_teto": c.equity_max,
            "equidade_sem_teto": equity_raw,
        }
    )
    return Score(value=value, breakdown=breakdown)


def explain(score: Score) -> list[str]:
    """Portuguese sentences explaining a score, one per component, for operators and for the citizen channel
    (Portaria GM/MS 3.492/2024, art. 10 §2 V–VI: informing the citizen of their situation, transparency)."""
    b = score.breakdown

    def i(key: str) -> int:
        v = b.get(key, 0)
        return v if isinstance(v, int) else 0

    def s(key: str) -> str:
        return str(b.get(key, ""))

    lines = [f"Classe {s('classe_de_risco')}: {_fmt(i('classe'))} pontos"]
    if "promocao_de_classe" in b:
        lines.append(
            f"Promoção de classe por espera acima de {_fmt(i('promocao_apos_dias'))} dias: "
            f"+{_fmt(i('promocao_de_classe'))}"
        )
    legal = i("prioridade_legal")
    lines.append(
        f"Prioridade legal ({s('prioridade_legal_motivos')}): +{_fmt(legal)}" if legal else "Sem prioridade legal: +0"
    )
    days, suspended = i("dias_de_espera"), i("dias_suspensos")
    waiting = f"Esperando há {_fmt(days)} {'dia' if days == 1 else 'dias'}"
    if suspended:
        waiting += f" (sem contar {_fmt(suspended)} {'dia' if suspended == 1 else 'dias'} de suspensão)"
    lines.append(f"{waiting}: +{_fmt(i('espera'))}")
    lines.append(
        f"Prazo: {i('prazo_percentual')}% do tempo máximo da OCI ({_fmt(i('tempo_maximo_dias'))} dias) já decorrido: "
        f"+{_fmt(i('prazo'))}"
    )
    equity = i("equidade")
    if equity:
        line = f"Equidade ({s('equidade_motivos')}): +{_fmt(equity)}"
        if i("equidade_sem_teto") > equity:
            line += f" (limitada ao teto de {_fmt(i('equidade_teto'))})"
        lines.append(line)
    else:
        lines.append("Equidade: nenhum marcador se aplica: +0")
    lines.append(f"Total: {_fmt(score.value)} pontos (versão da política de priorização: {s('versao_politica')})")
    return lines


def sort_key(score_value: int, authorized_at: datetime, entry_id: int) -> tuple[int, datetime, int]:
    """Queue order: higher score first, then earlier authorization, then smaller id, so ties never depend on
    database order. Naive datetimes are taken as UTC so naive and aware values compare."""
    if authorized_at.tzinfo is None:
        authorized_at = authorized_at.replace(tzinfo=UTC)
    return (-score_value, authorized_at, entry_id)


# --------------------------------------------------------------------------------------------------------------
# Bulk scoring
# --------------------------------------------------------------------------------------------------------------

#: Columns :func:`compute_scores_bulk` needs: the fields of :class:`PriorityFacts` except ``today``.
BULK_COLUMNS: Final[tuple[str, ...]] = (
    "risk_class",
    "authorized_on",
    "suspended_days",
    "max_days",
    "age_years",
    "pregnant",
    "disability",
    "autism",
    "race_color",
    "sex",
    "cadunico",
    "vulnerability_index",
    "oci_sex",
)


def _bulk_error(column: str, row: int, code: str, message: str) -> ValidationFailed:
    return _fact_error(f"rows[{row}].{column}", code, message)


def _check_columns(rows: Mapping[str, Any]) -> int:
    missing = [c for c in BULK_COLUMNS if c not in rows]
    if missing:
        raise ValidationFailed(
            "Colunas ausentes para o cálculo de prioridade em lote.",
            errors=[FieldError(c, "obrigatorio", "Coluna obrigatória.") for c in missing],
        )
    lengths = {c: len(rows[c]) for c in BULK_COLUMNS}
    n = lengths["risk_class"]
    for c, length in lengths.items():
        if length != n:
            raise ValidationFailed.for_field(
                c, "tamanho_diferente", f"A coluna tem {length} valores; esperado {n} (como risk_class)."
            )
    return n


def compute_scores_bulk(
    rows: Mapping[str, Any],
    policy: PriorityPolicy = DEFAULT_POLICY,
    today: date | None = None,
    *,
    use_numpy: bool = True,
) -> list[int]:
    """Score many entries at once (nightly refresh). Returns exactly ``compute_score(facts, policy).value`` for each
    row (tested on random data), without building a breakdown.

    ``rows`` maps each name in :data:`BULK_COLUMNS` to a sequence or numpy array of equal length (columnar,
    "parallel" data). ``authorized_on`` may be a sequence of ``date`` or a numpy ``datetime64`` array. Missing
    ``vulnerability_index`` values are ``None`` (or NaN in a float array). ``today`` defaults to ``date.today()``.
    With numpy the arithmetic is vectorized in int64 (parameter bounds keep it far from overflow); without numpy,
    or with ``use_numpy=False``, it loops in Python (then ``authorized_on`` must hold ``date`` objects).
    """
    if today is None:
        today = date.today()
    n = _check_columns(rows)
    if n == 0:
        return []
    if use_numpy:
        try:
            import numpy  # noqa: F401
        except ImportError:  # pragma: no cover - numpy is a transitive dependency
            use_numpy = False
    if use_numpy:
        return _bulk_numpy(rows, policy._compiled, today, n)
    return _bulk_python(rows, policy._compiled, today, n)


def _bulk_python(rows: Mapping[str, Any], c: _Compiled, today: date, n: int) -> list[int]:
    t = today.toordinal()
    out: list[int] = []
    cols = [rows[k] for k in BULK_COLUMNS]
    for idx, (risk, auth, susp, maxd, age, preg, dis, aut, race, sex, cad, vi, osex) in enumerate(
        zip(*cols, strict=True)
    ):
        try:
            facts = PriorityFacts(
                risk, auth, today, int(susp), int(maxd), int(age), bool(preg), bool(dis), bool(aut), race, sex,
                bool(cad), None if vi is None or (isinstance(vi, float) and math.isnan(vi)) else float(vi), osex,
            )  # fmt: skip
        except ValidationFailed as exc:
            err = exc.errors[0]
            raise _bulk_error(err.field, idx, err.code, err.message) from None
        days = _days_waited(t - facts.authorized_on.toordinal(), facts.suspended_days)
        promoted = c.cross_days is not None and days > c.cross_days and facts.risk_class != c.top_class
        equity = min(c.equity_max, sum(_equity_raw(c, race, facts.cadunico, facts.vulnerability_index, sex, osex)))
        out.append(
            c.class_points[facts.risk_class]
            + (c.band if promoted else 0)
            + _legal_points(c, facts.age_years, facts.pregnant, facts.disability, facts.autism)
            + min(c.aging_cap, days * c.aging_milli // 1000)
            + _deadline_points(c, days, facts.max_days)
            + equity
        )
    return out


def _bulk_numpy(rows: Mapping[str, Any], c: _Compiled, today: date, n: int) -> list[int]:
    import numpy as np

    i64 = np.int64

    def lookup(column: str, table: Mapping[Any, int], code: str, message: str) -> Any:
        values = rows[column]
        try:
            return np.fromiter((table[v] for v in values), dtype=i64, count=n)
        except (KeyError, TypeError):
            for idx, v in enumerate(values):
                if v not in table:
                    raise _bulk_error(column, idx, code, message) from None
            raise  # pragma: no cover

    def ints(column: str) -> Any:
        return np.asarray(rows[column], dtype=i64).reshape(n)

    def first_bad(column: str, mask: Any, code: str, message: str) -> None:
        if bool(mask.any()):
            raise _bulk_error(column, int(np.argmax(mask)), code, message)

    class_pts = lookup("risk_class", c.class_points, "classe_de_risco_invalida", "Classe de risco inválida.")
    race_pts = lookup("race_color", c.race_points, "raca_cor_invalida", "Raça/cor inválida.")
    oci_unrestricted = lookup(
        "oci_sex", {None: 1, "M": 0, "F": 0}, "sexo_invalido", "Restrição de sexo da OCI deve ser M, F ou vazia."
    )
    sex_pts = lookup("sex", c.sex_points, "sexo_invalido", "Sexo deve ser M ou F.") * oci_unrestricted

    auth = rows["authorized_on"]
    if isinstance(auth, np.ndarray) and np.issubdtype(auth.dtype, np.datetime64):
        elapsed = (np.datetime64(today, "D") - auth.astype("datetime64[D]")).astype(i64)
    else:
        elapsed = today.toordinal() - np.fromiter((d.toordinal() for d in auth), dtype=i64, count=n)

    suspended = ints("suspended_days")
    first_bad("suspended_days", suspended < 0, "valor_negativo", "Dias de suspensão não podem ser negativos.")
    max_days = ints("max_days")
    first_bad(
        "max_days", max_days < 1, "tempo_maximo_invalido", "O tempo máximo (tM) da OCI deve ser de pelo menos 1 dia."
    )
    age = ints("age_years")
    first_bad("age_years", age < 0, "valor_negativo", "A idade não pode ser negativa.")
    pregnant = np.asarray(rows["pregnant"], dtype=bool).reshape(n)
    disability = np.asarray(rows["disability"], dtype=bool).reshape(n)
    autism = np.asarray(rows["autism"], dtype=bool).reshape(n)
    cadunico = np.asarray(rows["cadunico"], dtype=bool).reshape(n)
    vi = np.asarray(rows["vulnerability_index"], dtype=np.float64).reshape(n)
    vi = np.where(np.isnan(vi), 0.0, vi)
    first_bad(
        "vulnerability_index",
        (vi < 0.0) | (vi > 1.0),
        "indice_fora_do_intervalo",
        "O índice de vulnerabilidade deve estar entre 0 e 1.",
    )

    days = np.maximum(elapsed - suspended, 0)

    promotion = np.zeros(n, dtype=i64)
    if c.cross_days is not None:
        promotion = np.where((days > c.cross_days) & (class_pts != c.class_points[c.top_class]), c.band, 0).astype(i64)

    legal = np.where(age >= 80, c.idoso_80, np.where(age >= 60, c.idoso_60, 0)).astype(i64)
    legal += np.where(pregnant, c.gestante, 0)
    legal += np.maximum(np.where(disability, c.deficiencia, 0), np.where(autism, c.tea, 0))
    legal = np.minimum(legal, c.legal_max)

    aging = np.minimum(days * c.aging_milli // 1000, c.aging_cap)

    elapsed_pm = days * 1000 // max_days
    thr = c.dl_threshold_pm
    before = c.dl_at_threshold * elapsed_pm // thr
    after = c.dl_at_threshold + (c.dl_at_limit - c.dl_at_threshold) * (elapsed_pm - thr) // (1000 - thr)
    deadline = np.minimum(np.where(elapsed_pm <= thr, before, after), c.dl_max)

    vuln = (vi * c.vuln_max).astype(i64)  # same IEEE product and truncation as int(vi * vuln_max)
    equity = np.minimum(race_pts + np.where(cadunico, c.cadunico, 0) + vuln + sex_pts, c.equity_max)

    total = class_pts + promotion + legal + aging + deadline + equity
    result: list[int] = total.tolist()
    return result
