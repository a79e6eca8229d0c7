"""The demonstration of the care loop with primary care (issue 16, decision 21), on the Santa Catarina demo data:

* referrals of Florianópolis residents waiting for teleconsultoria (Portaria GM/MS 3.492/2024 art. 10 §3 I) for the
  demo teleconsultor to answer — some of them past the response time, so the navigators get their tasks;
* counter-referrals of the latest OCIs concluded for Florianópolis residents, delivered to the demo APS user's UBS
  (ubs.centro) and, for some citizens registered with another UBS of the city, to that team too (art. 5 §2; art. 10
  §1 IV and VI) — a few already read, the others waiting, some long enough for the navigators' reminder.

Everything is derived from the demo's ``today`` (the ``Clock``) and the rows the generator wrote, in id order: the
same seed and day give the same data. Written in the demo loader's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from regula.catalog.schemas import OciSummary
from regula.config import Settings
from regula.demo.generation import DEMO_SOURCE, FLORIANOPOLIS, UBS_CENTRO, Clock, answered_checklist
from regula.navigation.care_loop import (
    issue_counter_referrals,
    open_late_teleconsultation_tasks,
    open_unread_counter_referral_tasks,
)
from regula.navigation.models import CounterReferral
from regula.people.models import Citizen
from regula.people.service import age_on
from regula.waitlist import service as wl
from regula.waitlist.models import EntryEvent, WaitlistEntry
from regula.waitlist.states import ACTIVE_STATUSES, EntryStatus

#: The OCI whose demo referrals wait for teleconsultoria: cardiology, the classic case of telecardiology.
GATED_OCI: Final = "0902010026"
#: Hours each demo referral has been waiting for the teleconsultor at the demo's moment (``Clock.now``; the default
#: response time is 72 h).
GATED_WAIT_HOURS: Final = (3, 9, 20, 30, 47, 80, 101, 130)
#: The UBS of Florianópolis the demo APS user refers from (the generator's fictitious CNES, "9" + IBGE-6), and a
#: second UBS of the city some citizens are registered with.
UBS_CENTRO_CNES: Final = "9420540"
UBS_SACO_GRANDE_CNES: Final = "9420541"
COUNTER_REFERRALS: Final = 10
READ_ONES: Final = 3  # the oldest few already read by the team

_FINDINGS: Final = (
    "Exames e consulta especializada realizados conforme a OCI; achados descritos no laudo anexo ao prontuário.",
    "Avaliação especializada concluída: sem sinais de gravidade; exames complementares dentro da normalidade.",
    "OCI concluída com alteração leve nos exames; diagnóstico confirmado pelo especialista.",
)
_CONDUCT: Final = (
    "Seguimento na UBS com consulta em 30 dias; manter a medicação e reencaminhar se houver piora.",
    "Acompanhamento anual pela equipe de saúde da família; orientado retorno à UBS se surgirem sintomas.",
    "Ajustar o tratamento na APS conforme o plano do especialista; reavaliação em 6 meses.",
)


@dataclass(frozen=True)
class CareLoopDemo:
    gated: int
    late_tasks: int
    counter_referrals: int
    unread_tasks: int


def _fits(oci: OciSummary, citizen: Citizen, today: date) -> bool:
    age_months = age_on(citizen.birth_date, today) * 12
    return (
        (oci.sex is None or oci.sex == citizen.sex)
        and (oci.age_min_months is None or age_months >= oci.age_min_months)
        and (oci.age_max_months is None or age_months <= oci.age_max_months)
    )


async def _gated_referrals(session: AsyncSession, settings: Settings, clock: Clock) -> int:
    catalog = await wl.load_catalog(session, settings)
    oci = catalog.ocis.get(GATED_OCI)
    if oci is None:
        return 0
    busy = select(col(WaitlistEntry.citizen_id)).where(
        col(WaitlistEntry.oci_code) == GATED_OCI, col(WaitlistEntry.status).in_([s.value for s in ACTIVE_STATUSES])
    )
    people = (
        (
            await session.execute(
                select(Citizen)
                .where(col(Citizen.municipality_ibge) == FLORIANOPOLIS, col(Citizen.id).not_in(busy))
                .order_by(col(Citizen.id))
                .limit(200)
            )
        )
        .scalars()
        .all()
    )
    chosen = [c for c in people if _fits(oci, c, clock.today)][: len(GATED_WAIT_HOURS)]
    taken = set(
        (
            await session.execute(
                select(col(WaitlistEntry.protocol)).where(col(WaitlistEntry.protocol).like(f"SC{clock.today:%y}99%"))
            )
        ).scalars()
    )
    scope_kind, scope_code = await wl.scope_for(session, FLORIANOPOLIS)
    # The referrals answer the OCI's protocol in force, as the APS team's form would (decision 0020).
    in_force = catalog.protocols[GATED_OCI]
    checklist = answered_checklist(in_force)
    made = 0
    for n, (citizen, hours) in enumerate(zip(chosen, GATED_WAIT_HOURS, strict=False), start=1):
        protocol = f"SC{clock.today:%y}99{n:06d}"
        if protocol in taken or citizen.id is None:
            continue
        since = clock.now - timedelta(hours=hours)
        entry = WaitlistEntry(
            protocol=protocol,
            citizen_id=citizen.id,
            oci_code=GATED_OCI,
            catalog_competencia=catalog.competencia,
            cid_code=oci.cids[0] if oci.cids else "Z000",
            risk_class=("verde", "amarelo", "azul")[n % 3],
            risk_justification="Dor torácica atípica e ECG com alteração inespecífica; dúvida sobre a necessidade "
            "de avaliação presencial do cardiologista.",
            checklist=dict(checklist),
            protocol_version=in_force.version,
            exams=list(in_force.required_exams) or None,
            requesting_cnes=UBS_CENTRO_CNES,
            municipality_ibge=citizen.municipality_ibge,
            uf=citizen.uf,
            scope_kind=scope_kind,
            scope_code=scope_code,
            status=EntryStatus.AGUARDANDO_TELECONSULTA.value,
            status_changed_at=since,
            external_source=DEMO_SOURCE,
            external_id=f"demo-{protocol}",
            requested_at=since,
            max_days=oci.max_days,
            created_by=UBS_CENTRO[0],
            created_at=since,
            updated_at=since,
        )
        session.add(entry)
        await session.flush()
        assert entry.id is not None
        session.add(
            EntryEvent(
                entry_id=entry.id,
                occurred_at=since,
                kind="created",
                to_status=EntryStatus.AGUARDANDO_TELECONSULTA.value,
                actor_username=UBS_CENTRO[0],
                actor_role=UBS_CENTRO[1],
            )
        )
        made += 1
    await session.flush()
    return made


async def _counter_referrals(session: AsyncSession, clock: Clock) -> int:
    rows = (
        await session.execute(
            select(WaitlistEntry, Citizen)
            .join(Citizen, col(Citizen.id) == col(WaitlistEntry.citizen_id))
            .where(
                col(WaitlistEntry.status) == EntryStatus.CONCLUIDA.value,
                col(WaitlistEntry.municipality_ibge) == FLORIANOPOLIS,
                col(WaitlistEntry.requesting_cnes) == UBS_CENTRO_CNES,
                ~select(col(CounterReferral.id)).where(col(CounterReferral.entry_id) == col(WaitlistEntry.id)).exists(),
            )
            .order_by(col(WaitlistEntry.status_changed_at).desc(), col(WaitlistEntry.id).desc())
            .limit(COUNTER_REFERRALS)
        )
    ).all()
    delivered: list[CounterReferral] = []
    for n, (entry, citizen) in enumerate(rows):
        if n % 3 == 1 and citizen.aps_cnes is None:
            citizen.aps_cnes = UBS_SACO_GRANDE_CNES  # registered with another UBS of the city: it receives it too
        delivered += await issue_counter_referrals(
            session,
            entry,
            citizen,
            findings=_FINDINGS[n % len(_FINDINGS)],
            conduct=_CONDUCT[n % len(_CONDUCT)],
            concluded_by="executante.demo",
            sent_at=entry.status_changed_at,
        )
    oldest_first = sorted(delivered, key=lambda x: (x.sent_at, x.id or 0))
    for x in oldest_first[:READ_ONES]:
        x.read_at = x.sent_at + timedelta(days=1)
        x.read_by = UBS_CENTRO[0]
    await session.flush()
    return len(delivered)


async def seed_care_loop(session: AsyncSession, settings: Settings, clock: Clock) -> CareLoopDemo:
    """Write the care-loop demonstration (see the module's docstring) and open the navigators' tasks the jobs
    process would open at the demo's moment (``Clock.now``)."""
    gated = await _gated_referrals(session, settings, clock)
    delivered = await _counter_referrals(session, clock)
    late = await open_late_teleconsultation_tasks(session, settings, clock.now)
    unread = await open_unread_counter_referral_tasks(
        session, clock.now - timedelta(days=settings.counter_referral_unread_days)
    )
    return CareLoopDemo(gated, late, delivered, unread)
