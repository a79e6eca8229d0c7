"""The public transparency panel in a real browser, on the Santa Catarina demonstration data: anyone, without
logging in and on a phone, sees Santa Catarina's OCIs with their waits and charts, narrows to one OCI by region or
municipality (the filter stays in the address), downloads the CSV — and finds no personal data of any demo citizen."""

from __future__ import annotations

import asyncio
import csv
import io
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.browser.conftest import CARDIOLOGY, LiveServer, Session, needs_chromium

pytestmark = needs_chromium
OpenSession = Callable[..., Session]


def personal_data(live_server: LiveServer) -> list[str]:
    """Every demo citizen's name, CPF (both spellings), CNS, phone digits and every protocol, from the server's
    database."""
    assert live_server.settings.database_url is not None
    url = live_server.settings.database_url.get_secret_value()

    async def read() -> list[str]:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:
                people = (await conn.execute(text("SELECT name, cpf, cns, phone FROM citizen"))).all()
                protocols = (await conn.execute(text("SELECT protocol FROM waitlist_entry"))).scalars().all()
        finally:
            await engine.dispose()
        found: list[str] = list(protocols)
        for name, cpf, cns, phone in people:
            found.append(name)
            if cpf:
                found += [cpf, f"{cpf[:3]}.{cpf[3:6]}.{cpf[6:9]}-{cpf[9:]}"]
            if cns:
                found.append(cns)
            if phone:
                found.append(re.sub(r"\D", "", phone))
        return [s for s in found if s and len(s) >= 6]

    with ThreadPoolExecutor(1) as thread:  # Playwright's synchronous API keeps an event loop in this one
        return thread.submit(asyncio.run, read()).result()


def test_public_panel_on_a_phone_without_personal_data(
    open_session: OpenSession, live_server: LiveServer, tmp_path: Path
) -> None:
    personal = personal_data(live_server)
    assert len(personal) > 1000

    phone = open_session(None, width=375, height=740)
    phone.go("/")
    phone.page.click("text=Transparência das filas")
    phone.page.wait_for_url(re.compile(r".*/transparencia$"))
    assert "Santa Catarina" in phone.page.locator("h1").inner_text()
    rows = phone.page.locator("table tbody tr")
    assert rows.count() >= 5  # the demo's OCIs
    cardiology = phone.page.locator("table tbody tr", has_text="Avaliação cardiológica")
    assert re.search(r"\d+ dias", cardiology.inner_text())  # a median shown: five or more people wait
    assert phone.page.locator("svg.grafico").count() == 3
    overflow = phone.page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, overflow  # the table scrolls inside its box, the charts shrink
    phone.shot("30-transparencia-celular")
    bodies = [phone.page.content()]

    # One OCI by municipality of residence: the filter goes into the address and the rows are areas.
    phone.page.select_option("#f-oci", CARDIOLOGY)
    phone.page.select_option("#f-nivel", "municipio")
    phone.page.click("button:has-text('Ver')")
    phone.page.wait_for_url(re.compile(rf".*oci={CARDIOLOGY}.*nivel=municipio.*"))
    table = phone.page.locator("table").inner_text()
    assert "Todo o estado" in table and "/SC" in table
    phone.shot("31-transparencia-oci-municipios")
    bodies.append(phone.page.content())

    with phone.page.expect_download() as info:
        phone.page.click("a:has-text('Baixar CSV') >> nth=0")
    target = tmp_path / "transparencia.csv"
    info.value.save_as(target)
    content = target.read_text(encoding="utf-8-sig")
    lines = list(csv.DictReader(io.StringIO(content), delimiter=";"))
    assert lines and lines[0]["nivel"] == "estado" and lines[0]["uf"] == "SC"
    bodies.append(content)

    for body in bodies:
        leaked = [s for s in personal if s in body]
        assert not leaked, leaked[:5]
    assert [e for e in phone.errors if "status of 4" not in e] == []
