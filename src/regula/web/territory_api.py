"""Territory API: municipalities and health regions from the in-memory reference (no database round trip).
Reference data, readable by every authenticated role."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, TypeVar

from litestar import Controller, get
from litestar.params import PathParameter, QueryParameter
from litestar.types import ControllerRouterHandler

from regula.access.policy import Role, allow
from regula.core.errors import NotFound, ValidationFailed
from regula.territory.reference import HealthRegion, MacroRegion, Municipality, territory


@dataclass(frozen=True, slots=True)
class MunicipalityOut:
    ibge_code: str
    ibge_code6: str
    name: str
    label: str  # "Florianópolis/SC"
    uf: str
    macro_code: str
    macro_name: str
    health_region_code: str | None
    health_region_name: str | None
    population: int
    latitude: float
    longitude: float

    @classmethod
    def of(cls, m: Municipality) -> MunicipalityOut:
        return cls(
            ibge_code=m.ibge_code,
            ibge_code6=m.ibge_code6,
            name=m.name,
            label=m.label,
            uf=m.uf,
            macro_code=m.macro_code,
            macro_name=m.macro_name,
            health_region_code=m.health_region_code,
            health_region_name=m.health_region_name,
            population=m.population,
            latitude=m.latitude,
            longitude=m.longitude,
        )


@dataclass(frozen=True, slots=True)
class MacroRegionOut:
    code: str
    name: str
    uf: str

    @classmethod
    def of(cls, m: MacroRegion) -> MacroRegionOut:
        return cls(code=m.code, name=m.name, uf=m.uf)


@dataclass(frozen=True, slots=True)
class HealthRegionOut:
    code: str
    name: str
    uf: str
    macro_code: str

    @classmethod
    def of(cls, r: HealthRegion) -> HealthRegionOut:
        return cls(code=r.code, name=r.name, uf=r.uf, macro_code=r.macro_code)


T = TypeVar("T")


def _checked(listing: Callable[[str | None], tuple[T, ...]], uf: str | None) -> tuple[T, ...]:
    """``listing(uf)``, refusing an unknown UF (422) instead of answering with an empty list."""
    return listing(territory().uf(uf).sigla if uf else None)


UfQuery = Annotated[
    str | None, QueryParameter(name="uf", description="Sigla da UF, como SC; sem ela, todo o país", required=False)
]
NameQuery = Annotated[
    str | None,
    QueryParameter(name="q", description="Parte do nome (sem diferenciar acentos nem maiúsculas)", required=False),
]
CodePath = Annotated[str, PathParameter(description="Código IBGE, 7 dígitos (4205407) ou 6 (420540)")]


class TerritoryController(Controller):
    path = "/api/v1/territory"
    tags = ["território"]

    @get(
        "/municipalities",
        opt=allow(*Role),
        operation_id="listMunicipalities",
        summary="Municípios, de uma UF ou de todo o país",
    )
    async def list_municipalities(
        self,
        uf: UfQuery = None,
        q: NameQuery = None,
    ) -> list[MunicipalityOut]:
        ref = territory()
        sigla = ref.uf(uf).sigla if uf else None  # an unknown UF is an input error, not an empty list
        found = ref.search(q, uf=sigla) if q else (ref.by_uf(sigla) if sigla else ref.municipalities)
        return [MunicipalityOut.of(m) for m in found]

    @get(
        "/municipalities/{code:str}",
        opt=allow(*Role),
        operation_id="getMunicipality",
        summary="Um município pelo código IBGE (7 ou 6 dígitos)",
    )
    async def get_municipality(self, code: CodePath) -> MunicipalityOut:
        try:
            return MunicipalityOut.of(territory().municipality(code, field="code"))
        except ValidationFailed as exc:
            # A well-formed code that names no municipality is a missing resource, not bad input.
            if exc.code != "municipio_desconhecido":
                raise
            raise NotFound(exc.message, code=exc.code, errors=exc.errors) from exc

    @get(
        "/macro-regions",
        opt=allow(*Role),
        operation_id="listMacroRegions",
        summary="Macrorregiões de saúde (divisão DATASUS 2020)",
    )
    async def list_macro_regions(self, uf: UfQuery = None) -> list[MacroRegionOut]:
        return [MacroRegionOut.of(m) for m in _checked(territory().macro_regions, uf)]

    @get(
        "/health-regions",
        opt=allow(*Role),
        operation_id="listHealthRegions",
        summary="Regiões de saúde (os dados incluem apenas as de Santa Catarina)",
    )
    async def list_health_regions(self, uf: UfQuery = None) -> list[HealthRegionOut]:
        return [HealthRegionOut.of(r) for r in _checked(territory().health_regions, uf)]


ROUTES: list[ControllerRouterHandler] = [TerritoryController]
