"""A state manager changes an OCI's referral protocol in the browser and the APS team's referral form follows it at
once (Portaria 3.492/2024 art. 10 §1 III; decision 0020); the form refuses a referral that misses the new item."""

from __future__ import annotations

import random
from collections.abc import Callable

from regula.people.documents import generate_cpf
from tests.browser.conftest import CARDIOLOGY, Session, needs_chromium

pytestmark = needs_chromium
OpenSession = Callable[..., Session]


def test_manager_edits_a_protocol_and_the_referral_form_follows(open_session: OpenSession) -> None:
    gestor = open_session("gestor")
    gestor.go("/")
    gestor.page.click("nav >> text=Protocolos")
    gestor.page.fill("#f-busca", "cardiol")
    gestor.page.click("button:has-text('Filtrar')")
    gestor.page.click(f"text={CARDIOLOGY}")
    gestor.page.get_by_text("Versão 1, vigente desde").first.wait_for()  # the OCI's page has loaded
    assert "Versão 1, vigente desde" in gestor.page.content()  # the starting version `regula seed` stored
    gestor.shot("protocolos-01-oci")
    # The form comes filled with the version in force; a new required item goes in the first blank row.
    assert gestor.page.input_value("#item-chave-1") == "ecg_anexado"
    gestor.page.fill("#item-chave-3", "pressao_arterial_registrada")
    gestor.page.fill("#item-rotulo-3", "Pressão arterial das três últimas consultas registrada")
    gestor.page.fill("#motivo", "Inclui a medida da pressão arterial, pedido da câmara técnica")
    gestor.page.click("button:has-text('Gravar nova versão')")
    # The form posts and redirects (303); read the page only once the redirect's document has loaded.
    gestor.page.wait_for_url("**/gestao/protocolos/*?feito=criada")
    gestor.page.wait_for_load_state("domcontentloaded")
    assert "Nova versão do protocolo gravada." in gestor.page.content()
    assert "Versão 2, vigente desde" in gestor.page.content()
    gestor.shot("protocolos-02-nova-versao")

    aps = open_session("solicitante")
    aps.go(f"/aps/encaminhar?oci={CARDIOLOGY}")
    assert "Pressão arterial das três últimas consultas registrada" in aps.page.content()
    aps.page.select_option("#cid_code", "Z136")
    aps.page.check("#risco-verde")
    aps.page.fill("#risk_justification", "Hipertensão de difícil controle, dor torácica atípica.")
    aps.page.check("#check-ecg_anexado")
    aps.page.check("#check-exames_laboratoriais_recentes")
    aps.page.fill("#requesting_cnes", "2691868")
    aps.page.fill("#cpf", generate_cpf(random.Random()))
    aps.page.fill("#name", "Jurema Batista Lopes")
    aps.page.fill("#birth_date", "1961-08-30")
    aps.page.check("#sexo-F")
    aps.page.select_option("#race_color", "parda")
    aps.page.fill("#phone", "(48) 99811-2233")
    aps.page.click("text=Enviar à regulação")
    assert "Pressão arterial" in aps.page.locator("#erro-checklist").inner_text()
    aps.page.check("#check-pressao_arterial_registrada")
    aps.page.click("text=Enviar à regulação")
    aps.page.wait_for_url("**/aps/encaminhamentos/*?feito=criada")
    assert "Pressão arterial das três últimas consultas registrada" in aps.page.content()  # read back by version
