"""Each role does its main job in a real browser, on the demonstration data: the APS team refers, the operator
authorizes, an allocation run is launched, approved and committed, the navigator sees the appointment to confirm
and the messages sent, and the citizen sees the appointment on the public page. The manager reads the dashboard
and downloads its numbers. A screenshot of each main page is kept."""

from __future__ import annotations

import asyncio
import csv
import io
import random
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from regula.cli_support.processes import WorkerPool
from regula.config import Settings
from regula.db.engine import make_database
from regula.jobs.process import all_jobs
from regula.jobs.runner import run_job
from regula.people.documents import generate_cpf
from tests.browser.conftest import CARDIOLOGY, LiveServer, Session, needs_chromium

pytestmark = needs_chromium
OpenSession = Callable[..., Session]
BIRTH = "1957-04-12"


def real_errors(session: Session) -> list[str]:
    """Console errors other than the status of a page that answered a form with an error on purpose."""
    return [e for e in session.errors if "the server responded with a status of 4" not in e]


def solve_queue(settings: Settings) -> None:
    """What the jobs process does: its solver job, the optimizer in a worker process."""
    assert settings.database_url is not None

    async def go() -> None:
        db = make_database(settings.database_url.get_secret_value(), pool_size=2)
        workers = WorkerPool()
        try:
            record = await run_job(db, settings, all_jobs()["allocation_solver"], workers=workers)
            assert record is not None and record.counts is not None and record.counts["proposed"] == 1, record
        finally:
            workers.stop()
            await db.dispose()

    # A thread of its own: Playwright's synchronous API keeps an event loop in this one.
    with ThreadPoolExecutor(1) as thread:
        thread.submit(asyncio.run, go()).result()


def test_referral_to_appointment_end_to_end(open_session: OpenSession, live_server: LiveServer) -> None:
    cpf = generate_cpf(random.Random())

    # The APS team refers: OCI first (the page narrows the CIDs and the checklist), then the citizen.
    aps = open_session("solicitante")
    aps.go("/aps/encaminhar")
    aps.page.fill("#busca", "cardiol")  # filters the options as typed (and on the server without JavaScript)
    aps.page.select_option("#oci-escolha", CARDIOLOGY)  # submits the choice by itself
    aps.page.wait_for_selector("#cid_code")
    cid_options = aps.page.locator("#cid_code option").all_inner_texts()
    assert any(o.startswith("Z136") for o in cid_options) and not any(o.startswith("H25") for o in cid_options)
    aps.page.fill("#cpf", cpf[:-1] + str((int(cpf[-1]) + 1) % 10))
    aps.page.locator("#cpf").blur()
    assert "dígitos verificadores não conferem" in aps.page.locator("#js-erro-cpf").inner_text()  # as typed
    aps.page.fill("#cpf", cpf)
    aps.page.locator("#cpf").blur()
    assert aps.page.locator("#js-erro-cpf").inner_text() == ""
    aps.page.select_option("#cid_code", "Z136")
    aps.page.check("#risco-vermelho")
    aps.page.fill("#risk_justification", "Dor torácica em repouso há duas semanas, ECG com alteração isquêmica.")
    aps.page.check("#check-ecg_anexado")
    aps.page.fill("#requesting_cnes", "2691868")
    aps.page.fill("#name", "Rosa Amélia Nascimento")
    aps.page.fill("#birth_date", BIRTH)
    aps.page.check("#sexo-F")
    aps.page.select_option("#race_color", "preta")
    aps.page.fill("#phone", "(48) 99876-5432")
    aps.page.check("#contact_consent")
    aps.shot("01-aps-novo-encaminhamento")
    aps.page.click("text=Enviar à regulação")
    # One protocol item was left unchecked: the form says so next to the checklist and keeps what was typed.
    missing = aps.page.locator("#erro-checklist").inner_text()
    assert "Exames laboratoriais dos últimos seis meses" in missing and "_" not in missing  # the label, not the key
    assert aps.page.input_value("#name") == "Rosa Amélia Nascimento"
    aps.page.check("#check-exames_laboratoriais_recentes")
    aps.page.click("text=Enviar à regulação")
    aps.page.wait_for_url(re.compile(r".*/aps/encaminhamentos/\d+\?feito=criada"))
    assert "Encaminhamento enviado à regulação." in aps.page.content()
    protocol = aps.page.locator("h1 .codigo").inner_text().strip()
    assert re.fullmatch(r"SC\d{10}", protocol)
    aps.shot("02-aps-encaminhamento-enviado")
    aps.go("/aps")
    assert protocol in aps.page.content()
    aps.shot("03-aps-encaminhamentos")
    assert real_errors(aps) == []

    # The operator finds it among the referrals waiting for a decision and authorizes it.
    reg = open_session("regulador")
    reg.go("/regulacao/analise")
    reg.shot("04-regulacao-analise")
    reg.page.fill("#f-busca", protocol)
    reg.page.click("button:has-text('Filtrar')")
    reg.page.click(f"text={protocol}")
    reg.page.get_by_text("Rosa Amélia Nascimento").first.wait_for()  # the entry's page has loaded
    assert "Rosa Amélia Nascimento" in reg.page.content()
    assert "Eletrocardiograma recente anexado" in reg.page.content()
    reg.shot("05-regulacao-solicitacao")
    reg.page.click("button.botao-autorizada")
    reg.page.wait_for_url(re.compile(r".*\?feito=autorizada"))
    assert "a pessoa entrou na fila" in reg.page.content()
    assert "Classe vermelho" in reg.page.content()  # the score explained
    reg.shot("06-regulacao-autorizada")

    # An allocation run for the region: launched, reviewed, approved, committed.
    reg.go("/regulacao/alocacoes")
    reg.page.select_option("#escopo", "region:42007")
    reg.page.click("text=Calcular rodada")
    reg.page.wait_for_url(re.compile(r".*/regulacao/alocacoes/\d+\?feito=na_fila"))
    assert "Na fila: aguarda o cálculo" in reg.page.content()
    reg.shot("07-alocacao-na-fila")
    solve_queue(live_server.settings)
    # The page reloads itself while the run is queued: the proposal appears without a click.
    reg.page.wait_for_selector("text=Proposta: aguarda revisão", timeout=15_000)
    assert "Ambulatório de Cardiologia do Estreito" in reg.page.content()  # summary by provider
    reg.shot("07-alocacao-proposta")
    reg.page.click("text=Aprovar rodada")
    reg.page.wait_for_url(re.compile(r".*\?feito=aprovada"))
    reg.page.click("text=Efetivar: agendar as pessoas")
    reg.page.wait_for_url(re.compile(r".*\?feito=efetivada"))
    assert "Efetivada: vagas reservadas e pessoas agendadas" in reg.page.content()
    reg.shot("08-alocacao-efetivada")
    assert real_errors(reg) == []

    # The navigator sees the new appointment among those to confirm, and what the citizen was told.
    nav = open_session("navegador")
    # The box lists the 25 soonest of the state's unconfirmed appointments (a true count above it); the navigator
    # narrows it to the citizen's municipality, as the worklist's filter does (issue 17 item 1).
    nav.go("/navegacao?municipio=4205407")
    upcoming = nav.page.locator("section[aria-labelledby='h-confirmar']").inner_text()
    assert protocol in upcoming and "Pedido de confirmação" in upcoming
    nav.shot("09-navegacao-a-confirmar")
    nav.page.locator("section[aria-labelledby='h-confirmar'] tr", has_text=protocol).locator(
        "text=ver mensagens"
    ).click()
    log = nav.page.locator("main").inner_text()
    assert "Consulta marcada" in log and "Responda SIM ou NÃO" in log and protocol in log
    nav.shot("10-navegacao-mensagens")
    assert real_errors(nav) == []

    # The citizen, without logging in, sees the appointment.
    citizen = open_session(None, width=390, height=844)  # a phone
    citizen.go("/posicao")
    citizen.page.fill("#protocolo", protocol)
    citizen.page.fill("#nascimento", BIRTH)
    citizen.page.click("button:has-text('Consultar')")
    result = citizen.page.locator("section.resultado").inner_text()
    assert "Agendada" in result and "Data marcada" in result
    assert "Rosa A. N." in result and "Nascimento" not in result
    citizen.shot("11-publico-agendada")
    assert real_errors(citizen) == []


def test_operator_pages_show_real_queues(open_session: OpenSession) -> None:
    reg = open_session("regulador")
    reg.go("/regulacao/filas")
    rows = reg.page.locator("table tbody tr")
    assert rows.count() > 10
    reg.shot("10-regulacao-filas")
    reg.page.locator("table tbody tr").first.locator("text=Ver fila").click()
    assert reg.page.locator("table.entradas tbody tr").count() >= 1
    assert "1ª" in reg.page.locator("table.entradas tbody tr").first.inner_text()
    reg.go("/regulacao/entradas")
    reg.page.locator("details.pontos summary").first.click()  # the score's breakdown opens in place
    assert reg.page.locator("details.pontos table").first.is_visible()
    reg.shot("11-regulacao-fila-de-espera")
    reg.go("/regulacao/agendas")
    assert re.search(r"[\d.]+ de [\d.]+ vagas ocupadas", reg.page.content())
    reg.shot("12-agendas")
    assert real_errors(reg) == []


def test_manager_dashboard_and_csv(open_session: OpenSession, tmp_path: Path) -> None:
    gestor = open_session("gestor")
    gestor.go("/gestao")
    assert gestor.page.locator("svg.grafico").count() == 9
    gestor.shot("13-gestao-painel")
    with gestor.page.expect_download() as info:
        gestor.page.click("a[href='/gestao/csv/fila-oci.csv']")
    target = tmp_path / "fila.csv"
    info.value.save_as(target)
    rows = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8-sig")), delimiter=";"))
    assert rows and int(rows[0]["na_fila"]) > 0 and rows[0]["codigo"].startswith("09")
    assert real_errors(gestor) == []


def test_pages_fit_a_tablet_and_work_without_javascript(open_session: OpenSession) -> None:
    for role, path, name in (
        ("regulador", "/regulacao/entradas", "14-tablet-fila"),
        ("solicitante", "/aps/encaminhar?oci=0902010026", "15-tablet-encaminhar"),
        ("gestor", "/gestao", "16-tablet-painel"),
    ):
        tablet = open_session(role, width=768, height=1024)
        tablet.go(path)
        overflow = tablet.page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, (path, overflow)  # wide tables scroll inside their box, not the page
        tablet.shot(name)
    plain = open_session("solicitante", javascript=False)
    plain.go("/aps/encaminhar")
    plain.page.select_option("#oci-escolha", CARDIOLOGY)
    plain.page.click("button:has-text('Escolher OCI')")  # without JavaScript the choice needs the button
    assert plain.page.locator("#cid_code").count() == 1
    plain.page.fill("#cpf", "111.111.111-11")
    plain.page.click("text=Enviar à regulação")
    assert "todos os dígitos iguais" in plain.page.locator("#erro-cpf").inner_text()  # checked on the server
    plain.page.keyboard.press("Tab")
    assert plain.page.evaluate("document.activeElement !== document.body")
