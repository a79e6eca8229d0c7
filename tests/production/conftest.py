"""Helpers of the production tests: entries brought to ``em_atendimento`` through the real workflow, on the shipped
SIGTAP 2026-01 catalog (the ``reference_data`` fixture)."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from regula.access.policy import Jurisdiction
from regula.audit.service import AuditContext, install, set_context
from regula.catalog.service import get_oci
from regula.config import Settings
from regula.people.documents import generate_cpf
from regula.people.schemas import CitizenCreate
from regula.production import execution
from regula.providers.models import AgendaSlot, Establishment
from regula.providers.service import book
from regula.waitlist import service as wl
from regula.waitlist.models import WaitlistEntry
from regula.waitlist.schemas import ReferralCreate

FLORIANOPOLIS = "4205407"
SAO_JOSE = "4216602"
PROVIDER_CNES = "7100001"
APS_CNES = "2691868"
rng = random.Random(71)
# The service counts days in the configured time zone (America/Sao_Paulo); so do the tests.
TODAY = datetime.now(ZoneInfo("America/Sao_Paulo")).date()

SC = Jurisdiction.parse("uf:SC")
APS = wl.Actor("ubs.teste", "solicitante", jurisdiction=SC)
REGULADOR = wl.Actor("regulador.teste", "regulador", jurisdiction=SC)
NAVEGADOR = wl.Actor("navegador.teste", "navegador", jurisdiction=SC)
EXECUTANTE = wl.Actor("executante.teste", "executante", jurisdiction=SC)
GESTOR = wl.Actor("gestor.teste", "gestor", jurisdiction=SC)


def cpf() -> str:
    return generate_cpf(rng)


@dataclass
class InCare:
    entry: WaitlistEntry
    cnes: str


MakeEntry = Callable[..., Awaitable[InCare]]


async def ensure_establishment(
    session: AsyncSession, cnes: str = PROVIDER_CNES, kind: str = "contratado", municipality: str = SAO_JOSE
) -> Establishment:
    est = await session.get(Establishment, cnes)
    if est is None:
        habs = ["3802"] if kind == "complementar_1" else []
        est = Establishment(
            cnes=cnes, name=f"Policlínica {cnes}", municipality_ibge=municipality, uf="SC", kind=kind, habilitacoes=habs
        )
        session.add(est)
        await session.flush()
    return est


@pytest.fixture
def make_entry(session: AsyncSession, settings: Settings, reference_data: None) -> MakeEntry:
    """An entry of ``oci`` in atendimento, booked at ``cnes``, authorized ``authorized_days_ago`` days ago."""
    install()  # the audit listener (the app installs it; these tests call the services directly)
    set_context(session, AuditContext.system("test", "tests/production"))

    async def _make(
        oci: str = "0902010026",
        *,
        cnes: str = PROVIDER_CNES,
        authorized_days_ago: int = 120,
        sex: str = "F",
        birth: date = date(1960, 5, 17),
        cpf_: str | None = None,
        kind: str = "contratado",
    ) -> InCare:
        detail = await get_oci(session, oci, settings)
        await ensure_establishment(session, cnes, kind)
        data = ReferralCreate(
            cid_code=detail.cids[0],
            risk_class="amarelo",
            risk_justification="Quadro clínico descrito pela equipe da APS.",
            requesting_cnes=APS_CNES,
            oci_code=oci,
            citizen=CitizenCreate(
                name="Maria das Dores Silva",
                birth_date=birth,
                sex=sex,
                race_color="parda",
                municipality_ibge=FLORIANOPOLIS,
                cpf=cpf_ or cpf(),
                phone="(48) 99988-7766",
                contact_consent=True,
            ),
        )
        entry = await wl.create_referral(session, data, APS, settings)
        assert entry.id is not None
        for target, actor in (("em_analise", REGULADOR), ("autorizada", REGULADOR)):
            await wl.transition(session, entry.id, target, actor, settings)
        slot = AgendaSlot(
            cnes=cnes,
            oci_code=oci,
            starts_at=datetime.now(UTC) - timedelta(hours=2),
            capacity=1,
        )
        session.add(slot)
        await session.flush()
        await book(session, slot.id or 0, entry.id)
        for target, actor in (("agendada", REGULADOR), ("confirmada", NAVEGADOR), ("em_atendimento", EXECUTANTE)):
            await wl.transition(session, entry.id, target, actor, settings)
        entry = await wl.get_entry(session, entry.id)
        entry.authorized_at = datetime.now(UTC) - timedelta(days=authorized_days_ago)
        await session.flush()
        return InCare(entry, cnes)

    return _make


def procedure(
    code: str, days_ago: int = 0, *, cbo: str = "225125", quantity: int = 1, **kw: str
) -> execution.ProcedureInput:
    return execution.ProcedureInput(
        procedure_code=code,
        performed_on=TODAY - timedelta(days=days_ago),
        cbo=cbo,
        quantity=quantity,
        cnes=kw.get("cnes"),
        cid_code=kw.get("cid_code"),
    )
