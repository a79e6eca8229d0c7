"""People log in with a password, get a session cookie, and every form carries a CSRF token."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tests.conftest import Login

from regula.access.models import User
from regula.access.throttle import BASE_DELAY, FREE_FAILURES, MAX_DELAY, LoginThrottle
from regula.config import Settings

MakeUser = Callable[..., Awaitable[Login]]


async def _login(client: httpx.AsyncClient, login: Login) -> str:
    response = await client.post(
        "/login",
        data={"username": login.username, "password": login.password, "next": "/"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    home = await client.get("/")
    assert home.status_code == 200
    match = re.search(r'name="_csrf" value="([^"]+)"', home.text)
    assert match
    return match.group(1)


async def test_login_shows_home_and_logout_ends_session(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    nav = await make_user("navegador", "uf:SC")
    csrf = await _login(client, nav)
    home = await client.get("/")
    assert "Navegador do cuidado" in home.text and "uf:SC" in home.text
    out = await client.post("/logout", data={"_csrf": csrf}, follow_redirects=False)
    assert out.status_code == 303
    again = await client.get("/", follow_redirects=False)
    assert again.status_code in (302, 303) and again.headers["location"] == "/login"


async def test_wrong_password_says_so_in_portuguese(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    nav = await make_user("navegador", "uf:SC")
    response = await client.post("/login", data={"username": nav.username, "password": "errada-errada"})
    assert response.status_code == 401
    assert "Usuário ou senha incorretos" in response.text


def _client_at(app: Any, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 50000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver.local")


async def test_wrong_passwords_slow_down_that_address_only(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession, make_user: MakeUser
) -> None:
    from regula.web.app import create_app

    nav = await make_user("navegador", "uf:SC")
    app = create_app(settings, sessionmaker)
    async with _client_at(app, "203.0.113.66") as attacker, _client_at(app, "198.51.100.20") as owner:
        statuses = [
            (await attacker.post("/login", data={"username": nav.username, "password": "errada-errada"})).status_code
            for _ in range(FREE_FAILURES + 2)
        ]
        # The free failures are plain 401s; the next one waits (backoff), and so does the right password from there.
        assert statuses[:FREE_FAILURES] == [401] * FREE_FAILURES and statuses[-1] == 429
        slowed = await attacker.post("/login", data={"username": nav.username, "password": nav.password})
        assert slowed.status_code == 429 and "Aguarde" in slowed.text and int(slowed.headers["retry-after"]) >= 1
        # Nobody can lock another person out: the owner, from their own address, logs in at once.
        ok = await owner.post("/login", data={"username": nav.username, "password": nav.password})
        assert ok.status_code == 303
    user = await session.get(User, nav.user_id)
    assert user is not None and user.is_active and user.locked_until is None
    actions = (
        await session.execute(
            text("SELECT action, ip FROM audit_event WHERE action LIKE 'login%' AND reason LIKE :u ORDER BY id"),
            {"u": f"%{nav.username}"},
        )
    ).all()
    assert ("login_failed", "203.0.113.66") in actions and ("login_throttled", "203.0.113.66") in actions


def test_throttle_backs_off_exponentially_and_forgives_success() -> None:
    now = [0.0]
    throttle = LoginThrottle(clock=lambda: now[0])
    delays = [throttle.failed("ana", "1.2.3.4") for _ in range(FREE_FAILURES + 12)]
    assert delays[:FREE_FAILURES] == [0.0] * FREE_FAILURES
    assert delays[FREE_FAILURES : FREE_FAILURES + 4] == [BASE_DELAY, BASE_DELAY * 2, BASE_DELAY * 4, BASE_DELAY * 8]
    assert delays[-1] == MAX_DELAY
    assert throttle.wait("ANA ", "1.2.3.4") == MAX_DELAY  # the same account, however typed
    assert throttle.wait("ana", "5.6.7.8") == 0.0  # another address is not affected
    assert throttle.wait("bia", "1.2.3.4") == 0.0  # nor another account from the same address
    now[0] += MAX_DELAY
    assert throttle.wait("ana", "1.2.3.4") == 0.0
    throttle.succeeded("ana", "1.2.3.4")
    assert throttle.failed("ana", "1.2.3.4") == 0.0  # a success starts the count over


async def test_password_change_ends_the_other_sessions(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], make_user: MakeUser
) -> None:
    from regula.web.app import create_app

    nav = await make_user("navegador", "uf:SC")
    app = create_app(settings, sessionmaker)
    async with _client_at(app, "198.51.100.1") as laptop, _client_at(app, "198.51.100.2") as phone:
        csrf = await _login(laptop, nav)
        await _login(phone, nav)
        changed = await laptop.post(
            "/senha",
            data={
                "_csrf": csrf,
                "current_password": nav.password,
                "new_password": "outra-senha-1",
                "confirm_password": "outra-senha-1",
            },
        )
        assert changed.status_code == 200 and "Senha alterada" in changed.text
        assert (await laptop.get("/", follow_redirects=False)).status_code == 200  # the session that changed it
        gone = await phone.get("/", follow_redirects=False)
        assert gone.status_code in (302, 303) and gone.headers["location"] == "/login"


async def test_form_post_without_csrf_is_refused(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    nav = await make_user("navegador", "uf:SC")
    await _login(client, nav)
    response = await client.post(
        "/senha",
        data={
            "current_password": nav.password,
            "new_password": "outra-senha-1",
            "confirm_password": "outra-senha-1",
        },
    )
    assert response.status_code == 403


async def test_password_change_with_csrf(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    nav = await make_user("navegador", "uf:SC")
    csrf = await _login(client, nav)
    response = await client.post(
        "/senha",
        data={
            "_csrf": csrf,
            "current_password": nav.password,
            "new_password": "outra-senha-1",
            "confirm_password": "outra-senha-1",
        },
    )
    assert response.status_code == 200 and "Senha alterada" in response.text


async def test_login_never_redirects_off_site(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    nav = await make_user("navegador", "uf:SC")
    response = await client.post(
        "/login",
        data={"username": nav.username, "password": nav.password, "next": "https://evil.example/x"},
        follow_redirects=False,
    )
    assert response.headers["location"] == "/"
