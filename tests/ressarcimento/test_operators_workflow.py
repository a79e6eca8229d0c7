"""Operators on the database: registration with field errors, the adhesion steps as the workflow table allows
(eligibility of art. 3, the ente consultation deadline of art. 6), who reads and who manages (decision 0018), the
units, the offer matrix's values (art. 10) and versions, the sublimits (art. 4 §2), the annual maximum."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from regula.access.actor import Actor
from regula.access.policy import Jurisdiction
from regula.config import Settings
from regula.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from regula.ressarcimento import repository as repo
from regula.ressarcimento import rules, service
from tests.ressarcimento.operators_support import AUDITOR, GESTOR, TODAY, active_operator, establishment, prepare

pytestmark = pytest.mark.usefixtures("reference_data")
JOINVILLE_GESTOR = Actor("gestor.joinville", "gestor", jurisdiction=Jurisdiction.parse("municipality:4209102"))
FLORIPA_GESTOR = Actor("gestor.floripa", "gestor", jurisdiction=Jurisdiction.parse("municipality:4205407"))
PR_GESTOR = Actor("gestor.pr", "gestor", jurisdiction=Jurisdiction.parse("uf:PR"))


@pytest.fixture(autouse=True)
def _audit(session: AsyncSession) -> None:
    prepare(session)


def _input(**kw: object) -> service.OperatorInput:
    base: dict[str, object] = {
        "ans_registration": "419201",
        "name": "Operadora Teste",
        "size": "medio",
        "national_reach": False,
        "uf": "SC",
    }
    return service.OperatorInput(**(base | kw))  # type: ignore[arg-type]


async def test_registration_names_each_bad_field_and_refuses_duplicates(session: AsyncSession) -> None:
    with pytest.raises(ValidationFailed) as bad:
        await service.create_operator(
            session, _input(ans_registration="12AB", name=" ", size="enorme", uf="XX"), GESTOR, TODAY
        )
    assert {e.field for e in bad.value.errors} == {"ans_registration", "name", "size", "uf"}
    op = await service.create_operator(session, _input(), GESTOR, TODAY)
    assert op.status == rules.INITIAL_STATUS and op.status_since == TODAY
    steps = await repo.steps_of(session, op.id or 0)
    assert [(s.from_status, s.to_status) for s in steps] == [(None, "manifestacao_interesse")]
    with pytest.raises(Conflict) as dup:
        await service.create_operator(session, _input(name="Outra"), GESTOR, TODAY)
    assert dup.value.code == "operadora_duplicada"
    with pytest.raises(PermissionDenied):  # the ente of another UF does not register it
        await service.create_operator(session, _input(ans_registration="419202"), PR_GESTOR, TODAY)
    with pytest.raises(PermissionDenied):  # auditors read
        await service.create_operator(session, _input(ans_registration="419203"), AUDITOR, TODAY)


async def test_steps_follow_the_table_with_eligibility_and_the_consultation_deadline(session: AsyncSession) -> None:
    op = await service.create_operator(session, _input(), GESTOR, TODAY)
    oid = op.id or 0
    with pytest.raises(ValidationFailed) as ineligible:  # art. 3 not yet stated
        await service.take_step(session, oid, service.StepInput("aprovada_saes"), GESTOR, TODAY)
    assert ineligible.value.code == "operadora_inelegivel"
    assert {e.field for e in ineligible.value.errors} == {"technical_capacity", "ans_reports_regular"}
    facts = service.EligibilityInput(True, True, False, False, False, "medio")
    await service.update_facts(session, oid, facts, GESTOR)
    with pytest.raises(Conflict) as skip:
        await service.take_step(session, oid, service.StepInput("ativa"), GESTOR, TODAY)
    assert skip.value.code == "transicao_invalida"
    with pytest.raises(ValidationFailed) as future:
        await service.take_step(
            session, oid, service.StepInput("aprovada_saes", TODAY + timedelta(days=1)), GESTOR, TODAY
        )
    assert future.value.errors[0].field == "on_date"
    sent = TODAY - timedelta(days=30)
    await service.take_step(session, oid, service.StepInput("aprovada_saes", sent - timedelta(days=5)), GESTOR, TODAY)
    await service.take_step(session, oid, service.StepInput("consulta_entes", sent), GESTOR, TODAY)
    assert op.consultation_sent_on == sent and op.consultation_deadline == rules.consultation_deadline(sent)
    extended = await service.take_step(session, oid, service.StepInput("", extend_consultation=True), GESTOR, TODAY)
    assert extended.consultation_deadline == rules.consultation_deadline(sent, extended=True)
    with pytest.raises(Conflict):  # once
        await service.take_step(session, oid, service.StepInput("", extend_consultation=True), GESTOR, TODAY)
    with pytest.raises(ValidationFailed) as no_reason:
        await service.take_step(session, oid, service.StepInput("indeferida"), GESTOR, TODAY)
    assert no_reason.value.errors[0].field == "note"
    await service.take_step(session, oid, service.StepInput("indeferida", note="Entes sem interesse."), GESTOR, TODAY)
    history = await repo.steps_of(session, oid)
    assert [s.to_status for s in history] == [
        "manifestacao_interesse",
        "aprovada_saes",
        "consulta_entes",
        "consulta_entes",
        "indeferida",
    ]
    assert history[2].on_date == sent


async def test_who_reads_and_who_manages(session: AsyncSession, settings: Settings) -> None:
    op = await active_operator(session, settings, cnes="7991011", municipality="4205407")
    oid = op.id or 0
    assert (await repo.operator_for(session, FLORIPA_GESTOR, oid)).id == oid  # its unit is in Florianópolis
    assert await repo.manageable(session, FLORIPA_GESTOR, op)  # every unit of it is there
    with pytest.raises(NotFound):  # Joinville reaches no unit of it: as if it did not exist
        await repo.operator_for(session, JOINVILLE_GESTOR, oid)
    with pytest.raises(NotFound):
        await service.attest(session, settings, oid, "202501", PR_GESTOR, TODAY)
    await establishment(session, "7991012", "4209102")
    await service.add_unit(session, oid, "7991012", "contratada", GESTOR)
    assert (await repo.operator_for(session, JOINVILLE_GESTOR, oid)).id == oid  # now it reads it…
    with pytest.raises(PermissionDenied) as partial:  # …but does not manage units outside Joinville
        await repo.operator_for(session, JOINVILLE_GESTOR, oid, managing=True)
    assert partial.value.code == "operadora_alem_da_jurisdicao"
    rows, total = await service.list_operators(session, JOINVILLE_GESTOR, repo.OperatorQuery())
    assert total == 1 and rows[0].id == oid
    _rows, none = await service.list_operators(session, PR_GESTOR, repo.OperatorQuery())
    assert none == 0
    with pytest.raises(Conflict):
        await service.add_unit(session, oid, "7991012", "contratada", GESTOR)
    with pytest.raises(ValidationFailed) as unknown:
        await service.add_unit(session, oid, "7999999", "propria", GESTOR)
    assert unknown.value.errors[0].field == "cnes"


async def test_matrix_values_versions_and_sublimits(session: AsyncSession, settings: Settings) -> None:
    op = await active_operator(session, settings, cnes="7991021")
    oid = op.id or 0
    surgery = (await repo.matrix_of(session, oid))[0]
    assert surgery.value_brl == Decimal("1157.40") and surgery.ivr == Decimal("1.5")  # 771,60 × 1,5 (art. 10 II)
    oci = await service.add_matrix_item(
        session, settings, oid, service.MatrixInput("7991021", "oci", "0905010035", 10, 120), GESTOR
    )
    catalog_value = (await service.catalog.get_oci(session, "0905010035", settings)).value_brl
    assert oci.value_brl == Decimal(catalog_value) and oci.ivr is None  # the OCI's SIGTAP value (art. 10 I)
    with pytest.raises(ValidationFailed) as quantities:
        await service.add_matrix_item(
            session, settings, oid, service.MatrixInput("7991021", "oci", "0905010019", 10, 121), GESTOR
        )
    assert quantities.value.errors[0].field == "annual_qty"
    with pytest.raises(ValidationFailed) as not_unit:
        await service.add_matrix_item(
            session, settings, oid, service.MatrixInput("7990999", "oci", "0905010019", 1, 1), GESTOR
        )
    assert not_unit.value.errors[0].field == "cnes"
    with pytest.raises(ValidationFailed) as not_oci:
        await service.add_matrix_item(
            session, settings, oid, service.MatrixInput("7991021", "oci", "0405050372", 1, 1), GESTOR
        )
    assert not_oci.value.errors[0].code == "oci_desconhecida"
    with pytest.raises(Conflict):
        await service.add_matrix_item(
            session, settings, oid, service.MatrixInput("7991021", "oci", "0905010035", 1, 1), GESTOR
        )
    new = await service.change_matrix_item(
        session, settings, oid, surgery.id or 0, service.MatrixChange(100, 1200), GESTOR
    )
    assert new is not None and new.monthly_qty == 100 and new.value_brl == Decimal("1157.40")
    assert not surgery.active and surgery.replaced_by == new.id
    history = await repo.matrix_of(session, oid, active_only=False)
    assert len(history) == 3
    with pytest.raises(Conflict):
        await service.change_matrix_item(session, settings, oid, surgery.id or 0, service.MatrixChange(1, 1), GESTOR)
    # Art. 4 §2: a sublimit the matrix already passes is refused (1.200 × 1.157,40 > R$ 1.000.000).
    with pytest.raises(ValidationFailed) as sub:
        async with session.begin_nested():
            await service.change_matrix_item(
                session,
                settings,
                oid,
                new.id or 0,
                service.MatrixChange(100, 1200, sublimit_brl=Decimal("1000000")),
                GESTOR,
            )
    assert sub.value.errors[0].field == "sublimit_brl" and sub.value.code == "sublimite_excedido"
    detail = await service.operator_detail(session, oid, AUDITOR)
    assert detail.planned == Decimal("1157.40") * 100 + oci.value_brl * 10
    assert not detail.can_manage


async def test_money_and_annual_maximum(session: AsyncSession, settings: Settings) -> None:
    assert service.money("1.234,56", "v") == Decimal("1234.56")
    assert service.money("1234.5", "v") == Decimal("1234.5")
    for bad, code in (("12,345", "valor_centavos"), ("-1", "valor_fora_do_intervalo"), ("abc", "valor_invalido")):
        with pytest.raises(ValidationFailed) as exc:
            service.money(bad, "valor")
        assert exc.value.errors[0].code == code and exc.value.errors[0].field == "valor"
    op = await active_operator(session, settings, cnes="7991031")
    first = await service.set_annual_max(session, op.id or 0, 2027, Decimal("10"), "Ato 1", GESTOR)
    again = await service.set_annual_max(session, op.id or 0, 2027, Decimal("20"), "Ato 2", GESTOR)
    assert again is first and first.value_brl == Decimal("20")
    with pytest.raises(ValidationFailed):
        await service.set_annual_max(session, op.id or 0, 2024, Decimal("20"), None, GESTOR)
