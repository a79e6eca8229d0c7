"""Providers API: establishments and their offers (managers), agendas (providers, operators), quotas."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Controller, Request, get, post, put
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, FromQuery, JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from regula.access.policy import Role, allow
from regula.access.service import Principal
from regula.catalog.service import list_ocis
from regula.config import Settings
from regula.core.errors import PermissionDenied
from regula.inputs import MAX_IMPORT_BYTES
from regula.providers import repository as providers
from regula.providers import service
from regula.providers.models import AgendaSlot, Establishment
from regula.providers.schemas import (
    AgendaImportReport,
    EstablishmentIn,
    EstablishmentOut,
    OfferIn,
    QuotaIn,
    SlotIn,
    SlotOut,
)
from regula.territory.reference import territory


@dataclass
class AgendaUpload:
    """The multipart form of an agenda import: the CSV in the field ``data`` (a form without it is a 422 naming
    the field, not the error Litestar raises when asked for "the first file" of a form that has none)."""

    data: UploadFile


def _require_establishment(user: Principal, est: Establishment) -> None:
    place = territory().municipality(est.municipality_ibge)
    if not user.covers(place, est.cnes):
        raise PermissionDenied("Estabelecimento fora da sua jurisdição.", code="fora_da_jurisdicao")


async def _out(session: AsyncSession, est: Establishment) -> EstablishmentOut:
    offers = await service.offers_of(session, est.cnes)
    return EstablishmentOut(
        cnes=est.cnes,
        name=est.name,
        municipality_ibge=est.municipality_ibge,
        uf=est.uf,
        kind=est.kind,
        habilitacoes=list(est.habilitacoes),
        offers=[OfferIn(o.oci_code, o.age_min_years, o.age_max_years, o.sex, o.teleconsultation) for o in offers],
    )


def _slot_out(s: AgendaSlot) -> SlotOut:
    assert s.id is not None
    return SlotOut(s.id, s.cnes, s.oci_code, s.starts_at, s.modality, s.capacity, s.booked, s.status)


class ProvidersController(Controller):
    path = "/api/v1"
    tags = ["prestadores"]

    @post(
        "/establishments",
        summary="Cadastra ou atualiza um estabelecimento",
        opt=allow(Role.GESTOR),
        operation_id="upsertEstablishment",
    )
    async def upsert(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        data: JSONBody[EstablishmentIn],
    ) -> EstablishmentOut:
        est = await service.upsert_establishment(db_session, data, by=request.user)
        return await _out(db_session, est)

    @get(
        "/establishments",
        summary="Estabelecimentos executantes da jurisdição",
        opt=allow(*Role),
        operation_id="listEstablishments",
    )
    async def list_establishments(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        uf: FromQuery[str | None] = None,
    ) -> list[EstablishmentOut]:
        return [await _out(db_session, e) for e in await service.list_establishments(db_session, request.user, uf)]

    @put(
        "/establishments/{cnes:str}/offers",
        summary="Define as OCIs que um estabelecimento oferece",
        opt=allow(Role.GESTOR),
        operation_id="setOffer",
    )
    async def set_offer(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        cnes: FromPath[str],
        data: JSONBody[OfferIn],
    ) -> EstablishmentOut:
        est = await service.get_establishment(db_session, cnes)
        _require_establishment(request.user, est)
        known = [o.code for o in await list_ocis(db_session, settings)]
        await service.set_offer(db_session, cnes, data, known)
        return await _out(db_session, est)

    @post(
        "/slots",
        summary="Cadastra uma vaga na agenda de um estabelecimento",
        opt=allow(Role.EXECUTANTE, Role.REGULADOR, Role.GESTOR),
        operation_id="addSlot",
    )
    async def add_slot(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        data: JSONBody[SlotIn],
    ) -> SlotOut:
        _require_establishment(request.user, await service.get_establishment(db_session, data.cnes))
        return _slot_out(await service.add_slot(db_session, data, settings))

    @post(
        "/agendas/import",
        summary="Importação de agenda em lote (CSV)",
        opt=allow(Role.EXECUTANTE, Role.REGULADOR, Role.GESTOR),
        operation_id="importAgenda",
        request_max_body_size=MAX_IMPORT_BYTES,
    )
    async def import_agenda(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        data: Annotated[AgendaUpload, Body(media_type=RequestEncodingType.MULTI_PART)],
    ) -> AgendaImportReport:
        rows = service.parse_agenda_csv(await data.data.read())
        allowed = {e.cnes for e in await providers.readable_establishments(db_session, request.user)}
        return await service.import_agenda(db_session, rows, settings, allowed_cnes=allowed)

    @get("/slots", summary="Vagas das agendas", opt=allow(*Role), operation_id="listSlots")
    async def list_slots(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        oci: FromQuery[str | None] = None,
        cnes: FromQuery[str | None] = None,
    ) -> list[SlotOut]:
        return [_slot_out(s) for s in await service.list_slots(db_session, request.user, oci=oci, cnes=cnes)]

    @put(
        "/quotas",
        summary="Define a cota de vagas de um município em um estabelecimento, por OCI e período",
        opt=allow(Role.GESTOR),
        operation_id="setQuota",
    )
    async def set_quota(
        self, request: Request[Principal, Any, Any], db_session: NamedDependency[AsyncSession], data: JSONBody[QuotaIn]
    ) -> QuotaIn:
        if not request.user.covers(territory().municipality(data.municipality_ibge)):
            raise PermissionDenied("Município fora da sua jurisdição.", code="fora_da_jurisdicao")
        # A quota shares out the provider's places: whoever sets it must reach the provider too (PPI is agreed
        # between the municipality and the provider's manager, never by one side alone).
        _require_establishment(request.user, await service.get_establishment(db_session, data.cnes))
        await service.set_quota(db_session, data)
        return data


ROUTES = [ProvidersController]
