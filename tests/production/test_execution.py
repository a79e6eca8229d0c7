"""Recording an OCI's procedures against its real SIGTAP 2026-01 composition; the conclusion rule (mandatory set
and PMAE rule), the tM clock from the first to the last procedure, the alerts, the return to APS."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from regula.audit.models import AuditEvent
from regula.config import Settings
from regula.core.errors import Conflict, PermissionDenied, ValidationFailed
from regula.navigation.models import NavigationTask
from regula.production import alerts, execution
from regula.production.models import OciProcedure
from regula.providers.models import SlotBooking
from regula.waitlist import service as wl
from tests.production.conftest import (
    EXECUTANTE,
    NAVEGADOR,
    PROVIDER_CNES,
    TODAY,
    MakeEntry,
    procedure,
)

CONSULTA = "0301010072"
TELECONSULTA = "0301010307"
MAMOGRAFIA = "0204030030"
ECG = "0211020036"

RETURN = {
    "aps_summary": "Mamografia BI-RADS 2 e consulta com mastologista: achado benigno.",
    "counter_referral": "Seguimento na UBS com rastreamento bienal; retorno se nódulo palpável.",
}


def _codes(exc: pytest.ExceptionInfo[ValidationFailed]) -> list[str]:
    return [e.code for e in exc.value.errors]


async def test_breast_cancer_oci_concludes_within_tm(
    session: AsyncSession, settings: Settings, make_entry: MakeEntry
) -> None:
    # 0901010014 AVALIAÇÃO DIAGNÓSTICA INICIAL DE CÂNCER DE MAMA: mamografia mandatory; PMAE: 2 secondaries, one a
    # consultation or teleconsultation; oncology, tM 30 days.
    care = await make_entry("0901010014")
    entry_id = care.entry.id or 0
    v = await execution.record_procedure(
        session, settings, entry_id, procedure(MAMOGRAFIA, 12, cbo="225320"), NAVEGADOR
    )
    assert v.execution is not None and v.execution.cnes == PROVIDER_CNES  # the booking's establishment
    assert [i.done for i in v.progress.mandatory] == [True]
    assert not v.progress.pmae_ok
    assert not v.progress.complete
    assert any("PMAE" in m for m in v.progress.missing)
    v = await execution.record_procedure(session, settings, entry_id, procedure(TELECONSULTA, 3), EXECUTANTE)
    assert v.progress.complete and v.progress.pmae_ok
    clock = v.progress.clock
    assert (clock.first_on, clock.last_on) == (
        v.execution and v.execution.first_on,
        v.execution and v.execution.last_on,
    )
    assert clock.max_days == 30
    assert clock.recommended_days == 15
    assert clock.elapsed_days == 12  # open: first procedure → today

    done = await execution.conclude(session, settings, entry_id, EXECUTANTE, **RETURN)
    assert done.entry.status == "concluida"
    assert done.execution is not None
    assert done.execution.status == "concluida"
    assert done.execution.span_days == 9  # first → last procedure
    assert done.execution.within_tm is True
    assert done.execution.aps_cnes == done.entry.requesting_cnes
    assert done.progress.clock.level == "ok"
    history = await wl.history(session, entry_id)
    assert history[-1].to_status == "concluida"
    assert "dentro do tM de 30 dias" in (history[-1].reason_text or "")
    booking = (await session.execute(select(SlotBooking).where(col(SlotBooking.entry_id) == entry_id))).scalar_one()
    assert booking.status == "realizada"
    # Every change is audited.
    audited = (
        await session.execute(
            select(col(AuditEvent.entity_type)).where(col(AuditEvent.entity_type).in_(("OciExecution", "OciProcedure")))
        )
    ).scalars()
    assert {"OciExecution", "OciProcedure"} <= set(audited)

    closed = await execution.close_navigation(
        session, settings, entry_id, NAVEGADOR, "Equipe da UBS avisada; consulta de retorno marcada na unidade."
    )
    assert closed.execution is not None and closed.execution.navigator_closed_by == NAVEGADOR.username
    with pytest.raises(Conflict) as again:
        await execution.close_navigation(session, settings, entry_id, NAVEGADOR, "De novo, já encerrada antes.")
    assert again.value.code == "navegacao_ja_encerrada"


async def test_unknown_procedure_is_refused_with_a_field_error(
    session: AsyncSession, settings: Settings, make_entry: MakeEntry
) -> None:
    care = await make_entry("0902010026")  # AVALIAÇÃO CARDIOLÓGICA
    with pytest.raises(ValidationFailed) as exc:
        await execution.record_procedure(
            session, settings, care.entry.id or 0, procedure("0204030030"), NAVEGADOR
        )  # a mammography is no part of it
    assert _codes(exc) == ["procedimento_fora_da_oci"]
    error = exc.value.errors[0]
    assert error.field == "procedure_code"
    assert "não faz parte da composição da OCI 0902010026" in error.message
    with pytest.raises(ValidationFailed) as exc:
        await execution.record_procedure(
            session,
            settings,
            care.entry.id or 0,
            execution.ProcedureInput("02110200", "31/02/2026", cbo="12", quantity=0, cid_code="ZZ"),
            NAVEGADOR,
        )
    assert set(_codes(exc)) == {
        "procedimento_formato",
        "data_invalida",
        "cbo_formato",
        "cid_formato",
        "quantidade_invalida",
    }
    with pytest.raises(ValidationFailed) as exc:
        await execution.record_procedure(session, settings, care.entry.id or 0, procedure(ECG, -2), NAVEGADOR)
    assert _codes(exc) == ["data_futura"]
    with pytest.raises(ValidationFailed) as exc:
        await execution.record_procedure(session, settings, care.entry.id or 0, procedure(ECG, 200), NAVEGADOR)
    assert _codes(exc) == ["data_anterior_a_autorizacao"]
    with pytest.raises(ValidationFailed) as exc:
        await execution.record_procedure(
            session, settings, care.entry.id or 0, procedure(ECG, cid_code="C50"), NAVEGADOR
        )
    assert _codes(exc) == ["cid_nao_aceito"]


async def test_above_allowed_quantity_is_flagged_not_refused(
    session: AsyncSession, settings: Settings, make_entry: MakeEntry
) -> None:
    care = await make_entry("0902010026")
    entry_id = care.entry.id or 0
    await execution.record_procedure(session, settings, entry_id, procedure(CONSULTA, 9), NAVEGADOR)
    v = await execution.record_procedure(session, settings, entry_id, procedure(CONSULTA, 5), NAVEGADOR)
    assert v.warnings == []
    v = await execution.record_procedure(session, settings, entry_id, procedure(CONSULTA, 1), NAVEGADOR)
    assert "o SIGTAP permite 2" in v.warnings[0]
    assert [p.above_quantity for p in v.procedures] == [False, False, True]
    assert [(o.code, o.done, o.allowed) for o in v.progress.over_quantity] == [(CONSULTA, 3, 2)]


async def test_oci_without_teleconsultation_refuses_it(
    session: AsyncSession, settings: Settings, make_entry: MakeEntry
) -> None:
    # 0901010120 (câncer de pele) accepts no teleconsultation: only the in-person consultation counts for PMAE.
    care = await make_entry("0901010120")
    entry_id = care.entry.id or 0
    with pytest.raises(ValidationFailed) as exc:
        await execution.record_procedure(session, settings, entry_id, procedure(TELECONSULTA, 2), NAVEGADOR)
    assert _codes(exc) == ["procedimento_fora_da_oci"]
    v = await execution.view(session, settings, entry_id, NAVEGADOR)
    assert [g.codes for g in v.progress.groups if g.source == "053"] == [
        ((CONSULTA, v.progress.groups[0].codes[0][1]),)
    ]


async def test_orthopedics_with_ct_requires_a_tomography(
    session: AsyncSession, settings: Settings, make_entry: MakeEntry
) -> None:
    # 0903010038: no mandatory procedure; attribute 056 asks for one of its tomography procedures (subgroup 0206).
    care = await make_entry("0903010038")
    entry_id = care.entry.id or 0
    v = await execution.view(session, settings, entry_id, NAVEGADOR)
    ct = next(g for g in v.progress.groups if g.source == "056")
    assert ct.codes and all(code.startswith("0206") for code, _ in ct.codes)
    non_ct = next(i.code for i in v.oci.optional if not i.code.startswith("0206"))
    await execution.record_procedure(session, settings, entry_id, procedure(CONSULTA, 6), NAVEGADOR)
    v = await execution.record_procedure(session, settings, entry_id, procedure(non_ct, 4, cbo="225320"), NAVEGADOR)
    assert v.progress.pmae_ok  # two secondaries, one a consultation
    assert not v.progress.complete  # but no tomography
    assert any("tomografia" in m for m in v.progress.missing)
    with pytest.raises(ValidationFailed) as exc:
        await execution.conclude(session, settings, entry_id, EXECUTANTE, **RETURN)
    assert exc.value.code == "oci_incompleta"
    assert all(e.field == "procedimentos" for e in exc.value.errors)
    v = await execution.record_procedure(
        session, settings, entry_id, procedure(ct.codes[0][0], 2, cbo="225320"), NAVEGADOR
    )
    assert v.progress.complete


async def test_orthopedics_with_mri_requires_a_resonance(
    session: AsyncSession, settings: Settings, make_entry: MakeEntry
) -> None:
    care = await make_entry("0903010046")
    entry_id = care.entry.id or 0
    await execution.record_procedure(session, settings, entry_id, procedure(CONSULTA, 6), NAVEGADOR)
    v = await execution.view(session, settings, entry_id, NAVEGADOR)
    mri = next(g for g in v.progress.groups if g.source == "057")
    assert all(code.startswith("0207") for code, _ in mri.codes)
    assert not v.progress.complete
    v = await execution.record_procedure(
        session, settings, entry_id, procedure(mri.codes[0][0], 1, cbo="225320"), NAVEGADOR
    )
    assert v.progress.complete  # the MRI is also the second secondary of the PMAE rule


async def test_pmae_needs_two_different_secondaries(
    session: AsyncSession, settings: Settings, make_entry: MakeEntry
) -> None:
    # 0903010011 has no mandatory procedure: the consultation alone (even twice) does not conclude it.
    care = await make_entry("0903010011")
    entry_id = care.entry.id or 0
    v = await execution.record_procedure(session, settings, entry_id, procedure(CONSULTA, 8, quantity=2), NAVEGADOR)
    assert v.progress.mandatory == ()
    assert v.progress.distinct_secondaries == 1
    assert not v.progress.complete
    exam = v.oci.optional[0].code
    v = await execution.record_procedure(session, settings, entry_id, procedure(exam, 2, cbo="225320"), NAVEGADOR)
    assert v.progress.complete


async def test_span_beyond_tm_is_recorded_at_conclusion(
    session: AsyncSession, settings: Settings, make_entry: MakeEntry
) -> None:
    care = await make_entry("0902010026", authorized_days_ago=100)  # tM 60
    entry_id = care.entry.id or 0
    await execution.record_procedure(session, settings, entry_id, procedure(ECG, 75, cbo="225120"), NAVEGADOR)
    v = await execution.record_procedure(session, settings, entry_id, procedure(CONSULTA, 1), NAVEGADOR)
    assert v.progress.clock.level == "vencido"
    assert v.progress.clock.within_tm is False
    done = await execution.conclude(session, settings, entry_id, EXECUTANTE, **RETURN)
    assert done.execution is not None
    assert (done.execution.span_days, done.execution.within_tm) == (74, False)
    assert "fora do tM de 60 dias" in ((await wl.history(session, entry_id))[-1].reason_text or "")


async def test_conclusion_follows_the_state_table_and_needs_the_return_to_aps(
    session: AsyncSession, settings: Settings, make_entry: MakeEntry
) -> None:
    care = await make_entry("0902010026")
    entry_id = care.entry.id or 0
    await execution.record_procedure(session, settings, entry_id, procedure(ECG, 3, cbo="225120"), NAVEGADOR)
    await execution.record_procedure(session, settings, entry_id, procedure(CONSULTA, 1), NAVEGADOR)
    # em_atendimento → concluida is the executante's (waitlist state table).
    with pytest.raises(PermissionDenied) as denied:
        await execution.conclude(session, settings, entry_id, NAVEGADOR, **RETURN)
    assert denied.value.code == "transicao_nao_permitida_ao_papel"
    with pytest.raises(ValidationFailed) as exc:
        await execution.conclude(session, settings, entry_id, EXECUTANTE, aps_summary="ok", counter_referral="")
    assert set(_codes(exc)) == {"resumo_obrigatorio", "contrarreferencia_obrigatoria"}
    done = await execution.conclude(session, settings, entry_id, EXECUTANTE, **RETURN)
    assert done.execution is not None and done.execution.counter_referral == RETURN["counter_referral"]
    with pytest.raises(Conflict) as again:
        await execution.record_procedure(session, settings, entry_id, procedure(CONSULTA, 0), NAVEGADOR)
    assert again.value.code == "entrada_fora_de_atendimento"


async def test_void_keeps_the_record_and_moves_the_clock(
    session: AsyncSession, settings: Settings, make_entry: MakeEntry
) -> None:
    care = await make_entry("0902010026")
    entry_id = care.entry.id or 0
    v = await execution.record_procedure(session, settings, entry_id, procedure(ECG, 40, cbo="225120"), NAVEGADOR)
    wrong = v.procedures[0].id or 0
    await execution.record_procedure(session, settings, entry_id, procedure(CONSULTA, 2), NAVEGADOR)
    with pytest.raises(ValidationFailed):
        await execution.void_procedure(session, settings, wrong, "", NAVEGADOR)
    v = await execution.void_procedure(session, settings, wrong, "Data digitada errada.", NAVEGADOR)
    assert v.execution is not None and v.execution.first_on == TODAY.fromordinal(TODAY.toordinal() - 2)
    kept = await session.get(OciProcedure, wrong)
    assert kept is not None and kept.status == "anulado" and kept.void_reason == "Data digitada errada."
    assert not v.progress.mandatory[0].done
    with pytest.raises(Conflict):
        await execution.void_procedure(session, settings, wrong, "De novo, por engano.", NAVEGADOR)


async def test_entry_not_in_care_and_jurisdiction(
    session: AsyncSession, settings: Settings, make_entry: MakeEntry
) -> None:
    care = await make_entry("0902010026")
    entry_id = care.entry.id or 0
    far = wl.Actor("nav.oeste", "navegador", jurisdiction=wl.Actor.system("x").jurisdiction.parse("region:42001"))
    with pytest.raises(PermissionDenied):
        await execution.record_procedure(session, settings, entry_id, procedure(ECG, 1), far)
    provider = wl.Actor("prestador", "executante", jurisdiction=far.jurisdiction.parse(f"cnes:{PROVIDER_CNES}"))
    v = await execution.record_procedure(session, settings, entry_id, procedure(ECG, 1, cbo="225120"), provider)
    assert v.procedures[0].recorded_by == "prestador"
    other = wl.Actor("outro", "executante", jurisdiction=far.jurisdiction.parse("cnes:7999999"))
    with pytest.raises(PermissionDenied):
        await execution.view(session, settings, entry_id, other)


async def test_alerts_at_tr_before_tm_and_past_tm(
    session: AsyncSession, settings: Settings, make_entry: MakeEntry
) -> None:
    care = await make_entry("0902010026", authorized_days_ago=100)  # tM 60, tR 30, warning from day 53
    entry_id = care.entry.id or 0
    await execution.record_procedure(session, settings, entry_id, procedure(ECG, 10, cbo="225120"), NAVEGADOR)

    async def tasks() -> list[NavigationTask]:
        stmt = select(NavigationTask).where(col(NavigationTask.entry_id) == entry_id).order_by(col(NavigationTask.id))
        return list((await session.execute(stmt)).scalars())

    assert await tasks() == []
    first = TODAY.fromordinal(TODAY.toordinal() - 10)
    day = first.fromordinal
    assert (await alerts.sweep_alerts(session, settings, today=day(first.toordinal() + 29)))["alerts"] == 0
    assert (await alerts.sweep_alerts(session, settings, today=day(first.toordinal() + 30)))["alerts"] == 1
    [task] = await tasks()
    assert task.status == "aberta" and "tempo recomendado (tR de 30 dias)" in task.detail
    assert (await alerts.sweep_alerts(session, settings, today=day(first.toordinal() + 31)))["alerts"] == 0
    assert (await alerts.sweep_alerts(session, settings, today=day(first.toordinal() + 54)))["alerts"] == 1
    tr_task, task = await tasks()  # the tM alert supersedes the tR one: one open alert per OCI
    assert (tr_task.kind, tr_task.status, task.kind, task.status) == ("oci_tr", "concluida", "oci_tm", "aberta")
    assert "faltam 6 dias para o tM de 60 dias" in task.detail
    assert (await alerts.sweep_alerts(session, settings, today=day(first.toordinal() + 61)))["alerts"] == 1
    _, task = await tasks()  # the open tM task is refreshed, not duplicated
    assert "passou do tempo máximo" in task.detail
    assert (await alerts.sweep_alerts(session, settings, today=day(first.toordinal() + 62)))["alerts"] == 0
    # Concluding closes the OCI's alert.
    await execution.record_procedure(session, settings, entry_id, procedure(CONSULTA, 0), NAVEGADOR)
    await execution.conclude(session, settings, entry_id, EXECUTANTE, **RETURN)
    _, task = await tasks()
    assert task.status == "concluida" and task.outcome == "OCI concluída"


async def test_list_in_care(session: AsyncSession, settings: Settings, make_entry: MakeEntry) -> None:
    care = await make_entry("0902010026")
    await execution.record_procedure(session, settings, care.entry.id or 0, procedure(ECG, 3, cbo="225120"), NAVEGADOR)
    rows = await execution.list_in_care(session, NAVEGADOR)
    row = next(r for r in rows if r.entry.id == care.entry.id)
    assert row.execution is not None and row.execution.first_on is not None
    provider = wl.Actor("p", "executante", jurisdiction=NAVEGADOR.jurisdiction.parse(f"cnes:{PROVIDER_CNES}"))
    assert care.entry.id in {r.entry.id for r in await execution.list_in_care(session, provider)}
    count = (await session.execute(text("SELECT count(*) FROM oci_execution"))).scalar_one()
    assert count >= 1
