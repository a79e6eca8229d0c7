"""Referral protocols as versioned data (Portaria 3.492/2024 art. 10 §1 III; decision 0020): the version in force on
a day, the starting protocol, tR/tM with the global defaults, the pure referral check and a manager's new version."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from regula.catalog import protocols
from regula.catalog.models import ReferralProtocol
from regula.catalog.protocols import ChecklistItem, Protocol, ProtocolDraft
from regula.config import Settings
from regula.core.errors import ValidationFailed

CARDIO = "0902010026"
ONCO = "0901010120"
TODAY = date(2026, 3, 10)


def _draft(**overrides: object) -> ProtocolDraft:
    values: dict[str, object] = {
        "effective_from": TODAY,
        "reason": "Revisão do protocolo pela câmara técnica",
        "checklist": (ChecklistItem("ecg_anexado", "ECG anexado", True), ChecklistItem("mapa", "MAPA feito", False)),
    }
    values.update(overrides)
    return ProtocolDraft(**values)  # type: ignore[arg-type]


def test_starting_protocol_is_the_subgroup_checklist_all_required() -> None:
    p = protocols.starting_protocol(CARDIO)
    assert p.version == 1 and p.stored
    assert [(i.key, i.required) for i in p.checklist] == [
        ("ecg_anexado", True),
        ("exames_laboratoriais_recentes", True),
    ]
    assert p.tr_days is None and p.tm_days is None and not p.teleconsultation_required
    other = protocols.starting_protocol("0999999999")
    assert [i.key for i in other.checklist] == ["protocolo_de_acesso_atendido"]
    default = protocols.default_protocol(CARDIO)
    assert default.version == 0 and not default.stored and default.checklist == ()
    assert protocols.check_referral(default, checklist={}, cid_code="Z136", exams=[]) == []
    # Labels of items of another version stay readable.
    assert default.label_of("ecg_anexado") == "Eletrocardiograma recente anexado"
    assert default.label_of("item_x") == "Item x"


def test_starting_protocol_keeps_the_deployment_teleconsultation_setting(settings: Settings) -> None:
    gated = settings.model_copy(update={"teleconsult_first_ocis": frozenset({CARDIO})})
    assert protocols.starting_protocol(CARDIO, gated).teleconsultation_required
    assert protocols.default_protocol(CARDIO, gated).teleconsultation_required
    assert not protocols.starting_protocol(ONCO, gated).teleconsultation_required


def test_care_times_default_and_per_oci(settings: Settings) -> None:
    start = protocols.starting_protocol(ONCO)
    assert protocols.care_times(start, settings) == protocols.CareTimes(
        tr_days=15, tm_days=settings.oci_max_days_oncology, source="padrao"
    )
    assert protocols.care_times(protocols.starting_protocol(CARDIO), settings).tm_days == 60
    own_tm = Protocol(**{**start.__dict__, "tm_days": 21})
    assert protocols.care_times(own_tm, settings) == protocols.CareTimes(11, 21, "protocolo")
    both = Protocol(**{**start.__dict__, "tm_days": 21, "tr_days": 7})
    assert protocols.care_times(both, settings) == protocols.CareTimes(7, 21, "protocolo")


def test_check_referral_names_the_first_missing_required_item() -> None:
    p = protocols.starting_protocol(CARDIO)
    errors = protocols.check_referral(p, checklist={}, cid_code="Z136", exams=[])
    assert [(e.field, e.code) for e in errors] == [("checklist.ecg_anexado", "protocolo_item_obrigatorio")]
    assert "Eletrocardiograma" in errors[0].message
    no = protocols.check_referral(
        p, checklist={"ecg_anexado": True, "exames_laboratoriais_recentes": False}, cid_code="Z136", exams=[]
    )
    assert [e.field for e in no] == ["checklist.exames_laboratoriais_recentes"]
    ok = protocols.check_referral(
        p, checklist={"ecg_anexado": True, "exames_laboratoriais_recentes": True}, cid_code="Z136", exams=[]
    )
    assert ok == []


def test_check_referral_optional_items_cids_and_exams() -> None:
    p = Protocol(
        oci_code=CARDIO,
        version=2,
        effective_from=TODAY,
        checklist=(ChecklistItem("ecg_anexado", "ECG", True), ChecklistItem("mapa", "MAPA", False)),
        required_exams=("Ecocardiograma",),
        accepted_cids=("I10", "Z136"),
        priority_hints=(),
        teleconsultation_required=False,
        tr_days=None,
        tm_days=None,
    )
    errors = protocols.check_referral(p, checklist={"ecg_anexado": True, "mapa": False}, cid_code="R07.4", exams=[])
    assert [(e.field, e.code) for e in errors] == [
        ("cid_code", "cid_fora_do_protocolo"),
        ("exams", "exame_obrigatorio"),
    ]
    assert "Ecocardiograma" in errors[1].message
    fine = protocols.check_referral(
        p, checklist={"ecg_anexado": True}, cid_code="i10.9", exams=["  ecocardiograma "], prefix="rows[2]."
    )
    assert fine == []
    prefixed = protocols.check_referral(p, checklist={}, cid_code="I10", exams=["Ecocardiograma"], prefix="r.")
    assert [e.field for e in prefixed] == ["r.checklist.ecg_anexado"]


def test_validate_draft_reports_every_rule() -> None:
    with pytest.raises(ValidationFailed) as caught:
        protocols.validate_draft(
            _draft(
                effective_from=date(2026, 3, 9),
                reason="curto",
                checklist=(ChecklistItem("Ruim!", "x", True), ChecklistItem("ok_1", "", True)),
                accepted_cids=("I1",),
                tr_days=40,
                tm_days=30,
            ),
            TODAY,
        )
    codes = {(e.field, e.code) for e in caught.value.errors}
    assert codes == {
        ("effective_from", "vigencia_no_passado"),
        ("reason", "motivo_curto"),
        ("checklist[0].key", "chave_invalida"),
        ("checklist[1].label", "obrigatorio"),
        ("accepted_cids[0]", "cid_formato"),
        ("tr_days", "tr_maior_que_tm"),
    }
    with pytest.raises(ValidationFailed) as repeated:
        protocols.validate_draft(
            _draft(checklist=(ChecklistItem("a_b", "x", True), ChecklistItem("a_b", "y", True))), TODAY
        )
    assert [e.code for e in repeated.value.errors] == ["chave_repetida"]
    clean = protocols.validate_draft(_draft(accepted_cids=(" i10 ", "Z13.6", "")), TODAY)
    assert clean.accepted_cids == ("I10", "Z136")


async def test_versions_in_force_by_day(session: AsyncSession, settings: Settings) -> None:
    # No stored version: the default protocol.
    assert (await protocols.protocol_for(session, CARDIO, TODAY)).version == 0
    v1 = await protocols.new_version(session, CARDIO, _draft(), username="gestora", today=TODAY)
    v2 = await protocols.new_version(
        session,
        CARDIO,
        _draft(effective_from=date(2026, 4, 1), tm_days=45, teleconsultation_required=True),
        username="gestora",
        today=TODAY,
    )
    assert (v1.version, v2.version) == (1, 2)
    before = await protocols.protocol_for(session, CARDIO, date(2026, 3, 9))
    assert before.version == 0
    now = await protocols.protocol_for(session, CARDIO, TODAY)
    assert now.version == 1 and [i.key for i in now.checklist] == ["ecg_anexado", "mapa"]
    assert now.created_by == "gestora" and now.reason.startswith("Revisão")
    later = await protocols.protocol_for(session, CARDIO, date(2026, 5, 1))
    assert later == v2 and later.teleconsultation_required and later.tm_days == 45
    assert protocols.care_times(later, settings) == protocols.CareTimes(23, 45, "protocolo")

    # A third version starting the same day as the second wins from that day on.
    v3 = await protocols.new_version(
        session, CARDIO, _draft(effective_from=date(2026, 4, 1)), username="gestor2", today=TODAY
    )
    everyone = await protocols.protocols_on(session, date(2026, 4, 1))
    assert everyone[CARDIO].version == v3.version == 3
    assert everyone[ONCO].version == 0  # no stored version: the default protocol on access
    assert set(everyone) == {CARDIO}
    march = await protocols.protocols_on(session, TODAY)
    assert march[CARDIO].version == 1


async def test_a_version_is_never_changed(session: AsyncSession) -> None:
    await protocols.new_version(session, CARDIO, _draft(), username="gestora", today=TODAY)
    with pytest.raises(DBAPIError, match="append-only"):
        async with session.begin_nested():
            await session.execute(
                text("UPDATE referral_protocol SET reason = 'outro' WHERE oci_code = :c"), {"c": CARDIO}
            )
    rows = await session.execute(text("SELECT count(*) FROM referral_protocol WHERE oci_code = :c"), {"c": CARDIO})
    assert rows.scalar_one() == 1
    assert ReferralProtocol.__tablename__ == "referral_protocol"


async def test_seed_starting_versions_once(session: AsyncSession, settings: Settings, reference_data: None) -> None:
    await protocols.new_version(session, CARDIO, _draft(), username="gestora", today=TODAY)
    stored = await protocols.seed_starting_versions(session, settings)
    codes = (await session.execute(text("SELECT count(DISTINCT code) FROM catalog_oci"))).scalar_one()
    assert stored == codes - 1  # CARDIO already had a version: left alone
    assert await protocols.seed_starting_versions(session, settings) == 0
    onco = await protocols.protocol_for(session, ONCO, TODAY)
    assert onco == protocols.starting_protocol(ONCO)
    assert onco.created_by == "regula" and onco.reason == protocols.STARTING_REASON
    assert (await protocols.protocol_for(session, CARDIO, TODAY)).created_by == "gestora"
    assert (await protocols.protocol_version(session, ONCO, 1)).checklist == onco.checklist
    assert (await protocols.protocol_version(session, ONCO, None)).version == 0
