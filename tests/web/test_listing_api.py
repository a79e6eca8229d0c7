"""The API lists that show the same things as the pages take the same sort, filter and cursor parameters (issue 17
item 1, decision 23): ``GET /api/v1/navigation/tasks`` and ``GET /api/v1/messages`` keep their bodies (a list) and
carry the true total in ``X-Total-Count`` and the next cursor in ``X-Next-Cursor``; bad parameters are a 400 naming
them; the OpenAPI document describes them in Portuguese."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession
from tests.conftest import Login
from tests.waitlist.test_waitlist_api import authorize, citizen_body, refer
from tests.web.test_listing import FLORIANOPOLIS, JOINVILLE, PORTO_ALEGRE, _key, _tasks

from regula.territory.reference import territory

MakeUser = Callable[..., Awaitable[Login]]
pytestmark = pytest.mark.usefixtures("reference_data")
TASKS = "/api/v1/navigation/tasks"


async def test_task_api_pages_by_cursor_with_the_true_total(
    client: httpx.AsyncClient, session: AsyncSession, make_user: MakeUser
) -> None:
    tasks = await _tasks(session, {FLORIANOPOLIS: 23, JOINVILLE: 11, PORTO_ALEGRE: 5})
    await session.commit()
    nav = await make_user("navegador", "uf:SC")
    first = await client.get(TASKS, params={"limit": 10}, headers=nav.headers)
    assert first.status_code == 200 and len(first.json()) == 10
    assert first.headers["X-Total-Count"] == "34"
    seen = [t["id"] for t in first.json()]
    cursor = first.headers.get("X-Next-Cursor")
    while cursor:
        page = await client.get(TASKS, params={"limit": 10, "cursor": cursor}, headers=nav.headers)
        assert page.status_code == 200 and page.headers["X-Total-Count"] == "34"
        seen += [t["id"] for t in page.json()]
        cursor = page.headers.get("X-Next-Cursor")
    assert seen == [t.id for t in sorted((t for t in tasks if t.uf == "SC"), key=_key)]

    by_name = await client.get(TASKS, params={"sort": "cidadao", "direction": "desc"}, headers=nav.headers)
    names = [t["citizen_name"].upper() for t in by_name.json()]
    assert names == sorted(names, reverse=True)
    joinville = await client.get(TASKS, params={"municipality": JOINVILLE}, headers=nav.headers)
    assert joinville.headers["X-Total-Count"] == "11"
    assert {t["municipality_ibge"] for t in joinville.json()} == {JOINVILLE}
    outside = await client.get(TASKS, params={"municipality": PORTO_ALEGRE}, headers=nav.headers)
    assert outside.json() == [] and outside.headers["X-Total-Count"] == "0"


async def test_list_apis_name_the_bad_parameter(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    nav = await make_user("navegador", "uf:SC")
    cases = [
        (TASKS, {"sort": "citizen_id"}, "sort"),
        (TASKS, {"direction": "sideways"}, "direction"),
        (TASKS, {"cursor": "bm90LWEtY3Vyc29y"}, "cursor"),
        (TASKS, {"region": "99999"}, "region"),
        (TASKS, {"municipality": "123"}, "municipality"),
        (TASKS, {"kind": "qualquer"}, "kind"),
        ("/api/v1/messages", {"sort": "body"}, "sort"),
        ("/api/v1/messages", {"status": "lida"}, "status"),
        ("/api/v1/messages", {"kind": "spam"}, "kind"),
    ]
    for path, params, field in cases:
        response = await client.get(path, params=params, headers=nav.headers)
        assert response.status_code == 400, (path, params, response.text)
        body = response.json()
        assert body["errors"][0]["field"] == field, body
        assert body["errors"][0]["message"] and body["code"]


async def test_message_api_sorts_filters_and_counts(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    aps = await make_user("solicitante", f"municipality:{FLORIANOPOLIS}")
    reg = await make_user("regulador", "uf:SC")
    for i in range(3):
        e = await refer(client, aps, citizen_body(name=f"Pessoa {i}"))
        await authorize(client, reg, e["id"])
    listed = await client.get("/api/v1/messages", params={"limit": 2, "kind": "fila_entrada"}, headers=reg.headers)
    assert listed.status_code == 200 and len(listed.json()) == 2
    assert listed.headers["X-Total-Count"] == "3" and listed.headers["X-Next-Cursor"]
    rest = await client.get(
        "/api/v1/messages",
        params={"limit": 2, "kind": "fila_entrada", "cursor": listed.headers["X-Next-Cursor"]},
        headers=reg.headers,
    )
    assert len(rest.json()) == 1 and "X-Next-Cursor" not in rest.headers
    ids = [m["id"] for m in listed.json() + rest.json()]
    assert ids == sorted(ids, reverse=True)  # newest first by default


async def test_openapi_documents_the_list_parameters_in_portuguese(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/schema/openapi.json")).json()
    for path in ("/api/v1/navigation/tasks", "/api/v1/messages"):
        operation = schema["paths"][path]["get"]
        params = {p["name"]: p for p in operation["parameters"]}
        assert {"sort", "direction", "cursor", "limit", "municipality", "region"} <= set(params), path
        assert "Ordenação: uma de" in params["sort"]["description"]
        assert "crescente" in params["direction"]["description"]
        assert "X-Next-Cursor" in params["cursor"]["description"]
        headers = operation["responses"]["200"]["headers"]
        assert "X-Total-Count" in headers and "X-Next-Cursor" in headers


async def test_entry_api_sorts_like_the_queue_page_with_the_true_total(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    aps = await make_user("solicitante", f"municipality:{FLORIANOPOLIS}")
    reg = await make_user("regulador", "uf:SC")
    made = []
    for risk in ("azul", "vermelho", "amarelo"):
        e = await refer(client, aps, citizen_body(name=f"Pessoa {risk}"), risk=risk)
        await authorize(client, reg, e["id"])
        made.append(e)
    params = {"status": "autorizada", "sort": "pontuacao", "direction": "desc", "limit": 1}
    seen, cursor = [], None
    while True:
        page = await client.get(
            "/api/v1/entries", params=params | ({"cursor": cursor} if cursor else {}), headers=reg.headers
        )
        assert page.status_code == 200, page.text
        body = page.json()
        assert body["total"] == 3
        seen += body["items"]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert [e["risk_class"] for e in seen] == ["vermelho", "amarelo", "azul"]
    scores = [e["score"] for e in seen]
    assert scores == sorted(scores, reverse=True)
    legacy = await client.get("/api/v1/entries", params={"status": "autorizada"}, headers=reg.headers)
    assert legacy.json()["total"] is None and len(legacy.json()["items"]) == 3  # the id-cursor paging as before
    review = await client.get(
        "/api/v1/entries", params={"status": "em_analise", "sort": "pontuacao"}, headers=reg.headers
    )
    assert review.status_code == 400 and review.json()["errors"][0]["field"] == "sort"
    home = territory().find(FLORIANOPOLIS).health_region_code  # type: ignore[union-attr]
    other = next(r.code for r in territory().health_regions("SC") if r.code != home)
    inside = await client.get("/api/v1/entries", params={"region": home, "sort": "espera"}, headers=reg.headers)
    outside = await client.get("/api/v1/entries", params={"region": other, "sort": "espera"}, headers=reg.headers)
    assert inside.json()["total"] == 3 and outside.json()["total"] == 0
