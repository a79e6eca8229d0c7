"""Closing the loop with primary care in a real browser, on the demonstration data (issue 16, decision 21): the APS
team opens a concluded OCI's counter-referral and confirms it read it; the teleconsultor answers a gated referral
with a suggested risk class, and the regulator then puts it in the queue."""

from __future__ import annotations

import re
from collections.abc import Callable

from tests.browser.conftest import LiveServer, Session, needs_chromium

pytestmark = needs_chromium
OpenSession = Callable[..., Session]


def real_errors(session: Session) -> list[str]:
    return [e for e in session.errors if "the server responded with a status of 4" not in e]


def test_aps_reads_a_counter_referral(open_session: OpenSession, live_server: LiveServer) -> None:
    aps = open_session("solicitante")
    aps.go("/aps")
    aps.page.click("nav.menu >> text=Contrarreferências")
    aps.page.wait_for_url(re.compile(r".*/aps/contrarreferencias$"))
    assert "não lida" in aps.page.content()
    aps.page.select_option("#f-leitura", "nao_lidas")
    aps.page.click("button:has-text('Filtrar')")
    aps.page.wait_for_url(re.compile(r".*leitura=nao_lidas.*"))
    aps.shot("care-01-aps-contrarreferencias")
    first = aps.page.locator("tbody a.codigo").first
    protocol = first.inner_text()
    first.click()
    aps.page.wait_for_url(re.compile(r".*/aps/contrarreferencias/\d+$"))
    assert "Achados (o que foi feito e o resultado)" in aps.page.content()
    assert "Conduta e seguimento na APS" in aps.page.content()
    assert protocol in aps.page.content()
    aps.page.click("button:has-text('Confirmar a leitura')")
    aps.page.wait_for_url(re.compile(r".*/aps/contrarreferencias/\d+\?feito=1$"))
    assert "Leitura confirmada." in aps.page.content()
    assert f"por {live_server.users['solicitante']}" in aps.page.content()
    aps.shot("care-02-aps-contrarreferencia-lida")
    # The referral's own page shows it as read.
    aps.page.click("text=Ver o encaminhamento")
    aps.page.get_by_text("Contrarreferência (CNES").first.wait_for()  # the referral's page has loaded
    assert "Contrarreferência (CNES" in aps.page.content() and "lida em" in aps.page.content()
    assert real_errors(aps) == []


def test_teleconsultor_answers_and_the_referral_enters_the_queue(
    open_session: OpenSession, live_server: LiveServer
) -> None:
    tele = open_session("teleconsultor")
    tele.go("/")
    tele.page.click("nav.menu >> text=Teleconsultoria")
    tele.page.wait_for_url(re.compile(r".*/teleconsultoria$"))
    assert "aguardando" in tele.page.content()
    tele.shot("care-03-teleconsultoria")
    link = tele.page.locator("tbody a:has-text('Responder')").first
    href = link.get_attribute("href")
    assert href is not None
    entry_id = int(href.rsplit("/", 1)[1])
    protocol = tele.page.locator("tbody tr").first.locator("span.codigo").first.inner_text()
    link.click()
    tele.page.wait_for_url(re.compile(rf".*/teleconsultoria/{entry_id}$"))
    # A suggestion without its class is refused, named next to the field, nothing changes.
    tele.page.check("#resposta-seguir_com_classe")
    tele.page.click("button:has-text('Registrar a resposta')")
    tele.page.get_by_text("Informe a classe de risco sugerida").first.wait_for()  # the form re-renders refused
    assert "Informe a classe de risco sugerida" in tele.page.content()
    tele.page.check("#resposta-seguir_com_classe")
    tele.page.select_option("#classe_sugerida", "vermelho")
    tele.page.fill("#orientacao", "ECG sugere isquemia: priorizar a avaliação presencial do cardiologista.")
    tele.shot("care-04-teleconsultoria-resposta")
    tele.page.click("button:has-text('Registrar a resposta')")
    tele.page.wait_for_url(re.compile(r".*/teleconsultoria\?feito=1$"))
    assert "Resposta registrada." in tele.page.content()
    assert protocol not in tele.page.content()
    assert real_errors(tele) == []

    # The regulator finds it waiting for a decision, with the specialist's class, and authorizes it.
    reg = open_session("regulador")
    reg.go(f"/regulacao/entradas/{entry_id}")
    content = reg.page.content()
    assert protocol in content and "Solicitada" in content
    assert "Teleconsultoria — Seguir para a regulação com a classe de risco sugerida: vermelho" in content
    reg.page.click("button.botao-autorizada")
    reg.page.wait_for_url(re.compile(r".*\?feito=autorizada"))
    assert "a pessoa entrou na fila" in reg.page.content()
    assert "Classe vermelho" in reg.page.content()
    reg.shot("care-05-regulacao-autorizada")

    # The APS team sees the answer on its referral.
    aps = open_session("solicitante")
    aps.go(f"/aps/encaminhamentos/{entry_id}")
    assert "Resposta da teleconsultoria" in aps.page.content()
    assert "priorizar a avaliação presencial" in aps.page.content()
