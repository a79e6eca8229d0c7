"""Operational endpoints and the deny-by-default rule."""

from __future__ import annotations

from typing import Any

import httpx
from litestar import get
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from tests.conftest import app_client

from regula.config import Settings
from regula.web.app import create_app


async def test_health_ok_when_database_at_head(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["migrations"] == "head"


async def test_health_ok_through_an_engines_pool(settings: Settings, connection_engine: AsyncEngine) -> None:
    """As ``regula serve`` runs it: the check takes an autocommit connection from the engine's pool."""
    from regula.db.engine import make_sessionmaker

    async with app_client(create_app(settings, make_sessionmaker(connection_engine))) as c:
        response = await c.get("/health")
    assert response.status_code == 200, response.text
    assert response.json()["migrations"] == "head"


async def test_health_503_when_database_unreachable(settings: Settings) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    dead = create_async_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    app = create_app(settings, async_sessionmaker(dead))
    async with app_client(app) as c:
        response = await c.get("/health")
    assert response.status_code == 503
    assert response.json()["status"] == "error"
    await dead.dispose()


async def test_openapi_is_served_and_metrics_hidden_without_token(client: httpx.AsyncClient) -> None:
    schema = await client.get("/schema/openapi.json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert "/api/v1/me" in paths and "/health" in paths
    # Without REGULA_METRICS_TOKEN there is no /metrics (tests/web/test_security_headers.py covers the token).
    assert (await client.get("/metrics")).status_code == 404


async def test_route_without_declared_roles_is_denied(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], make_user: Any
) -> None:
    @get("/api/v1/forgotten")
    async def forgotten() -> str:
        return "secret"

    admin = await make_user("admin", "br")
    app = create_app(settings, sessionmaker, extra_routes=[forgotten])
    async with app_client(app) as c:
        response = await c.get("/api/v1/forgotten", headers=admin.headers)
    assert response.status_code == 403
    assert response.json()["code"] == "rota_sem_politica"


def test_start_up_freezes_the_long_lived_objects(settings: Settings, sessionmaker: Any) -> None:
    """A server's lifespan start-up hands the app's objects to gc.freeze (no full-collection pause over them)."""
    import gc

    from litestar.testing import TestClient

    try:
        with TestClient(create_app(settings, sessionmaker)):
            assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
