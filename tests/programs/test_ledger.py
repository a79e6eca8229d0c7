"""The PAR funding ledger (Portaria GM/MS 3.492/2024 as amended, art. 16): worked examples and invariants."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from regula.core.errors import ValidationFailed
from regula.programs.ledger import ConcludedOci, Ledger, LedgerRow, PlannedLine, Transfer, build_ledger
from regula.programs.money import allocate, dumps

D = Decimal
SC = "uf:SC"
FLN = "municipality:4205407"
OCI_A = "0901010014"
OCI_B = "0901010022"
CNES_1 = "2691868"
CNES_2 = "0019283"
JAN, FEB, MAR, APR = date(2025, 1, 1), date(2025, 2, 1), date(2025, 3, 1), date(2025, 4, 1)


def plan() -> list[PlannedLine]:
    # 4 months × 100 OCIs at R$ 250.00 = R$ 100,000.00 for one manager.
    return [PlannedLine(FLN, OCI_A, CNES_1, m, 100, D("250.00")) for m in (JAN, FEB, MAR, APR)]


def concluded(month: date, n: int, *, adequate: bool = True, cnes: str = CNES_1, oci: str = OCI_A) -> ConcludedOci:
    return ConcludedOci(FLN, oci, cnes, month, D("250.00") * n, adequate)


def test_docs_example_advance_then_earned_then_due() -> None:
    # The example of docs/programs.md: 30% advanced, production first proves it, then earns the 70%.
    production = [concluded(JAN, 80), concluded(FEB, 90), concluded(MAR, 10, adequate=False)]
    transfers = [Transfer(FLN, "adiantamento", date(2025, 1, 10), D("30000.00"))]
    ledger = build_ledger(
        plan(), transfers, production, as_of=date(2025, 3, 15), advance_released=True, commitments_met=True
    )
    m = ledger.manager(FLN)
    assert m.totals.approved == D("100000.00")
    assert m.totals.advanced == m.advance_entitlement == D("30000.00")
    assert m.adequate_value == D("42500.00") and m.inadequate_value == D("2500.00")
    assert m.proven == D("30000.00")
    assert m.totals.earned == D("12500.00")  # 42,500 − 30,000
    assert m.totals.due == D("12500.00")
    # Jan and Feb are past: their advance (2 × 7,500) is proven by production, so nothing is at risk.
    assert m.totals.at_risk == D("0.00")
    assert [r.key for r in m.by_month] == ["2025-01", "2025-02", "2025-03", "2025-04"]
    assert ledger.totals == LedgerRow(
        "total", *(getattr(m.totals, f) for f in ("approved", "advanced", "earned", "due", "at_risk"))
    )


def test_production_transfers_reduce_due() -> None:
    production = [concluded(JAN, 100), concluded(FEB, 100)]
    transfers = [
        Transfer(FLN, "adiantamento", date(2025, 1, 10), D("30000.00")),
        Transfer(FLN, "producao", date(2025, 3, 5), D("15000.00")),
        Transfer(FLN, "producao", date(2025, 5, 5), D("5000.00")),  # after as_of: not yet paid
    ]
    m = build_ledger(
        plan(), transfers, production, as_of=date(2025, 3, 31), advance_released=True, commitments_met=True
    ).manager(FLN)
    assert m.totals.earned == D("20000.00")
    assert m.production_paid == D("15000.00") and m.advance_paid == D("30000.00")
    assert m.totals.due == D("5000.00")


def test_commitments_not_met_withhold_the_70_percent() -> None:
    # §4: the 70% depends on the PAR's commitments; what production earned is withheld (at risk), not due.
    production = [concluded(JAN, 100), concluded(FEB, 100)]
    m = build_ledger(
        plan(), [], production, as_of=date(2025, 3, 1), advance_released=True, commitments_met=False
    ).manager(FLN)
    assert m.totals.earned == D("20000.00")
    assert m.totals.due == D("0.00")
    assert m.withheld == D("20000.00") and m.totals.at_risk == D("20000.00")


def test_unproven_advance_of_past_months_is_at_risk() -> None:
    # §5: Jan–Mar are past (as_of in April): their advance, 3 × 7,500 = 22,500, minus the 5,000 production proved.
    production = [concluded(FEB, 20)]
    m = build_ledger(
        plan(), [], production, as_of=date(2025, 4, 2), advance_released=True, commitments_met=True
    ).manager(FLN)
    assert m.proven == D("5000.00")
    assert m.advance_at_risk == D("17500.00") and m.totals.at_risk == D("17500.00")
    assert m.totals.earned == D("0.00")
    apr = next(r for r in m.by_month if r.key == "2025-04")
    assert apr.at_risk == D("0.00")  # April is not past yet
    # Before the advance is released there is nothing to deduct.
    m = build_ledger(
        plan(), [], production, as_of=date(2025, 4, 2), advance_released=False, commitments_met=True
    ).manager(FLN)
    assert m.totals.advanced == D("0.00") and m.totals.at_risk == D("0.00")


def test_advance_not_released_first_30_percent_still_proves_the_advance() -> None:
    production = [concluded(JAN, 200)]  # 50,000
    m = build_ledger(
        plan(), [], production, as_of=date(2025, 2, 1), advance_released=False, commitments_met=True
    ).manager(FLN)
    assert m.totals.advanced == D("0.00")
    assert m.proven == D("30000.00")
    assert m.totals.earned == D("20000.00")


def test_only_planned_lines_count_and_never_above_their_value() -> None:
    production = [
        concluded(JAN, 300),  # 75,000 on a line of 100,000
        concluded(FEB, 200),  # 50,000: only 25,000 still fits
        concluded(FEB, 10, cnes=CNES_2),  # establishment not in the plan
        concluded(FEB, 10, oci=OCI_B),  # OCI not in the plan
    ]
    m = build_ledger(
        plan(), [], production, as_of=date(2025, 12, 31), advance_released=True, commitments_met=True
    ).manager(FLN)
    assert m.adequate_value == D("130000.00")
    assert m.not_counted == D("30000.00")
    assert m.totals.earned == D("70000.00")  # the whole 70%: advance + earned = approved
    assert m.totals.advanced + m.totals.earned == m.totals.approved
    by_cnes = {r.key: r for r in m.by_establishment}
    assert by_cnes[CNES_2].earned == D("0.00") and by_cnes[CNES_2].approved == D("0.00")
    # Production ran ahead of the plan: January earns above January's approved value.
    jan = next(r for r in m.by_month if r.key == "2025-01")
    assert jan.earned > jan.approved


def test_rounding_30_percent_half_up_and_rows_add_up() -> None:
    planned = [
        PlannedLine(SC, OCI_A, CNES_1, JAN, 1, D("0.05")),
        PlannedLine(SC, OCI_A, CNES_2, JAN, 1, D("0.05")),
        PlannedLine(SC, OCI_B, CNES_1, FEB, 3, D("33.33")),
    ]
    m = build_ledger(planned, [], [], as_of=JAN, advance_released=True, commitments_met=True).manager(SC)
    assert m.totals.approved == D("100.09")
    assert m.advance_entitlement == D("30.03")  # 30.027 → 30.03
    assert sum((r.advanced for r in m.by_oci), D(0)) == D("30.03")
    assert sum((r.advanced for r in m.by_establishment), D(0)) == D("30.03")


def test_bad_input_names_the_field() -> None:
    bad = [PlannedLine(SC, OCI_A, CNES_1, date(2025, 1, 15), -1, D("10"))]
    with pytest.raises(ValidationFailed) as info:
        build_ledger(bad, [], [], as_of=JAN, advance_released=True, commitments_met=True)
    fields = {e.field: e.code for e in info.value.errors}
    assert fields == {"planned[0].quantity": "quantidade_negativa", "planned[0].month": "mes_invalido"}


def test_json_forms() -> None:
    ledger = build_ledger(plan(), [], [concluded(JAN, 150)], as_of=FEB, advance_released=True, commitments_met=True)
    as_json = ledger.to_json()
    json.dumps(as_json)  # plain JSON-ready data
    assert as_json["totals"]["approved"] == "100000.00"
    assert as_json["managers"][0]["by_oci"][0] == {
        "key": OCI_A,
        "approved": "100000.00",
        "advanced": "30000.00",
        "earned": "7500.00",
        "due": "7500.00",
        "at_risk": "0.00",
    }
    text = dumps(ledger.to_data())
    assert '"approved": 100000.00' in text
    assert json.loads(text)["managers"][0]["totals"]["earned"] == 7500.0


def test_allocate_adds_up_and_respects_weights() -> None:
    assert allocate(D("0.10"), [D("1"), D("1"), D("1")]) == [D("0.04"), D("0.03"), D("0.03")]
    assert allocate(D("0"), [D("0")]) == [D("0.00")]
    with pytest.raises(ValueError, match="zero weights"):
        allocate(D("1"), [D("0")])


# --- invariants -------------------------------------------------------------------------------------------------

MONTHS = [date(2025, m, 1) for m in range(1, 7)]
managers = st.sampled_from([SC, FLN])
ocis = st.sampled_from([OCI_A, OCI_B])
cnes = st.sampled_from([CNES_1, CNES_2])
months = st.sampled_from(MONTHS)
money = st.decimals(min_value=0, max_value=5000, places=2, allow_nan=False, allow_infinity=False)

planned_lines = st.builds(PlannedLine, managers, ocis, cnes, months, st.integers(0, 500), money)
transfers_st = st.builds(
    Transfer,
    managers,
    st.sampled_from(["adiantamento", "producao"]),
    st.dates(date(2025, 1, 1), date(2025, 8, 1)),
    money.map(lambda v: v * 10),
)
production_st = st.builds(ConcludedOci, managers, ocis, cnes, months, money, st.booleans())


def _check_rows_sum(total: LedgerRow, rows: tuple[LedgerRow, ...]) -> None:
    for f in ("approved", "advanced", "earned", "due", "at_risk"):
        assert sum((getattr(r, f) for r in rows), D(0)) == getattr(total, f), f


@settings(max_examples=150, deadline=None)
@given(
    st.lists(planned_lines, max_size=12),
    st.lists(transfers_st, max_size=4),
    st.lists(production_st, max_size=15),
    st.dates(date(2025, 1, 1), date(2025, 9, 1)),
    st.booleans(),
    st.booleans(),
)
def test_invariants(
    planned: list[PlannedLine],
    transfers: list[Transfer],
    production: list[ConcludedOci],
    as_of: date,
    released: bool,
    met: bool,
) -> None:
    ledger: Ledger = build_ledger(
        planned, transfers, production, as_of=as_of, advance_released=released, commitments_met=met
    )
    for m in ledger.managers:
        t = m.totals
        for row in (t, *m.by_month, *m.by_oci, *m.by_establishment):
            for f in ("approved", "advanced", "earned", "due", "at_risk"):
                value = getattr(row, f)
                assert value >= 0 and value == value.quantize(D("0.01"))
            assert row.due <= row.earned
            assert row.at_risk <= row.advanced + row.earned
        for row in (t, *m.by_oci, *m.by_establishment):
            assert row.advanced + row.earned <= row.approved
        assert t.earned <= t.approved
        assert t.advanced == (m.advance_entitlement if released else 0)
        assert t.earned + m.proven + m.not_counted == m.adequate_value
        assert t.at_risk == m.withheld + m.advance_at_risk
        if not met:
            assert t.due == 0
        _check_rows_sum(t, m.by_month)
        _check_rows_sum(t, m.by_oci)
        _check_rows_sum(t, m.by_establishment)
    _check_rows_sum(ledger.totals, tuple(m.totals for m in ledger.managers))
    approved = sum((line.quantity * line.unit_value for line in planned), D(0))
    assert ledger.totals.approved == approved


def test_docs_programs_md_worked_example() -> None:
    # docs/programs.md, "A ledger, worked": two OCIs, four months, one manager; every number of the doc's tables.
    plan2 = [PlannedLine(FLN, OCI_A, CNES_1, m, 100, D("250.00")) for m in (JAN, FEB, MAR, APR)]
    plan2 += [PlannedLine(FLN, OCI_B, CNES_2, m, 50, D("120.00")) for m in (JAN, FEB, MAR, APR)]
    production = [
        ConcludedOci(FLN, OCI_A, CNES_1, JAN, D("20000.00"), True),
        ConcludedOci(FLN, OCI_A, CNES_1, FEB, D("22500.00"), True),
        ConcludedOci(FLN, OCI_B, CNES_2, FEB, D("3600.00"), True),
        ConcludedOci(FLN, OCI_A, CNES_1, MAR, D("2500.00"), False),
    ]
    transfers = [
        Transfer(FLN, "adiantamento", date(2025, 1, 10), D("37200.00")),
        Transfer(FLN, "producao", date(2025, 3, 5), D("5000.00")),
    ]
    met = build_ledger(
        plan2, transfers, production, as_of=date(2025, 3, 15), advance_released=True, commitments_met=True
    ).manager(FLN)
    assert met.totals == LedgerRow(FLN, D("124000.00"), D("37200.00"), D("8900.00"), D("3900.00"), D("0.00"))
    assert (met.adequate_value, met.inadequate_value, met.proven) == (D("46100.00"), D("2500.00"), D("37200.00"))
    assert [(r.key, r.earned, r.due) for r in met.by_month[:2]] == [
        ("2025-01", D("3861.17"), D("1691.97")),
        ("2025-02", D("5038.83"), D("2208.03")),
    ]
    assert [(r.key, r.earned, r.due) for r in met.by_oci] == [
        (OCI_A, D("8204.99"), D("3595.44")),
        (OCI_B, D("695.01"), D("304.56")),
    ]
    unmet = build_ledger(
        plan2, transfers, production, as_of=date(2025, 3, 15), advance_released=True, commitments_met=False
    ).manager(FLN)
    assert (unmet.totals.due, unmet.totals.at_risk, unmet.withheld) == (D("0.00"), D("3900.00"), D("3900.00"))
    assert unmet.paid_beyond_earned == D("5000.00")
    late = build_ledger(
        plan2, transfers, production[:1], as_of=date(2025, 4, 1), advance_released=True, commitments_met=True
    ).manager(FLN)
    assert (late.proven, late.advance_at_risk, late.totals.at_risk) == (D("20000.00"), D("7900.00"), D("7900.00"))
    assert [r.at_risk for r in late.by_month] == [D("2633.34"), D("2633.33"), D("2633.33"), D("0.00")]
