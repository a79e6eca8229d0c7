"""The teleconsultoria step of a referral, as rules: what a teleconsultor may answer and when the answer is late.

Pure module: no database, no I/O (the service ``waitlist.teleconsultation_service`` applies it).

Sources:

* Portaria GM/MS 3.492/2024, art. 10 §3 I: the access protocols say which referrals are first mediated by
  teleconsultoria before they enter the regulation queue; the referral waits in ``aguardando_teleconsulta``
  (``waitlist.states``) until a specialist answers, and only that answer moves it on.
* art. 10 §2 II–III: shared APS/specialist decisions and telehealth — the answer either resolves the case in APS
  (with guidance for the team, closing the referral), or sends it on to regulation, possibly with the risk class
  the specialist suggests.
* art. 10 §4 I (the NGC follows each case): an answer later than the response time (``teleconsultation_sla_hours``,
  decision 21) becomes a task of the navigators.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from regula.core.errors import FieldError, ValidationFailed
from regula.waitlist.priority import RISK_CLASSES
from regula.waitlist.states import MAX_REASON_TEXT, CancelReason, EntryStatus

MIN_GUIDANCE: Final = 10
MAX_GUIDANCE: Final = 4000


class Outcome(enum.StrEnum):
    RESOLVIDO_NA_APS = "resolvido_na_aps"  # the APS team can take care of it, with the specialist's guidance
    SEGUIR_PARA_FILA = "seguir_para_fila"  # the referral goes on to regulation as the APS team classified it
    SEGUIR_COM_CLASSE = "seguir_com_classe"  # goes on to regulation with the risk class the specialist suggests


OUTCOME_LABELS_PT: Final[dict[Outcome, str]] = {
    Outcome.RESOLVIDO_NA_APS: "Resolvido na APS (com orientação à equipe)",
    Outcome.SEGUIR_PARA_FILA: "Seguir para a regulação",
    Outcome.SEGUIR_COM_CLASSE: "Seguir para a regulação com a classe de risco sugerida",
}


@dataclass(frozen=True, slots=True)
class Answer:
    """A checked answer: the outcome, the guidance for the APS team and the suggested risk class (if any), and the
    move it makes in the state table with its reason."""

    outcome: Outcome
    guidance: str | None
    suggested_risk_class: str | None
    target: EntryStatus
    reason_code: str | None

    @property
    def reason_text(self) -> str:
        label = OUTCOME_LABELS_PT[self.outcome]
        if self.suggested_risk_class is not None:
            label = f"{label}: {self.suggested_risk_class}"
        text = f"Teleconsultoria — {label}." + (f" Orientação: {self.guidance}" if self.guidance else "")
        # The history keeps the reason within the state table's limit; the full guidance is in the answer itself.
        return text if len(text) <= MAX_REASON_TEXT else text[: MAX_REASON_TEXT - 1] + "…"


def check_answer(outcome: str | None, guidance: str | None, suggested_risk_class: str | None) -> Answer:
    """Validate a teleconsultor's answer; raises :class:`ValidationFailed` naming every bad field.

    * ``outcome``: one of :class:`Outcome`;
    * ``guidance``: required (≥ 10 letters) when the case is resolved in APS — the team must know what to do;
      optional otherwise; at most 4000 characters;
    * ``suggested_risk_class``: required with ``seguir_com_classe`` (vermelho, amarelo, verde, azul), refused with
      the other outcomes (a suggestion the answer does not apply would mislead the regulator).
    """
    errors: list[FieldError] = []
    text = (guidance or "").strip() or None
    risk = (suggested_risk_class or "").strip().lower() or None
    try:
        chosen: Outcome | None = Outcome((outcome or "").strip())
    except ValueError:
        chosen = None
        # People read the message (the page shows it next to the field): the outcomes by their names; programs
        # have the code and the schema's values.
        labels = [f"“{label}”" for label in OUTCOME_LABELS_PT.values()]
        options = ", ".join(labels[:-1]) + f" ou {labels[-1]}"
        errors.append(FieldError("outcome", "resposta_invalida", f"Escolha a resposta: {options}."))
    if text is not None and len(text) > MAX_GUIDANCE:
        errors.append(
            FieldError("guidance", "orientacao_longa", f"A orientação pode ter no máximo {MAX_GUIDANCE} caracteres.")
        )
    if chosen is Outcome.RESOLVIDO_NA_APS and (text is None or len(text) < MIN_GUIDANCE):
        errors.append(
            FieldError(
                "guidance",
                "orientacao_obrigatoria",
                "Escreva a orientação para a equipe da APS (mínimo de 10 letras): o que fazer e quando reencaminhar.",
            )
        )
    if chosen is Outcome.SEGUIR_COM_CLASSE and risk not in RISK_CLASSES:
        errors.append(
            FieldError(
                "suggested_risk_class",
                "classe_de_risco_invalida" if risk else "classe_sugerida_obrigatoria",
                "Informe a classe de risco sugerida: vermelho, amarelo, verde ou azul.",
            )
        )
    if chosen is not None and chosen is not Outcome.SEGUIR_COM_CLASSE and risk is not None:
        errors.append(
            FieldError(
                "suggested_risk_class",
                "classe_sugerida_sem_efeito",
                "A classe de risco sugerida só vale com a resposta “seguir com a classe sugerida”.",
            )
        )
    if errors or chosen is None:
        raise ValidationFailed("Resposta da teleconsultoria inválida.", errors=errors)
    if chosen is Outcome.RESOLVIDO_NA_APS:
        return Answer(chosen, text, None, EntryStatus.CANCELADA, CancelReason.RESOLVIDO_NA_APS.value)
    return Answer(chosen, text, risk if chosen is Outcome.SEGUIR_COM_CLASSE else None, EntryStatus.SOLICITADA, None)


def due_at(waiting_since: datetime, sla_hours: int) -> datetime:
    """When the answer is due: ``sla_hours`` after the referral started waiting (decision 21: wall-clock hours, not
    business hours — the citizen's wait does not stop at the weekend)."""
    return waiting_since + timedelta(hours=sla_hours)


def is_late(waiting_since: datetime, now: datetime, sla_hours: int) -> bool:
    """Past the response time: strictly after :func:`due_at`."""
    return now > due_at(waiting_since, sla_hours)


def hours_waiting(waiting_since: datetime, now: datetime) -> int:
    """Whole hours since the referral started waiting (never negative)."""
    return max(0, int((now - waiting_since).total_seconds() // 3600))
