"""Catalog API: the OCIs of a SIGTAP competência. Reference data, readable by every authenticated role."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import msgspec
from litestar import Controller, MediaType, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import PathParameter, QueryParameter
from litestar.serialization import default_serializer
from litestar.types import Serializer
from sqlalchemy.ext.asyncio import AsyncSession

from regula.access.actor import Actor
from regula.access.policy import Role, allow
from regula.catalog import protocols, service
from regula.catalog.schemas import OciDetail, OciSummary, ProtocolIn, ProtocolOut, ProtocolPage
from regula.config import Settings
from regula.core.clock import local_today
from regula.core.errors import NotFound

Competencia = Annotated[
    str | None,
    QueryParameter(
        name="competencia",
        description="Competência AAAAMM; sem ela, a mais recente importada",
        pattern=r"^\d{6}$",
        required=False,
    ),
]


class MoneyAsNumberResponse(Response[Any]):
    """JSON with ``Decimal`` values written as JSON numbers with their exact digits (``88.40``), as
    ``regula catalog list --json`` does, instead of Litestar's default of strings."""

    def render(self, content: Any, media_type: str, enc_hook: Serializer = default_serializer) -> bytes:
        if media_type == MediaType.JSON and not isinstance(content, bytes | str):
            return msgspec.json.Encoder(enc_hook=enc_hook, decimal_format="number").encode(content)
        return super().render(content, media_type, enc_hook)


class CatalogController(Controller):
    path = "/api/v1/catalog"
    tags = ["catálogo"]
    response_class = MoneyAsNumberResponse

    @get("/ocis", opt=allow(*Role), operation_id="listOcis", summary="OCIs de uma competência SIGTAP")
    async def list_ocis(
        self,
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        competencia: Competencia = None,
    ) -> list[OciSummary]:
        return await service.list_ocis(db_session, settings, competencia)

    @get("/ocis/{code:str}", opt=allow(*Role), operation_id="getOci", summary="Uma OCI com sua composição")
    async def get_oci(
        self,
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        code: Annotated[str, PathParameter(description="Código SIGTAP da OCI (10 dígitos)")],
        competencia: Competencia = None,
    ) -> OciDetail:
        return await service.get_oci(db_session, code, settings, competencia)


OciCode = Annotated[str, PathParameter(description="Código SIGTAP da OCI (10 dígitos)", pattern=r"^\d{10}$")]


class ProtocolController(Controller):
    """Referral protocols per OCI, versioned and effective from a date (Portaria 3.492/2024 art. 10 §1 III;
    decision 0020). Every role reads them (the APS team refers by them); a state (or national) manager writes a
    new version — a version is never changed."""

    path = "/api/v1/protocols"
    tags = ["protocolos"]

    @get("/", opt=allow(*Role), operation_id="listProtocols", summary="Versões dos protocolos de encaminhamento")
    async def list_protocols(
        self,
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        oci: Annotated[
            str | None, QueryParameter(pattern=r"^\d{10}$", required=False, description="Código da OCI (10 dígitos)")
        ] = None,
        vigentes: Annotated[
            bool, QueryParameter(description="Só a versão vigente hoje de cada OCI com protocolo gravado")
        ] = False,
        ordem: Annotated[str, QueryParameter(pattern="^(recentes|antigas)$")] = "recentes",
        offset: Annotated[int, QueryParameter(ge=0, le=1_000_000, description="Quantos itens pular (paginação)")] = 0,
        limit: Annotated[int, QueryParameter(ge=1, le=200, description="Número máximo de itens na resposta")] = 50,
    ) -> ProtocolPage:
        return await protocols.list_versions(
            db_session,
            settings,
            local_today(settings),
            oci_code=oci,
            in_force_only=vigentes,
            newest_first=ordem == "recentes",
            offset=offset,
            limit=limit,
        )

    @get("/{code:str}", opt=allow(*Role), operation_id="getProtocol", summary="O protocolo vigente de uma OCI")
    async def get_protocol(
        self,
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        code: OciCode,
        data_vigencia: Annotated[
            date | None, QueryParameter(description="Dia da vigência (padrão: hoje)", required=False)
        ] = None,
    ) -> ProtocolOut:
        on = data_vigencia or local_today(settings)
        return protocols.to_out(await protocols.protocol_for(db_session, code, on, settings), settings, in_force=True)

    @get(
        "/{code:str}/versions/{version:int}",
        opt=allow(*Role),
        operation_id="getProtocolVersion",
        summary="Uma versão do protocolo de uma OCI",
    )
    async def get_version(
        self,
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        code: OciCode,
        version: Annotated[int, PathParameter(ge=1, le=1_000_000, description="Número da versão do protocolo")],
    ) -> ProtocolOut:
        found = await protocols.protocol_version(db_session, code, version, settings)
        if found.version != version:
            raise NotFound(f"A OCI {code} não tem a versão {version} do protocolo.", code="versao_nao_encontrada")
        current = await protocols.protocol_for(db_session, code, local_today(settings), settings)
        return protocols.to_out(found, settings, in_force=current.version == version)

    @post(
        "/{code:str}/versions",
        opt=allow(Role.GESTOR),
        operation_id="createProtocolVersion",
        summary="Nova versão do protocolo de uma OCI (gestão estadual)",
    )
    async def create_version(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        code: OciCode,
        data: ProtocolIn,
    ) -> ProtocolOut:
        today = local_today(settings)
        written = await protocols.write_version(
            db_session, settings, Actor.of(request.user), code, protocols.draft_of(data), today
        )
        return protocols.to_out(written, settings, in_force=written.effective_from <= today)


ROUTES = [CatalogController, ProtocolController]
