"""Eligibility (art. 3), the adhesion workflow table, business days (art. 6), the challenge window (art. 17 §1),
matrix values (art. 10), regional caps (art. 4 §3) and sublimits (art. 4 §2)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from regula.core.errors import Conflict, ValidationFailed
from regula.ressarcimento.evaluation import Region
from regula.ressarcimento.rules import (
    ACTIVE_STATUS,
    CONSULTATION_STATUS,
    INITIAL_STATUS,
    STATUS_LABELS_PT,
    TERMINAL_STATUSES,
    TRANSITIONS,
    EligibilityFacts,
    MatrixLine,
    OperatorStatus,
    OperatorTransition,
    SanctionOutcome,
    SanctionStatus,
    Sublimit,
    add_business_days,
    brl_text,
    challenge_deadline,
    check_quantities,
    check_sublimits,
    check_transition,
    consultation_deadline,
    easter,
    eligibility,
    is_business_day,
    matrix_value,
    national_holidays,
    national_large,
    next_statuses,
    regional_caps,
    sanction_window,
)

S = OperatorStatus
D = Decimal
ELIGIBLE = eligibility(EligibilityFacts(technical_capacity=True, ans_reports_regular=True, in_liquidation=False))

# The workflow of the issue, written out independently of the module.
EXPECTED: dict[OperatorStatus, set[OperatorStatus]] = {
    S.MANIFESTACAO_INTERESSE: {S.APROVADA_SAES, S.INDEFERIDA},
    S.APROVADA_SAES: {S.CONSULTA_ENTES, S.INDEFERIDA},
    S.CONSULTA_ENTES: {S.TRANSACAO_PARCELAMENTO, S.INDEFERIDA},
    S.TRANSACAO_PARCELAMENTO: {S.TERMO_COMPROMISSO, S.INDEFERIDA},
    S.TERMO_COMPROMISSO: {S.ATIVA, S.INDEFERIDA},
    S.ATIVA: {S.EXCLUIDA},
    S.EXCLUIDA: set(),
    S.INDEFERIDA: set(),
}


# --- eligibility -------------------------------------------------------------------------------------------------


def test_all_three_requirements_of_article_3_are_needed() -> None:
    assert ELIGIBLE.eligible and ELIGIBLE.reasons == ()
    e = eligibility(EligibilityFacts(technical_capacity=False, ans_reports_regular=False, in_liquidation=True))
    assert not e.eligible
    assert [(r.field, r.code) for r in e.reasons] == [
        ("technical_capacity", "sem_capacidade_tecnica"),
        ("ans_reports_regular", "informacoes_ans_irregulares"),
        ("in_liquidation", "operadora_em_liquidacao"),
    ]
    assert all("art. 3º" in m for m in e.reasons_pt)


@given(st.booleans(), st.booleans(), st.booleans())
def test_eligible_exactly_when_every_requirement_holds(cap: bool, regular: bool, liquidation: bool) -> None:
    e = eligibility(EligibilityFacts(cap, regular, liquidation))
    assert e.eligible == (cap and regular and not liquidation)
    assert len(e.reasons) == [not cap, not regular, liquidation].count(True)


def test_regional_caps_apply_only_to_large_operators_of_national_reach() -> None:
    assert national_large("grande", True)
    assert not national_large("grande", False)
    assert not national_large("medio", True)


# --- workflow table ----------------------------------------------------------------------------------------------


def test_table_matches_the_issue() -> None:
    assert {s: set(next_statuses(s)) for s in OperatorStatus} == EXPECTED
    assert len(TRANSITIONS) == len({(r.source, r.target) for r in TRANSITIONS})
    assert INITIAL_STATUS is S.MANIFESTACAO_INTERESSE
    assert CONSULTATION_STATUS is S.CONSULTA_ENTES and ACTIVE_STATUS is S.ATIVA
    assert set(STATUS_LABELS_PT) == set(OperatorStatus)


def test_every_status_is_reachable_from_the_start() -> None:
    seen, frontier = {INITIAL_STATUS}, [INITIAL_STATUS]
    while frontier:
        for nxt in next_statuses(frontier.pop()):
            if nxt not in seen:
                seen.add(nxt)
                frontier.append(nxt)
    assert seen == set(OperatorStatus)


def test_terminal_statuses_have_no_exits() -> None:
    assert {S.EXCLUIDA, S.INDEFERIDA} == TERMINAL_STATUSES
    for s in TERMINAL_STATUSES:
        assert next_statuses(s) == ()


@pytest.mark.parametrize("rule", TRANSITIONS, ids=lambda r: f"{r.source}->{r.target}")
def test_each_row_is_accepted_with_what_it_requires(rule: OperatorTransition) -> None:
    assert check_transition(rule.source, rule.target, ELIGIBLE, note="motivo") is rule
    assert rule.article.startswith("art.")
    if rule.requires_note:
        with pytest.raises(ValidationFailed) as exc:
            check_transition(rule.source, rule.target, ELIGIBLE, note="  ")
        assert exc.value.code == "motivo_obrigatorio" and exc.value.errors[0].field == "note"
    else:
        assert check_transition(rule.source, rule.target, ELIGIBLE) is rule


def test_only_refusals_and_exclusion_need_a_note_and_only_forward_steps_need_eligibility() -> None:
    for rule in TRANSITIONS:
        assert rule.requires_note == (rule.target in TERMINAL_STATUSES)
        assert rule.requires_eligibility == (rule.target not in TERMINAL_STATUSES)


def test_an_ineligible_operator_cannot_move_forward_but_can_be_refused() -> None:
    e = eligibility(EligibilityFacts(technical_capacity=True, ans_reports_regular=True, in_liquidation=True))
    with pytest.raises(ValidationFailed) as exc:
        check_transition(S.TERMO_COMPROMISSO, S.ATIVA, e)
    assert exc.value.code == "operadora_inelegivel"
    assert [x.field for x in exc.value.errors] == ["in_liquidation"]
    assert (
        check_transition(S.TERMO_COMPROMISSO, S.INDEFERIDA, e, note="Em liquidação extrajudicial.").target
        is S.INDEFERIDA
    )


@pytest.mark.parametrize("current", list(OperatorStatus))
def test_everything_outside_the_table_is_refused_with_the_allowed_list(current: OperatorStatus) -> None:
    for target in OperatorStatus:
        if target in EXPECTED[current]:
            continue
        with pytest.raises(Conflict) as exc:
            check_transition(current, target, ELIGIBLE, note="x")
        assert exc.value.code == "transicao_invalida"
        assert set(exc.value.extra["allowed"]) == {s.value for s in EXPECTED[current]}


def test_unknown_statuses_name_the_field() -> None:
    with pytest.raises(ValidationFailed) as exc:
        check_transition("ativa", "suspensa", ELIGIBLE)
    assert exc.value.errors[0].field == "to_status" and exc.value.code == "situacao_desconhecida"
    # QA walk: the operator page showed "use uma de: manifestacao_interesse, aprovada_saes, …" — codes, not words
    message = exc.value.errors[0].message
    assert "manifestação de interesse" in message and "aprovada pela saes" in message
    assert "manifestacao_interesse" not in message and "_" not in message
    with pytest.raises(ValidationFailed) as exc:
        next_statuses("nada")
    assert exc.value.errors[0].field == "status"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(list(OperatorStatus)), max_size=20))
def test_random_walks_stay_in_the_table(targets: list[OperatorStatus]) -> None:
    current = INITIAL_STATUS
    path = [current]
    for target in targets:
        try:
            check_transition(current, target, ELIGIBLE, note="motivo")
        except Conflict:
            assert target not in EXPECTED[current]
            continue
        assert target in EXPECTED[current]
        current = target
        path.append(current)
    # The adhesion never goes back, and ativa is reached only through every step in order.
    order = list(OperatorStatus)
    assert all(order.index(a) < order.index(b) or b in TERMINAL_STATUSES for a, b in pairwise(path))
    if S.ATIVA in path:
        assert path[: path.index(S.ATIVA) + 1] == order[: order.index(S.ATIVA) + 1]


# --- business days and deadlines ---------------------------------------------------------------------------------


def test_easter_and_the_national_holidays() -> None:
    assert [easter(y) for y in (2024, 2025, 2026, 2027)] == [
        date(2024, 3, 31),
        date(2025, 4, 20),
        date(2026, 4, 5),
        date(2027, 3, 28),
    ]
    h2026 = national_holidays(2026)
    assert date(2026, 4, 3) in h2026  # Good Friday
    assert date(2026, 11, 20) in h2026 and date(2023, 11, 20) not in national_holidays(2023)
    assert date(2026, 2, 16) not in h2026  # Carnival: ponto facultativo, a business day by default
    assert len(h2026) == 10


def test_consultation_deadline_is_the_tenth_business_day_after_the_communication() -> None:
    # Monday 30 March 2026; Good Friday 3 April is skipped.
    assert consultation_deadline(date(2026, 3, 30)) == date(2026, 4, 14)
    assert consultation_deadline(date(2026, 3, 30), extended=True) == date(2026, 4, 22)  # 21 April is Tiradentes
    # Sent on a Friday: the day itself is not counted.
    assert consultation_deadline(date(2026, 5, 8)) == date(2026, 5, 22)
    # A local holiday passed by the caller moves it.
    assert consultation_deadline(date(2026, 5, 8), extra_holidays={date(2026, 5, 12)}) == date(2026, 5, 25)


@settings(max_examples=200, deadline=None)
@given(st.dates(min_value=date(2025, 1, 1), max_value=date(2035, 12, 31)), st.booleans())
def test_consultation_deadline_counts_exactly_ten_or_fifteen_business_days(sent: date, extended: bool) -> None:
    deadline = consultation_deadline(sent, extended)
    assert is_business_day(deadline)
    days = [sent + timedelta(days=k) for k in range(1, (deadline - sent).days + 1)]
    assert sum(is_business_day(d) for d in days) == (15 if extended else 10)
    assert consultation_deadline(sent, True) == add_business_days(consultation_deadline(sent), 5)


def test_challenge_deadline_is_fifteen_days_moved_to_a_business_day() -> None:
    assert challenge_deadline(date(2026, 6, 1)) == date(2026, 6, 16)  # Tuesday
    assert challenge_deadline(date(2026, 3, 20)) == date(2026, 4, 6)  # Saturday 4 April → Monday 6
    assert challenge_deadline(date(2026, 4, 6)) == date(2026, 4, 22)  # Tuesday 21 April (Tiradentes) → 22


@settings(max_examples=200, deadline=None)
@given(st.dates(min_value=date(2025, 1, 1), max_value=date(2035, 12, 31)))
def test_challenge_deadline_is_the_first_business_day_from_day_fifteen(notified: date) -> None:
    deadline = challenge_deadline(notified)
    assert deadline >= notified + timedelta(days=15) and is_business_day(deadline)
    assert all(not is_business_day(d) for d in _days(notified + timedelta(days=15), deadline))


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=k) for k in range((end - start).days)]


# --- the sanction's challenge window -----------------------------------------------------------------------------

P, N = date(2026, 6, 1), date(2026, 6, 2)  # proposed, notified; deadline 17 June 2026 (Wednesday)


def test_a_proposed_sanction_waits_for_its_notification() -> None:
    w = sanction_window(proposed_on=P, today=date(2026, 6, 30))
    assert w.status is SanctionStatus.PROPOSTA and w.challenge_deadline is None and w.final_on is None


def test_the_window_is_open_until_the_deadline_inclusive_then_the_sanction_is_final() -> None:
    open_ = sanction_window(proposed_on=P, notified_on=N, today=date(2026, 6, 17))
    assert open_.status is SanctionStatus.NOTIFICADA and open_.window_open
    assert open_.challenge_deadline == date(2026, 6, 17)
    final = sanction_window(proposed_on=P, notified_on=N, today=date(2026, 6, 18))
    assert final.status is SanctionStatus.DEFINITIVA and final.outcome is SanctionOutcome.SEM_IMPUGNACAO
    assert (final.proposed_on, final.final_on) == (P, date(2026, 6, 18))


def test_a_challenge_on_the_last_day_is_accepted_and_one_day_later_refused() -> None:
    w = sanction_window(proposed_on=P, notified_on=N, challenged_on=date(2026, 6, 17), today=date(2026, 6, 20))
    assert w.status is SanctionStatus.IMPUGNADA and w.final_on is None
    with pytest.raises(ValidationFailed) as exc:
        sanction_window(proposed_on=P, notified_on=N, challenged_on=date(2026, 6, 18), today=date(2026, 6, 20))
    assert (exc.value.errors[0].field, exc.value.code) == ("challenged_on", "fora_do_prazo")


@pytest.mark.parametrize(
    ("upheld", "status", "outcome"),
    [
        (False, SanctionStatus.DEFINITIVA, SanctionOutcome.MANTIDA),
        (True, SanctionStatus.REVOGADA, SanctionOutcome.REVOGADA),
    ],
)
def test_the_decision_on_a_challenge_makes_the_sanction_final(
    upheld: bool, status: SanctionStatus, outcome: SanctionOutcome
) -> None:
    w = sanction_window(
        proposed_on=P,
        notified_on=N,
        challenged_on=date(2026, 6, 10),
        decided_on=date(2026, 7, 1),
        challenge_upheld=upheld,
        today=date(2026, 7, 2),
    )
    assert (w.status, w.outcome, w.final_on) == (status, outcome, date(2026, 7, 1))


@pytest.mark.parametrize(
    ("kwargs", "field", "code"),
    [
        ({"notified_on": date(2026, 5, 31)}, "notified_on", "antes_da_proposta"),
        ({"notified_on": date(2026, 8, 1)}, "notified_on", "data_futura"),
        ({"challenged_on": date(2026, 6, 3)}, "notified_on", "sem_notificacao"),
        ({"notified_on": N, "challenged_on": date(2026, 6, 1)}, "challenged_on", "antes_da_notificacao"),
        (
            {"notified_on": N, "decided_on": date(2026, 6, 5), "challenge_upheld": True},
            "challenged_on",
            "sem_impugnacao",
        ),
        (
            {
                "notified_on": N,
                "challenged_on": date(2026, 6, 5),
                "decided_on": date(2026, 6, 4),
                "challenge_upheld": True,
            },
            "decided_on",
            "antes_da_impugnacao",
        ),
        (
            {"notified_on": N, "challenged_on": date(2026, 6, 5), "decided_on": date(2026, 6, 6)},
            "decided_on",
            "decisao_incompleta",
        ),
    ],
)
def test_dates_out_of_order_are_refused_naming_the_field(kwargs: dict[str, object], field: str, code: str) -> None:
    with pytest.raises(ValidationFailed) as exc:
        sanction_window(proposed_on=P, today=date(2026, 7, 15), **kwargs)  # type: ignore[arg-type]
    assert (exc.value.errors[0].field, exc.value.code) == (field, code)


# --- matrix values, caps, sublimits -------------------------------------------------------------------------------


def test_an_oci_is_worth_its_sigtap_value_which_already_includes_the_ivr() -> None:
    assert matrix_value("oci", D("450.00"), None) == D("450.00")
    with pytest.raises(ValidationFailed) as exc:
        matrix_value("oci", D("450.00"), D("1.5"))
    assert exc.value.code == "ivr_nao_se_aplica"


def test_a_surgery_is_worth_its_principal_procedure_times_the_ivr_rounded_once() -> None:
    assert matrix_value("cirurgia", D("1000.00"), D("1.5")) == D("1500.00")
    assert matrix_value("cirurgia", D("333.33"), D("1.35")) == D("450.00")  # 449.9955 → 450.00 (half up)
    assert matrix_value("cirurgia", D("100.01"), D("1.05")) == D("105.01")  # 105.0105
    for ivr, code in ((None, "ivr_obrigatorio"), (D(0), "ivr_invalido")):
        with pytest.raises(ValidationFailed) as exc:
            matrix_value("cirurgia", D("100"), ivr)
        assert exc.value.code == code
    with pytest.raises(ValidationFailed) as exc:
        matrix_value("consulta", D("100"), None)
    assert exc.value.errors[0].field == "component"


def test_regional_caps_table() -> None:
    caps = {c.key: c for c in regional_caps(D("1000000"))}
    assert {k: c.limit for k, c in caps.items()} == {
        "NE": D(240_000),
        "N": D(80_000),
        "CO": D(100_000),
        "SE": D(365_000),
        "S": D(115_000),
        "strategic": D(100_000),
    }
    assert [caps[k].inciso for k in ("NE", "N", "CO", "SE", "S", "strategic")] == ["I", "II", "III", "IV", "V", "VI"]


def line(code: str, specialty: str, region: Region, value: str, monthly: int, annual: int) -> MatrixLine:
    return MatrixLine(code, specialty, region, D(value), monthly, annual)


LINES = [
    line("0901010014", "oftalmologia", Region.S, "100.00", 100, 1200),
    line("0901010022", "cardiologia", Region.S, "200.00", 50, 600),
    line("0407010122", "cirurgia_geral", Region.SE, "1500.00", 10, 100),
]


def test_sublimits_by_month_region_procedure_and_specialty() -> None:
    # Monthly value 10,000 + 10,000 + 15,000 = 35,000; annual S = 240,000; SE = 150,000.
    ok = [
        Sublimit("mensal", "", D(35_000)),
        Sublimit("regiao", "S", D(240_000)),
        Sublimit("procedimento", "0407010122", D(150_000)),
        Sublimit("especialidade", "cardiologia", D(120_000)),
        Sublimit("regiao", "N", D(0)),  # no line there
    ]
    assert check_sublimits(LINES, ok) == []
    over = [
        Sublimit("mensal", "", D("34999.99")),
        Sublimit("regiao", "S", D("239999.99")),
        Sublimit("procedimento", "0407010122", D("149999.99")),
        Sublimit("especialidade", "cardiologia", D("119999.99")),
    ]
    errors = check_sublimits(LINES, over)
    assert [(e.field, e.code) for e in errors] == [(f"sublimits[{i}]", "sublimite_excedido") for i in range(4)]
    assert "R$ 35.000,00" in errors[0].message and "R$ 34.999,99" in errors[0].message


def test_quantities_annual_at_most_twelve_months() -> None:
    assert check_quantities(LINES) == []
    errors = check_quantities(
        [
            line("x", "y", Region.N, "1", 10, 121),
            line("x", "y", Region.N, "1", -1, 0),
            line("x", "y", Region.N, "1", 1, -1),
            line("x", "y", Region.N, "1", 10, 120),
        ]
    )
    assert [(e.field, e.code) for e in errors] == [
        ("lines[0].annual_qty", "quantidade_anual_acima_da_mensal"),
        ("lines[1].monthly_qty", "quantidade_negativa"),
        ("lines[2].annual_qty", "quantidade_negativa"),
    ]


def test_brl_text() -> None:
    assert brl_text(D("1234567.895")) == "R$ 1.234.567,90"
    assert brl_text(D("0")) == "R$ 0,00"
