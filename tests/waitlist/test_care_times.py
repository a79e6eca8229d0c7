"""tR and tM per OCI (Portaria GM/MS 3.492/2024 art. 6 §2 III–IV, art. 10 §4 IV; decision 22): a manager's protocol
version with tM 30 for the cardiology OCI (the global default is 60) drives the entry's deadline, the 75% escalation,
the optimizer's deadline, the OCI execution's tR and tM, its alerts and the within-tM verdict; an entry authorized
before the version keeps the tM it was authorized with; another OCI keeps the default."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col
from tests.production.conftest import (
    APS,
    APS_CNES,
    EXECUTANTE,
    FLORIANOPOLIS,
    NAVEGADOR,
    REGULADOR,
    SC,
    TODAY,
    MakeEntry,
    cpf,
    make_entry,  # noqa: F401 - the fixture, used by name
    procedure,
)
from tests.waitlist.test_import_referrals import accepted_cid, catalog, csv_bytes, row, run_import  # noqa: F401

from regula.allocation import service as allocation
from regula.catalog import protocols
from regula.catalog.protocols import ProtocolDraft
from regula.catalog.service import get_oci, list_ocis
from regula.config import Settings
from regula.navigation.models import NavigationTask
from regula.people.schemas import CitizenCreate
from regula.production import alerts, execution
from regula.waitlist import measures
from regula.waitlist import service as wl
from regula.waitlist.jobs import flag_escalations
from regula.waitlist.models import WaitlistEntry
from regula.waitlist.schemas import ReferralCreate

CARDIOLOGY = "0902010026"  # default tM 60
OTHER = "0902010018"
ECG = "0211020036"
CONSULTA = "0301010072"
RETURN = {
    "aps_summary": "ECG e consulta com cardiologista: sem cardiopatia estrutural.",
    "counter_referral": "Seguimento na UBS; retorno se dor torácica.",
}


async def _new_times(
    session: AsyncSession, settings: Settings, oci: str, *, tm: int | None, tr: int | None, since: date
) -> None:
    """A manager's new version of ``oci``'s protocol: the one in force, with the given tR and tM."""
    current = await protocols.protocol_for(session, oci, since, settings)
    draft = ProtocolDraft(
        effective_from=since,
        reason="Tempos de referência pactuados na CIB para esta OCI.",
        checklist=current.checklist,
        required_exams=current.required_exams,
        accepted_cids=current.accepted_cids,
        priority_hints=current.priority_hints,
        teleconsultation_required=current.teleconsultation_required,
        tr_days=tr,
        tm_days=tm,
    )
    await protocols.new_version(session, oci, draft, username="gestora.teste", today=min(since, TODAY))
    await session.flush()


async def _authorized_days_ago(session: AsyncSession, entry: WaitlistEntry, days: int) -> None:
    entry.authorized_at = datetime.now(UTC) - timedelta(days=days)
    await session.flush()


@pytest.mark.usefixtures("reference_data")
async def test_the_defaults_are_the_global_settings(session: AsyncSession, settings: Settings) -> None:
    protocol = await protocols.protocol_for(session, CARDIOLOGY, TODAY, settings)
    times = protocols.care_times(protocol, settings)
    assert (times.tm_days, times.tr_days, times.source) == (settings.oci_max_days_default, 30, "padrao")
    assert (await get_oci(session, CARDIOLOGY, settings)).max_days == settings.oci_max_days_default


async def _waiting(session: AsyncSession, settings: Settings, oci: str) -> WaitlistEntry:
    """A referral of ``oci`` authorized now, through the real workflow."""
    detail = await get_oci(session, oci, settings)
    data = ReferralCreate(
        cid_code=detail.cids[0],
        risk_class="amarelo",
        risk_justification="Quadro clínico descrito pela equipe da APS.",
        requesting_cnes=APS_CNES,
        oci_code=oci,
        citizen=CitizenCreate(
            name="Joana Prazo Teste",
            birth_date=date(1958, 3, 2),
            sex="F",
            race_color="parda",
            municipality_ibge=FLORIANOPOLIS,
            cpf=cpf(),
            phone="(48) 99911-0000",
            contact_consent=True,
        ),
    )
    entry = await wl.create_referral(session, data, APS, settings)
    for target in ("em_analise", "autorizada"):
        await wl.transition(session, entry.id or 0, target, REGULADOR, settings)
    return await wl.get_entry(session, entry.id or 0)


async def test_tm_30_drives_deadline_escalation_and_optimizer(
    session: AsyncSession,
    settings: Settings,
    make_entry: MakeEntry,  # noqa: F811 - the fixture (audit context)
) -> None:
    await make_entry(OTHER)  # sets up the audit context and the provider the way the production tests do
    before = await _waiting(session, settings, CARDIOLOGY)  # authorized under the default: keeps 60
    assert before.max_days == 60
    before_id = before.id or 0
    await _new_times(session, settings, CARDIOLOGY, tm=30, tr=12, since=TODAY)
    assert (await get_oci(session, CARDIOLOGY, settings)).max_days == 30
    yesterday = {o.code: o.max_days for o in await list_ocis(session, settings, today=TODAY - timedelta(days=1))}
    assert yesterday[CARDIOLOGY] == 60  # the version is not in force before its effective date

    after_id = (await _waiting(session, settings, CARDIOLOGY)).id or 0
    other = await _waiting(session, settings, OTHER)
    before = await wl.get_entry(session, before_id)
    after = await wl.get_entry(session, after_id)
    assert (before.max_days, after.max_days, other.max_days) == (60, 30, 60)
    assert after.authorized_at is not None
    authorized_on = measures.local_date(after.authorized_at, settings.timezone)
    assert wl.tm_deadline(after, authorized_on, settings.timezone) == authorized_on + timedelta(days=30)

    # Waiting for 23 days: past 75% of 30 (22.5), far from 75% of 60 (45).
    for entry in (before, after):
        await _authorized_days_ago(session, entry, 23)
    await flag_escalations(session, settings, today=TODAY)
    rows = await session.execute(
        select(col(WaitlistEntry.id), col(WaitlistEntry.escalated_at)).where(
            col(WaitlistEntry.id).in_([before.id, after.id])
        )
    )
    flagged = {i: at for i, at in rows.all()}
    assert flagged[after.id] is not None and flagged[before.id] is None

    built = await allocation.build_instance(session, settings, SC)
    deadlines = {e.id: e.deadline for e in built.instance.entries}
    for entry, tm in ((before, 60), (after, 30)):
        fresh = await wl.get_entry(session, entry.id or 0)
        clock = measures.entry_clock(fresh, TODAY, settings.timezone)
        assert clock is not None and clock.max_days == tm
        assert deadlines[str(entry.id)] == clock.authorized_on + timedelta(days=tm + clock.paused)


async def test_tm_30_drives_the_execution_alerts_and_within_tm(
    session: AsyncSession,
    settings: Settings,
    make_entry: MakeEntry,  # noqa: F811
) -> None:
    # in force since before the entry's authorization (100 days ago), as a manager would have set it then
    await _new_times(session, settings, CARDIOLOGY, tm=30, tr=12, since=TODAY - timedelta(days=100))
    care = await make_entry(CARDIOLOGY, authorized_days_ago=100)
    entry_id = care.entry.id or 0
    view = await execution.record_procedure(session, settings, entry_id, procedure(ECG, 10, cbo="225120"), NAVEGADOR)
    assert view.execution is not None
    assert (view.execution.max_days, view.execution.recommended_days) == (30, 12)
    assert (view.progress.clock.max_days, view.progress.clock.recommended_days) == (30, 12)

    async def details() -> list[str]:
        stmt = select(NavigationTask).where(col(NavigationTask.entry_id) == entry_id).order_by(col(NavigationTask.id))
        return [t.detail for t in (await session.execute(stmt)).scalars()]

    first = TODAY - timedelta(days=10)
    assert (await alerts.sweep_alerts(session, settings, today=first + timedelta(days=11)))["alerts"] == 0
    assert (await alerts.sweep_alerts(session, settings, today=first + timedelta(days=12)))["alerts"] == 1
    assert "tR de 12 dias" in (await details())[-1]  # the default would have waited until day 30
    assert (await alerts.sweep_alerts(session, settings, today=first + timedelta(days=23)))["alerts"] == 1
    assert "faltam 7 dias para o tM de 30 dias" in (await details())[-1]

    # The verdict: 39 days from the first to the last procedure is over 30 (and would be within 60).
    late = await make_entry(CARDIOLOGY, authorized_days_ago=100)
    late_id = late.entry.id or 0
    await execution.record_procedure(session, settings, late_id, procedure(ECG, 40, cbo="225120"), NAVEGADOR)
    view = await execution.record_procedure(session, settings, late_id, procedure(CONSULTA, 1), NAVEGADOR)
    assert view.progress.clock.within_tm is False
    done = await execution.conclude(session, settings, late_id, EXECUTANTE, **RETURN)
    assert done.execution is not None
    assert (done.execution.span_days, done.execution.within_tm) == (39, False)
    assert "fora do tM de 30 dias" in ((await wl.history(session, late_id))[-1].reason_text or "")


async def test_a_version_from_tomorrow_leaves_todays_authorizations_alone(
    session: AsyncSession,
    settings: Settings,
    make_entry: MakeEntry,  # noqa: F811
) -> None:
    await _new_times(session, settings, CARDIOLOGY, tm=20, tr=None, since=TODAY + timedelta(days=1))
    entry = (await make_entry(CARDIOLOGY)).entry
    assert entry.max_days == 60
    tomorrow = await protocols.protocol_for(session, CARDIOLOGY, TODAY + timedelta(days=1), settings)
    assert protocols.care_times(tomorrow, settings).tm_days == 20
    assert protocols.care_times(tomorrow, settings).tr_days == 10  # half of its tM, by default


async def test_imported_entries_take_the_tm_in_force_on_their_authorization_day(
    session: AsyncSession,
    settings: Settings,
    catalog: wl.Catalog,  # noqa: F811 - the fixture imported above
) -> None:
    await _new_times(session, settings, CARDIOLOGY, tm=30, tr=None, since=date(2025, 6, 1))
    rows = [
        row(cid=accepted_cid(catalog), status="autorizada", data_autorizacao="2025-01-10"),  # before: 60
        row(cid=accepted_cid(catalog), status="autorizada", data_autorizacao="2025-07-01"),  # after: 30
        row(cid=accepted_cid(catalog)),  # not authorized yet: today's, 30
    ]
    report = await run_import(session, settings, csv_bytes(rows))
    assert report.imported == 3, report.errors
    found = dict(
        (
            await session.execute(
                select(col(WaitlistEntry.external_id), col(WaitlistEntry.max_days)).where(
                    col(WaitlistEntry.external_id).in_([r["id_externo"] for r in rows])
                )
            )
        ).all()
    )
    assert [found[r["id_externo"]] for r in rows] == [60, 30, 30]
    imported = (
        await session.execute(select(WaitlistEntry).where(col(WaitlistEntry.external_id) == rows[1]["id_externo"]))
    ).scalar_one()
    assert wl.tm_deadline(imported, TODAY, settings.timezone) == date(2025, 7, 31)
