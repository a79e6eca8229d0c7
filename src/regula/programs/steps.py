"""The approval of a PAR version as one table of steps (pure module: no database, no I/O).

Sources (Portaria GM/MS 3.492/2024 as amended):

* art. 8 III (as amended): the PAR is approved by a resolution "a) na Comissão Intergestores Regional (CIR) e
  ciência em Comissão Intergestores Bipartite (CIB), se planos regionais ou de caráter parcial; ou b) na Comissão
  Intergestores Bipartite (CIB) ou no Colegiado de Gestão do DF, se plano macrorregional ou estadual";
* art. 11: the Secretaria de Atenção Especializada à Saúde (SAES) analyses and approves each PAR "bem como de seus
  eventuais ajustes" — the SAES approval is what makes a version *approved* (and immutable);
* art. 15 §5 (as amended): after approval a portaria is published "contendo o planejamento financeiro e dos tipos
  de OCI aprovados do PAR";
* art. 16 §1 (as amended): the 30% advance is transferred after approval, "condicionado ao envio de Resolução CIB
  que indica os gestores executores das OCI, em até dez dias após a publicação da portaria de aprovação do PAR".

A version is ``rascunho`` (its content may still change) until the first federative resolution is recorded; then
``em_pactuacao`` (content frozen: the resolution approved *this* content); ``aprovada`` from the SAES approval.
Steps after the SAES approval (portaria, executing managers) are records about the approved version, not changes
to its content. The service checks jurisdiction and roles; this module checks order, applicability and dates.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final

from regula.core.errors import Conflict, FieldError, ValidationFailed


class PlanKind(enum.StrEnum):
    REGIONAL = "regional"  # a health region or an explicit list of municipalities (regional or partial plan)
    ESTADUAL = "estadual"  # a macro-region or the whole UF
    DISTRITAL = "distrital"  # the Federal District: its Colegiado de Gestão plays the CIB's part


PLAN_KIND_LABELS_PT: Final[dict[PlanKind, str]] = {
    PlanKind.REGIONAL: "Plano regional ou de caráter parcial",
    PlanKind.ESTADUAL: "Plano macrorregional ou estadual",
    PlanKind.DISTRITAL: "Plano do Distrito Federal",
}


def plan_kind(scope_kind: str, uf: str) -> PlanKind:
    """Which approval path a PAR takes (art. 8 III as amended)."""
    if uf == "DF":
        return PlanKind.DISTRITAL
    return PlanKind.REGIONAL if scope_kind in ("region", "municipalities") else PlanKind.ESTADUAL


class VersionStatus(enum.StrEnum):
    RASCUNHO = "rascunho"
    EM_PACTUACAO = "em_pactuacao"
    APROVADA = "aprovada"
    SUBSTITUIDA = "substituida"  # an approved version after a newer one was approved


VERSION_STATUS_LABELS_PT: Final[dict[VersionStatus, str]] = {
    VersionStatus.RASCUNHO: "Rascunho",
    VersionStatus.EM_PACTUACAO: "Em pactuação",
    VersionStatus.APROVADA: "Aprovada",
    VersionStatus.SUBSTITUIDA: "Substituída por versão posterior",
}


@dataclass(frozen=True, slots=True)
class StepRule:
    kind: str
    label_pt: str
    article: str
    plans: frozenset[PlanKind]
    requires: tuple[str, ...]  # every one of these must be recorded before (and dated no later)
    freezes: bool = False  # from this step on the version's content may no longer change
    approves: bool = False  # this step makes the version approved


_ALL: Final = frozenset(PlanKind)
_REG: Final = frozenset({PlanKind.REGIONAL})
_EST: Final = frozenset({PlanKind.ESTADUAL})
_DF: Final = frozenset({PlanKind.DISTRITAL})

#: The steps, in the order they happen. ``aprovacao_saes`` requires the federative resolution of the plan's path:
#: CIR + CIB acknowledgement (regional), CIB (macro/state) or the DF's Colegiado de Gestão; the service passes only
#: the rules of the plan's path, so "requires" names the steps of that path.
STEP_RULES: Final[tuple[StepRule, ...]] = (
    StepRule("resolucao_cir", "Resolução da CIR aprovando o PAR", "art. 8º, III, a (alterado)", _REG, (), True),
    StepRule("ciencia_cib", "Ciência da CIB", "art. 8º, III, a (alterado)", _REG, ("resolucao_cir",), True),
    StepRule("resolucao_cib", "Resolução da CIB aprovando o PAR", "art. 8º, III, b (alterado)", _EST, (), True),
    StepRule(
        "resolucao_cgses_df",
        "Resolução do Colegiado de Gestão do DF aprovando o PAR",
        "art. 8º, III, b (alterado)",
        _DF,
        (),
        True,
    ),
    StepRule(
        "aprovacao_saes",
        "Aprovação pela SAES/MS",
        "art. 11",
        _ALL,
        ("ciencia_cib", "resolucao_cib", "resolucao_cgses_df"),  # the one(s) of the plan's path
        True,
        True,
    ),
    StepRule(
        "portaria_publicada",
        "Publicação da portaria de aprovação",
        "art. 15, §5º (alterado)",
        _ALL,
        ("aprovacao_saes",),
        True,
    ),
    StepRule(
        "resolucao_cib_executores",
        "Resolução CIB indicando os gestores executores",
        "art. 16, §1º (alterado)",
        _ALL,
        ("portaria_publicada",),
        True,
    ),
)

RULES: Final[dict[str, StepRule]] = {r.kind: r for r in STEP_RULES}
STEP_LABELS_PT: Final[dict[str, str]] = {r.kind: r.label_pt for r in STEP_RULES}
#: Art. 16 §1 (as amended): the CIB resolution naming the executing managers, within ten days of the portaria.
EXECUTORES_DEADLINE_DAYS: Final = 10


def path(kind: PlanKind) -> tuple[StepRule, ...]:
    """The steps of one plan kind, in order."""
    return tuple(r for r in STEP_RULES if kind in r.plans)


def _prerequisites(rule: StepRule, kind: PlanKind) -> tuple[str, ...]:
    applicable = {r.kind for r in path(kind)}
    return tuple(k for k in rule.requires if k in applicable)


def check_step(kind: PlanKind, recorded: Mapping[str, date], step: str, on: date, today: date) -> StepRule:
    """Whether ``step`` dated ``on`` may be recorded now on a version of a ``kind`` plan whose steps so far are
    ``recorded`` (kind → date). Raises ``ValidationFailed`` (field ``kind`` or ``step_date``) or ``Conflict``."""
    rule = RULES.get(step)
    if rule is None:
        raise ValidationFailed.for_field(
            "kind", "etapa_desconhecida", f"Etapa desconhecida: {step!r}; use uma de {', '.join(RULES)}."
        )
    if kind not in rule.plans:
        steps = ", ".join(r.kind for r in path(kind))
        raise ValidationFailed.for_field(
            "kind",
            "etapa_nao_se_aplica",
            f"A etapa “{rule.label_pt}” não se aplica a um {PLAN_KIND_LABELS_PT[kind].lower()} "
            f"(etapas deste plano: {steps}).",
        )
    if step in recorded:
        raise Conflict(f"A etapa “{rule.label_pt}” já foi registrada nesta versão.", code="etapa_ja_registrada")
    missing = [k for k in _prerequisites(rule, kind) if k not in recorded]
    if missing:
        raise ValidationFailed.for_field(
            "kind",
            "etapa_fora_de_ordem",
            f"Registre antes: {', '.join(STEP_LABELS_PT[k] for k in missing)}.",
        )
    errors: list[FieldError] = []
    if on > today:
        errors.append(FieldError("step_date", "data_futura", "A data da etapa não pode estar no futuro."))
    before = [k for k in _prerequisites(rule, kind) if recorded[k] > on]
    if before:
        errors.append(
            FieldError(
                "step_date",
                "data_anterior_a_etapa_previa",
                f"A data não pode ser anterior à de “{STEP_LABELS_PT[before[0]]}” ({recorded[before[0]]:%d/%m/%Y}).",
            )
        )
    if errors:
        raise ValidationFailed("Etapa de aprovação inválida.", errors=errors)
    return rule


def status_after(kind: PlanKind, recorded: Mapping[str, date]) -> VersionStatus:
    """The status of a version (not superseded) with these steps recorded."""
    steps = path(kind)
    if any(r.approves and r.kind in recorded for r in steps):
        return VersionStatus.APROVADA
    if any(r.freezes and r.kind in recorded for r in steps):
        return VersionStatus.EM_PACTUACAO
    return VersionStatus.RASCUNHO


def next_steps(kind: PlanKind, recorded: Mapping[str, date]) -> tuple[StepRule, ...]:
    """The steps that may be recorded now (for the page's form)."""
    return tuple(
        r for r in path(kind) if r.kind not in recorded and all(k in recorded for k in _prerequisites(r, kind))
    )


def advance_released(recorded: Mapping[str, date]) -> bool:
    """Whether the 30% advance may be transferred: the CIB resolution naming the executing managers is recorded
    (art. 16 §1 as amended; it requires the SAES approval and the portaria before it)."""
    return "resolucao_cib_executores" in recorded


def executores_late(recorded: Mapping[str, date], today: date) -> bool:
    """The CIB resolution naming the executing managers came (or is still missing) more than ten days after the
    approving portaria was published (art. 16 §1 as amended)."""
    published = recorded.get("portaria_publicada")
    if published is None:
        return False
    limit = published + timedelta(days=EXECUTORES_DEADLINE_DAYS)
    named = recorded.get("resolucao_cib_executores")
    return (named or today) > limit
