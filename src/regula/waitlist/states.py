"""The regulation workflow of a waitlist entry as an explicit state machine.

Pure module: no database, no I/O. The service layer loads the entry, calls :func:`check_transition` and only then
writes the new status (and an audit record with the role, reason code and text returned in the
:class:`Transition`). Ownership and jurisdiction (e.g. "a solicitante cancels only *its own* referral", "a
regulador acts only inside its region") need the database and are checked by the service, not here.

Sources:

* ``aguardando_teleconsulta``: protocols decide which referrals must first be mediated by teleconsultoria
  before entering the queue — Portaria GM/MS 3.492/2024, art. 10 §3 I; second-generation regulation with shared
  APS/specialist decisions and telehealth — art. 10 §2 II–III.
* ``devolvida`` (pendência back to APS) keeps the APS team in the decision — art. 10 §1 V and §2 II, IV.
* ``confirmada`` / ``faltou`` / release back to ``autorizada``: the regular channel with the citizen to avoid
  no-shows — art. 10 §2 V; NGC follow-up of each OCI until completion — art. 10 §4 I.
* Queues individualized by CPF/CNS and by OCI — art. 14 §1–2 (as amended); hence :data:`ACTIVE_STATUSES`, used for
  "one active entry per citizen per OCI".

Roles are plain strings, the values of ``regula.access.policy.Role`` (a ``StrEnum``, so its members work here),
plus :data:`SYSTEM_ROLE` for automatic actions (the scheduler, the citizen-channel robot). ``admin`` may perform
every transition in the table; ``gestor`` and ``auditor`` perform none (they watch, they do not regulate).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from regula.core.actor import SYSTEM_ROLE as SYSTEM_ROLE
from regula.core.errors import Conflict, FieldError, PermissionDenied, ValidationFailed


class EntryStatus(enum.StrEnum):
    AGUARDANDO_TELECONSULTA = "aguardando_teleconsulta"  # waits for a teleconsultoria answer (art. 10 §3 I)
    SOLICITADA = "solicitada"  # referral submitted to the regulation center
    EM_ANALISE = "em_analise"  # a regulator is looking at it
    DEVOLVIDA = "devolvida"  # pendência: sent back to APS for information
    NEGADA = "negada"  # refused (terminal)
    AUTORIZADA = "autorizada"  # authorized: waiting in the queue, the waiting clock runs
    AGENDADA = "agendada"  # a slot was assigned
    CONFIRMADA = "confirmada"  # the citizen confirmed the slot
    EM_ATENDIMENTO = "em_atendimento"  # the OCI is being performed
    CONCLUIDA = "concluida"  # OCI completed (terminal)
    FALTOU = "faltou"  # no-show
    CANCELADA = "cancelada"  # cancelled (terminal)
    SUSPENSA = "suspensa"  # clock paused (clinically unfit, patient postponed…)
    TRANSFERIDA = "transferida"  # moved to another queue / regulation center (terminal here)


STATUS_LABELS_PT: Final[dict[EntryStatus, str]] = {
    EntryStatus.AGUARDANDO_TELECONSULTA: "Aguardando teleconsultoria",
    EntryStatus.SOLICITADA: "Solicitada",
    EntryStatus.EM_ANALISE: "Em análise",
    EntryStatus.DEVOLVIDA: "Devolvida à APS (pendência)",
    EntryStatus.NEGADA: "Negada",
    EntryStatus.AUTORIZADA: "Autorizada (na fila)",
    EntryStatus.AGENDADA: "Agendada",
    EntryStatus.CONFIRMADA: "Confirmada",
    EntryStatus.EM_ATENDIMENTO: "Em atendimento",
    EntryStatus.CONCLUIDA: "Concluída",
    EntryStatus.FALTOU: "Faltou",
    EntryStatus.CANCELADA: "Cancelada",
    EntryStatus.SUSPENSA: "Suspensa",
    EntryStatus.TRANSFERIDA: "Transferida",
}


class CancelReason(enum.StrEnum):
    DESISTENCIA = "desistencia"
    OBITO = "obito"
    RESOLVIDO_NA_APS = "resolvido_na_aps"
    DUPLICIDADE = "duplicidade"
    SEM_CONTATO = "sem_contato"
    RECUSA_VALIDACAO = "recusa_validacao"  # the citizen answered "não" to the 90-day "still need it?" question
    OUTRO = "outro"  # requires a free-text reason


CANCEL_REASON_LABELS_PT: Final[dict[CancelReason, str]] = {
    CancelReason.DESISTENCIA: "Desistência do paciente",
    CancelReason.OBITO: "Óbito",
    CancelReason.RESOLVIDO_NA_APS: "Resolvido na Atenção Primária",
    CancelReason.DUPLICIDADE: "Solicitação em duplicidade",
    CancelReason.SEM_CONTATO: "Sem contato com o paciente",
    CancelReason.RECUSA_VALIDACAO: "Paciente informou que não precisa mais (validação da fila)",
    CancelReason.OUTRO: "Outro motivo",
}


class SuspendReason(enum.StrEnum):
    CLINICAMENTE_NAO_APTO = "clinicamente_nao_apto"
    ADIAMENTO_PELO_PACIENTE = "adiamento_pelo_paciente"
    OUTRO = "outro"  # requires a free-text reason


SUSPEND_REASON_LABELS_PT: Final[dict[SuspendReason, str]] = {
    SuspendReason.CLINICAMENTE_NAO_APTO: "Paciente clinicamente não apto no momento",
    SuspendReason.ADIAMENTO_PELO_PACIENTE: "Adiamento a pedido do paciente",
    SuspendReason.OUTRO: "Outro motivo",
}


class ReasonKind(enum.Enum):
    """What a transition demands as its reason."""

    NONE = "none"  # no reason code accepted; a free-text note is optional
    CANCEL = "cancel"  # a CancelReason code; "outro" also needs text
    SUSPEND = "suspend"  # a SuspendReason code; "outro" also needs text
    TEXT = "text"  # a non-blank free text; no code


# Role names (values of regula.access.policy.Role) and the automatic actor.
ADMIN: Final = "admin"
GESTOR: Final = "gestor"
REGULADOR: Final = "regulador"
NAVEGADOR: Final = "navegador"
SOLICITANTE: Final = "solicitante"
EXECUTANTE: Final = "executante"
AUDITOR: Final = "auditor"
TELECONSULTOR: Final = "teleconsultor"
KNOWN_ROLES: Final[frozenset[str]] = frozenset(
    {ADMIN, GESTOR, REGULADOR, NAVEGADOR, SOLICITANTE, EXECUTANTE, AUDITOR, TELECONSULTOR, SYSTEM_ROLE}
)

MAX_REASON_TEXT: Final = 2000


@dataclass(frozen=True, slots=True)
class TransitionRule:
    """One row of the table. ``roles`` never lists admin: admin may perform every rule. ``reason_roles`` restricts,
    for the roles it names, which reason codes they may use (e.g. the robot cancels only on ``recusa_validacao``)."""

    source: EntryStatus
    target: EntryStatus
    roles: frozenset[str]
    reason: ReasonKind
    action_pt: str  # what the button says
    reason_roles: Mapping[str, frozenset[str]] = field(default_factory=dict)
    #: When a TEXT reason is missing: the error code and message, if this move asks for something more specific
    #: than "informe o motivo" (the answer to a pendência).
    missing_reason: tuple[str, str] | None = None

    def allows(self, role: str) -> bool:
        return role == ADMIN or role in self.roles


def _rule(
    source: EntryStatus,
    target: EntryStatus,
    roles: set[str],
    reason: ReasonKind,
    action_pt: str,
    reason_roles: Mapping[str, frozenset[str]] | None = None,
    missing_reason: tuple[str, str] | None = None,
) -> TransitionRule:
    return TransitionRule(source, target, frozenset(roles), reason, action_pt, dict(reason_roles or {}), missing_reason)


S = EntryStatus
_NONE, _CANCEL, _SUSPEND, _TEXT = ReasonKind.NONE, ReasonKind.CANCEL, ReasonKind.SUSPEND, ReasonKind.TEXT
_SYSTEM_CANCELS_ONLY_ON_VALIDATION: Final = {SYSTEM_ROLE: frozenset({CancelReason.RECUSA_VALIDACAO.value})}
# The teleconsultor closes a gated referral only by resolving the case in APS (Portaria GM/MS 3.492/2024, art. 10
# §3 I: the teleconsultoria mediates the referral; when it resolves the need, the referral ends there).
_TELECONSULTOR_CLOSES_ONLY_AS_RESOLVED: Final = {TELECONSULTOR: frozenset({CancelReason.RESOLVIDO_NA_APS.value})}
# A pendência is a question to the APS team, which stays in the decision (Portaria GM/MS 3.492/2024, art. 10 §1 V
# and §2 II, IV): resubmitting without saying what was done would leave the regulator with the same referral.
_PENDENCY_ANSWER: Final = ("resposta_obrigatoria", "Descreva o que foi feito para atender à pendência.")

#: The transition table. Who does what, and why:
#:
#: * solicitante (APS): answers a pendência (devolvida → solicitada) and may cancel its own referral until it is
#:   authorized (e.g. ``resolvido_na_aps``). It does not forward a referral waiting for teleconsultoria: only the
#:   teleconsultor's answer moves it on (art. 10 §3 I; issue 16).
#: * teleconsultor (specialist answering APS): answers a referral waiting in ``aguardando_teleconsulta`` — proceed
#:   to regulation (→ solicitada, possibly with a suggested risk class) or resolved in APS (→ cancelada, only with
#:   ``resolvido_na_aps``). The answer itself is recorded by ``waitlist.teleconsultation_service``.
#: * regulador: analyses, returns, refuses, authorizes; suspends, transfers, cancels; may schedule by hand and
#:   release a slot; puts a no-show back in the queue.
#: * sistema: the scheduler assigns slots (autorizada → agendada) and releases them (→ autorizada); the citizen
#:   channel records a confirmation and cancels on a "não" to the 90-day validation question (only that reason).
#: * navegador (NGC, art. 10 §4): confirms, records no-shows, releases a slot the citizen declined, suspends,
#:   resumes, cancels (sem_contato, desistência, óbito…), puts a no-show back in the queue.
#: * executante (provider): records attendance start, completion and no-shows; may cancel an attendance it started
#:   (e.g. óbito).
#: * admin: everything in the table. gestor, auditor: nothing.
TRANSITIONS: Final[tuple[TransitionRule, ...]] = (
    _rule(S.AGUARDANDO_TELECONSULTA, S.SOLICITADA, {TELECONSULTOR}, _NONE, "Seguir para a regulação"),
    _rule(
        S.AGUARDANDO_TELECONSULTA,
        S.CANCELADA,
        {SOLICITANTE, REGULADOR, NAVEGADOR, TELECONSULTOR},
        _CANCEL,
        "Cancelar",
        _TELECONSULTOR_CLOSES_ONLY_AS_RESOLVED,
    ),
    _rule(S.SOLICITADA, S.EM_ANALISE, {REGULADOR}, _NONE, "Iniciar análise"),
    _rule(S.SOLICITADA, S.CANCELADA, {SOLICITANTE, REGULADOR, NAVEGADOR}, _CANCEL, "Cancelar"),
    _rule(S.EM_ANALISE, S.DEVOLVIDA, {REGULADOR}, _TEXT, "Devolver à APS (pendência)"),
    _rule(S.EM_ANALISE, S.NEGADA, {REGULADOR}, _TEXT, "Negar"),
    _rule(S.EM_ANALISE, S.AUTORIZADA, {REGULADOR}, _NONE, "Autorizar"),
    _rule(S.EM_ANALISE, S.CANCELADA, {SOLICITANTE, REGULADOR, NAVEGADOR}, _CANCEL, "Cancelar"),
    _rule(
        S.DEVOLVIDA,
        S.SOLICITADA,
        {SOLICITANTE},
        _TEXT,
        "Reenviar com a pendência respondida",
        missing_reason=_PENDENCY_ANSWER,
    ),
    _rule(S.DEVOLVIDA, S.CANCELADA, {SOLICITANTE, REGULADOR, NAVEGADOR}, _CANCEL, "Cancelar"),
    _rule(S.AUTORIZADA, S.AGENDADA, {SYSTEM_ROLE, REGULADOR}, _NONE, "Agendar"),
    _rule(S.AUTORIZADA, S.SUSPENSA, {REGULADOR, NAVEGADOR}, _SUSPEND, "Suspender"),
    _rule(
        S.AUTORIZADA,
        S.CANCELADA,
        {REGULADOR, NAVEGADOR, SYSTEM_ROLE},
        _CANCEL,
        "Cancelar",
        _SYSTEM_CANCELS_ONLY_ON_VALIDATION,
    ),
    _rule(S.AUTORIZADA, S.TRANSFERIDA, {REGULADOR}, _NONE, "Transferir"),
    _rule(S.AGENDADA, S.CONFIRMADA, {NAVEGADOR, SYSTEM_ROLE}, _NONE, "Confirmar presença"),
    _rule(S.AGENDADA, S.AUTORIZADA, {SYSTEM_ROLE, REGULADOR, NAVEGADOR}, _NONE, "Liberar vaga (volta à fila)"),
    _rule(S.AGENDADA, S.FALTOU, {EXECUTANTE, NAVEGADOR}, _NONE, "Registrar falta"),
    _rule(S.AGENDADA, S.CANCELADA, {REGULADOR, NAVEGADOR}, _CANCEL, "Cancelar"),
    _rule(S.AGENDADA, S.SUSPENSA, {REGULADOR, NAVEGADOR}, _SUSPEND, "Suspender"),
    _rule(S.CONFIRMADA, S.EM_ATENDIMENTO, {EXECUTANTE}, _NONE, "Iniciar atendimento"),
    _rule(S.CONFIRMADA, S.FALTOU, {EXECUTANTE, NAVEGADOR}, _NONE, "Registrar falta"),
    _rule(S.CONFIRMADA, S.AUTORIZADA, {SYSTEM_ROLE, REGULADOR, NAVEGADOR}, _NONE, "Liberar vaga (volta à fila)"),
    _rule(S.CONFIRMADA, S.CANCELADA, {REGULADOR, NAVEGADOR}, _CANCEL, "Cancelar"),
    _rule(S.EM_ATENDIMENTO, S.CONCLUIDA, {EXECUTANTE}, _NONE, "Concluir"),
    _rule(S.EM_ATENDIMENTO, S.CANCELADA, {EXECUTANTE, REGULADOR}, _CANCEL, "Cancelar"),
    _rule(S.FALTOU, S.AUTORIZADA, {NAVEGADOR, REGULADOR}, _NONE, "Devolver à fila"),
    _rule(S.FALTOU, S.CANCELADA, {NAVEGADOR, REGULADOR}, _CANCEL, "Cancelar"),
    _rule(S.SUSPENSA, S.AUTORIZADA, {REGULADOR, NAVEGADOR}, _NONE, "Retomar (volta à fila)"),
    _rule(S.SUSPENSA, S.CANCELADA, {REGULADOR, NAVEGADOR}, _CANCEL, "Cancelar"),
)

_RULES: Final[dict[tuple[EntryStatus, EntryStatus], TransitionRule]] = {(r.source, r.target): r for r in TRANSITIONS}
_TARGETS: Final[dict[EntryStatus, tuple[EntryStatus, ...]]] = {
    s: tuple(r.target for r in TRANSITIONS if r.source == s) for s in EntryStatus
}

TERMINAL_STATUSES: Final[frozenset[EntryStatus]] = frozenset(
    {EntryStatus.NEGADA, EntryStatus.CONCLUIDA, EntryStatus.CANCELADA, EntryStatus.TRANSFERIDA}
)
#: Every non-terminal status: an entry in one of these blocks a second entry for the same citizen and OCI.
ACTIVE_STATUSES: Final[frozenset[EntryStatus]] = frozenset(EntryStatus) - TERMINAL_STATUSES
#: Statuses in which the waiting clock does not run (days spent here are not counted as waiting).
CLOCK_PAUSED_STATUSES: Final[frozenset[EntryStatus]] = frozenset(
    {EntryStatus.SUSPENSA, EntryStatus.DEVOLVIDA, EntryStatus.AGUARDANDO_TELECONSULTA}
)
#: Roles that may create an entry (the referral).
CREATE_ROLES: Final[frozenset[str]] = frozenset({SOLICITANTE, REGULADOR, ADMIN})


@dataclass(frozen=True, slots=True)
class Transition:
    """A validated transition, ready to be applied and audited."""

    rule: TransitionRule
    role: str
    reason_code: str | None
    reason_text: str | None

    @property
    def source(self) -> EntryStatus:
        return self.rule.source

    @property
    def target(self) -> EntryStatus:
        return self.rule.target


def _status(value: EntryStatus | str, field_name: str) -> EntryStatus:
    try:
        return EntryStatus(value)
    except ValueError:
        message = f"Situação desconhecida: {value!r}."
        raise ValidationFailed(
            message, code="status_desconhecido", errors=[FieldError(field_name, "status_desconhecido", message)]
        ) from None


def is_terminal(status: EntryStatus | str) -> bool:
    return _status(status, "status") in TERMINAL_STATUSES


def clock_paused(status: EntryStatus | str) -> bool:
    """Whether the waiting clock is paused in this status (suspensa, devolvida, aguardando_teleconsulta)."""
    return _status(status, "status") in CLOCK_PAUSED_STATUSES


def reachable_targets(current: EntryStatus | str) -> list[EntryStatus]:
    """Statuses reachable from ``current`` in one step, by any role (empty for terminal statuses)."""
    return list(_TARGETS[_status(current, "current")])


def allowed_targets(current: EntryStatus | str, role: str) -> list[EntryStatus]:
    """Statuses this role may move an entry to from ``current``, in table order."""
    cur = _status(current, "current")
    return [t for t in _TARGETS[cur] if _RULES[(cur, t)].allows(str(role))]


#: The decisions on a referral under analysis. A referral just sent (``solicitada``) may be decided at once by whoever
#: may start its analysis: the analysis starts on their behalf first, so the entry never skips ``em_analise`` and
#: its history shows both steps (who opened it, who decided).
REVIEW_DECISIONS: Final[frozenset[EntryStatus]] = frozenset(
    {EntryStatus.AUTORIZADA, EntryStatus.DEVOLVIDA, EntryStatus.NEGADA}
)


def path_to(current: EntryStatus | str, target: EntryStatus | str, role: str) -> tuple[EntryStatus, ...]:
    """The statuses an entry passes through, in order, when ``role`` asks to move it from ``current`` to
    ``target``: ``(em_analise, target)`` for a decision on a referral just sent by a role that may start the
    analysis (:data:`REVIEW_DECISIONS`), else ``(target,)``. Each step is still checked by
    :func:`check_transition`."""
    cur = _status(current, "current")
    tgt = _status(target, "target")
    if (
        cur is EntryStatus.SOLICITADA
        and tgt in REVIEW_DECISIONS
        and _RULES[(EntryStatus.SOLICITADA, EntryStatus.EM_ANALISE)].allows(str(role))
    ):
        return (EntryStatus.EM_ANALISE, tgt)
    return (tgt,)


def requestable_rules(current: EntryStatus | str, role: str) -> list[TransitionRule]:
    """The moves this role may ask for from ``current``, each as the rule of its last step (what the reason must
    be): :func:`allowed_targets`, plus the decisions :func:`path_to` reaches through ``em_analise``."""
    cur = _status(current, "current")
    rules = [_RULES[(cur, t)] for t in allowed_targets(cur, role)]
    seen = {r.target for r in rules}
    for target in sorted(REVIEW_DECISIONS):
        steps = path_to(cur, target, role)
        if len(steps) > 1 and target not in seen and _RULES[(steps[-2], target)].allows(str(role)):
            rules.append(_RULES[(steps[-2], target)])
            seen.add(target)
    return rules


def initial_status(role: str, *, requires_teleconsultation: bool) -> EntryStatus:
    """The status a new referral starts in: ``aguardando_teleconsulta`` when the access protocol requires the
    referral to be mediated by teleconsultoria first (Portaria GM/MS 3.492/2024, art. 10 §3 I), else
    ``solicitada``. Raises :class:`PermissionDenied` for roles that may not create referrals."""
    if str(role) not in CREATE_ROLES:
        raise PermissionDenied(
            f"O papel {role} não pode criar solicitações.",
            code="criacao_nao_permitida_ao_papel",
            extra={"roles": sorted(CREATE_ROLES)},
        )
    return EntryStatus.AGUARDANDO_TELECONSULTA if requires_teleconsultation else EntryStatus.SOLICITADA


def _reason_error(code: str, message: str, **extra: object) -> ValidationFailed:
    return ValidationFailed(message, code=code, errors=[FieldError("reason", code, message)], extra=dict(extra))


def _clean_text(text: str | None) -> str | None:
    if text is None:
        return None
    text = text.strip()
    if len(text) > MAX_REASON_TEXT:
        raise _reason_error("motivo_invalido", f"O motivo pode ter no máximo {MAX_REASON_TEXT} caracteres.")
    return text or None


def _check_reason(rule: TransitionRule, role: str, code: str | None, text: str | None) -> tuple[str | None, str | None]:
    text = _clean_text(text)
    target_label = STATUS_LABELS_PT[rule.target].lower()
    if rule.reason is ReasonKind.NONE or rule.reason is ReasonKind.TEXT:
        if code is not None:
            raise _reason_error("motivo_invalido", f"Esta transição ({target_label}) não aceita código de motivo.")
        if rule.reason is ReasonKind.TEXT and text is None:
            if rule.missing_reason is not None:
                raise _reason_error(*rule.missing_reason)
            raise _reason_error("motivo_obrigatorio", f"Informe o motivo para marcar como {target_label}.")
        return None, text
    enum_type: type[CancelReason] | type[SuspendReason] = (
        CancelReason if rule.reason is ReasonKind.CANCEL else SuspendReason
    )
    if code is None:
        raise _reason_error("motivo_obrigatorio", f"Informe o motivo para marcar como {target_label}.")
    valid = [m.value for m in enum_type]
    if str(code) not in valid:
        raise _reason_error(
            "motivo_invalido",
            f"Motivo inválido para marcar como {target_label}; use um de: {', '.join(valid)}.",
            allowed_reasons=valid,
        )
    code = str(code)
    if role in rule.reason_roles and code not in rule.reason_roles[role]:
        allowed = sorted(rule.reason_roles[role])
        raise PermissionDenied(
            f"O papel {role} só pode usar estes motivos nesta transição: {', '.join(allowed)}.",
            code="motivo_nao_permitido_ao_papel",
            extra={"allowed_reasons": allowed},
        )
    if code == "outro" and text is None:
        raise _reason_error("motivo_obrigatorio", "Com o motivo “outro”, descreva o motivo em texto.")
    return code, text


def check_transition(
    current: EntryStatus | str,
    target: EntryStatus | str,
    role: str,
    reason_code: str | None = None,
    reason_text: str | None = None,
) -> Transition:
    """Validate moving an entry from ``current`` to ``target`` by ``role``.

    Raises, in this order of checks:

    * :class:`Conflict` ``transicao_invalida`` when the table has no such transition (including any exit from a
      terminal status); ``extra["allowed"]`` lists the statuses reachable from ``current`` and
      ``extra["allowed_for_role"]`` those this role may reach (for an HTTP 409);
    * :class:`PermissionDenied` ``transicao_nao_permitida_ao_papel`` when the role may not perform it
      (``extra["roles"]`` lists who may), or ``motivo_nao_permitido_ao_papel`` when the role may perform it but not
      with this reason code;
    * :class:`ValidationFailed` on field ``reason`` with ``motivo_obrigatorio`` or ``motivo_invalido``.
    """
    cur = _status(current, "current")
    tgt = _status(target, "target")
    role = str(role)
    rule = _RULES.get((cur, tgt))
    if rule is None:
        allowed = [t.value for t in _TARGETS[cur]]
        if cur in TERMINAL_STATUSES:
            message = f"A solicitação está {STATUS_LABELS_PT[cur].lower()}; essa situação é final e não muda mais."
        else:
            options = ", ".join(STATUS_LABELS_PT[t].lower() for t in _TARGETS[cur])
            message = (
                f"Não é possível passar de {STATUS_LABELS_PT[cur].lower()} para {STATUS_LABELS_PT[tgt].lower()}. "
                f"Situações possíveis a partir daqui: {options}."
            )
        raise Conflict(
            message,
            code="transicao_invalida",
            extra={
                "current": cur.value,
                "target": tgt.value,
                "allowed": allowed,
                "allowed_for_role": [t.value for t in allowed_targets(cur, role)],
            },
        )
    if not rule.allows(role):
        raise PermissionDenied(
            f"O papel {role} não pode passar uma solicitação de {STATUS_LABELS_PT[cur].lower()} para "
            f"{STATUS_LABELS_PT[tgt].lower()}.",
            code="transicao_nao_permitida_ao_papel",
            extra={
                "current": cur.value,
                "target": tgt.value,
                "roles": sorted(rule.roles | {ADMIN}),
                "allowed_for_role": [t.value for t in allowed_targets(cur, role)],
            },
        )
    code, text = _check_reason(rule, role, reason_code, reason_text)
    return Transition(rule=rule, role=role, reason_code=code, reason_text=text)
