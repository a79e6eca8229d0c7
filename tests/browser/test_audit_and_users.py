"""The auditor and the administrator on the demonstration data, in a real browser (issue 17 item 5).

* The auditor finds who read a given citizen: a regulator opens one of the citizen's entries first; the auditor
  searches the trail by the citizen's CPF and sees that read with the user, the time and the address, and downloads
  the search as CSV.
* The administrator creates a user (the generated password shown once; the new user logs in with it and is sent to
  change it), then deactivates the user, who can no longer log in.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.browser.conftest import PASSWORD, LiveServer, Session, needs_chromium

pytestmark = needs_chromium
OpenSession = Callable[..., Session]


@dataclass(frozen=True)
class Subject:
    entry_id: int
    cpf: str
    name: str


async def _prepare(url: str) -> Subject:
    from sqlalchemy.ext.asyncio import async_sessionmaker

    from regula.access import service as access
    from regula.audit.service import AuditContext, set_context

    engine = create_async_engine(url)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    try:
        async with sessions() as s:
            set_context(s, AuditContext.system("test", "browser-seed"))
            for username, role, jurisdiction, name in (
                ("auditora.teste", "auditor", "uf:SC", "Auditora Estadual SC"),
                ("admin.teste", "admin", "br", "Administração"),
            ):
                await access.create_user(
                    s, username=username, full_name=name, role=role, jurisdiction=jurisdiction, password=PASSWORD
                )
            row = (
                await s.execute(
                    text(
                        "SELECT e.id, c.cpf, c.name FROM waitlist_entry e JOIN citizen c ON c.id = e.citizen_id "
                        "WHERE c.cpf IS NOT NULL AND e.uf = 'SC' ORDER BY e.id LIMIT 1"
                    )
                )
            ).one()
            await s.commit()
            return Subject(int(row[0]), str(row[1]), str(row[2]))
    finally:
        await engine.dispose()


@pytest.fixture(scope="module", autouse=True)
def subject(live_server: LiveServer) -> Subject:
    # Before the browser starts (Playwright's synchronous API keeps an event loop running in this thread).
    found = asyncio.run(_prepare(live_server.settings.database_url.get_secret_value()))
    live_server.users |= {"auditor": "auditora.teste", "admin": "admin.teste"}
    return found


def test_the_auditor_finds_who_read_a_citizen(open_session: OpenSession, subject: Subject) -> None:
    regulator = open_session("regulador")
    regulator.go(f"/regulacao/entradas/{subject.entry_id}")
    assert subject.name in regulator.page.content()

    auditor = open_session("auditor")
    auditor.go("/")
    auditor.page.click("nav.menu >> text=Auditoria")
    auditor.page.fill("#cidadao", f"{subject.cpf[:3]}.{subject.cpf[3:6]}.{subject.cpf[6:9]}-{subject.cpf[9:]}")
    auditor.page.click("button:has-text('Buscar')")
    auditor.page.wait_for_selector("#cidadao-escolhido")
    assert subject.name in auditor.page.inner_text("#cidadao-escolhido")
    rows = auditor.page.locator("#eventos tbody tr").all_inner_texts()
    reads = [r for r in rows if "regulador.teste" in r and f"Solicitação {subject.entry_id}" in r and "Leitura" in r]
    assert reads, rows
    assert "127.0.0.1" in reads[0]
    assert re.search(r"\d{2}/\d{2}/\d{4},? \d{2}:\d{2}", reads[0]), reads[0]
    auditor.shot("auditoria-leitura-de-um-cidadao")
    with auditor.page.expect_download() as download:
        auditor.page.click("text=Baixar CSV")
    content = download.value.path().read_text(encoding="utf-8-sig")
    assert "regulador.teste" in content and "127.0.0.1" in content
    assert not auditor.errors, auditor.errors


def test_the_admin_creates_a_user_and_deactivates_it(open_session: OpenSession, subject: Subject) -> None:
    admin = open_session("admin")
    admin.go("/")
    admin.page.click("nav.menu >> text=Usuários")
    admin.page.click("text=Novo usuário")
    admin.page.fill("#username", "nova.navegadora")
    admin.page.fill("#full_name", "Nova Navegadora do Cuidado")
    admin.page.select_option("#role", "navegador")
    admin.page.fill("#jurisdiction", "region:42001")
    admin.page.click("button:has-text('Criar usuário')")
    admin.page.wait_for_selector("#senha-gerada")
    password = admin.page.inner_text("#senha-gerada code").strip()
    assert len(password) == 16
    admin.shot("usuarios-criado")

    newcomer = open_session(None)
    newcomer.go("/login")
    newcomer.page.fill("#username", "nova.navegadora")
    newcomer.page.fill("#password", password)
    newcomer.page.click("button[type=submit]")
    newcomer.page.wait_for_url(re.compile(r".*/senha$"))

    admin.go("/admin/usuarios?papel=navegador")
    admin.page.click("#usuario-nova\\.navegadora a")
    admin.page.click("#desativar")
    admin.page.wait_for_selector("#feito")
    assert admin.page.inner_text("#situacao") == "Desativado"

    again = open_session(None)
    again.go("/login")
    again.page.fill("#username", "nova.navegadora")
    again.page.fill("#password", password)
    again.page.click("button[type=submit]")
    again.page.get_by_text("Usuário ou senha incorretos").first.wait_for()  # the form re-renders after the post
    assert "Usuário ou senha incorretos" in again.page.content()
    # the session opened before the deactivation is over too
    newcomer.page.goto(newcomer.base + "/navegacao")
    assert "/login" in newcomer.page.url
