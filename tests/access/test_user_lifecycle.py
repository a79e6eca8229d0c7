"""Deactivating a user ends their sessions and revokes their tokens at once; only an administrator may do it,
through the API or ``regula users deactivate|activate``."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tests.conftest import Login, app_client

from regula.config import Settings

MakeUser = Callable[..., Awaitable[Login]]


async def test_admin_deactivates_and_reactivates_through_the_api(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    session: AsyncSession,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    from regula.web.app import create_app

    admin = await make_user("admin", "br")
    gestor = await make_user("gestor", "uf:SC")
    nav = await make_user("navegador", "uf:SC")
    browser = app_client(create_app(settings, sessionmaker))
    logged = await browser.post("/login", data={"username": nav.username, "password": nav.password})
    assert logged.status_code == 303
    assert (await browser.get("/", follow_redirects=False)).status_code == 200
    assert (await client.get("/api/v1/me", headers=nav.headers)).status_code == 200

    # Managers, the user themself and an administrator of another UF may not; an unknown user is a 404 naming
    # the field.
    admin_pr = await make_user("admin", "uf:PR")
    for who in (gestor, nav, admin_pr):
        denied = await client.post(f"/api/v1/users/{nav.username}/deactivate", headers=who.headers)
        assert denied.status_code == 403
    unknown = await client.post("/api/v1/users/ninguem.aqui/deactivate", headers=admin.headers)
    assert unknown.status_code == 404 and unknown.json()["errors"][0]["field"] == "username"
    myself = await client.post(f"/api/v1/users/{admin.username}/deactivate", headers=admin.headers)
    assert myself.status_code == 409 and myself.json()["code"] == "desativar_a_si_mesmo"

    done = await client.post(f"/api/v1/users/{nav.username}/deactivate", headers=admin.headers)
    assert done.status_code == 200 and done.json()["is_active"] is False
    assert (await client.get("/api/v1/me", headers=nav.headers)).status_code == 401
    gone = await browser.get("/", follow_redirects=False)
    assert gone.status_code in (302, 303) and gone.headers["location"] == "/login"
    await browser.aclose()
    revoked = await session.scalar(
        text("SELECT count(*) FROM api_token WHERE user_id = :u AND revoked_at IS NULL"), {"u": nav.user_id}
    )
    open_sessions = await session.scalar(
        text("SELECT count(*) FROM web_session WHERE user_id = :u AND revoked_at IS NULL"), {"u": nav.user_id}
    )
    assert revoked == 0 and open_sessions == 0
    login = await client.post("/login", data={"username": nav.username, "password": nav.password})
    assert login.status_code == 401

    again = await client.post(f"/api/v1/users/{nav.username}/activate", headers=admin.headers)
    assert again.status_code == 200 and again.json()["is_active"] is True
    # Back in with the password; the old token stays revoked.
    relogin = await client.post(
        "/login", data={"username": nav.username, "password": nav.password}, follow_redirects=False
    )
    assert relogin.status_code == 303
    assert (await client.get("/api/v1/me", headers=nav.headers)).status_code == 401
    audited = await session.scalar(
        text("SELECT count(*) FROM audit_event WHERE entity_type = 'User' AND entity_id = :u AND action = 'update'"),
        {"u": str(nav.user_id)},
    )
    assert audited is not None and audited >= 2


def _regula(url: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGULA_")}
    env |= {"REGULA_DATABASE_URL": url, "REGULA_LOG_JSON": "false"}
    return subprocess.run(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "regula.cli.main", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_cli_deactivates_and_activates(fresh_database_url: str) -> None:
    import asyncio

    from sqlalchemy.ext.asyncio import create_async_engine

    created = _regula(
        fresh_database_url,
        *("users", "create", "--username", "ana.cli", "--role", "auditor", "--jurisdiction", "br"),
        "--password-stdin",
        stdin="senha-forte-123\n",
    )
    assert created.returncode == 0, created.stderr
    token = _regula(fresh_database_url, "tokens", "create", "--username", "ana.cli")
    assert token.returncode == 0, token.stderr

    off = _regula(fresh_database_url, "users", "deactivate", "--username", "ana.cli")
    assert off.returncode == 0, off.stderr
    assert "desativado" in off.stderr

    async def state() -> tuple[Any, Any]:
        engine = create_async_engine(fresh_database_url)
        async with engine.connect() as conn:
            active = await conn.scalar(text("SELECT is_active FROM app_user WHERE username = 'ana.cli'"))
            live = await conn.scalar(text("SELECT count(*) FROM api_token WHERE revoked_at IS NULL"))
        await engine.dispose()
        return active, live

    assert asyncio.run(state()) == (False, 0)
    on = _regula(fresh_database_url, "users", "activate", "--username", "ana.cli")
    assert on.returncode == 0 and "reativado" in on.stderr
    assert asyncio.run(state()) == (True, 0)
    missing = _regula(fresh_database_url, "users", "deactivate", "--username", "ninguem")
    assert missing.returncode == 2 and "não encontrado" in missing.stderr and "Traceback" not in missing.stderr
