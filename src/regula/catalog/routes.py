"""Catalog API: the OCIs of a SIGTAP competência. Reference data, readable by every authenticated role."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, MediaType, Response, get
from litestar.di import NamedDependency
from litestar.params import PathParameter, QueryParameter
from litestar.serialization import default_serializer
from litestar.types import Serializer
from sqlalchemy.ext.asyncio import AsyncSession

from regula.access.policy import Role, allow
from regula.catalog import service
from regula.catalog.schemas import OciDetail, OciSummary
from regula.config import Settings

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


ROUTES = [CatalogController]
