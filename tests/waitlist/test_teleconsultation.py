"""The teleconsultoria step (Portaria GM/MS 3.492/2024 art. 10 §3 I; decision 21): a gated referral waits in
``aguardando_teleconsulta`` and only the teleconsultor's answer — resolved in APS, proceed, proceed with a suggested
risk class — moves it on; the answer is recorded; late ones become navigators' tasks; the API and its refusals."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from regula.access.policy import Jurisdiction
from regula.audit.models import AuditEvent
from regula.audit.service import AuditContext, install, set_context
from regula.catalog.service import get_oci
from regula.config import Settings
from regula.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from regula.navigation import jobs as navigation_jobs
from regula.navigation.models import NavigationTask
from regula.people.documents import generate_cpf
from regula.people.schemas import CitizenCreate
from regula.waitlist import service as wl
from regula.waitlist import teleconsultation as rules
from regula.waitlist import teleconsultation_repository as repo
from regula.waitlist import teleconsultation_service as tele
from regula.waitlist.models import EntryEvent, WaitlistEntry
from regula.waitlist.schemas import ReferralCreate
from regula.waitlist.states import EntryStatus, check_transition
from regula.waitlist.teleconsultation_models import TeleconsultationAnswer

OCI = "0902010026"  # OCI AVALIAÇÃO CARDIOLÓGICA
FLORIANOPOLIS = "4205407"
CURITIBA = "4106902"
SC = Jurisdiction.parse("uf:SC")
APS = wl.Actor("ubs.teste", "solicitante", jurisdiction=SC)
TELE = wl.Actor("tele.teste", "teleconsultor", user_id=None, jurisdiction=SC)
TELE_PR = wl.Actor("tele.pr", "teleconsultor", jurisdiction=Jurisdiction.parse("uf:PR"))
REGULADOR = wl.Actor("regulador.teste", "regulador", jurisdiction=SC)
rng = random.Random(1616)


def gated(settings: Settings) -> Settings:
    """Settings whose access protocol sends the cardiology OCI through teleconsultoria first."""
    return settings.model_copy(update={"teleconsult_first_ocis": frozenset({OCI})})


async def make_gated(
    session: AsyncSession,
    settings: Settings,
    *,
    municipality: str = FLORIANOPOLIS,
    birth: date = date(1958, 3, 2),
    name: str = "Ana Teleconsulta",
) -> WaitlistEntry:
    install()
    set_context(session, AuditContext.system("test", "tests/waitlist/test_teleconsultation"))
    detail = await get_oci(session, OCI, settings)
    data = ReferralCreate(
        cid_code=detail.cids[0],
        risk_class="verde",
        risk_justification="Dispneia aos esforços, ECG com alteração inespecífica.",
        requesting_cnes="2691868",
        oci_code=OCI,
        citizen=CitizenCreate(
            name=name,
            birth_date=birth,
            sex="F",
            race_color="parda",
            municipality_ibge=municipality,
            cpf=generate_cpf(rng),
            phone="(48) 99911-0000",
            contact_consent=True,
        ),
    )
    entry = await wl.create_referral(session, data, wl.Actor("admin.teste", "admin"), gated(settings))
    assert entry.status == EntryStatus.AGUARDANDO_TELECONSULTA.value
    return entry


# -- rules ------------------------------------------------------------------------------------------------------


def test_answers_are_checked_field_by_field() -> None:
    with pytest.raises(ValidationFailed) as info:
        rules.check_answer("talvez", None, None)
    assert [e.code for e in info.value.errors] == ["resposta_invalida"]
    assert info.value.errors[0].field == "outcome"
    # the message names the choices as the page shows them, not by their codes (found walking the demo)
    assert "Seguir para a regulação" in info.value.errors[0].message
    assert "_" not in info.value.errors[0].message
    with pytest.raises(ValidationFailed) as info:
        rules.check_answer("resolvido_na_aps", "curto", None)
    assert [(e.field, e.code) for e in info.value.errors] == [("guidance", "orientacao_obrigatoria")]
    with pytest.raises(ValidationFailed) as info:
        rules.check_answer("seguir_com_classe", None, None)
    assert [(e.field, e.code) for e in info.value.errors] == [("suggested_risk_class", "classe_sugerida_obrigatoria")]
    with pytest.raises(ValidationFailed) as info:
        rules.check_answer("seguir_com_classe", None, "roxo")
    assert [e.code for e in info.value.errors] == ["classe_de_risco_invalida"]
    with pytest.raises(ValidationFailed) as info:
        rules.check_answer("seguir_para_fila", None, "vermelho")
    assert [e.code for e in info.value.errors] == ["classe_sugerida_sem_efeito"]
    with pytest.raises(ValidationFailed) as info:
        rules.check_answer("seguir_para_fila", "x" * (rules.MAX_GUIDANCE + 1), None)
    assert [e.code for e in info.value.errors] == ["orientacao_longa"]


def test_each_answer_makes_its_move() -> None:
    resolved = rules.check_answer("resolvido_na_aps", "  Manter betabloqueador e repetir ECG em 3 meses.  ", None)
    assert (resolved.target, resolved.reason_code) == (EntryStatus.CANCELADA, "resolvido_na_aps")
    assert resolved.guidance == "Manter betabloqueador e repetir ECG em 3 meses."
    proceed = rules.check_answer("seguir_para_fila", "", None)
    assert (proceed.target, proceed.guidance, proceed.suggested_risk_class) == (EntryStatus.SOLICITADA, None, None)
    suggested = rules.check_answer("seguir_com_classe", None, " Amarelo ")
    assert (suggested.target, suggested.suggested_risk_class) == (EntryStatus.SOLICITADA, "amarelo")
    assert "amarelo" in suggested.reason_text
    long = rules.check_answer("resolvido_na_aps", "y" * rules.MAX_GUIDANCE, None)
    assert len(long.reason_text) <= 2000


def test_response_clock() -> None:
    since = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    assert rules.due_at(since, 72) == datetime(2026, 3, 5, 9, 0, tzinfo=UTC)
    assert not rules.is_late(since, datetime(2026, 3, 5, 9, 0, tzinfo=UTC), 72)
    assert rules.is_late(since, datetime(2026, 3, 5, 9, 1, tzinfo=UTC), 72)
    assert rules.hours_waiting(since, datetime(2026, 3, 3, 10, 30, tzinfo=UTC)) == 25
    assert rules.hours_waiting(since, since - timedelta(hours=1)) == 0


def test_only_the_teleconsultor_moves_a_gated_referral_on() -> None:
    waiting = EntryStatus.AGUARDANDO_TELECONSULTA
    for role in ("solicitante", "regulador", "navegador", "sistema", "executante", "gestor", "auditor"):
        with pytest.raises(PermissionDenied):
            check_transition(waiting, EntryStatus.SOLICITADA, role)
    assert check_transition(waiting, EntryStatus.SOLICITADA, "teleconsultor").target is EntryStatus.SOLICITADA
    # The teleconsultor closes a referral only as resolved in APS; the APS team may still withdraw it.
    with pytest.raises(PermissionDenied) as info:
        check_transition(waiting, EntryStatus.CANCELADA, "teleconsultor", "desistencia")
    assert info.value.code == "motivo_nao_permitido_ao_papel"
    check_transition(waiting, EntryStatus.CANCELADA, "teleconsultor", "resolvido_na_aps")
    check_transition(waiting, EntryStatus.CANCELADA, "solicitante", "desistencia")


# -- the service ------------------------------------------------------------------------------------------------


async def test_proceed_with_a_suggested_risk_class(
    session: AsyncSession, settings: Settings, reference_data: None
) -> None:
    entry = await make_gated(session, settings)
    entry_id = entry.id or 0
    # The APS team cannot forward it itself any more.
    with pytest.raises(PermissionDenied):
        await wl.transition(session, entry_id, "solicitada", APS, settings)
    v = await tele.answer(
        session, settings, entry_id, TELE, outcome="seguir_com_classe", suggested_risk_class="amarelo"
    )
    assert v.entry.status == "solicitada"
    assert v.entry.risk_class == "amarelo"
    row = (
        await session.execute(select(TeleconsultationAnswer).where(col(TeleconsultationAnswer.entry_id) == entry_id))
    ).scalar_one()
    assert (row.outcome, row.suggested_risk_class, row.previous_risk_class) == ("seguir_com_classe", "amarelo", "verde")
    assert row.answered_by == "tele.teste" and not row.late
    assert row.due_at == row.waiting_since + timedelta(hours=settings.teleconsultation_sla_hours)
    events = (
        (await session.execute(select(EntryEvent).where(col(EntryEvent.entry_id) == entry_id).order_by(EntryEvent.id)))
        .scalars()
        .all()
    )
    assert [(e.kind, e.to_status) for e in events] == [
        ("created", "aguardando_teleconsulta"),
        ("note", None),
        ("transition", "solicitada"),
    ]
    assert events[1].data == {"risk_class": {"from": "verde", "to": "amarelo"}}
    assert events[2].actor_role == "teleconsultor"
    # The answer was audited (the flush listener), and a second answer is refused.
    audited = (
        (
            await session.execute(
                select(AuditEvent).where(
                    col(AuditEvent.entity_type) == "TeleconsultationAnswer", col(AuditEvent.action) == "create"
                )
            )
        )
        .scalars()
        .all()
    )
    assert [a.entity_id for a in audited] == [str(row.id)]
    with pytest.raises(Conflict) as info:
        await tele.answer(session, settings, entry_id, TELE, outcome="seguir_para_fila")
    assert info.value.code == "teleconsulta_nao_pendente"
    # The regulator now sees a normal referral, and can authorize it: it enters the queue.
    moved = await wl.transition(session, entry_id, "autorizada", REGULADOR, settings)
    assert moved.status == "autorizada" and moved.risk_class == "amarelo"


async def test_resolved_in_aps_closes_the_referral_with_guidance(
    session: AsyncSession, settings: Settings, reference_data: None
) -> None:
    entry = await make_gated(session, settings)
    guidance = "Iniciar IECA, controlar pressão na UBS e reencaminhar se dor aos mínimos esforços."
    v = await tele.answer(session, settings, entry.id or 0, TELE, outcome="resolvido_na_aps", guidance=guidance)
    assert v.entry.status == "cancelada"
    assert v.answer is not None and v.answer.guidance == guidance
    last = (
        await session.execute(
            select(EntryEvent).where(col(EntryEvent.entry_id) == entry.id).order_by(col(EntryEvent.id).desc()).limit(1)
        )
    ).scalar_one()
    assert (last.to_status, last.reason_code) == ("cancelada", "resolvido_na_aps")
    assert guidance in (last.reason_text or "")
    # The APS team reads the answer on the referral.
    seen = await tele.view(session, settings, entry.id or 0, APS)
    assert seen.answer is not None and seen.answer.outcome == "resolvido_na_aps"


async def test_bad_answers_and_wrong_people_change_nothing(
    session: AsyncSession, settings: Settings, reference_data: None
) -> None:
    entry = await make_gated(session, settings)
    entry_id = entry.id or 0
    with pytest.raises(ValidationFailed) as info:
        await tele.answer(session, settings, entry_id, TELE, outcome="resolvido_na_aps", guidance="")
    assert info.value.errors[0].field == "guidance"
    with pytest.raises(PermissionDenied):
        await tele.answer(session, settings, entry_id, REGULADOR, outcome="seguir_para_fila")
    with pytest.raises(NotFound):
        await tele.answer(session, settings, entry_id, TELE_PR, outcome="seguir_para_fila")
    with pytest.raises(NotFound):
        await tele.view(session, settings, entry_id, TELE_PR)
    with pytest.raises(NotFound):
        await tele.answer(session, settings, 999_999_999, TELE, outcome="seguir_para_fila")
    fresh = await wl.get_entry(session, entry_id)
    assert (fresh.status, fresh.risk_class) == ("aguardando_teleconsulta", "verde")
    assert await repo.answer_of(session, entry_id) is None


async def test_worklist_is_scoped_filtered_sorted_and_paged(
    session: AsyncSession, settings: Settings, reference_data: None
) -> None:
    old = await make_gated(session, settings, birth=date(1940, 1, 1), name="Beatriz Idosa")
    young = await make_gated(session, settings, birth=date(1995, 6, 1), name="Carla Jovem")
    await make_gated(session, settings, municipality=CURITIBA, name="Dalva Paranaense")
    old.status_changed_at = datetime.now(UTC) - timedelta(hours=100)
    await session.flush()
    today = wl.local_today(settings)
    everything = repo.WorklistFilter(today=today)
    rows = await repo.list_waiting(session, TELE, everything)
    assert [r.entry.id for r in rows] == [old.id, young.id]  # SC only; the longest waiting first
    assert await repo.count_waiting(session, TELE, everything) == 2
    assert [r.entry.id for r in await repo.list_waiting(session, TELE, everything, order="recentes")] == [
        young.id,
        old.id,
    ]
    aged = repo.WorklistFilter(age_min=60, today=today)
    assert [r.entry.id for r in await repo.list_waiting(session, TELE, aged)] == [old.id]
    below = repo.WorklistFilter(age_max=40, today=today)
    assert [r.entry.id for r in await repo.list_waiting(session, TELE, below)] == [young.id]
    other_town = repo.WorklistFilter(municipality="4216602", today=today)
    assert await repo.count_waiting(session, TELE, other_town) == 0
    page_two = await repo.list_waiting(session, TELE, everything, offset=1, limit=1)
    assert [r.entry.id for r in page_two] == [young.id]
    assert await repo.waiting_ocis(session, TELE) == [(OCI, 2)]


async def test_late_teleconsultations_become_navigator_tasks(
    session: AsyncSession, settings: Settings, reference_data: None
) -> None:
    late = await make_gated(session, settings, name="Elza Atrasada")
    recent = await make_gated(session, settings, name="Fátima Recente")
    now = datetime.now(UTC)
    late.status_changed_at = now - timedelta(hours=settings.teleconsultation_sla_hours + 5)
    await session.flush()
    counts = await navigation_jobs.teleconsultation_escalation(session, settings, now)
    assert counts == {"tasks_opened": 1}
    assert await navigation_jobs.teleconsultation_escalation(session, settings, now) == {"tasks_opened": 0}
    tasks = (
        (await session.execute(select(NavigationTask).where(col(NavigationTask.kind) == "teleconsulta_atrasada")))
        .scalars()
        .all()
    )
    assert [(t.entry_id, t.status) for t in tasks] == [(late.id, "aberta")]
    assert late.protocol in tasks[0].detail
    assert recent.id not in {t.entry_id for t in tasks}
    # The (late) answer closes the task and is recorded as late.
    v = await tele.answer(session, settings, late.id or 0, TELE, outcome="seguir_para_fila")
    assert v.answer is not None and v.answer.late
    await session.refresh(tasks[0])
    assert tasks[0].status == "concluida"


async def test_no_path_but_the_answer_moves_a_gated_referral_on(
    session: AsyncSession, settings: Settings, reference_data: None
) -> None:
    # The generic transition (API route, entry page) cannot skip the recorded answer: not the teleconsultor, not
    # admin; the APS team may still withdraw its referral.
    entry = await make_gated(session, settings)
    entry_id = entry.id or 0
    admin = wl.Actor("admin.teste", "admin")
    for actor, target, reason in ((TELE, "solicitada", None), (admin, "solicitada", None)):
        with pytest.raises(Conflict) as info:
            await wl.transition(session, entry_id, target, actor, gated(settings), reason_code=reason)
        assert info.value.code == "teleconsulta_sem_resposta"
    with pytest.raises(Conflict):
        await wl.transition(session, entry_id, "cancelada", TELE, gated(settings), reason_code="resolvido_na_aps")
    assert (await wl.get_entry(session, entry_id)).status == "aguardando_teleconsulta"
    await tele.answer(session, settings, entry_id, TELE, outcome="seguir_para_fila")
    assert (await wl.get_entry(session, entry_id)).status == "solicitada"
    other = await make_gated(session, settings, name="Bruna Desistente")
    moved = await wl.transition(session, other.id or 0, "cancelada", APS, gated(settings), reason_code="desistencia")
    assert moved.status == "cancelada"
