"""CSV and XLSX downloads of the Ressarcimento pages and API: a report is a title, a header and rows; the writers
here turn it into bytes. Money stays ``Decimal`` (the XLSX cell holds the number with a two-decimal format; the
CSV writes it with a decimal comma, as spreadsheets in Brazil read it)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Final

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

Cell = str | int | Decimal | date | bool | None

CSV_MEDIA_TYPE: Final = "text/csv; charset=utf-8"
XLSX_MEDIA_TYPE: Final = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FORMATS: Final = ("csv", "xlsx")


@dataclass(frozen=True)
class Report:
    name: str  # the file name without extension
    title: str  # the sheet's title (Portuguese)
    header: tuple[str, ...]
    rows: list[tuple[Cell, ...]]


def _csv_cell(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "sim" if value else "não"
    if isinstance(value, Decimal):
        return f"{value:.2f}".replace(".", ",")
    if isinstance(value, datetime | date):
        return f"{value:%d/%m/%Y}"
    return str(value)


def to_csv(report: Report) -> bytes:
    """``;``-separated, UTF-8 with BOM (so spreadsheets detect the accents)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(report.header)
    for row in report.rows:
        writer.writerow([_csv_cell(v) for v in row])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def to_xlsx(report: Report) -> bytes:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = report.title[:31]
    ws.append(list(report.header))
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for row in report.rows:
        ws.append(["sim" if v is True else "não" if v is False else v for v in row])
    for column in ws.iter_cols(min_row=2):
        for cell in column:
            if isinstance(cell.value, Decimal | float):
                cell.number_format = "#,##0.00"
            elif isinstance(cell.value, datetime | date):
                cell.number_format = "DD/MM/YYYY"
    for i, name in enumerate(report.header, start=1):
        ws.column_dimensions[get_column_letter(i)].width = max(12, min(48, len(name) + 4))
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def render(report: Report, fmt: str) -> tuple[bytes, str, str]:
    """(content, media type, file name) of ``report`` in ``fmt`` (csv or xlsx)."""
    if fmt == "xlsx":
        return to_xlsx(report), XLSX_MEDIA_TYPE, f"{report.name}.xlsx"
    return to_csv(report), CSV_MEDIA_TYPE, f"{report.name}.csv"


def rows_of(values: Sequence[Sequence[Cell]]) -> list[tuple[Cell, ...]]:
    return [tuple(v) for v in values]
