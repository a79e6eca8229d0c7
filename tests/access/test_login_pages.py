"""People log in with a password, get a session cookie, and every form carries a CSRF token."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

import httpx
from tests.conftest import Login

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


async def test_five_wrong_passwords_lock_the_account(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    nav = await make_user("navegador", "uf:SC")
    for _ in range(5):
        await client.post("/login", data={"username": nav.username, "password": "errada-errada"})
    response = await client.post("/login", data={"username": nav.username, "password": nav.password})
    assert response.status_code == 401
    assert "bloqueada" in response.text


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
