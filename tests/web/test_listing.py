"""Lists that scale (issue 17 item 1, decision 23): the keyset mechanism (``regula.db.listing``) and the pages' side
(``regula.web.listing``) — sort whitelist, cursors stable under inserts, true totals, filters inside the caller's
jurisdiction, and bad parameters answered with a 400 naming the parameter in Portuguese, never a 500."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col
from tests.conftest import Login
from tests.web.conftest import Browser
from tests.web.test_navigation_pages import _booked_no_show

from regula.access.actor import Actor
from regula.access.policy import Jurisdiction
from regula.audit.models import AuditEvent
from regula.config import Settings
from regula.db.listing import Cursor, ListingError, Window, read_window
from regula.navigation import repository as nav_repo
from regula.navigation.models import NavigationTask
from regula.people.documents import generate_cpf
from regula.people.models import Citizen
from regula.territory.reference import territory
from regula.web.listing import return_to

MakeUser = Callable[..., Awaitable[Login]]
BrowserFor = Callable[[Login | None], Awaitable[Browser]]

FLORIANOPOLIS, JOINVILLE, PORTO_ALEGRE = "4205407", "4209102", "4314902"
BASE = datetime(2026, 3, 2, 12, tzinfo=UTC)
KINDS = ("falta", "prazo_75", "mensagem_nao_entregue", "confirmacao_sem_resposta")
FAR = datetime(9999, 12, 31, tzinfo=UTC)


def _actor(jurisdiction: str) -> Actor:
    return Actor("nav.teste", "navegador", jurisdiction=Jurisdiction.parse(jurisdiction))


async def _tasks(session: AsyncSession, counts: dict[str, int], *, seed: int = 17) -> list[NavigationTask]:
    """``counts[municipality]`` open tasks of residents there, with varied kinds, names and due dates (some none,
    many equal: ties must not swap between pages)."""
    rng = random.Random(seed)
    out = []
    for ibge, n in counts.items():
        uf = "RS" if ibge == PORTO_ALEGRE else "SC"
        for i in range(n):
            name = f"{rng.choice(['ANA', 'BRUNO', 'CARLA', 'DIEGO', 'ELISA'])} {ibge} {i:03d}"
            citizen = Citizen(
                cpf=generate_cpf(rng),
                municipality_ibge=ibge,
                birth_date=datetime(1970, 1, 1).date(),
                sex="F",
                name=name.title(),
                search_name=name,
                race_color="parda",
                uf=uf,
            )
            session.add(citizen)
            await session.flush()
            due = None if i % 7 == 0 else BASE + timedelta(days=rng.randint(0, 5))  # many ties on purpose
            task = NavigationTask(
                kind=KINDS[i % len(KINDS)],
                citizen_id=citizen.id or 0,
                municipality_ibge=ibge,
                uf=uf,
                detail="Ligar para a pessoa.",
                due_at=due,
                created_at=BASE - timedelta(hours=i),
            )
            session.add(task)
            out.append(task)
    await session.flush()
    return out


def _key(t: NavigationTask) -> tuple[datetime, int]:
    return (t.due_at or FAR, t.id or 0)


async def _walk(session: AsyncSession, actor: Actor, f: nav_repo.TaskFilter, window: Window) -> list[int]:
    """Every id of the list, following the "next" cursors from ``window``."""
    seen: list[int] = []
    while True:
        page = await nav_repo.task_page(session, actor, f, window)
        assert page.first_index == len(seen) + 1 or not page.rows
        seen += [r.task.id or 0 for r in page.rows]
        if page.next_cursor is None:
            return seen
        direction = "desc" if window.descending else "asc"
        window = read_window(nav_repo.TASK_SORTS, sort=window.sort, direction=direction, cursor=page.next_cursor)
        window = Window(window.sort, window.descending, window.cursor, size=50)


# -- the parameters ------------------------------------------------------------------------------------------------


def test_sort_keys_are_a_whitelist_and_errors_name_the_parameter() -> None:
    sorts = nav_repo.TASK_SORTS
    default = read_window(sorts, sort=None, direction=None, cursor=None)
    assert (default.sort, default.descending, default.cursor) == ("prazo", False, None)
    with pytest.raises(ListingError) as bad_sort:
        read_window(sorts, sort="citizen_id; drop table x", direction=None, cursor=None)
    assert bad_sort.value.status_code == 400
    assert bad_sort.value.errors[0].field == "ordem" and bad_sort.value.errors[0].code == "ordem_desconhecida"
    assert "Ordenação desconhecida" in bad_sort.value.errors[0].message and "prazo" in bad_sort.value.message
    with pytest.raises(ListingError) as bad_direction:
        read_window(sorts, sort="prazo", direction="up", cursor=None)
    assert bad_direction.value.errors[0].field == "sentido"
    for garbage in ("xyz", "!!!", "W10", "a" * 500):
        with pytest.raises(ListingError) as bad_cursor:
            read_window(sorts, sort="prazo", direction="asc", cursor=garbage)
        assert bad_cursor.value.errors[0].field == "cursor" and "inválido" in bad_cursor.value.errors[0].message
    other_order = Cursor("cidadao", False, "ANA", 3).encode()
    with pytest.raises(ListingError) as mismatch:
        read_window(sorts, sort="prazo", direction="asc", cursor=other_order)
    assert mismatch.value.errors[0].field == "cursor" and "outra ordenação" in mismatch.value.message
    wrong_type = Cursor("prazo", False, "not a date", 3).encode()
    with pytest.raises(ListingError):
        read_window(sorts, sort="prazo", direction="asc", cursor=wrong_type)
    # A click on a header asks the column's natural direction first.
    assert read_window(sorts, sort="cidadao", direction=None, cursor=None).descending is False


def test_cursor_round_trip_keeps_the_value_and_its_type() -> None:
    sorts = nav_repo.TASK_SORTS
    when = datetime(2026, 3, 2, 12, 30, 1, 123456, tzinfo=UTC)
    for cursor in (Cursor("prazo", True, when, 42, before=True), Cursor("cidadao", False, "JOÃO Ç", 7)):
        window = read_window(
            sorts, sort=cursor.sort, direction="desc" if cursor.descending else "asc", cursor=cursor.encode()
        )
        assert window.cursor == cursor


def test_return_to_stays_on_the_list_and_lands_on_the_row() -> None:
    back = "/navegacao?municipio=4205407&cursor=abc&feito=registrado"
    target = return_to(back, "/navegacao", "tarefa-12", feito="encerrada")
    parts = urlsplit(target)
    assert parts.path == "/navegacao" and parts.fragment == "tarefa-12"
    assert parse_qs(parts.query) == {"municipio": ["4205407"], "cursor": ["abc"], "feito": ["encerrada"]}
    # Never elsewhere: another host, another scheme or another page fall back to the list itself.
    for hostile in ("https://evil.example/navegacao?x=1", "//evil.example/navegacao", "/admin?x=1", "javascript:x"):
        assert return_to(hostile, "/navegacao", "tarefa-1").startswith("/navegacao#")


# -- the mechanism on PostgreSQL -------------------------------------------------------------------------------------


@pytest.mark.usefixtures("reference_data")
async def test_totals_are_true_and_pages_cover_the_list_once_in_order(session: AsyncSession) -> None:
    tasks = await _tasks(session, {FLORIANOPOLIS: 70, JOINVILLE: 55, PORTO_ALEGRE: 12})
    sc = _actor("uf:SC")
    f = nav_repo.TaskFilter()
    first = await nav_repo.task_page(session, sc, f, Window("prazo", False, size=50))
    assert first.total == 125  # every SC task, not a capped count; Porto Alegre is outside the jurisdiction
    assert (first.first_index, first.last_index, first.previous_cursor) == (1, 50, None)
    walked = await _walk(session, sc, f, Window("prazo", False, size=50))
    expected = [t.id for t in sorted((t for t in tasks if t.uf == "SC"), key=_key)]
    assert walked == expected
    # The last page, and walking back from it, give the same rows.
    last = await nav_repo.task_page(session, sc, f, Window("prazo", False, last=True, size=50))
    assert (last.first_index, last.last_index, last.next_cursor) == (76, 125, None)
    assert [r.task.id for r in last.rows] == expected[75:]
    back = read_window(nav_repo.TASK_SORTS, sort="prazo", direction="asc", cursor=last.previous_cursor)
    middle = await nav_repo.task_page(session, sc, f, Window(back.sort, back.descending, back.cursor, size=50))
    assert [r.task.id for r in middle.rows] == expected[25:75] and middle.first_index == 26


@pytest.mark.usefixtures("reference_data")
async def test_every_sort_key_orders_both_ways_with_the_id_as_tiebreak(session: AsyncSession) -> None:
    await _tasks(session, {FLORIANOPOLIS: 30, JOINVILLE: 30})
    sc = _actor("uf:SC")
    f = nav_repo.TaskFilter()
    for key in nav_repo.TASK_SORTS.names:
        for descending in (False, True):
            ids = await _walk(session, sc, f, Window(key, descending, size=7))
            assert len(ids) == len(set(ids)) == 60, key
    rows = (await nav_repo.task_page(session, sc, f, Window("cidadao", True, size=60))).rows
    names = [r.citizen_name.upper() for r in rows]
    assert names == sorted(names, reverse=True)
    by_place = (await nav_repo.task_page(session, sc, f, Window("municipio", False, size=60))).rows
    assert [r.task.municipality_ibge for r in by_place] == [FLORIANOPOLIS] * 30 + [JOINVILLE] * 30


@pytest.mark.usefixtures("reference_data")
async def test_a_cursor_is_stable_when_rows_are_inserted_before_it(session: AsyncSession) -> None:
    await _tasks(session, {FLORIANOPOLIS: 60})
    sc = _actor("uf:SC")
    f = nav_repo.TaskFilter()
    page1 = await nav_repo.task_page(session, sc, f, Window("prazo", False, size=20))
    expected_page2 = await nav_repo.task_page(
        session, sc, f, read_window(nav_repo.TASK_SORTS, sort="prazo", direction="asc", cursor=page1.next_cursor)
    )
    # Five new urgent tasks, all sorting before the cursor (due earlier than anything listed).
    early = await _tasks(session, {FLORIANOPOLIS: 5}, seed=99)
    for t in early:
        t.due_at = BASE - timedelta(days=30)
    await session.flush()
    window = read_window(nav_repo.TASK_SORTS, sort="prazo", direction="asc", cursor=page1.next_cursor)
    page2 = await nav_repo.task_page(session, sc, f, Window(window.sort, False, window.cursor, size=50))
    # Page 2 starts right after the last row the person saw: nothing repeated, nothing skipped.
    assert [r.task.id for r in page2.rows][:20] == [r.task.id for r in expected_page2.rows][:20]
    assert page2.total == 65 and page2.first_index == 26  # the true place, counting the five new ones


@pytest.mark.usefixtures("reference_data")
async def test_filters_stay_inside_the_jurisdiction(session: AsyncSession) -> None:
    await _tasks(session, {FLORIANOPOLIS: 8, JOINVILLE: 6, PORTO_ALEGRE: 4})
    sc, region_only = _actor("uf:SC"), _actor(f"region:{territory().find(FLORIANOPOLIS).health_region_code}")  # type: ignore[union-attr]
    window = Window("prazo", False, size=50)
    outside = await nav_repo.task_page(session, sc, nav_repo.TaskFilter(municipality=PORTO_ALEGRE), window)
    assert outside.total == 0 and outside.rows == []
    joinville = await nav_repo.task_page(session, region_only, nav_repo.TaskFilter(municipality=JOINVILLE), window)
    assert joinville.total == 0  # a filter never widens what the caller may see
    region = territory().find(FLORIANOPOLIS).health_region_code  # type: ignore[union-attr]
    munis = tuple(m.ibge_code for m in territory().all() if m.health_region_code == region)
    in_region = await nav_repo.task_page(session, sc, nav_repo.TaskFilter(municipalities=munis), window)
    assert in_region.total == 8 and {r.task.municipality_ibge for r in in_region.rows} == {FLORIANOPOLIS}
    due = await nav_repo.task_page(session, sc, nav_repo.TaskFilter(due_before=BASE + timedelta(days=1)), window)
    assert due.total == sum(
        1
        for r in (await nav_repo.task_page(session, sc, nav_repo.TaskFilter(), window)).rows
        if r.task.due_at is not None and r.task.due_at < BASE + timedelta(days=1)
    )
    counts = await nav_repo.count_tasks_by_kind(session, sc, nav_repo.TaskFilter(kind="falta"))
    assert sum(counts.values()) == 14  # the kind filter's own counts ignore the kind chosen
    # The read is audited: one event naming the tasks shown.
    events = (
        (await session.execute(select(AuditEvent).where(col(AuditEvent.entity_type) == "NavigationTask")))
        .scalars()
        .all()
    )
    assert any({str(r.task.id) for r in in_region.rows} <= set((e.after or {}).get("ids", [])) for e in events)


# -- the pages ----------------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("reference_data")
async def test_bad_list_parameters_are_a_400_naming_them_never_a_500(
    session: AsyncSession, make_user: MakeUser, browser_for: BrowserFor
) -> None:
    page = await browser_for(await make_user("regulador", "uf:SC"))
    cases = {
        "/navegacao?ordem=id%3B+drop": "ordem",
        "/navegacao?sentido=cima": "sentido",
        "/navegacao?cursor=n%C3%A3o-%C3%A9-um-cursor": "cursor",
        "/navegacao?vence_ate=31%2F02%2F2026": "vence_ate",
        "/navegacao?municipio=999": "municipio",
        "/navegacao?regiao=00000": "regiao",
        "/navegacao?tipo=qualquer": "tipo",
        "/mensagens?ordem=texto": "ordem",
        "/mensagens?situacao=lida": "situacao",
        "/producao?situacao=perdida": "situacao",
        "/producao?ordem=nome": "ordem",
        "/regulacao/analise?ordem=pontuacao": "ordem",  # no score to sort by before authorization
        "/regulacao/entradas?ordem=espera&sentido=asc&cursor=bogus": "cursor",
        "/regulacao/entradas?situacao=perdida": "situacao",
        "/regulacao/entradas?risco=roxo": "risco",
    }
    # The page names the parameter as people read it, and shows no internal code (the demo walk found
    # "regiao: …" and "Código: regiao_desconhecida" on it); the code stays in a data attribute for support.
    labels = {
        "ordem": "Ordenação",
        "sentido": "Sentido da ordenação",
        "cursor": "Posição na lista",
        "vence_ate": "Prazo até",
        "municipio": "Município",
        "regiao": "Região de saúde",
        "tipo": "Tipo",
        "situacao": "Situação",
        "risco": "Classe de risco",
    }
    # The list itself answers (without the filter, its form there to correct it: web.listing.list_page), not an
    # error card; the ignored filter is named above it.
    for path, parameter in cases.items():
        response = await page.get(path)
        assert response.status_code == 400, (path, response.status_code)
        assert 'data-codigo="filtro_ignorado"' in response.text, path
        label = labels[parameter]  # bold before the message, or the message's own start when it names it
        assert f"<strong>{label}</strong>:" in response.text or f"<li>{label}:" in response.text, path
        assert "Código:" not in response.text and 'role="search"' in response.text, path
    api = await page.client.get("/navegacao?ordem=x", headers={"Accept": "application/json"})
    assert api.status_code == 400 and api.json()["errors"][0]["field"] == "ordem"


@pytest.mark.usefixtures("reference_data")
async def test_worklist_pages_sorts_and_returns_to_the_same_place_after_a_contact(
    session: AsyncSession, make_user: MakeUser, browser_for: BrowserFor
) -> None:
    tasks = await _tasks(session, {FLORIANOPOLIS: 64, JOINVILLE: 9})
    nav = await make_user("navegador", "uf:SC")
    page = await browser_for(nav)
    listed = await page.get(f"/navegacao?municipio={FLORIANOPOLIS}")
    assert listed.status_code == 200
    assert "64 tarefas abertas · mostrando 1–50" in listed.text
    assert 'rel="next"' in listed.text and "Última" in listed.text
    next_url = listed.text.split('rel="next"')[0].rsplit('href="', 1)[1].split('"')[0].replace("&amp;", "&")
    assert f"municipio={FLORIANOPOLIS}" in next_url and "cursor=" in next_url
    second = await page.get(next_url)
    assert "mostrando 51–64" in second.text
    florianopolis_ids = [t.id for t in sorted((t for t in tasks if t.municipality_ibge == FLORIANOPOLIS), key=_key)]
    target = florianopolis_ids[55]
    assert f'id="tarefa-{target}"' in second.text
    # Sorting by citizen keeps the filter, and the header says how the list is sorted.
    by_name = await page.get(f"/navegacao?municipio={FLORIANOPOLIS}&ordem=cidadao&sentido=desc")
    assert 'aria-sort="descending"' in by_name.text and "64 tarefas abertas" in by_name.text

    logged = await page.post(
        f"/navegacao/tarefas/{target}/contatos",
        {"resultado": "nao_atendeu", "anotacao": "Caixa postal.", "voltar": next_url},
        follow_redirects=False,
    )
    assert logged.status_code == 303
    location = urlsplit(logged.headers["location"])
    assert location.path == "/navegacao" and location.fragment == f"tarefa-{target}"
    query = parse_qs(location.query)
    assert query["municipio"] == [FLORIANOPOLIS] and query["feito"] == ["registrado"] and "cursor" in query
    back = await page.get(logged.headers["location"].split("#")[0])
    assert "Contato registrado." in back.text and "Não atendeu" in back.text and f'id="tarefa-{target}"' in back.text
    assert "nao_atendeu" not in back.text.replace('value="nao_atendeu"', "")
    # A refused contact shows the same list again with the reason in Portuguese (the outcomes' labels, no codes).
    refused = await page.post(f"/navegacao/tarefas/{target}/contatos", {"resultado": "x", "voltar": next_url})
    assert refused.status_code == 422 and "Não atendeu;" in refused.text and "mostrando 51–64" in refused.text
    assert f'aria-describedby="erro-resultado-{target}" autofocus' in refused.text  # the browser scrolls to it
    # Closing lands on the task that was below it.
    following = florianopolis_ids[56]
    closed = await page.post(
        f"/navegacao/tarefas/{target}/contatos",
        {"resultado": "confirmou", "encerrar": "1", "voltar": next_url, "seguinte": str(following)},
        follow_redirects=False,
    )
    assert urlsplit(closed.headers["location"]).fragment == f"tarefa-{following}"
    status = (await session.execute(text("SELECT status FROM navigation_task WHERE id = :t"), {"t": target})).scalar()
    assert status == "concluida"


@pytest.mark.usefixtures("reference_data")
async def test_confirming_an_appointment_from_the_worklist_returns_to_it(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, make_user: MakeUser, browser_for: BrowserFor
) -> None:
    booked = await _booked_no_show(client, session, settings, make_user)
    page = await browser_for(await make_user("navegador", "uf:SC"))
    listed = await page.get(f"/navegacao?municipio={FLORIANOPOLIS}&ordem=cidadao&sentido=asc")
    assert booked["protocol"] in listed.text and 'name="voltar"' in listed.text
    back = f"/navegacao?municipio={FLORIANOPOLIS}&ordem=cidadao&sentido=asc"
    # From anywhere else (or a forged address), the entry's own page, as before.
    forged = await page.post(
        f"/regulacao/entradas/{booked['id']}/transicao",
        {"para": "confirmada", "voltar": "https://evil.example/navegacao"},
        follow_redirects=False,
    )
    assert forged.headers["location"] == f"/regulacao/entradas/{booked['id']}?feito=confirmada"
    released = await page.post(
        f"/regulacao/entradas/{booked['id']}/transicao", {"para": "autorizada", "voltar": back}, follow_redirects=False
    )
    assert released.status_code == 303
    location = urlsplit(released.headers["location"])
    assert location.path == "/navegacao" and location.fragment == "h-confirmar"
    assert parse_qs(location.query) == {
        "municipio": [FLORIANOPOLIS],
        "ordem": ["cidadao"],
        "sentido": ["asc"],
        "feito": ["autorizada"],
    }
    shown = await page.get(released.headers["location"].split("#")[0])
    assert "Vaga liberada: a pessoa voltou à fila" in shown.text


@pytest.mark.usefixtures("reference_data")
async def test_a_page_whose_rows_all_left_the_list_offers_the_way_back(session: AsyncSession) -> None:
    tasks = await _tasks(session, {FLORIANOPOLIS: 12})
    sc = _actor("uf:SC")
    f = nav_repo.TaskFilter()
    page1 = await nav_repo.task_page(session, sc, f, Window("prazo", False, size=10))
    ordered = sorted(tasks, key=_key)
    for t in ordered[10:]:  # the navigator closes the last two tasks in another tab
        t.status = "concluida"
    await session.flush()
    window = read_window(nav_repo.TASK_SORTS, sort="prazo", direction="asc", cursor=page1.next_cursor)
    empty = await nav_repo.task_page(session, sc, f, window)
    assert empty.rows == [] and empty.total == 10 and empty.previous_cursor is not None
    back = read_window(nav_repo.TASK_SORTS, sort="prazo", direction="asc", cursor=empty.previous_cursor)
    again = await nav_repo.task_page(session, sc, f, back)
    assert [r.task.id for r in again.rows] == [t.id for t in ordered[:10]] and again.first_index == 1
