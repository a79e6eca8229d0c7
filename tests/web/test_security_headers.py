"""Every response carries the security headers; pages run no inline script; /schema works offline; /metrics
needs its token; the access log shows the status the client got."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tests.conftest import Login, app_client
from tests.web.conftest import HTML, Browser

from regula.config import Settings

MakeUser = Callable[..., Awaitable[Login]]
TEMPLATES = Path(__file__).parents[2] / "src" / "regula" / "web" / "templates"


def _directives(response: httpx.Response) -> dict[str, str]:
    csp = response.headers["content-security-policy"]
    return {part.split()[0]: part.strip() for part in csp.split(";") if part.strip()}


def _assert_hardened(response: httpx.Response, *, no_store: bool = True) -> None:
    directives = _directives(response)
    assert directives["script-src"] == "script-src 'self'"  # no 'unsafe-inline', no 'unsafe-eval', no CDN
    assert directives["frame-ancestors"] == "frame-ancestors 'none'"
    assert directives["object-src"] == "object-src 'none'"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"
    assert response.headers["x-frame-options"] == "DENY"
    if no_store:
        assert response.headers["cache-control"] == "no-store"


async def test_pages_api_and_errors_carry_the_headers(
    client: httpx.AsyncClient, make_user: MakeUser, browser_for: Callable[[Login | None], Awaitable[Browser]]
) -> None:
    for path in ("/login", "/posicao"):
        page = await client.get(path, headers=HTML)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        _assert_hardened(page)
        assert "strict-transport-security" not in page.headers  # http base URL: no HSTS
    nav = await make_user("navegador", "uf:SC")
    browser = await browser_for(nav)
    home = await browser.get("/")
    assert home.status_code == 200
    _assert_hardened(home)
    api = await client.get("/api/v1/me", headers=nav.headers)
    assert api.status_code == 200
    _assert_hardened(api)
    # Answers built from an exception raised before any route ran (a denial in the authentication middleware, an
    # unknown path) carry them too.
    denied = await client.get("/api/v1/me")
    assert denied.status_code == 401
    _assert_hardened(denied)
    missing = await client.get("/nada-aqui", headers=HTML)
    assert missing.status_code == 404
    _assert_hardened(missing)
    # Static files may be cached; they hold nothing personal.
    static = await client.get("/static/regula.css")
    assert static.status_code == 200
    _assert_hardened(static, no_store=False)
    assert "no-store" not in static.headers.get("cache-control", "")


async def test_hsts_when_the_public_base_url_is_https(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    from regula.web.app import create_app

    secure = settings.model_copy(update={"public_base_url": "https://regula.example.gov.br"})
    async with app_client(create_app(secure, sessionmaker)) as c:
        response = await c.get("/login", headers=HTML)
    assert response.headers["strict-transport-security"].startswith("max-age=31536000")


def test_templates_have_no_inline_script() -> None:
    inline_script = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
    handler = re.compile(r"\son[a-z]+\s*=", re.IGNORECASE)
    offenders = []
    for template in TEMPLATES.rglob("*.html"):
        source = template.read_text(encoding="utf-8")
        if inline_script.search(source) or handler.search(source) or "javascript:" in source.lower():
            offenders.append(template.name)
    assert offenders == []
    assert len(list(TEMPLATES.rglob("*.html"))) > 10  # the walk found the templates


async def test_schema_page_loads_only_local_assets(client: httpx.AsyncClient) -> None:
    page = await client.get("/schema", headers=HTML)
    assert page.status_code == 200
    _assert_hardened(page)
    assert not re.search(r"https?://", page.text)  # no CDN
    assert not re.search(r"<script(?![^>]*\bsrc=)", page.text)  # no inline script (the CSP would block it)
    assets = re.findall(r'(?:src|href)="(/[^"]+)"', page.text)
    assert "/static/swagger/swagger-ui-bundle.js" in assets and "/static/swagger/swagger-ui.css" in assets
    for asset in assets:
        assert (await client.get(asset)).status_code == 200, asset
    spec_url = re.search(r'data-spec-url="([^"]+)"', page.text)
    assert spec_url and (await client.get(spec_url.group(1))).json()["info"]["title"] == "regula"


async def test_metrics_need_the_token(settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    from regula.web.app import create_app

    async with app_client(create_app(settings, sessionmaker)) as c:
        assert (await c.get("/metrics")).status_code == 404  # no token configured: no /metrics at all
        assert (await c.get("/metrics", headers={"Authorization": "Bearer anything"})).status_code == 404
    token = "m" * 40
    with_token = settings.model_copy(update={"metrics_token": SecretStr(token)})
    async with app_client(create_app(with_token, sessionmaker)) as c:
        await c.get("/health")
        assert (await c.get("/metrics")).status_code == 401
        assert (await c.get("/metrics", headers={"Authorization": "Bearer wrong"})).status_code == 401
        ok = await c.get("/metrics", headers={"Authorization": f"Bearer {token}"})
        assert ok.status_code == 200 and "regula_requests_total" in ok.text


async def test_access_log_shows_the_status_the_client_got(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    def statuses(path: str) -> list[Any]:
        return [getattr(r, "status", None) for r in caplog.records if getattr(r, "path", None) == path]

    with caplog.at_level(logging.INFO, logger="regula.access_log"):
        denied = await client.get("/api/v1/me")  # raised by the authentication middleware
        for _ in range(11):
            limited = await client.get("/public/position", params={"protocol": "SC", "birth_date": "1960-05-17"})
    assert denied.status_code == 401 and "x-request-id" in denied.headers
    assert limited.status_code == 429
    assert statuses("/api/v1/me") == [401]
    assert statuses("/public/position")[-1] == 429
    assert 500 not in statuses("/public/position")
