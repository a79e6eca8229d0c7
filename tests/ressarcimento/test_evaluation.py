"""Issue 14 item 5: COR, carry-over, caps, execution and sanctions (Portaria Conjunta MS/AGU 7.702/2025, art. 4 §3,
art. 15, art. 17), each rule at its boundaries, plus properties over random inputs."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from decimal import Decimal
from random import Random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from regula.core.errors import ValidationFailed
from regula.ressarcimento.evaluation import (
    REGION_SHARES,
    STRATEGIC_SHARE,
    EvaluationInput,
    Item,
    MonthInput,
    MonthResult,
    Region,
    competencia_of,
    cor_threshold,
    dumps,
    evaluate,
    evaluate_exact,
    month_index,
    parse_input,
    results_to_json,
)

D = Decimal


def item(value: str | int, *, authorized: bool = True, region: Region = Region.S, strategic: bool = False) -> Item:
    return Item(value=D(value), authorized=authorized, region=region, strategic=strategic)


def month(competencia: str, planned: Amount, *items: Item) -> MonthInput:
    return MonthInput(competencia=competencia, planned=D(planned), production=items)


Amount = str | int | Decimal


def series(start: str, rows: Sequence[tuple[Amount, Sequence[Item]]]) -> tuple[MonthInput, ...]:
    """Consecutive months from ``start``: (planned, items) per month."""
    first = month_index(start)
    return tuple(month(competencia_of(first + k), planned, *items) for k, (planned, items) in enumerate(rows))


def run(
    months: tuple[MonthInput, ...],
    *,
    annual_max: Amount = 10_000_000,
    national: bool = False,
    exception: bool = False,
) -> tuple[MonthResult, ...]:
    return evaluate(
        EvaluationInput(minimum_exception=exception, annual_max=D(annual_max), national_large=national, months=months)
    )


def one(value: str, *, exception: bool = False) -> MonthResult:
    (result,) = run(series("202603", [(0, [item(value)])]), exception=exception)
    return result


def field_of(exc: pytest.ExceptionInfo[ValidationFailed]) -> tuple[str, str]:
    (error,) = exc.value.errors
    return error.field, error.code


# --- COR: 0.9 × M (art. 15 §1–3) -------------------------------------------------------------------------------


def test_cor_is_issued_at_exactly_ninety_percent_of_the_minimum() -> None:
    r = one("90000.00")
    assert r.cor_issued and r.cor == D("90000.00") and r.carried_out == 0


def test_one_centavo_below_ninety_percent_gets_no_cor_and_is_carried_out() -> None:
    r = one("89999.99")
    assert not r.cor_issued and r.cor == 0 and r.carried_out == D("89999.99")


def test_the_cor_covers_the_whole_available_value_above_the_minimum() -> None:
    r = one("123456.78")
    assert r.cor_issued and r.cor == D("123456.78") == r.available


def test_with_the_exception_the_minimum_is_fifty_thousand() -> None:
    assert one("45000.00", exception=True).cor_issued
    assert not one("44999.99", exception=True).cor_issued
    assert not one("45000.00").cor_issued  # without the exception M = 100,000


# --- Carry-over: "até noventa dias" (art. 15 §4) ---------------------------------------------------------------


def test_carried_value_is_usable_in_the_third_month_after_its_origin() -> None:
    rows: list[tuple[Amount, Sequence[Item]]] = [(0, [item(10_000)]), (0, []), (0, []), (0, [item(80_000)])]
    r = run(series("202601", rows))
    assert [x.carried_in for x in r] == [0, D(10_000), D(10_000), D(10_000)]
    assert r[3].available == D(90_000) and r[3].cor_issued and r[3].cor == D(90_000)
    assert all(x.expired == 0 for x in r)


def test_carried_value_expires_in_the_fourth_month_after_its_origin() -> None:
    rows: list[tuple[Amount, Sequence[Item]]] = [(0, [item(10_000)]), (0, []), (0, []), (0, []), (0, [item(80_000)])]
    r = run(series("202601", rows))
    assert r[3].carried_out == D(10_000) and r[3].expired == 0
    assert r[4].expired == D(10_000) and r[4].carried_in == 0
    assert r[4].available == D(80_000) and not r[4].cor_issued  # the expired value no longer helps


def test_a_value_carried_again_keeps_its_month_of_origin() -> None:
    # Jan 10,000 and Feb 20,000 carried together; Jan's lot expires in May, Feb's in June.
    rows: list[tuple[Amount, Sequence[Item]]] = [(0, [item(10_000)]), (0, [item(20_000)]), *[(0, [])] * 4]
    r = run(series("202601", rows))
    assert [x.carried_in for x in r] == [0, D(10_000), D(30_000), D(30_000), D(20_000), 0]
    assert [x.expired for x in r] == [0, 0, 0, 0, D(10_000), D(20_000)]
    assert [x.carried_out for x in r] == [D(10_000), D(30_000), D(30_000), D(30_000), D(20_000), 0]


def test_a_cor_uses_up_the_carried_values() -> None:
    rows: list[tuple[Amount, Sequence[Item]]] = [(0, [item(50_000)]), (0, [item(40_000)]), (0, []), (0, []), (0, [])]
    r = run(series("202601", rows))
    assert r[1].carried_in == D(50_000) and r[1].cor == D(90_000) and r[1].carried_out == 0
    assert all(x.carried_in == 0 and x.expired == 0 for x in r[2:])


def test_carry_over_crosses_the_year_and_is_not_capped_again() -> None:
    # Annual max 50,000: December fills 2025's, January counts against 2026's; December's carried value joins it.
    rows: list[tuple[Amount, Sequence[Item]]] = [(0, [item(60_000)]), (0, [item(60_000)])]
    r = run(series("202512", rows), annual_max=50_000)
    assert r[0].counted == D(50_000) and r[0].carried_out == D(50_000)
    assert r[1].counted == D(50_000) and r[1].carried_in == D(50_000)
    assert r[1].cor_issued and r[1].cor == D(100_000)


# --- Counted value and caps (art. 15 §5–6, art. 4 §3) ----------------------------------------------------------


def test_unauthorized_production_is_ignored_and_uses_no_cap() -> None:
    rows: list[tuple[Amount, Sequence[Item]]] = [(0, [item(100_000, authorized=False), item(100_000)])]
    (r,) = run(series("202601", rows), annual_max=100_000)
    assert r.counted == D(100_000) and r.cor == D(100_000)
    (u,) = run(series("202601", [(0, [item(100_000, authorized=False)])]))
    assert u.counted == 0 and not u.cor_issued and u.carried_out == 0


def test_an_item_crossing_the_annual_maximum_counts_partially_and_later_items_nothing() -> None:
    rows: list[tuple[Amount, Sequence[Item]]] = [
        (0, [item(60_000), item("50000.50")]),
        (0, [item(10)]),
    ]
    r = run(series("202601", rows), annual_max=100_000)
    assert r[0].counted == D(100_000)  # 60,000 + 40,000 of the second item
    assert r[1].counted == 0


def test_caps_restart_on_the_first_of_january() -> None:
    rows: list[tuple[Amount, Sequence[Item]]] = [(0, [item(100_000)]), (0, [item(100_000)]), (0, [item(100_000)])]
    r = run(series("202511", rows), annual_max=150_000)
    assert [x.counted for x in r] == [D(100_000), D(50_000), D(100_000)]


@pytest.mark.parametrize("region", list(Region))
def test_a_national_large_operator_counts_each_region_up_to_its_share(region: Region) -> None:
    rows: list[tuple[Amount, Sequence[Item]]] = [(0, [item(1_000_000, region=region), item(1, region=region)])]
    (r,) = run(series("202601", rows), annual_max=1_000_000, national=True)
    assert r.counted == REGION_SHARES[region] * 1_000_000


def test_the_regional_shares_are_those_of_the_ordinance() -> None:
    expected = {Region.NE: "0.24", Region.N: "0.08", Region.CO: "0.10", Region.SE: "0.365", Region.S: "0.115"}
    assert {r: D(v) for r, v in expected.items()} == REGION_SHARES
    assert sum(REGION_SHARES.values()) + STRATEGIC_SHARE == 1


def test_strategic_items_use_the_strategic_cap_instead_of_their_region() -> None:
    rows: list[tuple[Amount, Sequence[Item]]] = [
        (
            0,
            [
                item(300_000, region=Region.NE),  # NE full at 240,000
                item(150_000, region=Region.NE, strategic=True),  # strategic: 100,000, NE's cap untouched
                item(10, region=Region.N, strategic=True),  # strategic cap full, whatever the region
                item(10, region=Region.N),  # N still has room
            ],
        )
    ]
    (r,) = run(series("202601", rows), annual_max=1_000_000, national=True)
    assert r.counted == D(240_000) + D(100_000) + D(10)


def test_a_national_operator_hitting_its_regional_cap_across_months() -> None:
    rows: list[tuple[Amount, Sequence[Item]]] = [
        (0, [item(200_000, region=Region.SE)]),
        (0, [item(200_000, region=Region.SE), item(50_000, region=Region.S)]),
        (0, [item(10_000, region=Region.SE)]),
    ]
    r = run(series("202601", rows), annual_max=1_000_000, national=True)
    assert [x.counted for x in r] == [D(200_000), D(165_000) + D(50_000), 0]


def test_regional_caps_and_the_annual_maximum_bind_together_when_every_cap_is_full() -> None:
    full = [item(10**9, region=reg) for reg in Region] + [item(10**9, strategic=True)]
    (r,) = run(series("202601", [(0, [*full, item(1, region=Region.SE)])]), annual_max=1_000_000, national=True)
    assert r.counted == D(1_000_000)


def test_regional_caps_restart_on_the_first_of_january() -> None:
    rows: list[tuple[Amount, Sequence[Item]]] = [(0, [item(100_000, region=Region.N)])] * 2
    r = run(series("202512", rows), annual_max=1_000_000, national=True)
    assert [x.counted for x in r] == [D(80_000), D(80_000)]


def test_other_operators_ignore_region_and_strategic() -> None:
    rows: list[tuple[Amount, Sequence[Item]]] = [
        (0, [item(900_000, region=Region.N), item(200_000, region=Region.NE, strategic=True)])
    ]
    (r,) = run(series("202601", rows), annual_max=1_000_000, national=False)
    assert r.counted == D(1_000_000)


# --- Execution and sanctions (art. 17) -------------------------------------------------------------------------


def test_execution_with_planned_zero_counts_as_full() -> None:
    (r,) = run(series("202601", [(0, [])]))
    assert r.execution_pct == D("100.00") and r.months_below_90 == 0


def test_exactly_ninety_percent_is_not_below_and_one_centavo_less_is() -> None:
    (at,) = run(series("202601", [(100_000, [item(90_000)])]))
    (below,) = run(series("202601", [(100_000, [item("89999.99")])]))
    assert at.months_below_90 == 0 and at.execution_pct == D("90.00")
    # 89.99999% is reported as 90.00 (rounded once) but compared exactly: below.
    assert below.months_below_90 == 1 and below.execution_pct == D("90.00")


def shortfall_run(n: int, planned: int = 100_000, counted: int = 50_000) -> tuple[MonthResult, ...]:
    return run(series("202601", [(planned, [item(counted)])] * n))


def test_months_one_to_three_of_a_run_carry_no_sanction() -> None:
    r = shortfall_run(3)
    assert [x.months_below_90 for x in r] == [1, 2, 3]
    assert all(x.sanction == "nenhuma" and x.fine == 0 for x in r)


def test_the_fourth_month_proposes_a_fine_over_the_runs_four_months() -> None:
    rows: list[tuple[Amount, Sequence[Item]]] = [
        (100_000, [item(10_000)]),
        (200_000, [item(0)]),
        (100_000, [item(89_999)]),
        (50_000, [item(40_000)]),
    ]
    r = run(series("202601", rows))
    assert r[3].months_below_90 == 4 and r[3].sanction == "multa"
    assert r[3].fine == D("0.1") * (90_000 + 200_000 + 10_001 + 10_000)


def test_later_months_add_their_own_shortfall_and_the_seventh_excludes() -> None:
    r = shortfall_run(8)
    assert [x.sanction for x in r] == ["nenhuma"] * 3 + ["multa"] * 3 + ["exclusao"] * 2
    assert [x.fine for x in r] == [0, 0, 0, D(20_000), D(5_000), D(5_000), D(5_000), D(5_000)]


def test_a_month_at_ninety_percent_ends_the_run() -> None:
    below: tuple[Amount, Sequence[Item]] = (100_000, [item(0)])
    rows = [below] * 3 + [(100_000, [item(90_000)])] + [below] * 4
    r = run(series("202601", rows))
    assert [x.months_below_90 for x in r] == [1, 2, 3, 0, 1, 2, 3, 4]
    assert r[3].sanction == "nenhuma" and r[7].sanction == "multa" and r[7].fine == D(40_000)


def test_the_run_crosses_the_year_and_a_cor_does_not_end_it() -> None:
    # Planned 200,000 and counted 100,000: a COR every month, yet below 90% of the matrix.
    r = run(series("202511", [(200_000, [item(100_000)])] * 4))
    assert all(x.cor_issued for x in r)
    assert [x.months_below_90 for x in r] == [1, 2, 3, 4] and r[3].fine == D(40_000)


def test_execution_uses_the_counted_value_after_caps() -> None:
    (r,) = run(series("202601", [(100_000, [item(100_000)])]), annual_max=50_000)
    assert r.execution_pct == D("50.00") and r.months_below_90 == 1


# --- Rounding: exact computation, each reported value rounded once, half up ------------------------------------


def test_reported_values_are_rounded_once_half_up() -> None:
    # SE share of 100,000.01 is 36,500.00365: reported 36,500.00, but kept exact for later months.
    rows: list[tuple[Amount, Sequence[Item]]] = [(0, [item(10**6, region=Region.SE)])]
    exact = evaluate_exact(
        EvaluationInput(False, D("100000.01"), True, series("202601", rows)),
    )
    assert exact[0].counted == D("36500.00365")
    assert run(series("202601", rows), annual_max="100000.01", national=True)[0].counted == D("36500.00")
    # Fine 10% of 100.05 = 10.005 → 10.01 (half up; half-even would give 10.00).
    r = run(series("202601", [("100.05", [])] * 5))
    assert r[3].fine == D("40.02") and r[4].fine == D("10.01")
    # Execution 1 ÷ 800 = 0.125% → 0.13.
    (p,) = run(series("202601", [(800, [item(1)])]))
    assert p.execution_pct == D("0.13")


def test_every_reported_money_value_has_two_decimals() -> None:
    for r in shortfall_run(5):
        for value in (r.counted, r.carried_in, r.available, r.cor, r.carried_out, r.expired, r.fine, r.execution_pct):
            assert value.as_tuple().exponent == -2


# --- Input checks ----------------------------------------------------------------------------------------------


def test_non_consecutive_months_are_refused_naming_the_field() -> None:
    months = (month("202601", 0), month("202603", 0))
    with pytest.raises(ValidationFailed) as exc:
        run(months)
    assert field_of(exc) == ("months[1].competencia", "competencia_nao_consecutiva")
    assert "202602" in exc.value.errors[0].message


@pytest.mark.parametrize("second", ["202601", "202512"])
def test_repeated_or_unordered_months_are_refused(second: str) -> None:
    with pytest.raises(ValidationFailed) as exc:
        run((month("202601", 0), month(second, 0)))
    assert field_of(exc) == ("months[1].competencia", "competencia_fora_de_ordem")


def test_december_to_january_is_consecutive() -> None:
    assert [r.competencia for r in run((month("202512", 0), month("202601", 0)))] == ["202512", "202601"]


@pytest.mark.parametrize("bad", ["202613", "202600", "2026-01", "26011", ""])
def test_malformed_competencia_is_refused(bad: str) -> None:
    with pytest.raises(ValidationFailed) as exc:
        run((month(bad, 0),))
    assert field_of(exc) == ("months[0].competencia", "competencia_invalida")


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("-0.01", "valor_negativo"),
        ("NaN", "numero_invalido"),
        ("1E+13", "valor_muito_grande"),
        ("0.0000001", "casas_decimais"),
    ],
)
def test_bad_amounts_are_refused_naming_the_field(value: str, code: str) -> None:
    with pytest.raises(ValidationFailed) as exc:
        run(series("202601", [(0, [item(1), Item(D(value), True, Region.S, False)])]))
    assert field_of(exc) == ("months[0].production[1].value", code)


def test_no_months_gives_no_results() -> None:
    assert run(()) == ()


# --- JSON ------------------------------------------------------------------------------------------------------


def raw_input(**override: object) -> dict[str, object]:
    doc: dict[str, object] = {
        "minimum_exception": False,
        "annual_max_brl": 1_000_000,
        "national_large": True,
        "months": [
            {
                "competencia": "202601",
                "planned_brl": D("100000"),
                "production": [{"value_brl": D("90000.00"), "authorized": True, "region": "NE", "strategic": False}],
            }
        ],
    }
    doc.update(override)
    return doc


def test_parse_input_reads_the_issue_json() -> None:
    data = parse_input(raw_input())
    assert data == EvaluationInput(
        minimum_exception=False,
        annual_max=D(1_000_000),
        national_large=True,
        months=(MonthInput("202601", D(100_000), (Item(D("90000.00"), True, Region.NE, False),)),),
    )


def test_parse_input_reads_floats_through_their_shortest_repr() -> None:
    data = parse_input({**raw_input(annual_max_brl=0.1), "months": []})
    assert data.annual_max == D("0.1")  # not 0.1000000000000000055511151231257827...


@pytest.mark.parametrize(
    ("raw", "path", "code"),
    [
        ([], "$", "objeto_invalido"),
        ({k: v for k, v in raw_input().items() if k != "national_large"}, "national_large", "campo_obrigatorio"),
        (raw_input(annual_max_brl="1000"), "annual_max_brl", "numero_invalido"),
        (raw_input(annual_max_brl=True), "annual_max_brl", "numero_invalido"),
        (raw_input(minimum_exception="no"), "minimum_exception", "booleano_invalido"),
        (raw_input(months={}), "months", "lista_invalida"),
        (raw_input(extra=1), "extra", "campo_desconhecido"),
        (raw_input(months=[{"competencia": "202601", "planned_brl": 0}]), "months[0].production", "campo_obrigatorio"),
        (
            raw_input(months=[{"competencia": "202601", "planned_brl": -1, "production": []}]),
            "months[0].planned_brl",
            "valor_negativo",
        ),
        (
            raw_input(
                months=[
                    {
                        "competencia": "202601",
                        "planned_brl": 0,
                        "production": [{"value_brl": 1, "authorized": True, "region": "XX", "strategic": False}],
                    }
                ]
            ),
            "months[0].production[0].region",
            "regiao_invalida",
        ),
        (
            raw_input(
                months=[
                    {"competencia": "202601", "planned_brl": 0, "production": []},
                    {"competencia": "202603", "planned_brl": 0, "production": []},
                ]
            ),
            "months[1].competencia",
            "competencia_nao_consecutiva",
        ),
    ],
)
def test_parse_input_names_the_json_path(raw: object, path: str, code: str) -> None:
    with pytest.raises(ValidationFailed) as exc:
        parse_input(raw)
    assert field_of(exc) == (path, code)


def test_results_to_json_has_the_issue_keys_and_two_decimal_numbers() -> None:
    doc = results_to_json(evaluate(parse_input(raw_input())))
    text = dumps(doc)
    back = json.loads(text, parse_float=D)
    (m,) = back["months"]
    assert list(m) == [
        "competencia",
        "counted_brl",
        "carried_in_brl",
        "available_brl",
        "cor_issued",
        "cor_brl",
        "carried_out_brl",
        "expired_brl",
        "execution_pct",
        "months_below_90",
        "sanction",
        "fine_brl",
    ]
    assert '"counted_brl": 90000.00' in text and '"fine_brl": 0.00' in text
    assert m["cor_issued"] is True and m["sanction"] == "nenhuma" and m["months_below_90"] == 0


# --- Properties ------------------------------------------------------------------------------------------------

money = st.decimals(min_value=0, max_value=200_000, places=2, allow_nan=False, allow_infinity=False)
items_st = st.builds(
    Item, value=money, authorized=st.booleans(), region=st.sampled_from(list(Region)), strategic=st.booleans()
)
inputs = st.builds(
    lambda start, exception, annual_max, national, rows: EvaluationInput(
        exception,
        annual_max,
        national,
        tuple(month(competencia_of(start + k), p, *its) for k, (p, its) in enumerate(rows)),
    ),
    start=st.integers(min_value=2025 * 12, max_value=2030 * 12),
    exception=st.booleans(),
    annual_max=st.decimals(min_value=0, max_value=2_000_000, places=2, allow_nan=False, allow_infinity=False),
    national=st.booleans(),
    rows=st.lists(st.tuples(money, st.lists(items_st, max_size=6)), max_size=16),
)


@settings(max_examples=300, deadline=None)
@given(inputs)
def test_counted_never_exceeds_the_caps(data: EvaluationInput) -> None:
    results = evaluate_exact(data)
    per_year: dict[int, Decimal] = {}
    for m, r in zip(data.months, results, strict=True):
        authorized = sum((i.value for i in m.production if i.authorized), D(0))
        assert 0 <= r.counted <= authorized
        year = month_index(m.competencia) // 12
        per_year[year] = per_year.get(year, D(0)) + r.counted
        assert per_year[year] <= data.annual_max


@settings(max_examples=200, deadline=None)
@given(
    st.decimals(min_value=1, max_value=2_000_000, places=2, allow_nan=False, allow_infinity=False),
    st.lists(st.lists(items_st, max_size=6), min_size=1, max_size=14),
)
def test_each_regional_and_the_strategic_cap_hold_per_year(annual_max: Decimal, months: list[list[Item]]) -> None:
    # One item per month lets each counted amount be attributed to its cap.
    rows = [(0, [its[0]]) if its else (0, []) for its in months]
    results = run(series("202510", rows), annual_max=annual_max, national=True)
    exact = evaluate_exact(EvaluationInput(False, annual_max, True, series("202510", rows)))
    used: dict[tuple[int, str], Decimal] = {}
    for k, ((_, its), r) in enumerate(zip(rows, exact, strict=True)):
        if not its:
            continue
        it = its[0]
        cap, share = ("strategic", STRATEGIC_SHARE) if it.strategic else (it.region.value, REGION_SHARES[it.region])
        key = ((month_index("202510") + k) // 12, cap)
        used[key] = used.get(key, D(0)) + r.counted
        assert used[key] <= share * annual_max
    assert len(results) == len(rows)


@settings(max_examples=300, deadline=None)
@given(inputs)
def test_money_is_conserved_month_by_month(data: EvaluationInput) -> None:
    results = evaluate_exact(data)
    threshold = cor_threshold(data.minimum_exception)
    previous_out = D(0)
    for r in results:
        assert r.counted + r.carried_in == r.cor + r.carried_out
        assert r.available == r.counted + r.carried_in
        assert previous_out == r.carried_in + r.expired
        assert r.cor_issued == (r.cor > 0) == (r.available >= threshold)
        previous_out = r.carried_out
    # Over the whole series: everything counted ends in a COR, expired or still carried.
    total = sum((r.counted for r in results), D(0))
    assert total == sum((r.cor + r.expired for r in results), D(0)) + previous_out


@settings(max_examples=200, deadline=None)
@given(inputs)
def test_evaluation_is_deterministic_and_rounds_the_exact_values_once(data: EvaluationInput) -> None:
    first, second = evaluate(data), evaluate(data)
    assert first == second
    assert first == tuple(r.rounded() for r in evaluate_exact(data))


@settings(max_examples=200, deadline=None)
@given(inputs)
def test_sanctions_follow_the_run_length(data: EvaluationInput) -> None:
    for r in evaluate_exact(data):
        expected = "nenhuma" if r.months_below_90 < 4 else "multa" if r.months_below_90 < 7 else "exclusao"
        assert r.sanction == expected
        assert (r.fine > 0) == (r.months_below_90 >= 4)


@settings(max_examples=200, deadline=None)
@given(inputs, st.randoms(use_true_random=False))
def test_monthly_results_do_not_depend_on_the_order_of_items(data: EvaluationInput, rnd: Random) -> None:
    # Order decides which item a cap cuts, never a month's total: the annual room is the sum of the caps' rooms.
    shuffled = []
    for m in data.months:
        items = list(m.production)
        rnd.shuffle(items)
        shuffled.append(MonthInput(m.competencia, m.planned, tuple(items)))
    assert evaluate_exact(data) == evaluate_exact(replace(data, months=tuple(shuffled)))


@settings(max_examples=300, deadline=None)
@given(inputs)
def test_counted_matches_an_independent_cap_oracle(data: EvaluationInput) -> None:
    # Since the caps are independent (and, for national operators, add up to the annual maximum), what a year has
    # counted after each month is, for each cap, the smaller of the authorized production so far and the cap.
    def cap_key(i: Item) -> str:
        if not data.national_large:
            return "all"
        return "strategic" if i.strategic else i.region.value

    def limit(key: str) -> Decimal:
        if key == "all":
            return data.annual_max
        share = STRATEGIC_SHARE if key == "strategic" else REGION_SHARES[Region(key)]
        return share * data.annual_max

    produced: dict[tuple[int, str], Decimal] = {}
    counted_in_year: dict[int, Decimal] = {}
    for m, r in zip(data.months, evaluate_exact(data), strict=True):
        year = month_index(m.competencia) // 12
        for i in m.production:
            if i.authorized:
                produced[(year, cap_key(i))] = produced.get((year, cap_key(i)), D(0)) + i.value
        counted_in_year[year] = counted_in_year.get(year, D(0)) + r.counted
        oracle = sum((min(v, limit(k)) for (y, k), v in produced.items() if y == year), D(0))
        assert counted_in_year[year] == oracle


@settings(max_examples=200, deadline=None)
@given(inputs)
def test_execution_is_the_exact_ratio_rounded_once(data: EvaluationInput) -> None:
    for m, r in zip(data.months, evaluate_exact(data), strict=True):
        if m.planned == 0:
            assert r.execution_pct == 100
        else:
            assert abs(r.execution_pct - r.counted * 100 / m.planned) <= D("0.005")
            assert (r.months_below_90 > 0) == (r.counted < D("0.9") * m.planned)
