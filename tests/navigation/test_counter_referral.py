"""The counter-referral back to APS (Portaria GM/MS 3.492/2024 art. 5 §2; art. 10 §1 IV and VI; decision 21): the
OCI's conclusion delivers it to the team that referred and to the citizen's registered team when different; the
teams see it on their worklist and acknowledge the reading (who, when, audited); unread after N days, the
navigators get a task; the API and its refusals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from regula.access.policy import Jurisdiction
from regula.audit.models import AuditEvent
from regula.config import Settings
from regula.core.errors import NotFound
from regula.navigation import care_loop as service
from regula.navigation import counter_referral_repository as repository
from regula.navigation import jobs as navigation_jobs
from regula.navigation.models import CounterReferral, NavigationTask
from regula.people.models import Citizen
from regula.production import execution
from regula.waitlist import service as wl
from tests.conftest import Login
from tests.production.conftest import APS_CNES, EXECUTANTE, NAVEGADOR, MakeEntry, make_entry, procedure

__all__ = ["make_entry"]  # the fixture, used by name

CONSULTA = "0301010072"
ECG = "0211020036"
REGISTERED_CNES = "2691000"
RETURN = {
    "aps_summary": "ECG com sobrecarga ventricular esquerda; consulta com cardiologista: hipertensão mal controlada.",
    "counter_referral": "Ajustar anti-hipertensivo na UBS, MAPA em 6 meses; retorno ao cardiologista se angina.",
}
APS_SC = wl.Actor("ubs.centro", "solicitante", user_id=None, jurisdiction=Jurisdiction.parse("municipality:4205407"))
APS_CNES_USER = wl.Actor("ubs.cnes", "solicitante", jurisdiction=Jurisdiction.parse(f"cnes:{REGISTERED_CNES}"))
APS_PR = wl.Actor("ubs.curitiba", "solicitante", jurisdiction=Jurisdiction.parse("uf:PR"))


async def conclude_cardiology(
    session: AsyncSession, settings: Settings, make_entry: MakeEntry, *, registered: str | None = None
) -> int:
    care = await make_entry("0902010026")
    entry_id = care.entry.id or 0
    if registered is not None:
        citizen = await session.get(Citizen, care.entry.citizen_id)
        assert citizen is not None
        citizen.aps_cnes = registered
        await session.flush()
    await execution.record_procedure(session, settings, entry_id, procedure(ECG, 5, cbo="225120"), NAVEGADOR)
    await execution.record_procedure(session, settings, entry_id, procedure(CONSULTA, 2), NAVEGADOR)
    await execution.conclude(session, settings, entry_id, EXECUTANTE, **RETURN)
    return entry_id


async def delivered(session: AsyncSession, entry_id: int) -> list[CounterReferral]:
    stmt = select(CounterReferral).where(col(CounterReferral.entry_id) == entry_id).order_by(col(CounterReferral.id))
    return list((await session.execute(stmt)).scalars().all())


async def test_conclusion_delivers_to_the_referring_team_only_when_it_is_the_registered_one(
    session: AsyncSession, settings: Settings, make_entry: MakeEntry
) -> None:
    entry_id = await conclude_cardiology(session, settings, make_entry, registered=APS_CNES)
    rows = await delivered(session, entry_id)
    assert [(r.recipient_cnes, r.recipient) for r in rows] == [(APS_CNES, "solicitante")]
    assert (rows[0].findings, rows[0].conduct) == (RETURN["aps_summary"], RETURN["counter_referral"])
    assert rows[0].concluded_by == EXECUTANTE.username and rows[0].read_at is None


async def test_the_registered_team_receives_it_too_and_each_acknowledges(
    session: AsyncSession, settings: Settings, make_entry: MakeEntry
) -> None:
    entry_id = await conclude_cardiology(session, settings, make_entry, registered=REGISTERED_CNES)
    rows = await delivered(session, entry_id)
    assert [(r.recipient_cnes, r.recipient) for r in rows] == [
        (APS_CNES, "solicitante"),
        (REGISTERED_CNES, "vinculada"),
    ]
    # A user scoped to the registered establishment sees only its own delivery.
    mine = await repository.list_counter_referrals(session, APS_CNES_USER, repository.CounterReferralFilter())
    assert [r.counter_referral.id for r in mine] == [rows[1].id]
    with pytest.raises(NotFound):
        await service.counter_referral(session, rows[0].id or 0, APS_CNES_USER)
    # The municipality's APS user sees both, unread first.
    unread = repository.CounterReferralFilter(read=False)
    assert await repository.count_counter_referrals(session, APS_SC, unread) == 2
    when = datetime(2026, 12, 1, 14, 0, tzinfo=UTC)
    acked = await service.acknowledge_counter_referral(session, rows[0].id or 0, APS_SC, now=when)
    assert (acked.counter_referral.read_by, acked.counter_referral.read_at) == ("ubs.centro", when)
    again = await service.acknowledge_counter_referral(session, rows[0].id or 0, APS_SC, now=when + timedelta(days=1))
    assert again.counter_referral.read_at == when  # the first reading stands
    assert await repository.count_counter_referrals(session, APS_SC, unread) == 1
    read = await repository.list_counter_referrals(session, APS_SC, repository.CounterReferralFilter(read=True))
    assert [r.counter_referral.id for r in read] == [rows[0].id]
    updates = (
        (
            await session.execute(
                select(AuditEvent).where(
                    col(AuditEvent.entity_type) == "CounterReferral", col(AuditEvent.entity_id) == str(rows[0].id)
                )
            )
        )
        .scalars()
        .all()
    )
    assert "update" in {a.action for a in updates}
    # Another state's APS never reaches it.
    with pytest.raises(NotFound):
        await service.acknowledge_counter_referral(session, rows[1].id or 0, APS_PR)
    assert await repository.count_counter_referrals(session, APS_PR, repository.CounterReferralFilter()) == 0


async def test_unread_counter_referrals_go_to_the_navigators(
    session: AsyncSession, settings: Settings, make_entry: MakeEntry
) -> None:
    entry_id = await conclude_cardiology(session, settings, make_entry, registered=REGISTERED_CNES)
    rows = await delivered(session, entry_id)
    now = datetime.now(UTC)
    assert await navigation_jobs.counter_referral_unread(session, settings, now) == {"tasks_opened": 0}
    later = now + timedelta(days=settings.counter_referral_unread_days, minutes=1)
    assert await navigation_jobs.counter_referral_unread(session, settings, later) == {"tasks_opened": 1}
    assert await navigation_jobs.counter_referral_unread(session, settings, later) == {"tasks_opened": 0}
    task = (
        await session.execute(
            select(NavigationTask).where(
                col(NavigationTask.entry_id) == entry_id, col(NavigationTask.kind) == "contrarreferencia_nao_lida"
            )
        )
    ).scalar_one()
    assert task.status == "aberta" and APS_CNES in task.detail and REGISTERED_CNES in task.detail
    # One team reading is not enough; when both have read, the task closes itself.
    await service.acknowledge_counter_referral(session, rows[0].id or 0, APS_SC)
    await session.refresh(task)
    assert task.status == "aberta"
    await service.acknowledge_counter_referral(session, rows[1].id or 0, APS_SC)
    await session.refresh(task)
    assert (task.status, task.closed_by) == ("concluida", "sistema")


async def test_api_list_detail_and_read(
    session: AsyncSession,
    settings: Settings,
    make_entry: MakeEntry,
    client: httpx.AsyncClient,
    make_user: object,
) -> None:
    entry_id = await conclude_cardiology(session, settings, make_entry)
    await session.commit()
    aps: Login = await make_user("solicitante", "municipality:4205407")  # type: ignore[operator]
    nav: Login = await make_user("navegador", "uf:SC")  # type: ignore[operator]
    other: Login = await make_user("solicitante", "uf:PR")  # type: ignore[operator]
    listed = await client.get("/api/v1/counter-referrals", headers=aps.headers, params={"read": "nao_lidas"})
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert body["total"] == 1 and body["page"] == 1
    item = body["items"][0]
    assert (item["entry_id"], item["recipient_cnes"], item["read_at"]) == (entry_id, APS_CNES, None)
    assert item["conduct"] == RETURN["counter_referral"]
    assert (await client.get("/api/v1/counter-referrals", headers=other.headers)).json()["total"] == 0
    bad = await client.get("/api/v1/counter-referrals", headers=aps.headers, params={"read": "talvez"})
    assert bad.status_code == 422 and "read" in bad.text
    bad_order = await client.get("/api/v1/counter-referrals", headers=aps.headers, params={"order": "acaso"})
    assert bad_order.status_code == 422
    cid = item["id"]
    assert (await client.get(f"/api/v1/counter-referrals/{cid}", headers=other.headers)).status_code == 404
    assert (await client.post(f"/api/v1/counter-referrals/{cid}/read", headers=nav.headers)).status_code == 403
    assert (await client.post(f"/api/v1/counter-referrals/{cid}/read", headers=other.headers)).status_code == 404
    read = await client.post(f"/api/v1/counter-referrals/{cid}/read", headers=aps.headers)
    assert read.status_code == 200, read.text
    assert read.json()["read_by"] == aps.username and read.json()["read_at"]
    detail = await client.get(f"/api/v1/counter-referrals/{cid}", headers=nav.headers)
    assert detail.status_code == 200 and detail.json()["read_by"] == aps.username
    now_unread = await client.get("/api/v1/counter-referrals", headers=aps.headers, params={"read": "nao_lidas"})
    assert now_unread.json()["total"] == 0
