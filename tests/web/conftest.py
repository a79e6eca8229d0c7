"""Pages as a browser without JavaScript sees them: a client per person, logged in with the session cookie, and the
CSRF token every form carries."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tests.conftest import Login, app_client

from regula.config import Settings

HTML = {"Accept": "text/html,application/xhtml+xml"}


@dataclass
class Browser:
    client: httpx.AsyncClient
    csrf: str

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.client.get(path, headers=HTML, **kwargs)

    async def post(self, path: str, data: dict[str, Any], **kwargs: Any) -> httpx.Response:
        """A form POST with the CSRF token (a list value sends the field once per item, like checkboxes)."""
        return await self.client.post(path, data={**data, "_csrf": self.csrf}, headers=HTML, **kwargs)


@pytest.fixture
def web_app(settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]) -> Any:
    from regula.web.app import create_app

    return create_app(settings, sessionmaker)


@pytest.fixture
async def browser_for(web_app: Any) -> AsyncIterator[Callable[[Login | None], Awaitable[Browser]]]:
    """A logged-in client for a user (or an anonymous one for ``None``)."""
    clients: list[httpx.AsyncClient] = []

    async def _open(login: Login | None) -> Browser:
        client = app_client(web_app)
        clients.append(client)
        if login is None:
            return Browser(client, "")
        response = await client.post(
            "/login", data={"username": login.username, "password": login.password, "next": "/"}, headers=HTML
        )
        assert response.status_code == 303, response.text
        home = await client.get("/", headers=HTML)
        match = re.search(r'name="_csrf" value="([^"]+)"', home.text)
        assert match, home.text
        return Browser(client, match.group(1))

    yield _open
    for c in clients:
        await c.aclose()


def field_error(html: str, field: str) -> str | None:
    """The message shown next to a form field (``<p class="erro-campo" id="erro-FIELD">``)."""
    match = re.search(rf'id="erro-{re.escape(field)}"[^>]*>([^<]+)<', html)
    return match.group(1).strip() if match else None
