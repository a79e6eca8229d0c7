"""Lists that scale, in a real browser, at the demo's volumes (issue 17 item 1, decision 23): the whole Santa
Catarina demonstration (``regula demo``'s 30,000 citizens: about 11,000 waiting, thousands of navigator tasks and
messages), not the smaller sample the other browser tests load.

* The navigator filters the worklist to one municipality, pages on, records a contact and stays in place: the same
  filter and page in the address, the row she worked on in view, the outcome in Portuguese.
* The regulator sorts the analysis list by wait and sees position, score, wait and request date on every row.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from tests.browser import conftest as browser_conftest
from tests.browser.conftest import LiveServer, Session, needs_chromium

pytestmark = needs_chromium
DEMO_VOLUME_CITIZENS = 30_000  # regula.demo.load_demo_data's default: what `regula demo` shows
FLORIANOPOLIS = "4205407"


@pytest.fixture(scope="module", autouse=True)
def _demo_volumes() -> Iterator[None]:
    """This module's server loads the full demonstration (the shared fixture reads the size when it seeds)."""
    patch = pytest.MonkeyPatch()
    patch.setattr(browser_conftest, "DEMO_CITIZENS", DEMO_VOLUME_CITIZENS)
    yield
    patch.undo()


@pytest.fixture(scope="module", autouse=True)
def _escalated(live_server: LiveServer) -> None:
    """What `regula demo`'s scheduler does at once: the escalation sweep (entries past 75% of tM) opens the
    navigators' tasks, thousands of them at this volume."""
    from regula.audit.service import AuditContext, set_context
    from regula.navigation.service import open_escalation_tasks
    from regula.waitlist.jobs import flag_escalations

    async def sweep() -> None:
        engine = create_async_engine(live_server.settings.database_url.get_secret_value())
        try:
            async with async_sessionmaker(engine, expire_on_commit=False)() as s:
                set_context(s, AuditContext.system("test", "escalation-sweep"))
                await flag_escalations(s, live_server.settings)
                await open_escalation_tasks(s)
                await s.commit()
        finally:
            await engine.dispose()

    asyncio.run(sweep())


def _errors(s: Session) -> list[str]:
    return [e for e in s.errors if "favicon" not in e]


def _total(text: str) -> int:
    match = re.search(r"([\d.]+) tarefas? abertas?", text)
    assert match, text
    return int(match.group(1).replace(".", ""))


def test_navigator_filters_to_one_municipality_records_a_contact_and_stays_in_place(
    open_session: Callable[..., Session],
) -> None:
    nav = open_session("navegador", height=800)
    nav.go("/navegacao")
    summary = nav.page.locator("#resumo-lista").inner_text()
    everyone = _total(summary)
    assert everyone > 1_000 and "mostrando 1–50" in summary  # the true total, fifty at a time
    assert nav.page.locator("tr[id^='tarefa-']").count() == 50

    nav.page.select_option("#f-municipio", FLORIANOPOLIS)
    nav.page.click("form[aria-label='Filtrar tarefas'] button[type=submit]")
    nav.page.wait_for_url(re.compile(rf".*municipio={FLORIANOPOLIS}.*"))
    in_town = _total(nav.page.locator("#resumo-lista").inner_text())
    assert 50 < in_town < everyone
    assert {nav.page.locator("tr[id^='tarefa-'] td:nth-child(4)").nth(i).inner_text() for i in range(50)} == {
        "Florianópolis/SC"
    }
    nav.page.click("a[rel=next]")
    nav.page.wait_for_url(re.compile(r".*cursor=.*"))
    assert "mostrando 51–" in nav.page.locator("#resumo-lista").inner_text()
    listed_at = urlsplit(nav.page.url)
    nav.shot("lists-01-navegacao-florianopolis-pagina-2")

    # A row well down the page: she calls, nobody answers, she logs it.
    row = nav.page.locator("tr[id^='tarefa-']").nth(30)
    row_id = row.get_attribute("id")
    assert row_id is not None
    task_id = row_id.removeprefix("tarefa-")
    row.scroll_into_view_if_needed()
    nav.page.select_option(f"#resultado-{task_id}", "nao_atendeu")
    nav.page.fill(f"#anotacao-{task_id}", "Caixa postal; tentar à tarde.")
    row.locator("button:has-text('Registrar contato')").click()
    nav.page.wait_for_url(re.compile(rf".*feito=registrado.*#tarefa-{task_id}$"))

    back = urlsplit(nav.page.url)
    query, before = parse_qs(back.query), parse_qs(listed_at.query)
    assert back.path == "/navegacao" and query["municipio"] == [FLORIANOPOLIS]
    assert query["cursor"] == before["cursor"]  # the same page of the same list
    assert "Contato registrado." in nav.page.content()
    worked = nav.page.locator(f"#tarefa-{task_id}")
    assert "Não atendeu" in worked.inner_text() and "Caixa postal" in worked.inner_text()
    assert "nao_atendeu" not in worked.inner_text()
    # Still where she was: the row is on screen, far from the top of the page.
    assert nav.page.evaluate("window.scrollY") > 500
    box = worked.bounding_box()
    assert box is not None and box["y"] < 800 and box["y"] + box["height"] > 0
    nav.shot("lists-02-navegacao-contato-registrado")
    assert _errors(nav) == []


def _column(page: Any, selector: str) -> list[str]:
    return [t.strip() for t in page.locator(f"table.entradas tbody tr td.{selector}").all_inner_texts()]


def test_regulator_sorts_the_analysis_list_by_wait_and_sees_every_figure(open_session: Callable[..., Session]) -> None:
    reg = open_session("regulador")
    reg.go("/regulacao/analise")
    total_text = reg.page.locator("#resumo-lista").inner_text()
    assert "solicitações" in total_text and "mostrando 1–50" in total_text
    reg.page.click("th a.ordenar:has-text('Espera')")
    reg.page.wait_for_url(re.compile(r".*ordem=espera.*"))
    header = reg.page.locator("th:has(a:has-text('Espera'))")
    assert header.get_attribute("aria-sort") == "descending"  # the longest wait first
    waits = [int(w.split(" d")[0].replace(".", "")) for w in _column(reg.page, "espera")]
    assert len(waits) == 50 and waits == sorted(waits, reverse=True) and waits[0] > 0
    # Position, score, wait and request date on every row: provisional before authorization, and said so.
    for cell in _column(reg.page, "posicao"):
        assert re.search(r"≈ \d[\d.]*ª de \d", cell) and "se autorizada hoje" in cell, cell
    for cell in _column(reg.page, "pontuacao"):
        assert re.match(r"\d[\d.]*", cell), cell
    for cell in _column(reg.page, "solicitada"):
        assert re.fullmatch(r"\d{2}/\d{2}/\d{4}", cell), cell
    assert "—" not in "".join(_column(reg.page, "posicao") + _column(reg.page, "pontuacao"))
    reg.shot("lists-03-analise-por-espera")

    # The other way round, and on to the next page: the order holds across pages.
    reg.page.click("th a.ordenar:has-text('Espera')")
    reg.page.wait_for_url(re.compile(r".*sentido=asc.*"))
    ascending = [int(w.split(" d")[0].replace(".", "")) for w in _column(reg.page, "espera")]
    assert ascending == sorted(ascending)
    reg.page.click("a[rel=next]")
    reg.page.wait_for_url(re.compile(r".*cursor=.*"))
    following = [int(w.split(" d")[0].replace(".", "")) for w in _column(reg.page, "espera")]
    assert following and following[0] >= ascending[-1] and following == sorted(following)
    assert _errors(reg) == []
