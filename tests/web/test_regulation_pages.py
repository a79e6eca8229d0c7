"""The operator's pages: queues and entries limited to the jurisdiction, the score and tM clock shown, and the
decisions (authorize, return to APS with a pendência, deny with a reason) taken through forms."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from tests.conftest import Login
from tests.waitlist.test_waitlist_api import FLORIANOPOLIS, JOINVILLE, authorize, citizen_body, refer
from tests.web.conftest import Browser, field_error

from regula.people.documents import generate_cpf

MakeUser = Callable[..., Awaitable[Login]]
BrowserFor = Callable[[Login | None], Awaitable[Browser]]
pytestmark = pytest.mark.usefixtures("reference_data")
rng = random.Random(61)


def person(name: str, municipality: str = FLORIANOPOLIS) -> dict[str, Any]:
    return citizen_body(name=name, municipality_ibge=municipality) | {"cpf": generate_cpf(rng)}


async def status_of(session: AsyncSession, entry_id: int) -> str:
    return str(
        (await session.execute(text("SELECT status FROM waitlist_entry WHERE id = :i"), {"i": entry_id})).scalar()
    )


async def test_each_role_sees_its_navigation(make_user: MakeUser, browser_for: BrowserFor) -> None:
    expected = {
        "regulador": ["/regulacao/analise", "/regulacao/filas", "/regulacao/alocacoes", "/regulacao/agendas"],
        "solicitante": ["/aps", "/aps/encaminhar"],
        "gestor": ["/gestao", "/regulacao/filas", "/regulacao/alocacoes"],
        "navegador": ["/navegacao", "/regulacao/filas"],
    }
    for role, links in expected.items():
        page = await (
            await browser_for(await make_user(role, "uf:SC" if role != "solicitante" else "municipality:4205407"))
        ).get("/")
        assert page.status_code == 200
        nav = page.text.split('aria-label="Páginas do seu papel"')[1].split("</nav>")[0]
        for link in links:
            assert f'href="{link}"' in nav, (role, link)
    aps_nav = (await (await browser_for(await make_user("solicitante", "municipality:4205407"))).get("/")).text
    assert "/regulacao/filas" not in aps_nav.split("<main")[0]


async def test_pages_refuse_other_roles_and_ask_strangers_to_log_in(
    make_user: MakeUser, browser_for: BrowserFor
) -> None:
    aps = await browser_for(await make_user("solicitante", "municipality:4205407"))
    reg = await browser_for(await make_user("regulador", "uf:SC"))
    nav = await browser_for(await make_user("navegador", "uf:SC"))
    assert (await aps.get("/regulacao/filas")).status_code == 403
    assert (await aps.get("/regulacao/alocacoes")).status_code == 403
    assert (await reg.get("/aps")).status_code == 403
    assert (await reg.get("/gestao")).status_code == 403
    assert (await nav.get("/gestao/csv/fila-oci.csv")).status_code == 403
    denied = await nav.post("/regulacao/alocacoes", {"escopo": "uf:SC", "horizonte": "30"})
    assert denied.status_code == 403
    assert "Acesso negado" in denied.text
    anonymous = await browser_for(None)
    response = await anonymous.get("/regulacao/filas", follow_redirects=False)
    assert response.status_code in (302, 303, 307)
    assert response.headers["location"].startswith("/login")


async def test_lists_and_entries_stay_inside_the_jurisdiction(
    client: httpx.AsyncClient, make_user: MakeUser, browser_for: BrowserFor
) -> None:
    aps_floripa = await make_user("solicitante", f"municipality:{FLORIANOPOLIS}")
    aps_joinville = await make_user("solicitante", f"municipality:{JOINVILLE}")
    admin = await make_user("admin", "br")
    ours = await refer(client, aps_floripa, person("Joana Ilhoa"))
    theirs = await refer(client, aps_joinville, person("Pedro Norte", JOINVILLE))
    await authorize(client, admin, ours["id"])
    await authorize(client, admin, theirs["id"])
    reg = await browser_for(await make_user("regulador", "region:42007"))  # Grande Florianópolis

    queue = await reg.get("/regulacao/entradas")
    assert queue.status_code == 200
    assert ours["protocol"] in queue.text and "Joana Ilhoa" in queue.text
    assert theirs["protocol"] not in queue.text and "Pedro Norte" not in queue.text
    queues = await reg.get("/regulacao/filas")
    assert "0902010026" in queues.text and "Região Grande Florianópolis" in queues.text
    assert "Região Nordeste" not in queues.text
    found = await reg.get("/regulacao/entradas", params={"situacao": "todas", "busca": theirs["protocol"]})
    assert f'href="/regulacao/entradas/{theirs["id"]}"' not in found.text
    assert "Nenhuma solicitação com estes filtros." in found.text
    assert (await reg.get(f"/regulacao/entradas/{theirs['id']}")).status_code == 403
    assert (await reg.get(f"/regulacao/entradas/{ours['id']}")).status_code == 200


async def test_operator_decides_referrals_through_forms(
    client: httpx.AsyncClient, session: AsyncSession, make_user: MakeUser, browser_for: BrowserFor
) -> None:
    aps = await make_user("solicitante", f"municipality:{FLORIANOPOLIS}")
    first = await refer(client, aps, person("Ana Autorizada"), risk="vermelho")
    second = await refer(client, aps, person("Bruno Devolvido"))
    third = await refer(client, aps, person("Carla Negada"))
    reg = await browser_for(await make_user("regulador", "uf:SC"))

    review = await reg.get("/regulacao/analise")
    assert all(e["protocol"] in review.text for e in (first, second, third))
    detail = await reg.get(f"/regulacao/entradas/{first['id']}")
    assert "Decisão da regulação" in detail.text
    assert "Autorizar" in detail.text and "Devolver à APS" in detail.text and "Negar" in detail.text
    assert "Eletrocardiograma recente anexado" in detail.text  # the protocol checklist, in words

    done = await reg.post(f"/regulacao/entradas/{first['id']}/transicao", {"para": "autorizada"})
    assert done.status_code == 303
    assert done.headers["location"] == f"/regulacao/entradas/{first['id']}?feito=autorizada"
    assert await status_of(session, first["id"]) == "autorizada"
    shown = await reg.get(done.headers["location"])
    assert "a pessoa entrou na fila" in shown.text
    assert "1ª</strong> de 1" in shown.text  # position
    assert "Classe de risco" in shown.text and "Relógio tM" in shown.text and "0/60 dias" in shown.text
    assert f'href="/regulacao/entradas/{second["id"]}"' in shown.text  # the next referral waiting for a decision

    empty = await reg.post(f"/regulacao/entradas/{second['id']}/transicao", {"para": "devolvida", "motivo_texto": ""})
    assert empty.status_code == 422
    assert "Informe o motivo" in (field_error(empty.text, "devolvida") or "")
    assert await status_of(session, second["id"]) == "solicitada"  # nothing half-done: not even em_analise
    returned = await reg.post(
        f"/regulacao/entradas/{second['id']}/transicao",
        {"para": "devolvida", "motivo_texto": "Anexar o eletrocardiograma."},
    )
    assert returned.status_code == 303
    assert await status_of(session, second["id"]) == "devolvida"
    history = await reg.get(f"/regulacao/entradas/{second['id']}")
    assert "Anexar o eletrocardiograma." in history.text
    assert "Em análise → Devolvida à APS" in history.text

    denied = await reg.post(
        f"/regulacao/entradas/{third['id']}/transicao", {"para": "negada", "motivo_texto": "Fora do protocolo."}
    )
    assert denied.status_code == 303
    assert await status_of(session, third["id"]) == "negada"
    again = await reg.post(f"/regulacao/entradas/{third['id']}/transicao", {"para": "autorizada"})
    assert again.status_code == 409
    assert "situação é final" in again.text


async def test_forms_without_the_csrf_token_are_refused(
    client: httpx.AsyncClient, make_user: MakeUser, browser_for: BrowserFor
) -> None:
    aps = await make_user("solicitante", f"municipality:{FLORIANOPOLIS}")
    entry = await refer(client, aps, person("Dora Sem Token"))
    reg = await browser_for(await make_user("regulador", "uf:SC"))
    response = await reg.client.post(f"/regulacao/entradas/{entry['id']}/transicao", data={"para": "em_analise"})
    assert response.status_code == 403


async def test_filters_by_oci_status_and_risk(
    client: httpx.AsyncClient, make_user: MakeUser, browser_for: BrowserFor
) -> None:
    aps = await make_user("solicitante", f"municipality:{FLORIANOPOLIS}")
    admin = await make_user("admin", "br")
    red = await refer(client, aps, person("Rita Vermelha"), risk="vermelho")
    blue = await refer(client, aps, person("Beto Azul"), risk="azul")
    for e in (red, blue):
        await authorize(client, admin, e["id"])
    reg = await browser_for(await make_user("regulador", "uf:SC"))
    only_red = await reg.get("/regulacao/entradas", params={"risco": "vermelho", "oci": "0902010026"})
    assert red["protocol"] in only_red.text and blue["protocol"] not in only_red.text
    waiting_review = await reg.get("/regulacao/entradas", params={"situacao": "analise"})
    assert red["protocol"] not in waiting_review.text
    queue = await reg.get("/regulacao/entradas", params={"fila": red["queue"]})
    assert queue.text.index(red["protocol"]) < queue.text.index(blue["protocol"])  # queue order


async def test_opening_a_form_s_post_address_explains_itself_in_portuguese(
    make_user: MakeUser, browser_for: BrowserFor
) -> None:
    # Reloading a page after a form error leaves the browser on the POST address; the 405 said "Method Not Allowed".
    reg = await browser_for(await make_user("regulador", "uf:SC"))
    page = await reg.get("/regulacao/entradas/1/transicao")
    assert page.status_code == 405
    assert "Method Not Allowed" not in page.text
    assert "só recebe o envio de um formulário" in page.text


async def test_a_program_calling_a_route_with_the_wrong_method_is_told_which(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    reg = await make_user("regulador", "uf:SC")
    response = await client.delete("/api/v1/entries/1/transitions", headers=reg.headers)
    assert response.status_code == 405
    body = response.json()
    assert body["code"] == "metodo_nao_permitido" and "DELETE" in body["detail"]
    assert "formulário" not in body["detail"]
