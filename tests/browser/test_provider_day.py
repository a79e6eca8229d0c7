"""The provider's day in a real browser, on the demonstration data (issue 17 item 2): the demo executante of the
Policlínica Municipal Centro logs in, sees today's appointments with the patients' names, starts one ("Iniciar
atendimento"), records the OCI's procedures on its page and concludes the OCI with the return to APS."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from regula.config import Settings
from regula.db.engine import make_database
from regula.seed import DEMO_USERS
from tests.browser.conftest import PASSWORD, LiveServer, Session, needs_chromium

pytestmark = needs_chromium
OpenSession = Callable[..., Session]


def _in_thread(settings: Settings, work: Callable[[AsyncSession], Any]) -> Any:
    """Run ``work`` in a session of its own, committed (Playwright's synchronous API holds this thread's loop)."""
    assert settings.database_url is not None

    async def go() -> Any:
        db = make_database(settings.database_url.get_secret_value(), pool_size=1)
        try:
            async with db.sessionmaker() as session:
                result = await work(session)
                await session.commit()
                return result
        finally:
            await db.dispose()

    with ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, go()).result()


def _demo_executante(live_server: LiveServer) -> str:
    """The demo's executante (``regula.seed.DEMO_USERS``), with the browser tests' password."""
    from regula.access import service as access
    from regula.audit.service import AuditContext, set_context

    (username, role, jurisdiction, full_name) = next(u for u in DEMO_USERS if u[1] == "executante")

    async def create(session: AsyncSession) -> None:
        set_context(session, AuditContext.system("test", "browser provider day"))
        await access.create_user(
            session, username=username, full_name=full_name, role=role, jurisdiction=jurisdiction, password=PASSWORD
        )

    _in_thread(live_server.settings, create)
    return username


def _completion_plan(live_server: LiveServer, entry_id: int) -> list[str]:
    """The procedures that conclude the entry's OCI (``production.demo.completion_plan``, the catalog's)."""
    from regula.production import service
    from regula.production.demo import completion_plan
    from regula.waitlist import service as wl

    async def plan(session: AsyncSession) -> list[str]:
        entry = await wl.get_entry(session, entry_id)
        oci = await service.load_oci(session, live_server.settings, entry.oci_code, entry.catalog_competencia)
        return completion_plan(oci)

    result: list[str] = _in_thread(live_server.settings, plan)
    return result


def test_the_executante_starts_records_and_concludes(open_session: OpenSession, live_server: LiveServer) -> None:
    username = _demo_executante(live_server)
    provider = open_session(None)
    provider.go("/login")
    provider.page.fill("#username", username)
    provider.page.fill("#password", PASSWORD)
    provider.page.click("button[type=submit]")
    provider.page.wait_for_url(live_server.url + "/")
    page = provider.page

    # The OCIs in execution at the establishment are listed (the demo records their procedures).
    provider.go("/producao")
    assert "Nenhuma solicitação" not in page.inner_text("main")
    assert page.locator("tbody tr a[href^='/producao/entradas/']").count() >= 1

    # The menu starts the provider's day; today's appointments are there, with names.
    page.click("nav >> text=Agenda do dia")
    page.wait_for_url(re.compile(r".*/prestador$"))
    assert "Policlínica Municipal Centro" in page.inner_text("h1")
    rows = page.locator("tr[id^=ag-]")
    assert rows.count() >= 2
    names = [rows.nth(i).locator("td").nth(1).inner_text().split("\n")[0].strip() for i in range(rows.count())]
    assert all(len(n) > 5 for n in names), names
    provider.shot("prestador-agenda-do-dia")

    # Start the first confirmed appointment: back on the same list, the row now leads to the OCI's page.
    row = page.locator("tr[id^=ag-]", has=page.get_by_role("button", name=re.compile("^Iniciar atendimento"))).first
    entry_id = int((row.get_attribute("id") or "").removeprefix("ag-"))
    patient = row.locator("td").nth(1).inner_text().split("\n")[0].strip()
    row.get_by_role("button", name=re.compile("^Iniciar atendimento")).click()
    page.wait_for_url(re.compile(rf".*/prestador\?feito=em_atendimento#ag-{entry_id}$"))
    assert "Atendimento iniciado" in page.inner_text("main")
    row = page.locator(f"#ag-{entry_id}")
    assert "Em atendimento" in row.inner_text()
    row.get_by_role("link", name="Procedimentos e conclusão").click()
    page.wait_for_url(re.compile(rf".*/producao/entradas/{entry_id}$"))
    assert patient in page.inner_text("main")

    # Record the OCI's procedures, one by one, as the composition asks.
    plan = _completion_plan(live_server, entry_id)
    assert plan
    for code in plan:
        page.select_option("#procedimento", code)
        page.fill("#cbo", "225125")
        page.get_by_role("button", name="Registrar", exact=True).click()
        page.wait_for_url(re.compile(rf".*/producao/entradas/{entry_id}\?feito=registrado$"))
        assert "Procedimento registrado." in page.inner_text("main")
    assert "Conjunto completo: a OCI pode ser concluída." in page.inner_text("main")
    provider.shot("prestador-oci-completa")

    # Conclude, with the return to APS.
    page.fill("#resumo", "Consulta e exames realizados; sem sinais de gravidade.")
    page.fill("#contrarreferencia", "Seguimento na UBS em 30 dias; reencaminhar se houver piora.")
    page.get_by_role("button", name="Concluir a OCI").click()
    page.wait_for_url(re.compile(rf".*/producao/entradas/{entry_id}\?feito=concluida$"))
    assert "OCI concluída" in page.inner_text("main")
    provider.shot("prestador-oci-concluida")

    # Back on the day: the patient's appointment is concluded; the entry's own page opens for the provider.
    provider.go("/prestador")
    assert "Concluída" in page.locator(f"#ag-{entry_id}").inner_text()
    provider.go(f"/regulacao/entradas/{entry_id}")
    assert patient in page.inner_text("main")
    assert not [e for e in provider.errors if "status of 4" not in e]
