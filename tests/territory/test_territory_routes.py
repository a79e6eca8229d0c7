"""Territory HTTP API, mounted on its own (the access guard is tested with the whole application)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient, create_test_client
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tests.conftest import app_client

from regula.access.policy import OPT_ROLES, Role
from regula.config import Settings
from regula.web.problems import EXCEPTION_HANDLERS
from regula.web.territory_api import ROUTES, TerritoryController


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:  # type: ignore[type-arg]
    with create_test_client(route_handlers=ROUTES, exception_handlers=EXCEPTION_HANDLERS) as c:
        yield c


def test_every_handler_admits_every_role() -> None:
    handlers = [
        getattr(TerritoryController, name)
        for name in ("list_municipalities", "get_municipality", "list_macro_regions", "list_health_regions")
    ]
    for handler in handlers:
        assert handler.opt[OPT_ROLES] == frozenset(Role)


def test_list_by_uf(client: TestClient) -> None:  # type: ignore[type-arg]
    response = client.get("/api/v1/territory/municipalities", params={"uf": "sc"})
    assert response.status_code == 200
    body = response.json()
    assert len(body) == 295
    floripa = next(m for m in body if m["ibge_code"] == "4205407")
    assert floripa["name"] == "Florianópolis"
    assert floripa["health_region_code"] == "42007"
    assert floripa["label"] == "Florianópolis/SC"


def test_list_all_and_search(client: TestClient) -> None:  # type: ignore[type-arg]
    assert len(client.get("/api/v1/territory/municipalities").json()) == 5570
    hits = client.get("/api/v1/territory/municipalities", params={"uf": "SC", "q": "joinvile"}).json()
    assert hits == []
    hits = client.get("/api/v1/territory/municipalities", params={"uf": "SC", "q": "JOINVILLE"}).json()
    assert [m["ibge_code"] for m in hits] == ["4209102"]


def test_unknown_uf_is_an_input_error(client: TestClient) -> None:  # type: ignore[type-arg]
    response = client.get("/api/v1/territory/municipalities", params={"uf": "XX"})
    assert response.status_code == 422
    assert response.json()["code"] == "uf_desconhecida"


@pytest.mark.parametrize("code", ["4205407", "420540"])
def test_get_by_seven_or_six_digits(client: TestClient, code: str) -> None:  # type: ignore[type-arg]
    response = client.get(f"/api/v1/territory/municipalities/{code}")
    assert response.status_code == 200
    assert response.json()["ibge_code"] == "4205407"


def test_get_unknown_is_not_found(client: TestClient) -> None:  # type: ignore[type-arg]
    response = client.get("/api/v1/territory/municipalities/9999996")
    assert response.status_code == 404
    body = response.json()
    assert body["code"] == "municipio_desconhecido"
    assert body["errors"][0]["field"] == "code"


def test_get_malformed_is_an_input_error(client: TestClient) -> None:  # type: ignore[type-arg]
    response = client.get("/api/v1/territory/municipalities/abc")
    assert response.status_code == 422
    assert response.json()["code"] == "municipio_formato"


def test_regions(client: TestClient) -> None:  # type: ignore[type-arg]
    regions = client.get("/api/v1/territory/health-regions", params={"uf": "SC"}).json()
    assert len(regions) == 17
    assert regions[0] == {"code": "42001", "name": "Extremo Oeste", "uf": "SC", "macro_code": "4213"}
    macros = client.get("/api/v1/territory/macro-regions", params={"uf": "SC"}).json()
    assert [m["code"] for m in macros] == ["4210", "4211", "4212", "4213", "4214", "4215", "4216"]
    assert len(client.get("/api/v1/territory/macro-regions").json()) == 118
    assert client.get("/api/v1/territory/health-regions", params={"uf": "ZZ"}).status_code == 422


async def test_through_the_application_guard(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], make_user: Any
) -> None:
    from regula.web.app import create_app

    user = await make_user("solicitante", "municipality:4205407")
    async with app_client(create_app(settings, sessionmaker)) as c:
        assert (await c.get("/api/v1/territory/municipalities/4205407")).status_code == 401
        response = await c.get("/api/v1/territory/municipalities/420910", headers=user.headers)
        assert response.status_code == 200  # reference data: not limited to the user's jurisdiction
        assert response.json()["name"] == "Joinville"
        missing = await c.get("/api/v1/territory/municipalities/9999996", headers=user.headers)
        assert missing.status_code == 404
        assert missing.json()["code"] == "municipio_desconhecido"
