"""A small waitlist across two UFs, built through the services (the same rules as the API): citizens with CPF, an
indigenous citizen identified by CNS only, authorized, requested, booked and cancelled entries, two OCIs."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from regula.config import Settings
from regula.people.documents import generate_cns, generate_cpf
from regula.people.schemas import CitizenCreate
from regula.providers import service as providers
from regula.providers.schemas import EstablishmentIn, OfferIn, SlotIn
from regula.waitlist import service as wl
from regula.waitlist.schemas import ReferralCreate

FLORIANOPOLIS = "4205407"
SAO_JOSE = "4216602"
JOINVILLE = "4209102"
CURITIBA = "4106902"
OCI = "0902010026"  # OCI AVALIAÇÃO CARDIOLÓGICA (tM 60 days)
OTHER_OCI = "0905010043"  # OCI AVALIAÇÃO DE RETINOPATIA DIABÉTICA
PROVIDER_CNES = "7000001"
NAMES = ("Maria das Dores Silva", "João Pereira", "Jaci Guarani", "Ana Souza", "Rui Costa", "Pedro Ramos")


@dataclass
class Scenario:
    cpf: dict[str, str] = field(default_factory=dict)  # person → CPF
    cns: dict[str, str] = field(default_factory=dict)  # person → CNS
    ids: dict[str, int] = field(default_factory=dict)  # "person:oci" → entry id
    protocols: dict[str, str] = field(default_factory=dict)  # "person:oci" → protocol
    booking_starts_at: datetime | None = None


def _citizen(rng: random.Random, name: str, municipality: str, sex: str, born: str, **over: object) -> CitizenCreate:
    fields: dict[str, object] = {
        "name": name,
        "birth_date": datetime.fromisoformat(born).date(),
        "sex": sex,
        "race_color": "parda",
        "municipality_ibge": municipality,
        "cpf": generate_cpf(rng),
        "phone": "(48) 99988-7766",
        "contact_consent": True,
    }
    fields.update(over)
    return CitizenCreate(**fields)  # type: ignore[arg-type]


async def build(session: AsyncSession, settings: Settings, seed: int = 20261123) -> Scenario:
    rng = random.Random(seed)
    catalog = await wl.load_catalog(session, settings)
    scenario = Scenario()
    admin = wl.Actor("teste.exportacao", "admin")

    async def refer(person: str, citizen: CitizenCreate, oci: str, risk: str) -> int:
        data = ReferralCreate(
            cid_code=catalog.oci(oci).cids[0],
            risk_class=risk,
            risk_justification="Dor torácica aos esforços há três meses.",
            requesting_cnes="2691868",
            oci_code=oci,
            citizen=citizen,
        )
        entry = await wl.create_referral(session, data, admin, settings, catalog)
        assert entry.id is not None
        scenario.ids[f"{person}:{oci}"] = entry.id
        scenario.protocols[f"{person}:{oci}"] = entry.protocol
        if citizen.cpf:
            scenario.cpf[person] = citizen.cpf
        if citizen.cns:
            scenario.cns[person] = citizen.cns
        return entry.id

    async def move(entry_id: int, *targets: str, reason: str | None = None) -> None:
        for target in targets:
            await wl.transition(session, entry_id, target, admin, settings, reason_code=reason)

    maria = _citizen(rng, NAMES[0], FLORIANOPOLIS, "F", "1960-05-17")
    await move(await refer("maria", maria, OCI, "vermelho"), "em_analise", "autorizada")
    await move(await refer("maria", maria, OTHER_OCI, "verde"), "em_analise", "autorizada")
    joao = _citizen(rng, NAMES[1], SAO_JOSE, "M", "1975-02-01", race_color="branca")
    await move(await refer("joao", joao, OCI, "amarelo"), "em_analise", "autorizada")
    # Portaria SAES art. 11: an indigenous citizen without CPF, identified by the CNS.
    jaci = _citizen(rng, NAMES[2], JOINVILLE, "F", "1980-09-30", cpf=None, cns=generate_cns(rng), race_color="indigena")
    jaci_entry = await refer("jaci", jaci, OCI, "azul")
    await move(jaci_entry, "em_analise", "autorizada")
    await refer("ana", _citizen(rng, NAMES[3], FLORIANOPOLIS, "F", "1990-03-03"), OCI, "verde")
    rui = await refer("rui", _citizen(rng, NAMES[4], FLORIANOPOLIS, "M", "1950-12-12"), OCI, "amarelo")
    await move(rui, "cancelada", reason="desistencia")
    pedro = _citizen(rng, NAMES[5], CURITIBA, "M", "1970-07-07")
    await move(await refer("pedro", pedro, OCI, "amarelo"), "em_analise", "autorizada")

    # Jaci gets a place at a provider in São José.
    await providers.upsert_establishment(
        session,
        EstablishmentIn(
            cnes=PROVIDER_CNES, name="Policlínica Exportação", municipality_ibge=SAO_JOSE, kind="contratado"
        ),
    )
    await providers.set_offer(session, PROVIDER_CNES, OfferIn(oci_code=OCI), catalog.ocis.keys())
    day = (datetime.now(UTC) + timedelta(days=10)).date()
    starts_at = datetime.combine(day, time(12, 0), tzinfo=UTC)
    slot = await providers.add_slot(session, SlotIn(cnes=PROVIDER_CNES, oci_code=OCI, starts_at=starts_at), settings)
    assert slot.id is not None
    await providers.book(session, slot.id, jaci_entry)
    await move(jaci_entry, "agendada")
    scenario.booking_starts_at = starts_at
    await session.flush()
    return scenario
