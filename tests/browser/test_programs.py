"""Program management in a real browser, on the demonstration data: the state manager opens the demo's PAR from
the menu, sees planned vs executed as charts, the funding ledger (advance, earned, due, at risk) and the contract
delivering less than contracted, downloads the monthly CIB report (CSV and XLSX) and opens its print-ready page."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

from openpyxl import load_workbook

from regula.demo.programs import TITLE_PREFIX
from tests.browser.conftest import Session, needs_chromium
from tests.browser.test_journeys import real_errors

pytestmark = needs_chromium
OpenSession = Callable[..., Session]


def test_manager_reads_the_par_ledger_contracts_and_downloads_the_cib_report(
    open_session: OpenSession, tmp_path: Path
) -> None:
    gestor = open_session("gestor")
    gestor.go("/")
    gestor.page.click("nav >> text=PAR e financiamento")
    gestor.page.wait_for_selector("h1")
    assert "Planos de Ação Regional" in gestor.page.inner_text("h1")
    gestor.page.click(f"a:has-text('{TITLE_PREFIX}')")
    gestor.page.wait_for_selector("#h-execucao")
    assert TITLE_PREFIX in gestor.page.inner_text("h1")

    # Planned vs executed: two server-rendered charts, with their numbers
    assert gestor.page.locator("#par-quantidade svg.grafico").count() == 1
    assert gestor.page.locator("#par-valor svg.grafico").count() == 1
    # The ledger: approved, advanced (30%), earned, due, at risk
    ledger = gestor.page.inner_text("#razao")
    for label in ("aprovado", "adiantado (30%)", "ganho pela produção", "devido", "em risco"):
        assert label in ledger
    assert "Adiantamento liberado" in ledger and "R$" in ledger
    # The contract delivering less than contracted is highlighted
    contracts = gestor.page.locator("#contratos")
    assert "1 contrato com entrega abaixo do contratado" in contracts.inner_text()
    assert gestor.page.locator("tr.abaixo-do-contratado").count() == 1
    assert "Entrega abaixo do contratado" in gestor.page.locator("tr.abaixo-do-contratado").inner_text()
    gestor.shot("40-programas-par")

    # The monthly CIB report, as CSV and XLSX
    with gestor.page.expect_download() as info:
        gestor.page.click("a:has-text('(CSV)')")
    csv_file = tmp_path / "cib.csv"
    info.value.save_as(csv_file)
    text = csv_file.read_text(encoding="utf-8-sig")
    header, *rows = text.splitlines()
    assert header.startswith("Gestor executor;OCI;CNES;Estabelecimento;Quantidade planejada") and rows
    with gestor.page.expect_download() as info:
        gestor.page.click("a:has-text('(XLSX)'):not(:has-text('CIT'))")
    sheet = load_workbook(io.BytesIO(Path(info.value.path()).read_bytes())).active
    assert sheet is not None and "Relatório mensal à CIB" in str(sheet["A1"].value)

    # The print-ready page
    gestor.page.click("text=Versão para impressão")
    gestor.page.wait_for_selector("h1")
    assert "Relatório mensal à CIB" in gestor.page.inner_text("h1")
    assert gestor.page.locator("table tbody tr").count() == len(rows)
    gestor.shot("41-programas-cib-impressao")
    assert real_errors(gestor) == []
