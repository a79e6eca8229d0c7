"""The regulation workflow state machine."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from regula.access.policy import Role
from regula.core.errors import Conflict, PermissionDenied, ValidationFailed
from regula.waitlist.states import (
    ACTIVE_STATUSES,
    CANCEL_REASON_LABELS_PT,
    KNOWN_ROLES,
    STATUS_LABELS_PT,
    SUSPEND_REASON_LABELS_PT,
    SYSTEM_ROLE,
    TERMINAL_STATUSES,
    TRANSITIONS,
    CancelReason,
    EntryStatus,
    ReasonKind,
    SuspendReason,
    TransitionRule,
    allowed_targets,
    check_transition,
    clock_paused,
    initial_status,
    reachable_targets,
)

S = EntryStatus

# The table from the specification, written out independently of the module.
EXPECTED: dict[EntryStatus, set[EntryStatus]] = {
    S.AGUARDANDO_TELECONSULTA: {S.SOLICITADA, S.CANCELADA},
    S.SOLICITADA: {S.EM_ANALISE, S.CANCELADA},
    S.EM_ANALISE: {S.DEVOLVIDA, S.NEGADA, S.AUTORIZADA, S.CANCELADA},
    S.DEVOLVIDA: {S.SOLICITADA, S.CANCELADA},
    S.AUTORIZADA: {S.AGENDADA, S.SUSPENSA, S.CANCELADA, S.TRANSFERIDA},
    S.AGENDADA: {S.CONFIRMADA, S.AUTORIZADA, S.FALTOU, S.CANCELADA, S.SUSPENSA},
    S.CONFIRMADA: {S.EM_ATENDIMENTO, S.FALTOU, S.AUTORIZADA, S.CANCELADA},
    S.EM_ATENDIMENTO: {S.CONCLUIDA, S.CANCELADA},
    S.FALTOU: {S.AUTORIZADA, S.CANCELADA},
    S.SUSPENSA: {S.AUTORIZADA, S.CANCELADA},
    S.NEGADA: set(),
    S.CONCLUIDA: set(),
    S.CANCELADA: set(),
    S.TRANSFERIDA: set(),
}

ALL_ROLES = sorted(KNOWN_ROLES)


def valid_reason(rule: TransitionRule, role: str) -> tuple[str | None, str | None]:
    if rule.reason is ReasonKind.CANCEL:
        allowed = rule.reason_roles.get(role)
        return (sorted(allowed)[0] if allowed else CancelReason.DESISTENCIA.value), None
    if rule.reason is ReasonKind.SUSPEND:
        return SuspendReason.CLINICAMENTE_NAO_APTO.value, None
    if rule.reason is ReasonKind.TEXT:
        return None, "Falta o resultado do exame de imagem."
    return None, None


def test_table_matches_the_specification() -> None:
    assert {s: set(reachable_targets(s)) for s in EntryStatus} == EXPECTED
    assert len({(r.source, r.target) for r in TRANSITIONS}) == len(TRANSITIONS)


def test_terminal_and_active_statuses() -> None:
    assert {S.NEGADA, S.CONCLUIDA, S.CANCELADA, S.TRANSFERIDA} == TERMINAL_STATUSES
    assert {s for s in EntryStatus if not EXPECTED[s]} == TERMINAL_STATUSES
    assert set(EntryStatus) - TERMINAL_STATUSES == ACTIVE_STATUSES
    assert S.AUTORIZADA in ACTIVE_STATUSES
    assert S.SUSPENSA in ACTIVE_STATUSES


@pytest.mark.parametrize("rule", TRANSITIONS, ids=lambda r: f"{r.source}->{r.target}")
def test_every_transition_is_accepted_for_its_roles_and_admin(rule: TransitionRule) -> None:
    assert rule.roles, "every transition has at least one role besides admin"
    for role in [*sorted(rule.roles), "admin"]:
        code, text = valid_reason(rule, role)
        t = check_transition(rule.source, rule.target, role, code, text)
        assert (t.source, t.target, t.role) == (rule.source, rule.target, role)
        assert t.reason_code == code
        assert rule.target in allowed_targets(rule.source, role)


@pytest.mark.parametrize("rule", TRANSITIONS, ids=lambda r: f"{r.source}->{r.target}")
def test_other_roles_are_refused(rule: TransitionRule) -> None:
    for role in sorted(set(ALL_ROLES) - rule.roles - {"admin"}):
        code, text = valid_reason(rule, "admin")
        with pytest.raises(PermissionDenied) as info:
            check_transition(rule.source, rule.target, role, code, text)
        assert info.value.code == "transicao_nao_permitida_ao_papel"
        assert "admin" in info.value.extra["roles"]
        assert rule.target not in allowed_targets(rule.source, role)


def test_gestor_and_auditor_never_move_entries() -> None:
    for status in EntryStatus:
        assert allowed_targets(status, "gestor") == []
        assert allowed_targets(status, "auditor") == []


@pytest.mark.parametrize("current", list(EntryStatus))
def test_everything_outside_the_table_is_refused_with_the_allowed_list(current: EntryStatus) -> None:
    for target in EntryStatus:
        if target in EXPECTED[current]:
            continue
        with pytest.raises(Conflict) as info:
            check_transition(current, target, "admin", "outro", "texto")
        err = info.value
        assert err.code == "transicao_invalida"
        assert err.status_code == 409
        assert set(err.extra["allowed"]) == {s.value for s in EXPECTED[current]}
        assert err.extra["current"] == current.value
        assert err.message  # Portuguese, for people


def test_terminal_states_have_no_exits() -> None:
    for status in TERMINAL_STATUSES:
        assert reachable_targets(status) == []
        for role in ALL_ROLES:
            assert allowed_targets(status, role) == []
        with pytest.raises(Conflict, match="final") as info:
            check_transition(status, S.AUTORIZADA, "admin")
        assert info.value.extra["allowed"] == []


def test_role_enum_values_work() -> None:
    t = check_transition(S.SOLICITADA, S.EM_ANALISE, Role.REGULADOR)
    assert t.role == "regulador"
    assert {r.value for r in Role} | {SYSTEM_ROLE} == KNOWN_ROLES


def test_plain_strings_are_accepted_and_unknown_statuses_rejected() -> None:
    assert check_transition("solicitada", "em_analise", "regulador").target is S.EM_ANALISE
    with pytest.raises(ValidationFailed) as info:
        check_transition("solicitada", "perdida", "regulador")
    assert info.value.errors[0].field == "target"
    assert info.value.code == "status_desconhecido"
    with pytest.raises(PermissionDenied):
        check_transition(S.SOLICITADA, S.EM_ANALISE, "hacker")


# ------------------------------------------------------------------------------------------------------ reasons


@pytest.mark.parametrize("rule", [r for r in TRANSITIONS if r.target is S.CANCELADA], ids=lambda r: str(r.source))
def test_cancellation_requires_a_cancel_reason(rule: TransitionRule) -> None:
    assert rule.reason is ReasonKind.CANCEL
    with pytest.raises(ValidationFailed) as info:
        check_transition(rule.source, S.CANCELADA, "admin")
    assert (info.value.code, info.value.errors[0].field) == ("motivo_obrigatorio", "reason")
    with pytest.raises(ValidationFailed) as info:
        check_transition(rule.source, S.CANCELADA, "admin", "clinicamente_nao_apto")
    assert info.value.code == "motivo_invalido"
    assert "desistencia" in info.value.extra["allowed_reasons"]
    with pytest.raises(ValidationFailed, match="motivo_obrigatorio"):
        check_transition(rule.source, S.CANCELADA, "admin", "outro", "   ")
    t = check_transition(rule.source, S.CANCELADA, "admin", CancelReason.OUTRO, "  Mudou de estado  ")
    assert (t.reason_code, t.reason_text) == ("outro", "Mudou de estado")
    for reason in CancelReason:
        assert check_transition(rule.source, S.CANCELADA, "admin", reason, "x").reason_code == reason.value


@pytest.mark.parametrize("rule", [r for r in TRANSITIONS if r.target is S.SUSPENSA], ids=lambda r: str(r.source))
def test_suspension_requires_a_suspend_reason(rule: TransitionRule) -> None:
    with pytest.raises(ValidationFailed, match="motivo_obrigatorio"):
        check_transition(rule.source, S.SUSPENSA, "regulador")
    with pytest.raises(ValidationFailed, match="motivo_invalido"):
        check_transition(rule.source, S.SUSPENSA, "regulador", "obito")
    with pytest.raises(ValidationFailed, match="motivo_obrigatorio"):
        check_transition(rule.source, S.SUSPENSA, "regulador", "outro")
    for reason in SuspendReason:
        assert check_transition(rule.source, S.SUSPENSA, "navegador", reason, "x").reason_code == reason.value


@pytest.mark.parametrize("target", [S.NEGADA, S.DEVOLVIDA])
def test_refusal_and_return_require_free_text(target: EntryStatus) -> None:
    with pytest.raises(ValidationFailed) as info:
        check_transition(S.EM_ANALISE, target, "regulador")
    assert (info.value.code, info.value.errors[0].field) == ("motivo_obrigatorio", "reason")
    with pytest.raises(ValidationFailed, match="motivo_obrigatorio"):
        check_transition(S.EM_ANALISE, target, "regulador", reason_text=" \n ")
    with pytest.raises(ValidationFailed, match="motivo_invalido"):
        check_transition(S.EM_ANALISE, target, "regulador", "outro", "Sem indicação")
    with pytest.raises(ValidationFailed, match="motivo_invalido"):
        check_transition(S.EM_ANALISE, target, "regulador", reason_text="x" * 2001)
    t = check_transition(S.EM_ANALISE, target, "regulador", reason_text="Sem indicação clínica pelo protocolo.")
    assert t.reason_text == "Sem indicação clínica pelo protocolo."


def test_plain_transitions_take_no_reason_code_but_accept_a_note() -> None:
    with pytest.raises(ValidationFailed, match="motivo_invalido"):
        check_transition(S.EM_ANALISE, S.AUTORIZADA, "regulador", "desistencia")
    t = check_transition(S.EM_ANALISE, S.AUTORIZADA, "regulador", reason_text="Prioridade confirmada.")
    assert t.reason_text == "Prioridade confirmada."


def test_system_cancels_only_on_validation_refusal() -> None:
    t = check_transition(S.AUTORIZADA, S.CANCELADA, SYSTEM_ROLE, CancelReason.RECUSA_VALIDACAO)
    assert t.reason_code == "recusa_validacao"
    with pytest.raises(PermissionDenied) as info:
        check_transition(S.AUTORIZADA, S.CANCELADA, SYSTEM_ROLE, CancelReason.SEM_CONTATO)
    assert info.value.code == "motivo_nao_permitido_ao_papel"
    assert check_transition(S.AUTORIZADA, S.CANCELADA, "navegador", "sem_contato").reason_code == "sem_contato"


def test_solicitante_cancels_only_before_authorization() -> None:
    for status in (S.AGUARDANDO_TELECONSULTA, S.SOLICITADA, S.EM_ANALISE, S.DEVOLVIDA):
        assert S.CANCELADA in allowed_targets(status, "solicitante")
    for status in (S.AUTORIZADA, S.AGENDADA, S.CONFIRMADA, S.EM_ATENDIMENTO, S.FALTOU, S.SUSPENSA):
        assert S.CANCELADA not in allowed_targets(status, "solicitante")
    assert allowed_targets(S.DEVOLVIDA, "solicitante") == [S.SOLICITADA, S.CANCELADA]


def test_scheduler_books_and_releases() -> None:
    assert allowed_targets(S.AUTORIZADA, SYSTEM_ROLE)[0] is S.AGENDADA
    check_transition(S.AGENDADA, S.AUTORIZADA, SYSTEM_ROLE)
    check_transition(S.CONFIRMADA, S.AUTORIZADA, SYSTEM_ROLE)


# ------------------------------------------------------------------------------------------------ misc helpers


def test_clock_paused() -> None:
    paused = {s for s in EntryStatus if clock_paused(s)}
    assert paused == {S.SUSPENSA, S.DEVOLVIDA, S.AGUARDANDO_TELECONSULTA}
    assert clock_paused("suspensa")
    assert not clock_paused(S.AUTORIZADA)


def test_labels_are_complete() -> None:
    assert set(STATUS_LABELS_PT) == set(EntryStatus)
    assert set(CANCEL_REASON_LABELS_PT) == set(CancelReason)
    assert set(SUSPEND_REASON_LABELS_PT) == set(SuspendReason)
    assert STATUS_LABELS_PT[S.EM_ANALISE] == "Em análise"
    assert all(r.action_pt for r in TRANSITIONS)


def test_initial_status() -> None:
    assert initial_status("solicitante", requires_teleconsultation=True) is S.AGUARDANDO_TELECONSULTA
    assert initial_status(Role.REGULADOR, requires_teleconsultation=False) is S.SOLICITADA
    with pytest.raises(PermissionDenied, match="criacao_nao_permitida_ao_papel"):
        initial_status("executante", requires_teleconsultation=False)


def test_conflict_message_is_portuguese_and_lists_options() -> None:
    with pytest.raises(Conflict) as info:
        check_transition(S.SOLICITADA, S.AGENDADA, "regulador")
    assert info.value.message == (
        "Não é possível passar de solicitada para agendada. Situações possíveis a partir daqui: em análise, cancelada."
    )
    assert info.value.extra["allowed_for_role"] == ["em_analise", "cancelada"]


# --------------------------------------------------------------------------------------------------- random walks


@settings(max_examples=300, deadline=None)
@given(
    start=st.sampled_from([S.AGUARDANDO_TELECONSULTA, S.SOLICITADA]),
    steps=st.lists(
        st.tuples(
            st.sampled_from(list(EntryStatus)),
            st.sampled_from(ALL_ROLES),
            st.sampled_from([None, *CancelReason, *SuspendReason]),
            st.sampled_from([None, "", "Motivo descrito."]),
        ),
        max_size=40,
    ),
)
def test_random_walks_stay_in_the_table(
    start: EntryStatus, steps: list[tuple[EntryStatus, str, str | None, str | None]]
) -> None:
    current = start
    for target, role, code, text in steps:
        try:
            t = check_transition(current, target, role, code, text)
        except (Conflict, PermissionDenied, ValidationFailed):
            if current in TERMINAL_STATUSES:
                assert not reachable_targets(current)
            continue
        assert current not in TERMINAL_STATUSES, "left a terminal state"
        assert t.target in EXPECTED[current]
        assert t.rule.allows(role)
        current = t.target
    assert current in EntryStatus


@settings(max_examples=300, deadline=None)
@given(data=st.data(), start=st.sampled_from(list(EntryStatus)))
def test_admin_walks_follow_allowed_targets(data: st.DataObject, start: EntryStatus) -> None:
    current = start
    for _ in range(30):
        options = allowed_targets(current, "admin")
        if not options:
            assert current in TERMINAL_STATUSES
            break
        target = data.draw(st.sampled_from(options))
        code, text = valid_reason(next(r for r in TRANSITIONS if (r.source, r.target) == (current, target)), "admin")
        current = check_transition(current, target, "admin", code, text).target
        assert current in EXPECTED
