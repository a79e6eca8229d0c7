"""A page whose address or method matches no route (404, 405) fails in routing, before the authentication
middleware runs; its error page still shows a signed-in person as signed in (their name, "Sair", their menu), an
anonymous one the "Entrar" link, and the status is unchanged."""

from __future__ import annotations

import httpx
import pytest
from tests.web.conftest import HTML
from tests.web.test_requester_pages import BrowserFor, MakeUser

pytestmark = pytest.mark.usefixtures("reference_data")

SIGNED_IN = 'aria-label="Conta"'
SIGNED_OUT = '<a href="/login">Entrar</a>'


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/pagina-que-nao-existe", 404),
        ("GET", "/regulacao/entradas/abc/def/ghi", 404),
        ("GET", "/logout", 405),  # a form's address, reloaded
    ],
)
async def test_a_routing_error_page_shows_who_is_signed_in(
    make_user: MakeUser, browser_for: BrowserFor, method: str, path: str, status: int
) -> None:
    login = await make_user("regulador", "uf:SC")
    name = login.username.title()  # the full name make_user gives
    person = await browser_for(login)
    page = await person.client.request(method, path, headers=HTML)
    assert page.status_code == status, page.text
    assert name in page.text and SIGNED_IN in page.text
    assert SIGNED_OUT not in page.text
    assert 'class="menu"' in page.text  # the role's pages, to go on from here

    anonymous = await browser_for(None)
    page = await anonymous.client.request(method, path, headers=HTML)
    assert page.status_code == status
    assert SIGNED_OUT in page.text and name not in page.text


async def test_a_stale_or_forged_cookie_gets_the_signed_out_page(browser_for: BrowserFor) -> None:
    anonymous = await browser_for(None)
    anonymous.client.cookies.set("regula_session", "nao-e-uma-sessao")
    page = await anonymous.client.get("/pagina-que-nao-existe", headers=HTML)
    assert page.status_code == 404
    assert SIGNED_OUT in page.text


async def test_an_api_routing_error_is_unchanged(client: httpx.AsyncClient) -> None:
    # /api answers problem JSON and resolves tokens, not cookies; an unknown address without a token stays a 401.
    response = await client.get("/api/v1/nao-existe")
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
