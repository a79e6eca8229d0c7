"""The priority policy: invariants (hypothesis), validation, explanation, ordering and the bulk path."""

from __future__ import annotations

import dataclasses
import json
import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from regula.core.errors import ValidationFailed
from regula.waitlist.priority import (
    BULK_COLUMNS,
    COMPONENT_KEYS,
    DEFAULT_POLICY,
    RACE_COLORS,
    RISK_CLASSES,
    PriorityFacts,
    PriorityPolicy,
    Score,
    compute_score,
    compute_scores_bulk,
    explain,
    policy_from_json,
    policy_to_json,
    sort_key,
)

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ---------------------------------------------------------------------------------------------------------- helpers


def facts(**overrides: Any) -> PriorityFacts:
    base: dict[str, Any] = {
        "risk_class": "amarelo",
        "authorized_on": date(2025, 1, 1),
        "today": date(2025, 2, 12),
        "suspended_days": 0,
        "max_days": 60,
        "age_years": 40,
        "pregnant": False,
        "disability": False,
        "autism": False,
        "race_color": "branca",
        "sex": "M",
        "cadunico": False,
        "vulnerability_index": None,
        "oci_sex": None,
    }
    base.update(overrides)
    return PriorityFacts(**base)


def rank(policy: PriorityPolicy, risk_class: str) -> int:
    """0 for the highest class."""
    return policy.class_order.index(risk_class)


@st.composite
def policies(draw: st.DrawFn, cross: bool | None = None) -> PriorityPolicy:
    """Random policies, mostly valid by construction (caps drawn as fractions of the band)."""
    band = draw(st.integers(100, 100_000))
    eq_max = draw(st.integers(0, band // 10))
    legal_max = draw(st.integers(0, band // 6))
    idoso_60 = draw(st.integers(0, 200))
    dl_pt = draw(st.integers(0, band // 6))
    dl_pl = dl_pt + draw(st.integers(0, band // 6))
    order = draw(st.permutations(list(RISK_CLASSES)))
    if cross is None:
        cross_days = draw(st.none() | st.integers(1, 3650))
    else:
        cross_days = draw(st.integers(1, 3650)) if cross else None
    weight = st.integers(0, eq_max)
    data = {
        "version": "teste-1",
        "band": band,
        "class_order": order,
        "legal": {
            "idoso_60": idoso_60,
            "idoso_80": idoso_60 + draw(st.integers(1, 200)),
            "gestante": draw(st.integers(0, 300)),
            "deficiencia": draw(st.integers(0, 300)),
            "tea": draw(st.integers(0, 300)),
            "max_points": legal_max,
        },
        "aging": {
            "points_per_day": draw(st.integers(0, 5000)) / 1000,
            "cap_points": draw(st.integers(0, band // 3)),
        },
        "deadline": {
            "threshold": draw(st.integers(1, 999)) / 1000,
            "points_at_threshold": dl_pt,
            "points_at_limit": dl_pl,
            "max_points": min(band // 3, dl_pl + draw(st.integers(0, band // 6))),
        },
        "equity": {
            "race_color": {r: draw(weight) for r in RACE_COLORS},
            "cadunico": draw(weight),
            "vulnerability_index_max_points": draw(weight),
            "sex": {"M": draw(weight), "F": draw(weight)},
            "max_points": eq_max,
        },
        "cross_class_aging_days": cross_days,
    }
    try:
        return policy_from_json(data)
    except ValidationFailed:
        assume(False)
        raise  # unreachable


@st.composite
def facts_st(draw: st.DrawFn, risk_class: str | None = None) -> PriorityFacts:
    authorized_on = draw(st.dates(date(2015, 1, 1), date(2030, 12, 31)))
    today = authorized_on + timedelta(days=draw(st.integers(-30, 5000)))
    return PriorityFacts(
        risk_class=risk_class or draw(st.sampled_from(RISK_CLASSES)),  # type: ignore[arg-type]
        authorized_on=authorized_on,
        today=today,
        suspended_days=draw(st.integers(0, 800)),
        max_days=draw(st.integers(1, 400)),
        age_years=draw(st.integers(0, 115)),
        pregnant=draw(st.booleans()),
        disability=draw(st.booleans()),
        autism=draw(st.booleans()),
        race_color=draw(st.sampled_from(RACE_COLORS)),
        sex=draw(st.sampled_from(["M", "F"])),
        cadunico=draw(st.booleans()),
        vulnerability_index=draw(st.none() | st.floats(0.0, 1.0)),
        oci_sex=draw(st.sampled_from([None, "M", "F"])),
    )


any_policy = st.one_of(st.just(DEFAULT_POLICY), policies())


def components_sum(score: Score) -> int:
    return sum(int(score.breakdown.get(k, 0)) for k in COMPONENT_KEYS)


# ------------------------------------------------------------------------------------------------------ properties


@SETTINGS
@given(f=facts_st(), policy=any_policy)
def test_deterministic_and_breakdown_adds_up(f: PriorityFacts, policy: PriorityPolicy) -> None:
    a = compute_score(f, policy)
    b = compute_score(dataclasses.replace(f), policy_from_json(policy_to_json(policy)))
    assert a == b
    assert isinstance(a.value, int)
    assert components_sum(a) == a.value
    for key in ("classe", "prioridade_legal", "espera", "prazo", "equidade", "dias_de_espera"):
        assert isinstance(a.breakdown[key], int)
        assert int(a.breakdown[key]) >= 0
    within = a.value - int(a.breakdown["classe"]) - int(a.breakdown.get("promocao_de_classe", 0))
    assert 0 <= within <= policy.within_band_max() < policy.band


@SETTINGS
@given(f=facts_st(), policy=any_policy, more=st.integers(0, 4000))
def test_more_waiting_never_lowers_the_score(f: PriorityFacts, policy: PriorityPolicy, more: int) -> None:
    later = dataclasses.replace(f, today=f.today + timedelta(days=more))
    assert compute_score(later, policy).value >= compute_score(f, policy).value


@SETTINGS
@given(f=facts_st(), policy=any_policy, more=st.integers(0, 800))
def test_more_suspension_never_raises_the_score(f: PriorityFacts, policy: PriorityPolicy, more: int) -> None:
    paused = dataclasses.replace(f, suspended_days=f.suspended_days + more)
    assert compute_score(paused, policy).value <= compute_score(f, policy).value


@SETTINGS
@given(data=st.data(), policy=st.one_of(st.just(DEFAULT_POLICY), policies(cross=False)))
def test_higher_class_always_outranks_lower_class(data: st.DataObject, policy: PriorityPolicy) -> None:
    high_cls, low_cls = sorted(data.draw(st.sampled_from(RISK_CLASSES).flatmap(
        lambda a: st.sampled_from([c for c in RISK_CLASSES if c != a]).map(lambda b: (a, b))
    )), key=lambda c: rank(policy, c))  # fmt: skip
    high = data.draw(facts_st(high_cls))
    low = data.draw(facts_st(low_cls))
    assert compute_score(high, policy).value > compute_score(low, policy).value


def test_class_dominance_holds_at_the_edge_of_the_band() -> None:
    """The tightest valid policy: the within-band maximum is exactly band - 1."""
    loose = policy_from_json({"band": 100_000, "equity": {"max_points": 30}})
    policy = policy_from_json({**policy_to_json(loose), "band": loose.within_band_max() + 1})
    with pytest.raises(ValidationFailed, match="pontos_excedem_faixa"):
        policy_from_json({**policy_to_json(loose), "band": loose.within_band_max()})
    best_low = facts(risk_class="verde", authorized_on=date(2000, 1, 1), today=date(2025, 1, 1), max_days=1,
                     age_years=90, pregnant=True, disability=True, autism=True, race_color="preta", cadunico=True,
                     vulnerability_index=1.0)  # fmt: skip
    worst_high = facts(risk_class="amarelo", authorized_on=date(2025, 1, 1), today=date(2025, 1, 1))
    low, high = compute_score(best_low, policy), compute_score(worst_high, policy)
    assert low.value - int(low.breakdown["classe"]) == policy.band - 1
    assert high.value - int(high.breakdown["classe"]) == 0
    assert high.value == low.value + 1


@SETTINGS
@given(f=facts_st(), policy=any_policy)
def test_equity_is_bounded_and_zero_without_markers(f: PriorityFacts, policy: PriorityPolicy) -> None:
    score = compute_score(f, policy)
    equity = int(score.breakdown["equidade"])
    assert 0 <= equity <= policy.equity_max_points
    eq = policy.equity
    raw = (
        getattr(eq.race_color, f.race_color)
        + (eq.cadunico if f.cadunico else 0)
        + (int(f.vulnerability_index * eq.vulnerability_index_max_points) if f.vulnerability_index else 0)
        + (getattr(eq.sex, f.sex) if f.oci_sex is None else 0)
    )
    assert equity == min(raw, policy.equity_max_points)
    if raw == 0:
        assert equity == 0
        assert score.breakdown["equidade_motivos"] == ""


@SETTINGS
@given(f=facts_st())
def test_equity_zero_for_unmarked_people_under_default_policy(f: PriorityFacts) -> None:
    unmarked = dataclasses.replace(
        f, race_color="branca", cadunico=False, vulnerability_index=None, oci_sex=None, sex="F"
    )
    assert compute_score(unmarked).breakdown["equidade"] == 0


@SETTINGS
@given(data=st.data(), policy=policies(cross=True))
def test_lower_class_overtakes_only_by_cross_class_aging(data: st.DataObject, policy: PriorityPolicy) -> None:
    high_cls, low_cls = sorted(data.draw(st.permutations(list(RISK_CLASSES)))[:2], key=lambda c: rank(policy, c))
    high = data.draw(facts_st(high_cls))
    low = data.draw(facts_st(low_cls))
    s_high, s_low = compute_score(high, policy), compute_score(low, policy)
    if s_low.value > s_high.value:
        assert policy.cross_class_aging_days is not None
        assert int(s_low.breakdown["dias_de_espera"]) > policy.cross_class_aging_days
        assert "promocao_de_classe" in s_low.breakdown
        assert "promocao_de_classe" not in s_high.breakdown
        assert rank(policy, low_cls) - rank(policy, high_cls) == 1  # one band, never two
    # Without the setting the same pair keeps class order.
    no_cross = policy.model_copy(update={"cross_class_aging_days": None})
    assert compute_score(high, no_cross).value > compute_score(low, no_cross).value


@SETTINGS
@given(f=facts_st(), policy=policies(cross=True))
def test_promotion_applies_exactly_after_the_configured_days(f: PriorityFacts, policy: PriorityPolicy) -> None:
    score = compute_score(f, policy)
    days = int(score.breakdown["dias_de_espera"])
    assert policy.cross_class_aging_days is not None
    expected = days > policy.cross_class_aging_days and f.risk_class != policy.class_order[0]
    assert ("promocao_de_classe" in score.breakdown) == expected
    if expected:
        assert score.breakdown["promocao_de_classe"] == policy.band


def test_cross_class_aging_example() -> None:
    policy = DEFAULT_POLICY.model_copy(update={"cross_class_aging_days": 180})
    yellow_new = facts(risk_class="amarelo", authorized_on=date(2025, 6, 1), today=date(2025, 6, 2))
    green_old = facts(risk_class="verde", authorized_on=date(2024, 1, 1), today=date(2025, 6, 2))
    green_recent = facts(risk_class="verde", authorized_on=date(2025, 1, 1), today=date(2025, 6, 2))  # 152 days
    assert compute_score(green_old, policy).value > compute_score(yellow_new, policy).value
    assert compute_score(green_recent, policy).value < compute_score(yellow_new, policy).value
    # the default policy never ages across classes
    assert compute_score(green_old).value < compute_score(yellow_new).value
    # a promoted entry never passes two classes up
    red_new = dataclasses.replace(yellow_new, risk_class="vermelho")
    assert compute_score(green_old, policy).value < compute_score(red_new, policy).value
    # the top class has nowhere to be promoted to
    red_old = dataclasses.replace(green_old, risk_class="vermelho")
    assert "promocao_de_classe" not in compute_score(red_old, policy).breakdown


# ------------------------------------------------------------------------------------------------ components


def test_class_points_follow_the_order_and_band() -> None:
    for cls, expected in {"vermelho": 30_000, "amarelo": 20_000, "verde": 10_000, "azul": 0}.items():
        assert compute_score(facts(risk_class=cls)).breakdown["classe"] == expected
    reversed_policy = policy_from_json({"class_order": ["azul", "verde", "amarelo", "vermelho"], "band": 5000})
    assert compute_score(facts(risk_class="azul"), reversed_policy).breakdown["classe"] == 15_000


def test_waiting_counts_days_minus_suspension_and_is_capped() -> None:
    s = compute_score(facts(authorized_on=date(2025, 1, 1), today=date(2025, 2, 12)))
    assert s.breakdown["dias_de_espera"] == 42
    assert s.breakdown["espera"] == 42
    s = compute_score(facts(authorized_on=date(2025, 1, 1), today=date(2025, 2, 12), suspended_days=10))
    assert s.breakdown["dias_de_espera"] == 32
    s = compute_score(facts(authorized_on=date(2025, 1, 1), today=date(2024, 12, 1)))  # before authorization
    assert s.breakdown["dias_de_espera"] == 0
    s = compute_score(facts(authorized_on=date(2000, 1, 1), today=date(2025, 1, 1)))
    assert s.breakdown["espera"] == DEFAULT_POLICY.aging.cap_points
    half = policy_from_json({"aging": {"points_per_day": 0.5}})
    assert compute_score(facts(), half).breakdown["espera"] == 21


def test_deadline_pressure_is_steep_after_the_threshold() -> None:
    def prazo(days: int) -> int:
        return int(compute_score(facts(authorized_on=date(2025, 1, 1), today=date(2025, 1, 1) + timedelta(days=days),
                                       max_days=100)).breakdown["prazo"])  # fmt: skip

    assert prazo(0) == 0
    assert prazo(75) == 25  # points_at_threshold at 75 % of tM
    assert prazo(100) == 200  # points_at_limit at 100 %
    assert prazo(85) - prazo(75) > 5 * (prazo(75) - prazo(65))  # much steeper after the threshold
    assert prazo(10_000) == 400  # capped
    values = [prazo(d) for d in range(0, 200)]
    assert values == sorted(values)


def test_legal_priority_rules() -> None:
    def legal(**kw: Any) -> int:
        return int(compute_score(facts(**kw)).breakdown["prioridade_legal"])

    assert legal(age_years=59) == 0
    assert legal(age_years=60) == 30
    assert legal(age_years=80) == 60 > legal(age_years=79)  # Lei 10.741/2003 art. 3 §2
    assert legal(pregnant=True) == 60
    assert legal(disability=True) == legal(autism=True) == 30
    assert legal(disability=True, autism=True) == 30  # Lei 12.764/2012 art. 1 §2: TEA is disability; no stacking
    assert legal(age_years=85, pregnant=True, disability=True) == 120  # capped at legal.max_points (60+60+30)


def test_sex_weight_applies_only_to_unrestricted_ocis() -> None:
    policy = policy_from_json({"equity": {"sex": {"F": 5}}})
    assert compute_score(facts(sex="F", oci_sex=None), policy).breakdown["equidade"] == 5
    assert compute_score(facts(sex="F", oci_sex="F"), policy).breakdown["equidade"] == 0
    assert compute_score(facts(sex="M", oci_sex=None), policy).breakdown["equidade"] == 0
    assert compute_score(facts(sex="F", oci_sex=None)).breakdown["equidade"] == 0  # default weight 0


def test_equity_cap_is_applied() -> None:
    policy = policy_from_json({"equity": {"max_points": 15}})
    s = compute_score(facts(race_color="preta", cadunico=True, vulnerability_index=1.0), policy)
    assert s.breakdown["equidade_sem_teto"] == 30
    assert s.breakdown["equidade"] == 15
    assert any("limitada ao teto de 15" in line for line in explain(s))


def test_explain_in_portuguese() -> None:
    s = compute_score(facts(age_years=81, race_color="preta", cadunico=True, suspended_days=2))
    lines = explain(s)
    assert lines[0] == "Classe amarelo: 20.000 pontos"
    assert "Prioridade legal (pessoa idosa com 80 anos ou mais): +60" in lines
    assert "Esperando há 40 dias (sem contar 2 dias de suspensão): +40" in lines
    assert any(line.startswith("Prazo: 66% do tempo máximo da OCI (60 dias)") for line in lines)
    assert "Equidade (raça/cor preta +10; CadÚnico +10): +20" in lines
    assert lines[-1] == f"Total: {s.value:,} pontos (versão da política de priorização: regula-1)".replace(",", ".")
    plain = explain(compute_score(facts(authorized_on=date(2025, 2, 11))))
    assert "Esperando há 1 dia: +1" in plain
    assert "Sem prioridade legal: +0" in plain
    assert "Equidade: nenhum marcador se aplica: +0" in plain
    promoted = explain(compute_score(facts(risk_class="verde", authorized_on=date(2024, 1, 1)),
                                     DEFAULT_POLICY.model_copy(update={"cross_class_aging_days": 365})))  # fmt: skip
    assert "Promoção de classe por espera acima de 365 dias: +10.000" in promoted


# ----------------------------------------------------------------------------------------------------- ordering


def test_sort_key_orders_by_score_then_authorization_then_id() -> None:
    t0 = datetime(2025, 1, 1, 8, tzinfo=UTC)
    rows = [(100, t0, 3), (200, t0 + timedelta(hours=5), 9), (100, t0, 1), (100, t0 - timedelta(seconds=1), 7)]
    ordered = sorted(rows, key=lambda r: sort_key(*r))
    assert [r[2] for r in ordered] == [9, 7, 1, 3]
    # naive datetimes are taken as UTC, so mixed inputs still compare
    assert sort_key(1, datetime(2025, 1, 1, 8), 1) == sort_key(1, t0, 1)


@SETTINGS
@given(st.lists(st.tuples(st.integers(0, 50), st.integers(0, 5), st.integers(1, 10**6)), unique_by=lambda r: r[2]))
def test_sort_key_is_a_total_deterministic_order(rows: list[tuple[int, int, int]]) -> None:
    base = datetime(2025, 1, 1, tzinfo=UTC)
    entries = [(s, base + timedelta(minutes=m), i) for s, m, i in rows]
    a = sorted(entries, key=lambda r: sort_key(*r))
    b = sorted(reversed(entries), key=lambda r: sort_key(*r))
    assert a == b


# ------------------------------------------------------------------------------------------------- validation


def test_default_policy_roundtrips_as_json() -> None:
    data = policy_to_json(DEFAULT_POLICY)
    json.dumps(data)
    assert policy_from_json(data) == DEFAULT_POLICY
    assert policy_from_json(json.dumps(data)) == DEFAULT_POLICY
    assert policy_from_json({}) == DEFAULT_POLICY
    assert DEFAULT_POLICY.within_band_max() < DEFAULT_POLICY.band
    assert DEFAULT_POLICY.cross_class_aging_days is None


def _errors(data: Any) -> dict[str, str]:
    with pytest.raises(ValidationFailed) as info:
        policy_from_json(data)
    assert info.value.code == "politica_invalida"
    return {e.field: e.code for e in info.value.errors}


@pytest.mark.parametrize(
    ("data", "field", "code"),
    [
        ({"equity": {"race_color": {"preta": -1}}}, "equity.race_color.preta", "valor_abaixo_do_minimo"),
        ({"equity": {"race_color": {"preta": 31}}}, "equity.race_color.preta", "peso_de_equidade_acima_do_teto"),
        ({"equity": {"race_color": {"roxa": 1}}}, "equity.race_color.roxa", "campo_desconhecido"),
        ({"band": 3000}, "band", "pontos_excedem_faixa"),
        ({"band": "10000"}, "band", "tipo_invalido"),
        ({"band": 10.5}, "band", "tipo_invalido"),
        ({"band": 10**9}, "band", "valor_acima_do_maximo"),
        ({"equity": {"max_points": 1001}}, "equity.max_points", "teto_de_equidade_alto_demais"),
        ({"legal": {"idoso_60": 60, "idoso_80": 60}}, "legal.idoso_80", "idoso_80_abaixo_de_idoso_60"),
        ({"class_order": ["vermelho", "vermelho", "verde", "azul"]}, "class_order", "ordem_de_classes_invalida"),
        ({"class_order": ["vermelho", "laranja", "verde", "azul"]}, "class_order[1]", "valor_nao_permitido"),
        ({"aging": {"points_per_day": 0.0001}}, "aging.points_per_day", "casas_decimais_demais"),
        ({"aging": {"cap_points": 20_000}}, "band", "pontos_excedem_faixa"),
        ({"deadline": {"threshold": 1.0}}, "deadline.threshold", "valor_acima_do_maximo"),
        ({"deadline": {"points_at_limit": 10}}, "deadline.points_at_limit", "pontos_de_prazo_decrescentes"),
        ({"deadline": {"max_points": 100}}, "deadline.max_points", "teto_de_prazo_abaixo_do_limite"),
        ({"cross_class_aging_days": 0}, "cross_class_aging_days", "valor_abaixo_do_minimo"),
        ({"version": ""}, "version", "texto_curto"),
        ({"version": "a b"}, "version", "formato_invalido"),
        ({"surprise": 1}, "surprise", "campo_desconhecido"),
        ("{not json", "politica", "json_invalido"),
        ([1, 2], "politica", "tipo_invalido"),
    ],
)
def test_bad_policies_are_rejected_with_field_errors(data: Any, field: str, code: str) -> None:
    errors = _errors(data)
    assert errors.get(field) == code, errors


def test_policy_error_messages_are_portuguese() -> None:
    with pytest.raises(ValidationFailed) as info:
        policy_from_json({"band": 3000, "equity": {"race_color": {"preta": -1}}})
    messages = [e.message for e in info.value.errors]
    assert messages == ["Deve ser maior ou igual a 0."]  # nested errors first; band is checked once they pass
    with pytest.raises(ValidationFailed) as info:
        policy_from_json({"band": 3000})
    assert "menor que a faixa entre classes (3.000)" in info.value.errors[0].message
    with pytest.raises(ValidationFailed) as info:
        policy_from_json({"class_order": ["x", "verde", "amarelo", "azul"]})
    assert info.value.errors[0].message.endswith("'verde' ou 'azul'.")


def test_model_copy_revalidates() -> None:
    with pytest.raises(Exception, match="pontos_excedem_faixa"):
        DEFAULT_POLICY.model_copy(update={"band": 1000})


@SETTINGS
@given(
    band=st.integers(-10, 200_000),
    aging_cap=st.integers(-10, 200_000),
    dl_max=st.integers(-10, 50_000),
    eq_max=st.integers(-10, 20_000),
    legal_max=st.integers(-10, 50_000),
)
def test_validation_accepts_only_policies_that_keep_class_dominance(
    band: int, aging_cap: int, dl_max: int, eq_max: int, legal_max: int
) -> None:
    data = {
        "band": band,
        "aging": {"cap_points": aging_cap},
        "deadline": {"max_points": dl_max, "points_at_limit": min(200, max(dl_max, 0))},
        "equity": {"max_points": eq_max, "race_color": {"preta": 0, "parda": 0, "indigena": 0}, "cadunico": 0,
                   "vulnerability_index_max_points": 0},
        "legal": {"max_points": legal_max},
    }  # fmt: skip
    try:
        policy: PriorityPolicy | None = policy_from_json(data)
    except ValidationFailed as exc:
        policy, errors = None, exc.errors
    if policy is None:
        assert errors and all(e.field and e.code and e.message for e in errors)
        return
    assert policy.within_band_max() < policy.band
    assert policy.equity_max_points * 10 <= policy.band


# -------------------------------------------------------------------------------------------------------- facts


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"risk_class": "laranja"}, "risk_class"),
        ({"race_color": "roxa"}, "race_color"),
        ({"sex": "X"}, "sex"),
        ({"oci_sex": "X"}, "oci_sex"),
        ({"suspended_days": -1}, "suspended_days"),
        ({"max_days": 0}, "max_days"),
        ({"age_years": -1}, "age_years"),
        ({"vulnerability_index": 1.5}, "vulnerability_index"),
        ({"vulnerability_index": float("nan")}, "vulnerability_index"),
    ],
)
def test_bad_facts_are_rejected(override: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        facts(**override)
    assert info.value.errors[0].field == field


# --------------------------------------------------------------------------------------------------------- bulk


def _columns(rows: list[PriorityFacts]) -> dict[str, list[Any]]:
    return {c: [getattr(f, c) for f in rows] for c in BULK_COLUMNS}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(facts_st(), min_size=1, max_size=40),
    policy=any_policy,
    today=st.dates(date(2014, 1, 1), date(2040, 1, 1)),
)
def test_bulk_matches_compute_score(rows: list[PriorityFacts], policy: PriorityPolicy, today: date) -> None:
    rows = [dataclasses.replace(f, today=today) for f in rows]
    expected = [compute_score(f, policy).value for f in rows]
    cols = _columns(rows)
    assert compute_scores_bulk(cols, policy, today) == expected
    assert compute_scores_bulk(cols, policy, today, use_numpy=False) == expected
    arrays: dict[str, Any] = {
        **cols,
        "authorized_on": np.array(cols["authorized_on"], dtype="datetime64[D]"),
        "suspended_days": np.array(cols["suspended_days"]),
        "vulnerability_index": np.array(cols["vulnerability_index"], dtype=np.float64),
        "risk_class": np.array(cols["risk_class"]),
    }
    result = compute_scores_bulk(arrays, policy, today)
    assert result == expected
    assert all(type(v) is int for v in result)


def test_bulk_matches_on_a_large_random_sample() -> None:
    rng = random.Random(20250101)
    today = date(2025, 6, 1)
    policy = DEFAULT_POLICY.model_copy(update={"cross_class_aging_days": 240})
    rows = [
        PriorityFacts(
            risk_class=rng.choice(RISK_CLASSES),  # type: ignore[arg-type]
            authorized_on=today - timedelta(days=rng.randint(-5, 1500)),
            today=today,
            suspended_days=rng.choice([0, 0, 0, rng.randint(1, 90)]),
            max_days=rng.choice([30, 60, 90, 120, 180]),
            age_years=rng.randint(0, 105),
            pregnant=rng.random() < 0.05,
            disability=rng.random() < 0.08,
            autism=rng.random() < 0.02,
            race_color=rng.choice(RACE_COLORS),  # type: ignore[arg-type]
            sex=rng.choice(["M", "F"]),
            cadunico=rng.random() < 0.4,
            vulnerability_index=None if rng.random() < 0.3 else rng.random(),
            oci_sex=rng.choice([None, None, "F", "M"]),
        )
        for _ in range(20_000)
    ]
    expected = [compute_score(f, policy).value for f in rows]
    assert compute_scores_bulk(_columns(rows), policy, today) == expected


def test_bulk_rejects_bad_input_with_row_paths() -> None:
    cols = _columns([facts(), facts()])
    cols["risk_class"] = ["amarelo", "laranja"]
    with pytest.raises(ValidationFailed) as info:
        compute_scores_bulk(cols, DEFAULT_POLICY, date(2025, 1, 1))
    assert info.value.errors[0].field == "rows[1].risk_class"
    cols = _columns([facts(), facts()])
    cols["vulnerability_index"] = [0.5, 2.0]
    with pytest.raises(ValidationFailed) as info:
        compute_scores_bulk(cols, DEFAULT_POLICY, date(2025, 1, 1))
    assert info.value.errors[0].field == "rows[1].vulnerability_index"
    cols = _columns([facts(), facts()])
    cols["max_days"] = [60]
    with pytest.raises(ValidationFailed, match="tamanho_diferente"):
        compute_scores_bulk(cols, DEFAULT_POLICY, date(2025, 1, 1))
    del cols["max_days"]
    with pytest.raises(ValidationFailed, match="obrigatorio"):
        compute_scores_bulk(cols, DEFAULT_POLICY, date(2025, 1, 1))
    assert compute_scores_bulk({c: [] for c in BULK_COLUMNS}, DEFAULT_POLICY, date(2025, 1, 1)) == []
