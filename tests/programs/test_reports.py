"""CSV and XLSX writers of the programs' reports, read back as a spreadsheet would."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from regula.programs.reports import (
    MONEY_FORMAT,
    PERCENT_FORMAT,
    Column,
    Report,
    csv_cell,
    report,
    to_csv,
    to_xlsx,
)

D = Decimal


def sample() -> Report:
    return Report(
        title="Relatório mensal à CIB — PAR Grande Florianópolis — março de 2025",
        columns=[
            Column("Estabelecimento (CNES)"),
            Column("OCI"),
            Column("Quantidade executada", "integer"),
            Column("Valor executado (R$)", "money"),
            Column("Execução", "percent"),
            Column("Competência", "date"),
        ],
        rows=[
            ["2691868", "Avaliação diagnóstica; oftalmologia", 1234, D("1234567.5"), D("0.125"), date(2025, 3, 1)],
            ["0019283", 'Cardiologia "adulto"', 0, D("0.01"), D("1"), None],
        ],
        notes=["Fonte: controle de produção do regula."],
    )


def test_csv_as_brazilian_spreadsheets_read_it() -> None:
    data = to_csv(sample())
    assert data.startswith(b"\xef\xbb\xbf")  # BOM
    text = data.decode("utf-8-sig")
    assert "\r\n" in text
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))
    assert rows[0] == [
        "Estabelecimento (CNES)",
        "OCI",
        "Quantidade executada",
        "Valor executado (R$)",
        "Execução",
        "Competência",
    ]
    assert rows[1] == ["2691868", "Avaliação diagnóstica; oftalmologia", "1234", "1234567,50", "12,5", "01/03/2025"]
    assert rows[2] == ["0019283", 'Cardiologia "adulto"', "0", "0,01", "100", ""]
    assert len(rows) == 3  # no title line


def test_csv_cells() -> None:
    assert csv_cell(D("10"), "money") == "10,00"
    assert csv_cell(D("0.005"), "money") == "0,01"  # half up
    assert csv_cell(D("1.25"), "decimal") == "1,25"
    assert csv_cell(datetime(2025, 3, 1, 14, 5), "date") == "01/03/2025 14:05"
    assert csv_cell(True, "text") == "sim"


def test_xlsx_numbers_are_numbers_with_formats() -> None:
    wb = load_workbook(io.BytesIO(to_xlsx(sample())))
    ws = wb.active
    assert ws is not None
    assert ws.title == "Relatório"
    assert ws["A1"].value.startswith("Relatório mensal à CIB")
    assert ws["A1"].font.bold
    assert [c.value for c in ws[3]] == [
        "Estabelecimento (CNES)",
        "OCI",
        "Quantidade executada",
        "Valor executado (R$)",
        "Execução",
        "Competência",
    ]
    assert all(c.font.bold for c in ws[3])
    assert ws.freeze_panes == "A4"
    assert ws["A4"].value == "2691868"  # codes stay text (leading zeros)
    assert ws["A5"].value == "0019283"
    assert ws["C4"].value == 1234 and isinstance(ws["C4"].value, int)
    assert isinstance(ws["D4"].value, float)
    assert D(str(ws["D4"].value)).quantize(D("0.01")) == D("1234567.50")
    assert ws["D4"].number_format == MONEY_FORMAT
    assert ws["D5"].value == pytest.approx(0.01)
    assert ws["E4"].value == pytest.approx(0.125) and ws["E4"].number_format == PERCENT_FORMAT
    assert ws["F4"].value == datetime(2025, 3, 1)
    assert ws["F4"].number_format == "dd/mm/yyyy"
    assert ws["F5"].value is None
    assert ws["A7"].value == "Fonte: controle de produção do regula."


def test_report_infers_kinds_and_checks_widths() -> None:
    rep = report("T", ["UF", "População", "Valor", "Data"], [["SC", 7338473, D("20640973.81"), date(2023, 2, 3)]])
    assert [c.kind for c in rep.columns] == ["text", "integer", "money", "date"]
    wb = load_workbook(io.BytesIO(to_xlsx(rep)))
    ws = wb.active
    assert ws is not None
    assert ws["C4"].value == pytest.approx(20640973.81) and ws["C4"].number_format == MONEY_FORMAT
    with pytest.raises(ValueError, match="row 0 has 1 values for 2 columns"):
        Report("T", [Column("a"), Column("b")], [["x"]])


def test_empty_report() -> None:
    rep = Report("Vazio", [Column("A"), Column("B", "money")], [])
    assert to_csv(rep).decode("utf-8-sig") == "A;B\r\n"
    ws = load_workbook(io.BytesIO(to_xlsx(rep))).active
    assert ws is not None and ws["A3"].value == "A" and ws.max_row == 3
