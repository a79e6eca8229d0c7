"""The other pure rules of the Ressarcimento component (Portaria Conjunta MS/AGU 7.702/2025): operator eligibility
(art. 3), the adhesion workflow as one table (art. 2–9, 17 II), the entes' consultation deadline in business days
(art. 6), offer-matrix values (art. 10), regional caps (art. 4 §3) and sublimits (art. 4 §2), and the challenge
window of a proposed sanction (art. 17 §1). The COR and the sanctions themselves are :mod:`.evaluation`.

Pure module: no database, no I/O, no clock (callers pass the dates). The services load an operator, call these and
store what they return.

Counting days (decision 0017)
=============================

* **Business days** (art. 6: "dez dias úteis, prorrogáveis por, no máximo, cinco dias úteis, a contar da
  comunicação"): Monday to Friday except the national holidays of federal law — 1 January, 21 April, 1 May,
  7 September, 2 November, 15 November, 25 December (Lei 662/1949 as amended by Lei 10.607/2002), 12 October (Lei
  6.802/1980), 20 November from 2024 on (Lei 14.759/2023) — and Good Friday (Sexta-feira da Paixão), which the
  federal government's yearly calendar lists as a holiday. Carnival and Corpus Christi are *pontos facultativos*
  of the federal administration, not holidays: they count as business days unless the caller passes them, with
  any state or municipal holiday, in ``extra_holidays``. The day of the communication is not counted (Lei
  9.784/1999, art. 66: "excluindo-se da contagem o dia do começo e incluindo-se o do vencimento"), so the
  deadline is the 10th (or, extended, the 15th) business day after it.
* **The 15-day challenge window** (art. 17 §1, "no prazo de quinze dias, na forma da Lei nº 9.784"): Lei 9.784,
  art. 66 counts *continuous* days, the notification day excluded and the last day included; when the last day is
  not a business day the deadline moves to the next business day (§1). The sanction becomes final on the day after
  the deadline when no challenge was filed, or on the day the challenge is decided.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum
from functools import cache
from typing import Final, Literal

from regula.core.errors import Conflict, FieldError, ValidationFailed
from regula.ressarcimento.evaluation import (
    REGION_LABELS_PT,
    REGION_SHARES,
    STRATEGIC_SHARE,
    Region,
    check_amount,
    round_money,
)

# ---------------------------------------------------------------------------------------------------------------
# Eligibility (art. 3) and size (art. 4 §3)
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EligibilityFacts:
    """The three requirements of art. 3, as SAES and the ANS state them."""

    technical_capacity: bool  # I — technical and operational capacity, verified by SAES
    ans_reports_regular: bool  # II — regular with the periodic information sent to the ANS
    in_liquidation: bool  # III — the requirement is *not* being in liquidation


@dataclass(frozen=True)
class Eligibility:
    eligible: bool
    reasons: tuple[FieldError, ...]  # one per unmet requirement, naming the fact's field; empty when eligible

    @property
    def reasons_pt(self) -> tuple[str, ...]:
        return tuple(r.message for r in self.reasons)


def eligibility(facts: EligibilityFacts) -> Eligibility:
    """Art. 3 I–III: all three requirements must hold."""
    reasons: list[FieldError] = []
    if not facts.technical_capacity:
        reasons.append(
            FieldError(
                "technical_capacity",
                "sem_capacidade_tecnica",
                "A SAES não verificou a capacidade técnica e operacional da operadora (art. 3º, I).",
            )
        )
    if not facts.ans_reports_regular:
        reasons.append(
            FieldError(
                "ans_reports_regular",
                "informacoes_ans_irregulares",
                "A operadora não está regular com o envio das informações periódicas à ANS (art. 3º, II).",
            )
        )
    if facts.in_liquidation:
        reasons.append(
            FieldError(
                "in_liquidation",
                "operadora_em_liquidacao",
                "A operadora está em processo de liquidação (art. 3º, III).",
            )
        )
    return Eligibility(eligible=not reasons, reasons=tuple(reasons))


OperatorSize = Literal["pequeno", "medio", "grande"]


def national_large(size: str, national_reach: bool) -> bool:
    """Art. 4 §3: the regional caps apply to operators "de grande porte que tenham abrangência nacional"."""
    return size == "grande" and national_reach


# ---------------------------------------------------------------------------------------------------------------
# The adhesion workflow (art. 2–9, 17 II) as one table
# ---------------------------------------------------------------------------------------------------------------


class OperatorStatus(StrEnum):
    """The step an operator is in. Each status names what has happened and what is awaited next."""

    MANIFESTACAO_INTERESSE = "manifestacao_interesse"  # form and matrix sent (art. 2 §1 V, §5); SAES analyses
    APROVADA_SAES = "aprovada_saes"  # SAES approved the preliminary adhesion (art. 4); MS consults the entes
    CONSULTA_ENTES = "consulta_entes"  # consultation sent (art. 5); entes answer in 10 (+5) business days (art. 6)
    TRANSACAO_PARCELAMENTO = "transacao_parcelamento"  # entes agreed; debts in transaction/instalments (art. 7–8)
    TERMO_COMPROMISSO = "termo_compromisso"  # PGF informed the transaction (art. 7 §3); the Termo is prepared (art. 9)
    ATIVA = "ativa"  # Termo de Compromisso signed (art. 9): serves SUS patients
    EXCLUIDA = "excluida"  # excluded from the program (art. 17 II) — terminal
    INDEFERIDA = "indeferida"  # the adhesion stopped at one of its steps (art. 4, 6, 8) — terminal


STATUS_LABELS_PT: Final[dict[OperatorStatus, str]] = {
    OperatorStatus.MANIFESTACAO_INTERESSE: "Manifestação de interesse",
    OperatorStatus.APROVADA_SAES: "Aprovada pela SAES",
    OperatorStatus.CONSULTA_ENTES: "Consulta aos entes",
    OperatorStatus.TRANSACAO_PARCELAMENTO: "Transação ou parcelamento",
    OperatorStatus.TERMO_COMPROMISSO: "Termo de Compromisso",
    OperatorStatus.ATIVA: "Ativa",
    OperatorStatus.EXCLUIDA: "Excluída",
    OperatorStatus.INDEFERIDA: "Indeferida",
}

INITIAL_STATUS: Final = OperatorStatus.MANIFESTACAO_INTERESSE
CONSULTATION_STATUS: Final = OperatorStatus.CONSULTA_ENTES
ACTIVE_STATUS: Final = OperatorStatus.ATIVA
TERMINAL_STATUSES: Final = frozenset({OperatorStatus.EXCLUIDA, OperatorStatus.INDEFERIDA})


@dataclass(frozen=True, slots=True)
class OperatorTransition:
    """One row of the workflow table.

    ``requires_eligibility``: every step forward, up to and including activation, needs art. 3 to hold at the time
    (a requirement lost on the way — e.g. liquidation — stops the adhesion). ``requires_note``: refusing or
    excluding is an act that denies a right or imposes a sanction and must be motivated (Lei 9.784/1999, art. 50
    I–II), so it needs a written reason."""

    source: OperatorStatus
    target: OperatorStatus
    action_pt: str
    article: str
    requires_eligibility: bool
    requires_note: bool


def _t(source: OperatorStatus, target: OperatorStatus, action_pt: str, article: str) -> OperatorTransition:
    forward = target not in TERMINAL_STATUSES
    return OperatorTransition(
        source, target, action_pt, article, requires_eligibility=forward, requires_note=not forward
    )


_S = OperatorStatus
#: The adhesion workflow: manifestação de interesse → aprovação SAES → consulta aos entes → transação/parcelamento →
#: Termo de Compromisso → ativa → excluída; each step before activation may also end the adhesion (indeferida).
TRANSITIONS: Final[tuple[OperatorTransition, ...]] = (
    _t(_S.MANIFESTACAO_INTERESSE, _S.APROVADA_SAES, "Registrar aprovação da SAES", "art. 3º e 4º"),
    _t(_S.MANIFESTACAO_INTERESSE, _S.INDEFERIDA, "Indeferir a adesão", "art. 4º"),
    _t(_S.APROVADA_SAES, _S.CONSULTA_ENTES, "Registrar envio da consulta aos entes", "art. 5º e 6º"),
    _t(_S.APROVADA_SAES, _S.INDEFERIDA, "Encerrar a adesão", "art. 4º, § 5º"),
    _t(_S.CONSULTA_ENTES, _S.TRANSACAO_PARCELAMENTO, "Registrar concordância dos entes", "art. 6º e 7º"),
    _t(_S.CONSULTA_ENTES, _S.INDEFERIDA, "Encerrar (entes sem interesse)", "art. 6º"),
    _t(_S.TRANSACAO_PARCELAMENTO, _S.TERMO_COMPROMISSO, "Registrar transação ou parcelamento", "art. 7º, § 3º, e 8º"),
    _t(_S.TRANSACAO_PARCELAMENTO, _S.INDEFERIDA, "Encerrar (sem transação ou parcelamento)", "art. 8º"),
    _t(_S.TERMO_COMPROMISSO, _S.ATIVA, "Registrar assinatura do Termo de Compromisso", "art. 9º"),
    _t(_S.TERMO_COMPROMISSO, _S.INDEFERIDA, "Encerrar (Termo não celebrado)", "art. 9º"),
    _t(_S.ATIVA, _S.EXCLUIDA, "Excluir do programa", "art. 17, II"),
)
del _S

_RULES: Final[dict[tuple[OperatorStatus, OperatorStatus], OperatorTransition]] = {
    (r.source, r.target): r for r in TRANSITIONS
}


def _status(value: OperatorStatus | str, field_name: str) -> OperatorStatus:
    try:
        return OperatorStatus(value)
    except ValueError:
        # People read the labels, not the stored codes (the stable code is the error's ``code``); the value sent is
        # not echoed, since it may be anything a client typed.
        options = ", ".join(STATUS_LABELS_PT[s].lower() for s in OperatorStatus)
        message = f"Situação de operadora desconhecida; escolha uma de: {options}."
        raise ValidationFailed(
            message, code="situacao_desconhecida", errors=[FieldError(field_name, "situacao_desconhecida", message)]
        ) from None


def next_statuses(current: OperatorStatus | str) -> tuple[OperatorStatus, ...]:
    """The statuses reachable from ``current`` in one step, in table order (none from a terminal status)."""
    cur = _status(current, "status")
    return tuple(r.target for r in TRANSITIONS if r.source == cur)


def check_transition(
    current: OperatorStatus | str,
    target: OperatorStatus | str,
    eligibility: Eligibility,
    *,
    note: str | None = None,
) -> OperatorTransition:
    """Validate moving an operator from ``current`` to ``target``. Raises:

    * :class:`ValidationFailed` ``situacao_desconhecida`` (field ``status`` / ``to_status``) for an unknown status;
    * :class:`Conflict` ``transicao_invalida`` when the table has no such step (``extra["allowed"]`` lists the
      statuses reachable from ``current``);
    * :class:`ValidationFailed` ``operadora_inelegivel`` when a step forward is asked of an operator that does not
      meet art. 3 (one field error per unmet requirement);
    * :class:`ValidationFailed` ``motivo_obrigatorio`` (field ``note``) when a refusal or exclusion has no reason.
    """
    cur = _status(current, "status")
    tgt = _status(target, "to_status")
    rule = _RULES.get((cur, tgt))
    if rule is None:
        allowed = next_statuses(cur)
        if cur in TERMINAL_STATUSES:
            message = f"A operadora está {STATUS_LABELS_PT[cur].lower()}; essa situação é final."
        else:
            options = ", ".join(STATUS_LABELS_PT[s].lower() for s in allowed)
            message = (
                f"Não é possível passar de {STATUS_LABELS_PT[cur].lower()} para {STATUS_LABELS_PT[tgt].lower()}. "
                f"Passos possíveis a partir daqui: {options}."
            )
        raise Conflict(
            message,
            code="transicao_invalida",
            extra={"current": cur.value, "target": tgt.value, "allowed": [s.value for s in allowed]},
        )
    if rule.requires_eligibility and not eligibility.eligible:
        raise ValidationFailed(
            "A operadora não atende aos requisitos do art. 3º: " + " ".join(eligibility.reasons_pt),
            code="operadora_inelegivel",
            errors=list(eligibility.reasons),
        )
    if rule.requires_note and not (note or "").strip():
        message = f"Informe o motivo para marcar a operadora como {STATUS_LABELS_PT[tgt].lower()} (Lei 9.784, art. 50)."
        raise ValidationFailed(
            message, code="motivo_obrigatorio", errors=[FieldError("note", "motivo_obrigatorio", message)]
        )
    return rule


# ---------------------------------------------------------------------------------------------------------------
# Calendar: business days (art. 6) and the challenge window (art. 17 §1)
# ---------------------------------------------------------------------------------------------------------------

CONSULTATION_BUSINESS_DAYS: Final = 10  # art. 6
CONSULTATION_EXTENSION_BUSINESS_DAYS: Final = 5  # art. 6, "no máximo"
CHALLENGE_DAYS: Final = 15  # art. 17 §1


def easter(year: int) -> date:
    """Easter Sunday of the Gregorian calendar (the anonymous Gregorian algorithm, Meeus/Jones/Butcher)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    m = (32 + 2 * e + 2 * i - h - k) % 7
    n = (a + 11 * h + 22 * m) // 451
    month, day = divmod(h + m - 7 * n + 114, 31)
    return date(year, month, day + 1)


@cache
def national_holidays(year: int) -> frozenset[date]:
    """Brazil's national holidays of ``year`` (see the module docstring for the laws), Good Friday included."""
    fixed = [(1, 1), (4, 21), (5, 1), (9, 7), (10, 12), (11, 2), (11, 15), (12, 25)]
    if year >= 2024:
        fixed.append((11, 20))  # Dia Nacional de Zumbi e da Consciência Negra, Lei 14.759/2023
    return frozenset({date(year, m, d) for m, d in fixed} | {easter(year) - timedelta(days=2)})


def is_business_day(day: date, extra_holidays: Collection[date] = ()) -> bool:
    return day.weekday() < 5 and day not in national_holidays(day.year) and day not in extra_holidays


def add_business_days(start: date, days: int, extra_holidays: Collection[date] = ()) -> date:
    """The ``days``-th business day after ``start`` (``start`` itself is not counted, art. 66 of Lei 9.784)."""
    if days < 1:
        raise ValueError("days must be positive")
    current, counted = start, 0
    while counted < days:
        current += timedelta(days=1)
        if is_business_day(current, extra_holidays):
            counted += 1
    return current


def next_business_day(day: date, extra_holidays: Collection[date] = ()) -> date:
    """``day`` itself when it is a business day, else the first business day after it (Lei 9.784, art. 66 §1)."""
    while not is_business_day(day, extra_holidays):
        day += timedelta(days=1)
    return day


def consultation_deadline(sent_on: date, extended: bool = False, extra_holidays: Collection[date] = ()) -> date:
    """Art. 6: the entes answer within ten business days of the communication, extendable by at most five."""
    days = CONSULTATION_BUSINESS_DAYS + (CONSULTATION_EXTENSION_BUSINESS_DAYS if extended else 0)
    return add_business_days(sent_on, days, extra_holidays)


def challenge_deadline(notified_on: date, extra_holidays: Collection[date] = ()) -> date:
    """Art. 17 §1 with Lei 9.784, art. 66: 15 continuous days after the notification, the last day moved to the next
    business day when it falls on a weekend or holiday."""
    return next_business_day(notified_on + timedelta(days=CHALLENGE_DAYS), extra_holidays)


class SanctionStatus(StrEnum):
    PROPOSTA = "proposta"  # computed by the evaluation, not yet notified
    NOTIFICADA = "notificada"  # notified: the challenge window is open
    IMPUGNADA = "impugnada"  # challenged within the window, awaiting the decision
    DEFINITIVA = "definitiva"  # final: no challenge in the window, or the challenge was rejected
    REVOGADA = "revogada"  # the challenge was upheld: the sanction does not apply


class SanctionOutcome(StrEnum):
    MANTIDA = "mantida"  # challenge rejected
    REVOGADA = "revogada"  # challenge upheld
    SEM_IMPUGNACAO = "sem_impugnacao"  # the window closed without a challenge


SANCTION_STATUS_LABELS_PT: Final[dict[SanctionStatus, str]] = {
    SanctionStatus.PROPOSTA: "Proposta",
    SanctionStatus.NOTIFICADA: "Notificada (prazo de impugnação aberto)",
    SanctionStatus.IMPUGNADA: "Impugnada (aguardando decisão)",
    SanctionStatus.DEFINITIVA: "Definitiva",
    SanctionStatus.REVOGADA: "Revogada",
}


@dataclass(frozen=True)
class SanctionWindow:
    """Where a proposed sanction stands on ``today`` (art. 17 §1), with both dates — when it was proposed and when
    it became final — and the outcome."""

    status: SanctionStatus
    proposed_on: date
    notified_on: date | None
    challenge_deadline: date | None
    challenged_on: date | None
    outcome: SanctionOutcome | None
    final_on: date | None

    @property
    def window_open(self) -> bool:
        return self.status is SanctionStatus.NOTIFICADA


def _field_error(field_name: str, code: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, code=code, errors=[FieldError(field_name, code, message)])


def sanction_window(
    *,
    proposed_on: date,
    today: date,
    notified_on: date | None = None,
    challenged_on: date | None = None,
    decided_on: date | None = None,
    challenge_upheld: bool | None = None,
    extra_holidays: Collection[date] = (),
) -> SanctionWindow:
    """The sanction's status from its dates (art. 17 §1). Proposed → notified (15 days to challenge) → final: the day
    after the deadline without a challenge (``sem_impugnacao``), or the day the challenge is decided (``mantida``
    → definitiva, ``revogada`` → revogada). Refuses dates out of order, in the future, or a challenge after the
    deadline (``fora_do_prazo``)."""
    for name, value in (("notified_on", notified_on), ("challenged_on", challenged_on), ("decided_on", decided_on)):
        if value is not None and value > today:
            raise _field_error(name, "data_futura", "A data não pode ser futura.")
    if proposed_on > today:
        raise _field_error("proposed_on", "data_futura", "A data não pode ser futura.")
    if notified_on is None:
        if challenged_on is not None or decided_on is not None:
            raise _field_error("notified_on", "sem_notificacao", "Sem notificação não há impugnação nem decisão.")
        return SanctionWindow(SanctionStatus.PROPOSTA, proposed_on, None, None, None, None, None)
    if notified_on < proposed_on:
        raise _field_error("notified_on", "antes_da_proposta", "A notificação não pode preceder a proposta.")
    deadline = challenge_deadline(notified_on, extra_holidays)
    if challenged_on is None:
        if decided_on is not None or challenge_upheld is not None:
            raise _field_error("challenged_on", "sem_impugnacao", "Só há decisão quando houve impugnação.")
        if today <= deadline:
            return SanctionWindow(SanctionStatus.NOTIFICADA, proposed_on, notified_on, deadline, None, None, None)
        return SanctionWindow(
            SanctionStatus.DEFINITIVA,
            proposed_on,
            notified_on,
            deadline,
            None,
            SanctionOutcome.SEM_IMPUGNACAO,
            deadline + timedelta(days=1),
        )
    if challenged_on < notified_on:
        raise _field_error("challenged_on", "antes_da_notificacao", "A impugnação não pode preceder a notificação.")
    if challenged_on > deadline:
        raise _field_error(
            "challenged_on",
            "fora_do_prazo",
            f"O prazo de impugnação terminou em {deadline:%d/%m/%Y} (15 dias, art. 17, § 1º).",
        )
    if decided_on is None or challenge_upheld is None:
        if (decided_on is None) != (challenge_upheld is None):
            raise _field_error("decided_on", "decisao_incompleta", "Informe a data e o resultado da decisão.")
        return SanctionWindow(SanctionStatus.IMPUGNADA, proposed_on, notified_on, deadline, challenged_on, None, None)
    if decided_on < challenged_on:
        raise _field_error("decided_on", "antes_da_impugnacao", "A decisão não pode preceder a impugnação.")
    status, outcome = (
        (SanctionStatus.REVOGADA, SanctionOutcome.REVOGADA)
        if challenge_upheld
        else (SanctionStatus.DEFINITIVA, SanctionOutcome.MANTIDA)
    )
    return SanctionWindow(status, proposed_on, notified_on, deadline, challenged_on, outcome, decided_on)


# ---------------------------------------------------------------------------------------------------------------
# Offer matrix (art. 10), regional caps (art. 4 §3) and sublimits (art. 4 §2)
# ---------------------------------------------------------------------------------------------------------------

OfferComponent = Literal["oci", "cirurgia"]
COMPONENT_LABELS_PT: Final[dict[str, str]] = {
    "oci": "Ambulatorial — OCI (art. 10, I)",
    "cirurgia": "Cirúrgico (art. 10, II)",
}


def matrix_value(component: str, sigtap_value: Decimal, ivr: Decimal | None) -> Decimal:
    """The value of one service of the offer matrix (art. 10):

    * ``oci`` (I, componente ambulatorial): the OCI's SIGTAP value as it is — it already contemplates the care
      management and the IVR, so no IVR may be given (``ivr_nao_se_aplica``);
    * ``cirurgia`` (II, componente cirúrgico): the principal procedure's SIGTAP value × the IVR factor (> 0),
      rounded once to centavos, half up — a table price, as the ministry's own table publishes it.
    """
    value = check_amount(sigtap_value, "unit_value_brl")
    if component == "oci":
        if ivr is not None:
            raise _field_error(
                "ivr", "ivr_nao_se_aplica", "O valor SIGTAP da OCI já contempla o IVR (art. 10, I): não informe IVR."
            )
        return value
    if component == "cirurgia":
        if ivr is None:
            raise _field_error("ivr", "ivr_obrigatorio", "Informe o IVR da cirurgia (art. 10, II).")
        factor = check_amount(ivr, "ivr")
        if factor <= 0:
            raise _field_error("ivr", "ivr_invalido", "O IVR deve ser maior que zero (art. 10, II).")
        return round_money(value * factor)
    raise _field_error("component", "componente_invalido", "Componente deve ser oci ou cirurgia (art. 10, I e II).")


@dataclass(frozen=True)
class RegionalCap:
    key: str  # a Region value, or "strategic"
    label_pt: str
    inciso: str
    share: Decimal
    limit: Decimal  # exact share × annual maximum; round_money to show it


_INCISOS: Final[dict[Region, str]] = {Region.NE: "I", Region.N: "II", Region.CO: "III", Region.SE: "IV", Region.S: "V"}


def regional_caps(annual_max: Decimal) -> tuple[RegionalCap, ...]:
    """Art. 4 §3: a large national operator's annual maxima per region (I–V) and for strategic services (VI)."""
    total = check_amount(annual_max, "annual_max")
    caps = [
        RegionalCap(region.value, REGION_LABELS_PT[region], _INCISOS[region], share, share * total)
        for region, share in REGION_SHARES.items()
    ]
    caps.append(
        RegionalCap(
            "strategic", "Serviços estratégicos (qualquer região)", "VI", STRATEGIC_SHARE, STRATEGIC_SHARE * total
        )
    )
    return tuple(caps)


SublimitDimension = Literal["mensal", "regiao", "procedimento", "especialidade"]
SUBLIMIT_DIMENSIONS: Final[dict[str, str]] = {
    "mensal": "temporal: valor mensal da matriz",
    "regiao": "geográfico: valor anual por região",
    "procedimento": "de procedimento: valor anual por código SIGTAP",
    "especialidade": "de especialidade: valor anual por especialidade",
}


@dataclass(frozen=True)
class MatrixLine:
    """One line of an offer matrix as the sublimit check reads it: value per service (:func:`matrix_value`) and
    the monthly and annual quantities (art. 4 §1)."""

    procedure_code: str
    specialty: str
    region: Region
    value: Decimal
    monthly_qty: int
    annual_qty: int


@dataclass(frozen=True)
class Sublimit:
    """A sublimit SAES set for approving a matrix (art. 4 §2: "critérios temporais, geográficos, de procedimentos ou
    especialidades"): ``mensal`` bounds the matrix's monthly value (``key`` empty); ``regiao``, ``procedimento``
    and ``especialidade`` bound the annual value of the lines whose region, SIGTAP code or specialty is ``key``."""

    dimension: SublimitDimension
    key: str
    max_value: Decimal


def check_quantities(lines: Sequence[MatrixLine]) -> list[FieldError]:
    """Art. 4 §1 (monthly and annual capacity): quantities non-negative, annual ≤ 12 × monthly."""
    errors: list[FieldError] = []
    for i, line in enumerate(lines):
        negative = [name for name in ("monthly_qty", "annual_qty") if getattr(line, name) < 0]
        if negative:
            errors.extend(
                FieldError(f"lines[{i}].{name}", "quantidade_negativa", "Quantidades não podem ser negativas.")
                for name in negative
            )
        elif line.annual_qty > 12 * line.monthly_qty:
            errors.append(
                FieldError(
                    f"lines[{i}].annual_qty",
                    "quantidade_anual_acima_da_mensal",
                    f"A quantidade anual ({line.annual_qty}) passa de 12 vezes a mensal ({line.monthly_qty}).",
                )
            )
    return errors


def _key_of(line: MatrixLine, dimension: str) -> str:
    if dimension == "regiao":
        return line.region.value
    if dimension == "procedimento":
        return line.procedure_code
    return line.specialty


def brl_text(value: Decimal) -> str:
    """``R$ 1.234.567,89`` (rounded once to centavos, half up)."""
    text = f"{round_money(value):,.2f}"
    return "R$ " + text.replace(",", "_").replace(".", ",").replace("_", ".")


def check_sublimits(lines: Sequence[MatrixLine], sublimits: Sequence[Sublimit]) -> list[FieldError]:
    """The sublimits a matrix exceeds (art. 4 §2), one error per sublimit, naming it (``sublimits[i]``). Values are
    compared exactly."""
    errors: list[FieldError] = []
    for i, sub in enumerate(sublimits):
        if sub.dimension == "mensal":
            total = sum((line.value * line.monthly_qty for line in lines), Decimal(0))
        else:
            total = sum(
                (line.value * line.annual_qty for line in lines if _key_of(line, sub.dimension) == sub.key), Decimal(0)
            )
        if total > sub.max_value:
            what = SUBLIMIT_DIMENSIONS[sub.dimension] + (f" {sub.key}" if sub.key else "")
            errors.append(
                FieldError(
                    f"sublimits[{i}]",
                    "sublimite_excedido",
                    f"A matriz soma {brl_text(total)} e passa do sublimite {what} de {brl_text(sub.max_value)} "
                    "(art. 4º, § 2º).",
                )
            )
    return errors
