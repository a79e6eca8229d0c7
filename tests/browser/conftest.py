"""The real application in a real browser: regula served by uvicorn (in a thread) on a database of its own, seeded
with the reference data, the Santa Catarina demonstration data and one user per role; Debian's chromium driven by
Playwright, headless. Screenshots go to ``$REGULA_ARTIFACTS_DIR/screenshots`` (default ``test-artifacts/``).

Skipped, with the reason, only when the browser is not installed (``.ci/run`` installs it)."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from regula.config import Settings
from tests.conftest import throwaway_database

CHROMIUM = Path(os.environ.get("REGULA_CHROMIUM", "/usr/bin/chromium"))
SKIP_REASON = f"chromium não encontrado em {CHROMIUM} (instale o pacote Debian 'chromium'; .ci/run o instala)"
needs_chromium = pytest.mark.skipif(not CHROMIUM.exists(), reason=SKIP_REASON)
ARTIFACTS = Path(os.environ.get("REGULA_ARTIFACTS_DIR", Path(__file__).resolve().parents[2] / "test-artifacts"))
PASSWORD = "senha-do-navegador-1"
DEMO_CITIZENS = 1500
# A cardiology agenda in Florianópolis with room for every cardiology referral of the region: the referral the
# test makes is then surely scheduled by the allocation run it launches.
EXTRA_CNES = "9990001"
CARDIOLOGY = "0902010026"

USERS: dict[str, tuple[str, str, str]] = {
    "solicitante": ("ubs.teste", "municipality:4205407", "UBS Centro Florianópolis"),
    "regulador": ("regulador.teste", "uf:SC", "Central de Regulação SC"),
    "gestor": ("gestora.teste", "uf:SC", "Gestora Estadual SC"),
    "navegador": ("navegadora.teste", "uf:SC", "Navegadora do Cuidado"),
    "teleconsultor": ("teleconsultora.teste", "uf:SC", "Teleconsultoria SC"),
}


@dataclass
class LiveServer:
    url: str
    settings: Settings
    users: dict[str, str] = field(default_factory=dict)  # role → username


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _seed(url: str, settings: Settings) -> None:
    from rich.console import Console

    from regula.access import service as access
    from regula.audit.service import AuditContext, set_context
    from regula.demo import load_demo_data
    from regula.providers import service as providers
    from regula.providers.schemas import EstablishmentIn, OfferIn, SlotIn
    from regula.seed import load_reference_data

    engine = create_async_engine(url)
    sessions = async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
    try:
        async with sessions() as s:
            await load_reference_data(s, settings, Console(quiet=True))
            await s.commit()
        async with sessions() as s:
            await load_demo_data(s, settings, citizens=DEMO_CITIZENS)
            await s.commit()
        async with sessions() as s:
            set_context(s, AuditContext.system("test", "browser-seed"))
            for role, (username, jurisdiction, full_name) in USERS.items():
                await access.create_user(
                    s, username=username, full_name=full_name, role=role, jurisdiction=jurisdiction, password=PASSWORD
                )
            await providers.upsert_establishment(
                s, EstablishmentIn(EXTRA_CNES, "Ambulatório de Cardiologia do Estreito", "4205407", "contratado")
            )
            await providers.set_offer(s, EXTRA_CNES, OfferIn(CARDIOLOGY), [CARDIOLOGY])
            day = datetime.now(ZoneInfo(settings.timezone)).date() + timedelta(days=3)
            starts = datetime.combine(day, datetime.min.time(), ZoneInfo(settings.timezone)).replace(hour=9)
            await providers.add_slot(s, SlotIn(EXTRA_CNES, CARDIOLOGY, starts, capacity=80), settings)
            await s.commit()
    finally:
        await engine.dispose()


class _Server(threading.Thread):
    def __init__(self, app: Any, port: int) -> None:
        import uvicorn

        super().__init__(daemon=True)
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, log_config=None)
        )

    def run(self) -> None:
        self.server.run()

    def stop(self) -> None:
        self.server.should_exit = True
        self.join(timeout=15)


@pytest.fixture(scope="module")
def live_server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    if not CHROMIUM.exists():
        pytest.skip(SKIP_REASON)
    from regula.db.engine import make_database
    from regula.web.app import create_app

    port = _free_port()
    with throwaway_database(database_url, "regula_browser") as url:
        settings = Settings(
            home=tmp_path_factory.mktemp("browser-home"),
            database_url=SecretStr(url),
            environment="test",
            log_json=False,
            log_level="WARNING",
            public_base_url=f"http://127.0.0.1:{port}",
        )
        asyncio.run(_seed(url, settings))
        db = make_database(url, pool_size=5)
        app = create_app(settings, db.sessionmaker)

        async def dispose() -> None:
            await db.dispose()

        app.on_shutdown.append(dispose)
        server = _Server(app, port)
        server.start()
        deadline = time.monotonic() + 30
        while not server.server.started:
            if time.monotonic() > deadline or not server.is_alive():
                raise RuntimeError("o servidor de teste não iniciou")
            time.sleep(0.05)
        try:
            yield LiveServer(f"http://127.0.0.1:{port}", settings, {r: u[0] for r, u in USERS.items()})
        finally:
            server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(SKIP_REASON)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox", "--lang=pt-BR"]
        )
        yield chromium
        chromium.close()


@dataclass
class Session:
    """One person's browser tab, with the console errors it saw."""

    page: Any
    errors: list[str]
    base: str

    def go(self, path: str) -> Any:
        response = self.page.goto(self.base + path)
        assert response is not None and response.status < 400, (path, response and response.status)
        return response

    def shot(self, name: str) -> Path:
        target = ARTIFACTS / "screenshots" / f"{name}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(target), full_page=True)
        return target


@pytest.fixture
def open_session(live_server: LiveServer, browser: Any) -> Iterator[Callable[..., Session]]:
    """A new browser context, logged in as the role given (or anonymous for ``None``)."""
    contexts: list[Any] = []

    def _open(role: str | None, *, width: int = 1280, height: int = 900, javascript: bool = True) -> Session:
        context = browser.new_context(
            viewport={"width": width, "height": height},
            locale="pt-BR",
            timezone_id="America/Sao_Paulo",
            java_script_enabled=javascript,
            accept_downloads=True,
        )
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(20_000)
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        session = Session(page, errors, live_server.url)
        if role is not None:
            session.go("/login")
            page.fill("#username", live_server.users[role])
            page.fill("#password", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(live_server.url + "/")
        return session

    yield _open
    for c in contexts:
        c.close()
