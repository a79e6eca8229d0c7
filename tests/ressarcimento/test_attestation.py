"""The monthly attestation (Portaria Conjunta MS/AGU 7.702/2025, art. 12, 14, 15, 17) on the database: the operator's
checked production valued by its matrix, only regulated (authorized) production counted, the evaluation run over
the attested months of the year, the expected COR and the proposed sanction stored; months attested in order and
once; homologation and the COR issued recorded against the expected value; the caps used per region."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from regula.config import Settings
from regula.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from regula.ressarcimento import rules, service
from tests.ressarcimento.operators_support import (
    AUDITOR,
    GESTOR,
    PLANNED,
    SURGERY,
    TODAY,
    YEAR,
    active_operator,
    prepare,
    produce,
)

pytestmark = pytest.mark.usefixtures("reference_data")


@pytest.fixture(autouse=True)
def _audit(session: AsyncSession) -> None:
    prepare(session)


async def test_only_production_with_a_regulated_authorization_counts(session: AsyncSession, settings: Settings) -> None:
    op = await active_operator(session, settings)
    await produce(session, "7991001", 1, authorized=85, unauthorized=2)
    out = await service.attest(session, settings, op.id or 0, f"{YEAR}01", GESTOR, TODAY)
    a = out.attestation
    assert a.items == 87 and a.unauthorized_items == 2
    assert a.registered_brl == SURGERY * 87
    assert a.unauthorized_brl == SURGERY * 2  # art. 15 §6: never counted
    assert a.counted_brl == SURGERY * 85 == Decimal("98379.00")
    assert a.planned_brl == PLANNED == Decimal("104166.00")
    assert a.cor_expected and a.expected_cor_brl == Decimal("98379.00")  # ≥ 0.9 × R$ 100.000
    assert a.execution_pct == Decimal("94.44") and a.months_below_90 == 0 and a.sanction == "nenhuma"
    assert out.sanction is None
    # The attested items are frozen with their flags, in production control's order.
    detail = await service.attestation_detail(session, op.id or 0, f"{YEAR}01", AUDITOR)
    assert [i.authorized for i in detail.items].count(False) == 2
    assert {i.region for i in detail.items} == {"S"}
    assert [i.seq for i in detail.items] == list(range(1, 88))


async def test_a_month_below_the_minimum_is_carried_to_the_next(session: AsyncSession, settings: Settings) -> None:
    op = await active_operator(session, settings)
    await produce(session, "7991001", 1, authorized=60)
    await produce(session, "7991001", 2, authorized=60)
    first = (await service.attest(session, settings, op.id or 0, f"{YEAR}01", GESTOR, TODAY)).attestation
    assert first.counted_brl == Decimal("69444.00")
    assert not first.cor_expected and first.expected_cor_brl == 0
    assert first.carried_out_brl == Decimal("69444.00")  # art. 15 §4
    second = (await service.attest(session, settings, op.id or 0, f"{YEAR}02", GESTOR, TODAY)).attestation
    assert second.carried_in_brl == Decimal("69444.00")
    assert second.cor_expected and second.expected_cor_brl == Decimal("138888.00")
    assert second.months_below_90 == 2


async def test_the_fourth_month_below_90_proposes_the_fine_with_its_challenge_window(
    session: AsyncSession, settings: Settings
) -> None:
    op = await active_operator(session, settings)
    for month in range(1, 5):
        await produce(session, "7991001", month, authorized=60)
    outs = [await service.attest(session, settings, op.id or 0, f"{YEAR}{m:02d}", GESTOR, TODAY) for m in range(1, 5)]
    assert [o.sanction for o in outs[:3]] == [None, None, None]
    fourth = outs[3]
    assert fourth.attestation.months_below_90 == 4 and fourth.attestation.sanction == "multa"
    # Art. 17 I: 10% of the planned value not performed over the run's four months.
    assert fourth.attestation.fine_brl == Decimal("0.1") * 4 * (PLANNED - Decimal("69444.00")) == Decimal("13888.80")
    s = fourth.sanction
    assert s is not None and s.status == "proposta" and s.amount_brl == Decimal("13888.80") and s.proposed_on == TODAY

    notified_on = TODAY - timedelta(days=20)
    with pytest.raises(ValidationFailed) as early:  # a notification cannot precede the proposal
        await service.notify_sanction(session, s.id or 0, notified_on, GESTOR, TODAY)
    assert early.value.errors[0].field == "notified_on"

    later = TODAY + timedelta(days=1)
    await service.notify_sanction(session, s.id or 0, TODAY, GESTOR, TODAY)
    assert s.status == "notificada" and s.challenge_deadline == rules.challenge_deadline(TODAY)
    deadline = s.challenge_deadline
    assert deadline is not None and deadline >= TODAY + timedelta(days=15)
    # Still inside the window: nothing becomes final.
    assert await service.finalize_unchallenged(session, GESTOR, deadline) == []
    with pytest.raises(ValidationFailed) as late:
        await service.record_challenge(
            session, s.id or 0, deadline + timedelta(days=1), "Tarde", GESTOR, later + timedelta(days=60)
        )
    assert late.value.errors[0].code == "fora_do_prazo"
    done = await service.finalize_unchallenged(session, GESTOR, deadline + timedelta(days=1))
    assert [x.id for x in done] == [s.id]
    assert s.status == "definitiva" and s.outcome == "sem_impugnacao" and s.final_on == deadline + timedelta(days=1)
    assert s.notified_on == TODAY  # the record keeps both dates


async def test_a_challenge_in_the_window_waits_for_its_decision(session: AsyncSession, settings: Settings) -> None:
    op = await active_operator(session, settings)
    for month in range(1, 5):
        await produce(session, "7991001", month, authorized=50)
        out = await service.attest(session, settings, op.id or 0, f"{YEAR}{month:02d}", GESTOR, TODAY)
    s = out.sanction
    assert s is not None
    await service.notify_sanction(session, s.id or 0, TODAY, GESTOR, TODAY)
    day = TODAY + timedelta(days=15)
    with pytest.raises(ValidationFailed):
        await service.record_challenge(session, s.id or 0, day, "  ", GESTOR, day)
    await service.record_challenge(session, s.id or 0, day, "A operadora contesta o previsto.", GESTOR, day)
    assert s.status == "impugnada"
    assert await service.finalize_unchallenged(session, GESTOR, day + timedelta(days=30)) == []
    await service.decide_challenge(session, s.id or 0, "revogada", "Acolhida.", GESTOR, day + timedelta(days=3))
    assert s.status == "revogada" and s.outcome == "revogada" and s.final_on == day + timedelta(days=3)


async def test_months_are_attested_in_order_once_and_only_when_closed(
    session: AsyncSession, settings: Settings
) -> None:
    op = await active_operator(session, settings)
    oid = op.id or 0
    await service.attest(session, settings, oid, f"{YEAR}01", GESTOR, TODAY)  # no production: counted 0
    with pytest.raises(Conflict) as twice:
        await service.attest(session, settings, oid, f"{YEAR}01", GESTOR, TODAY)
    assert twice.value.code == "competencia_ja_atestada"
    with pytest.raises(Conflict) as gap:
        await service.attest(session, settings, oid, f"{YEAR}03", GESTOR, TODAY)
    assert gap.value.code == "competencia_anterior_pendente" and gap.value.errors[0].field == "competencia"
    with pytest.raises(ValidationFailed) as open_month:
        await service.attest(session, settings, oid, f"{TODAY:%Y%m}", GESTOR, TODAY)
    assert open_month.value.errors[0].code == "competencia_em_aberto"
    with pytest.raises(ValidationFailed) as bad:
        await service.attest(session, settings, oid, "202513", GESTOR, TODAY)
    assert bad.value.errors[0].field == "competencia"
    with pytest.raises(Conflict) as back:
        await service.attest(session, settings, oid, f"{YEAR - 1}12", GESTOR, TODAY)
    assert back.value.code == "competencia_fora_de_ordem"
    fresh = await active_operator(session, settings, ans="419109", cnes="7991009")
    with pytest.raises(ValidationFailed) as no_max:
        await service.attest(session, settings, fresh.id or 0, f"{YEAR + 1}01", GESTOR, TODAY)
    assert no_max.value.errors[0].field == "annual_max"
    with pytest.raises(PermissionDenied):
        await service.attest(session, settings, oid, f"{YEAR}02", AUDITOR, TODAY)


async def test_an_operator_not_active_is_not_attested(session: AsyncSession, settings: Settings) -> None:
    op = await service.create_operator(
        session,
        service.OperatorInput("419555", "Em adesão", "pequeno", False, "SC", True, True),
        GESTOR,
        TODAY,
    )
    with pytest.raises(Conflict) as exc:
        await service.attest(session, settings, op.id or 0, f"{YEAR}01", GESTOR, TODAY)
    assert exc.value.code == "operadora_nao_ativa"


async def test_homologation_then_the_cor_issued_against_the_expected(session: AsyncSession, settings: Settings) -> None:
    op = await active_operator(session, settings)
    await produce(session, "7991001", 1, authorized=85)
    await service.attest(session, settings, op.id or 0, f"{YEAR}01", GESTOR, TODAY)
    with pytest.raises(Conflict) as early:
        await service.record_cor(
            session,
            op.id or 0,
            f"{YEAR}01",
            number="C1",
            issued_on=TODAY,
            value=Decimal("1"),
            actor=GESTOR,
            today=TODAY,
        )
    assert early.value.code == "sem_homologacao"
    with pytest.raises(ValidationFailed):
        await service.record_homologation(
            session, op.id or 0, f"{YEAR}01", TODAY + timedelta(days=1), None, GESTOR, TODAY
        )
    await service.record_homologation(session, op.id or 0, f"{YEAR}01", TODAY, "Portaria SAES 1", GESTOR, TODAY)
    with pytest.raises(ValidationFailed) as blank:
        await service.record_cor(
            session, op.id or 0, f"{YEAR}01", number=" ", issued_on=TODAY, value=Decimal("1"), actor=GESTOR, today=TODAY
        )
    assert blank.value.errors[0].field == "number"
    a = await service.record_cor(
        session,
        op.id or 0,
        f"{YEAR}01",
        number="COR-1",
        issued_on=TODAY,
        value=Decimal("97221.60"),
        actor=GESTOR,
        today=TODAY,
    )
    assert a.status == "cor_emitido" and service.cor_difference(a) == Decimal("-1157.40")
    with pytest.raises(NotFound):
        await service.record_homologation(session, op.id or 0, f"{YEAR}02", TODAY, None, GESTOR, TODAY)


async def test_caps_of_a_large_national_operator(session: AsyncSession, settings: Settings) -> None:
    """Art. 4 §3: the Sul cap is 11.5% of the annual maximum; what crosses it is not counted."""
    op = await active_operator(session, settings, size="grande", national=True, annual_max=Decimal("100000.00"))
    await produce(session, "7991001", 1, authorized=12)  # 13,888.80 produced in the South
    a = (await service.attest(session, settings, op.id or 0, f"{YEAR}01", GESTOR, TODAY)).attestation
    assert a.counted_brl == Decimal("11500.00")
    caps = await service.caps_used(session, op.id or 0, YEAR, AUDITOR)
    south = next(c for c in caps.caps if c.cap == "S")
    assert caps.national_large and south.limit == Decimal("11500.00") and south.used == Decimal("11500.00")
    assert south.produced == SURGERY * 12
    assert caps.used_total == Decimal("11500.00")
    assert next(c for c in caps.caps if c.cap == "NE").used == 0
    # The same production by an operator that is not large and national only meets the annual maximum.
    other = await active_operator(session, settings, ans="419102", cnes="7991002", annual_max=Decimal("100000.00"))
    await produce(session, "7991002", 1, authorized=12)
    b = (await service.attest(session, settings, other.id or 0, f"{YEAR}01", GESTOR, TODAY)).attestation
    assert b.counted_brl == SURGERY * 12


async def test_runs_and_carry_over_cross_the_new_year(session: AsyncSession, settings: Settings) -> None:
    """A run below 90% and a carried value go on past 1 January (art. 15 §4, art. 17), the caps restart."""
    later = date(YEAR + 1, 3, 1)
    for ans, cnes, next_max in (("419103", "7991003", Decimal("1500000.00")), ("419104", "7991004", Decimal("2e6"))):
        op = await active_operator(session, settings, ans=ans, cnes=cnes)
        await service.set_annual_max(session, op.id or 0, YEAR + 1, next_max, None, GESTOR)
        await produce(session, cnes, 12, authorized=60)
        await produce(session, cnes, 1, authorized=60, year=YEAR + 1)
        for m in range(1, 12):  # no production: each month below 90%
            await service.attest(session, settings, op.id or 0, f"{YEAR}{m:02d}", GESTOR, later)
        dec = (await service.attest(session, settings, op.id or 0, f"{YEAR}12", GESTOR, later)).attestation
        assert dec.months_below_90 == 12 and dec.sanction == "exclusao"
        assert dec.carried_out_brl == Decimal("69444.00")
        with pytest.raises(Conflict):  # January of the next year waits for December
            await service.attest(session, settings, op.id or 0, f"{YEAR + 1}02", GESTOR, later)
        jan = (await service.attest(session, settings, op.id or 0, f"{YEAR + 1}01", GESTOR, later)).attestation
        if next_max == Decimal("1500000.00"):  # the same annual maximum: one evaluation across the years
            assert jan.months_below_90 == 13 and jan.sanction == "exclusao"
            assert jan.carried_in_brl == Decimal("69444.00") and jan.expected_cor_brl == Decimal("138888.00")
        else:  # another maximum: the evaluation starts in January (decision 0018)
            assert jan.months_below_90 == 1 and jan.carried_in_brl == 0 and jan.annual_max_brl == next_max
