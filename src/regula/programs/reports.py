"""Report writers of the programs: the monthly CIB report and the quarterly CIT summary (Portaria GM/MS 3.492/2024
art. 13; Portaria GM/MS 90/2023 art. 7 II) as CSV and XLSX bytes. Pure module: a :class:`Report` in, bytes out; the
pages and the API choose the data and the file name.

CSV — as Brazilian spreadsheets (Excel and LibreOffice in pt-BR) open it with a double click, and as the dashboard's
CSV downloads already are (``regula.web.charts.csv_response``): UTF-8 **with BOM** (without it Excel reads
Latin-1), ``;`` separated, CRLF line ends, one header row and no title line (a title would be read as data),
**decimal comma** and no thousands separator (``1234,50``: pt-BR Excel parses it as the number 1234.5), money always
with two decimals, dates ``dd/mm/aaaa``, percentages as their number (``12,5``), an empty field for no value.

XLSX (openpyxl) — the title in A1 (bold), the header row in row 3 (bold, filled), data from row 4 with the panes
frozen below the header; numbers are written as numbers (never text) with a format per column kind: money
``#,##0.00`` (Excel shows it with the reader's separators: ``1.234,50`` in pt-BR), integers ``#,##0``, percentages
``0.0%`` (stored as fractions), dates ``dd/mm/yyyy``; Decimal values are converted to float only at this boundary,
which the XLSX format itself requires (its numbers are IEEE doubles); every money value has at most two decimals,
which a double carries exactly to the centavo when read back and rounded.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Final, Literal

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from regula.programs.money import centavos

Kind = Literal["text", "integer", "money", "decimal", "percent", "date"]
Value = str | int | Decimal | date | None

MONEY_FORMAT: Final = "#,##0.00"
INTEGER_FORMAT: Final = "#,##0"
DECIMAL_FORMAT: Final = "#,##0.00##"
PERCENT_FORMAT: Final = "0.0%"
DATE_FORMAT: Final = "dd/mm/yyyy"
_FORMATS: Final[dict[str, str]] = {
    "money": MONEY_FORMAT,
    "integer": INTEGER_FORMAT,
    "decimal": DECIMAL_FORMAT,
    "percent": PERCENT_FORMAT,
    "date": DATE_FORMAT,
}
HEADER_ROW: Final = 3
CSV_MEDIA_TYPE: Final = "text/csv"
XLSX_MEDIA_TYPE: Final = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass(frozen=True)
class Column:
    header: str  # in Portuguese, as the reader sees it
    kind: Kind = "text"


@dataclass(frozen=True)
class Report:
    """A table to download. ``percent`` values are fractions (``Decimal("0.125")`` is 12.5%)."""

    title: str
    columns: Sequence[Column]
    rows: Sequence[Sequence[Value]]
    notes: Sequence[str] = field(default_factory=tuple)  # shown under the table in the XLSX (sources, rules)
    sheet_name: str = "Relatório"

    def __post_init__(self) -> None:
        width = len(self.columns)
        for i, row in enumerate(self.rows):
            if len(row) != width:
                raise ValueError(f"row {i} has {len(row)} values for {width} columns")


def report(
    title: str, columns: Sequence[Column | str], rows: Sequence[Sequence[Value]], *, notes: Sequence[str] = ()
) -> Report:
    """Convenience: a header given as a plain string gets its kind from its values — a column of Decimals is money,
    of ints integers, of dates dates, anything else text."""
    cols = [c if isinstance(c, Column) else Column(c, _infer(rows, i)) for i, c in enumerate(columns)]
    return Report(title, cols, rows, notes=notes)


def _infer(rows: Sequence[Sequence[Value]], index: int) -> Kind:
    values = [row[index] for row in rows if row[index] is not None]
    if values and all(isinstance(v, Decimal) for v in values):
        return "money"
    if values and all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return "integer"
    if values and all(isinstance(v, date) for v in values):
        return "date"
    return "text"


def _decimal_comma(value: Decimal) -> str:
    return format(value, "f").replace(".", ",")


def csv_cell(value: Value, kind: Kind) -> str:
    """One CSV field by the rules of the module docstring."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%d/%m/%Y %H:%M")
    if isinstance(value, date):
        return value.strftime("%d/%m/%Y")
    if isinstance(value, bool):
        return "sim" if value else "não"
    if kind == "money" and isinstance(value, Decimal | int):
        return _decimal_comma(centavos(Decimal(value)))
    if kind == "percent" and isinstance(value, Decimal | int):
        return _decimal_comma((Decimal(value) * 100).normalize())
    if isinstance(value, Decimal):
        return _decimal_comma(value)
    return str(value)


def to_csv(rep: Report) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow([c.header for c in rep.columns])
    for row in rep.rows:
        writer.writerow([csv_cell(v, c.kind) for v, c in zip(row, rep.columns, strict=True)])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def _xlsx_value(value: Value, kind: Kind) -> str | int | float | date | None:
    if value is None or isinstance(value, str | date):
        return value
    if isinstance(value, bool):
        return "sim" if value else "não"
    if kind == "money":
        return float(centavos(Decimal(value)))
    if isinstance(value, Decimal):
        return float(value)
    return value


def to_xlsx(rep: Report) -> bytes:
    wb = Workbook()
    ws = wb.active
    assert ws is not None  # a new workbook always has its sheet
    ws.title = rep.sheet_name[:31]  # Excel's limit
    ws.cell(row=1, column=1, value=rep.title).font = Font(bold=True, size=13)
    header_fill = PatternFill("solid", fgColor="DDE6F0")
    for j, column in enumerate(rep.columns, start=1):
        cell = ws.cell(row=HEADER_ROW, column=j, value=column.header)
        cell.font = Font(bold=True)
        cell.fill = header_fill
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    for i, row in enumerate(rep.rows, start=HEADER_ROW + 1):
        for j, (value, column) in enumerate(zip(row, rep.columns, strict=True), start=1):
            cell = ws.cell(row=i, column=j, value=_xlsx_value(value, column.kind))
            number_format = _FORMATS.get(column.kind)
            if number_format and value is not None and not isinstance(value, str):
                cell.number_format = number_format
    for k, note in enumerate(rep.notes):
        ws.cell(row=HEADER_ROW + len(rep.rows) + 2 + k, column=1, value=note).font = Font(italic=True)
    ws.freeze_panes = f"A{HEADER_ROW + 1}"
    for j, column in enumerate(rep.columns, start=1):
        longest = max([len(column.header)] + [len(csv_cell(r[j - 1], column.kind)) for r in rep.rows])
        ws.column_dimensions[get_column_letter(j)].width = min(max(10, longest + 4), 60)
    sink = io.BytesIO()
    wb.save(sink)
    return sink.getvalue()
