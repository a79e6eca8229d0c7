"""An allocation a regulator would sign, in a real browser on the demonstration data (issue 17 item 3): the regulator
proposes a state run, reads each assignment's distance, days until the slot, the provider's full name and — when it
leaves the person's region — why; reads the objective as people, days and kilometres; commits it after one entry
changed (the conflict made on purpose), reads a truthful summary and lists exactly the conflicts."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar
from urllib.parse import urlsplit

from sqlalchemy import text
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from tests.browser.conftest import LiveServer, Session, needs_chromium
from tests.browser.test_journeys import real_errors, solve_queue

pytestmark = needs_chromium
OpenSession = Callable[..., Session]
T = TypeVar("T")


def _run(make: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine in a thread of its own: Playwright's synchronous API keeps an event loop in this one."""

    async def main() -> T:
        return await make()

    with ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, main()).result()


def _suspend(live_server: LiveServer, entry_id: int) -> None:
    """The person postpones after the proposal (what a regulator's "Suspender" does), so the run's assignment
    of that entry can no longer be booked."""
    from regula.access.actor import Actor
    from regula.access.policy import Jurisdiction
    from regula.audit.service import AuditContext, set_context
    from regula.waitlist import service as wl

    settings = live_server.settings
    assert settings.database_url is not None

    async def go() -> None:
        engine = create_async_engine(settings.database_url.get_secret_value())
        try:
            async with async_sessionmaker(engine, expire_on_commit=False)() as s:
                set_context(s, AuditContext.system("test", "browser-suspend"))
                actor = Actor(live_server.users["regulador"], "regulador", None, Jurisdiction.parse("uf:SC"))
                await wl.transition(s, entry_id, "suspensa", actor, settings, reason_code="adiamento_pelo_paciente")
                await s.commit()
        finally:
            await engine.dispose()

    _run(go)


def _provider_names(live_server: LiveServer) -> set[str]:
    settings = live_server.settings
    assert settings.database_url is not None

    async def go() -> set[str]:
        engine = create_async_engine(settings.database_url.get_secret_value())
        try:
            async with engine.connect() as c:
                return {r[0] for r in await c.execute(text("SELECT name FROM establishment"))}
        finally:
            await engine.dispose()

    return _run(go)


def test_the_regulator_reviews_commits_and_lists_the_conflicts(
    open_session: OpenSession, live_server: LiveServer
) -> None:
    reg = open_session("regulador")
    reg.go("/regulacao/alocacoes")
    assert "Distância máxima" in reg.page.content() and "200 km, o padrão" in reg.page.content()
    reg.page.select_option("#escopo", "uf:SC")
    reg.page.fill("#horizonte", "60")
    reg.page.click("text=Calcular rodada")
    reg.page.wait_for_url(re.compile(r".*/regulacao/alocacoes/\d+\?feito=na_fila"))
    run_url = urlsplit(reg.page.url).path
    solve_queue(live_server.settings)
    reg.page.wait_for_selector("text=Proposta: aguarda revisão", timeout=20_000)

    # The objective as its parts, never the solver's raw sum.
    summary = reg.page.locator("section[aria-labelledby='h-situacao']").inner_text()
    assert "Custo total" not in summary
    for part in ("Pessoas atendidas", "Atendidas dentro do tM", "Após o prazo do tM", "Deslocamento", "km no total"):
        assert part in summary, part
    assert "Distância máxima" in summary and "200 km" in summary
    served = re.search(r"Pessoas atendidas\s+([\d.]+) de ([\d.]+) na fila", summary)
    assert served is not None and int(served.group(1).replace(".", "")) > 0

    # Each row: km, days until the slot, the provider's full name (never cut), where it is, and the region.
    table = reg.page.locator("table.atribuicoes tbody tr")
    assert table.count() > 0
    names = _provider_names(live_server)
    for i in range(min(table.count(), 20)):
        row = table.nth(i)
        km = row.locator("td.km").inner_text()
        assert re.fullmatch(r"[\d.]+ km", km), km
        assert int(km.split()[0].replace(".", "")) <= 200 or "teleconsulta" in row.inner_text()
        assert re.search(r"em \d+ dias?", row.inner_text())
        provider = row.locator("td.prestador").inner_text()
        name = provider.split(" (CNES")[0]
        assert name in names and "…" not in provider, provider
        reason = row.locator("td").nth(8).inner_text()
        assert "Na região de saúde" in reason or "Fora da região: " in reason
    reg.shot("alocacao-revisao")

    # Only the assignments outside the person's region: every one says why.
    reg.page.select_option("#f-fora", "sim")
    reg.page.click("form.filtros button[type=submit]")
    reg.page.wait_for_url(re.compile(r".*fora=sim.*"))
    outside = reg.page.locator("table.atribuicoes tbody tr")
    if "Nenhuma atribuição com estes filtros" not in reg.page.content():
        for i in range(min(outside.count(), 20)):
            why = outside.nth(i).locator("span.motivo").inner_text()
            assert why.startswith("Fora da região: ") and "motivo não registrado" not in why, why
            assert re.search(r"escalonada: \d+% do tM decorrido|sem vaga|ocupadas|mais perto|anterior|fila", why)
    reg.shot("alocacao-fora-da-regiao")

    # Sorted by distance, longest first, and back to everything.
    reg.go(run_url)
    reg.page.click("th a.ordenar:has-text('Distância')")
    reg.page.wait_for_url(re.compile(r".*ordem=km.*sentido=desc.*"))
    kms = [
        int(t.split()[0].replace(".", ""))
        for t in reg.page.locator("table.atribuicoes td.km").all_inner_texts()
        if t.strip() != "—"
    ]
    assert kms == sorted(kms, reverse=True)

    # One person changes after the proposal: the commit cannot book that assignment.
    reg.go(run_url)
    first = reg.page.locator("table.atribuicoes tbody tr").first
    href = first.locator("a.codigo").get_attribute("href")
    protocol = first.locator("a.codigo").inner_text()
    assert href is not None
    entry_id = int(href.rsplit("/", 1)[1])
    reg.page.click("text=Aprovar rodada")
    reg.page.wait_for_url(re.compile(r".*\?feito=aprovada"))
    _suspend(live_server, entry_id)
    reg.page.click("text=Efetivar: agendar as pessoas")
    reg.page.wait_for_url(re.compile(r".*\?feito=efetivada"), timeout=60_000)
    result = reg.page.locator("#resultado-efetivacao").inner_text()
    booked = int(served.group(1).replace(".", "")) - 1
    assert f"Rodada efetivada: {booked:,} pessoas agendadas".replace(",", ".") in result, result
    assert "1 atribuição não efetivada (conflito)" in result
    assert "A entrada mudou desde a proposta" in result
    assert "todos" not in result.lower()  # no claim that everyone was booked
    reg.shot("alocacao-efetivada-com-conflito")

    # The link lists exactly the conflicts.
    reg.page.click("text=Listar os 1 conflitos")
    reg.page.wait_for_url(re.compile(r".*resultado=conflito.*"))
    rows = reg.page.locator("table.atribuicoes tbody tr")
    assert rows.count() == 1
    only = rows.first.inner_text()
    assert protocol in only and "Conflito (não efetivada)" in only and "A entrada mudou desde a proposta" in only
    assert "1 atribuição" in reg.page.locator("#resumo-lista").inner_text()
    reg.shot("alocacao-conflitos")
    assert real_errors(reg) == []
