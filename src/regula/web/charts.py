"""Tiny server-rendered SVG bar charts (no JavaScript, nothing to download) and CSV downloads of their numbers.

A chart is a horizontal bar per category, optionally split in stacked segments (a distribution). The SVG carries
a title and a description for screen readers, and every page that shows a chart also offers its numbers as a
table and as CSV, so nobody depends on reading a picture.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from html import escape
from typing import Final

from litestar import Response
from markupsafe import Markup

# Sequential blues for distributions (light → dark, ordered like the buckets they colour); a single series is the
# application's blue. Each passes 3:1 against white when it is a bar's only colour.
SEQUENTIAL = ("#9ecae1", "#6baed6", "#3182bd", "#08519c", "#08306b")
SINGLE = "#0b4f8a"
TEXT = "#1b1f24"
MUTED = "#4a525c"

LABEL_WIDTH = 380
BAR_AREA = 340
VALUE_WIDTH = 190
ROW_HEIGHT = 26
BAR_HEIGHT = 18
TOP = 8
LEGEND_ROW = 22


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    segments: tuple[float, ...] = ()
    value_text: str | None = None  # what is written at the bar's end; the value when None
    href: str | None = None


@dataclass(frozen=True)
class Chart:
    key: str  # used in ids and in the CSV file name
    title: str
    bars: Sequence[Bar]
    unit: str = ""
    segment_labels: Sequence[str] = ()
    max_value: float | None = None
    description: str = ""
    csv_header: Sequence[str] = ()
    csv_rows: Sequence[Sequence[object]] = field(default_factory=list)
    compact: bool = False  # for half-width cards: narrower label, bar and value columns


def _fmt(value: float) -> str:
    if float(value).is_integer():
        return f"{int(value):,}".replace(",", ".")
    return f"{value:,.1f}".replace(",", "_").replace(".", ",").replace("_", ".")


def _char_width(ch: str) -> float:
    if ch == " ":
        return 3.8
    if ch.isupper():
        return 9.0
    if ch.isdigit():
        return 7.8
    return 7.4 if ch.isalpha() else 4.8


def _text_width(text: str) -> float:
    """Rough width in pixels of ``text`` at 13px in a sans-serif face (no font metrics on the server)."""
    return sum(_char_width(ch) for ch in text)


def _short(label: str, room: float) -> str:
    if _text_width(label) <= room:
        return label
    while label and _text_width(label + "…") > room:
        label = label[:-1]
    return label.rstrip() + "…"


def render(chart: Chart) -> Markup:
    """The chart as an inline ``<svg>`` element (escaped text, fixed palette)."""
    bars = list(chart.bars)
    label_width, bar_area, value_width = (230, 220, 90) if chart.compact else (LABEL_WIDTH, BAR_AREA, VALUE_WIDTH)
    width = label_width + bar_area + value_width
    legend_h = LEGEND_ROW if chart.segment_labels else 0
    height = TOP + legend_h + max(1, len(bars)) * ROW_HEIGHT + 8
    top = max((b.value for b in bars), default=0.0)
    scale_max = chart.max_value if chart.max_value is not None else top
    scale = bar_area / scale_max if scale_max > 0 else 0.0
    ident = f"grafico-{escape(chart.key)}"
    parts = [
        f'<svg class="grafico" role="img" aria-labelledby="{ident}-t {ident}-d" viewBox="0 0 {width} {height}" '
        f'width="100%" xmlns="http://www.w3.org/2000/svg" font-family="system-ui, sans-serif" font-size="13">',
        f'<title id="{ident}-t">{escape(chart.title)}</title>',
        f'<desc id="{ident}-d">{escape(chart.description or _describe(chart))}</desc>',
    ]
    if chart.segment_labels:
        x: float = label_width
        for i, name in enumerate(chart.segment_labels):
            color = SEQUENTIAL[i % len(SEQUENTIAL)]
            parts.append(f'<rect x="{x}" y="{TOP}" width="12" height="12" fill="{color}"/>')
            parts.append(f'<text x="{x + 16}" y="{TOP + 11}" fill="{TEXT}">{escape(name)}</text>')
            x += 24 + 7 * len(name)
    if not bars:
        parts.append(f'<text x="{label_width}" y="{TOP + legend_h + 17}" fill="{MUTED}">Sem dados no período.</text>')
    for row, bar in enumerate(bars):
        y = TOP + legend_h + row * ROW_HEIGHT
        label = escape(_short(bar.label, label_width - 24))
        parts.append(
            f'<text x="{label_width - 8}" y="{y + 14}" text-anchor="end" fill="{TEXT}">'
            f"<title>{escape(bar.label)}</title>{label}</text>"
        )
        if bar.segments:
            x = label_width
            for i, seg in enumerate(bar.segments):
                w = seg * scale
                if w <= 0:
                    continue
                name = chart.segment_labels[i] if i < len(chart.segment_labels) else ""
                parts.append(
                    f'<rect x="{x:.1f}" y="{y + 2}" width="{w:.1f}" height="{BAR_HEIGHT}" '
                    f'fill="{SEQUENTIAL[i % len(SEQUENTIAL)]}"><title>{escape(bar.label)} · {escape(name)}: '
                    f"{_fmt(seg)}</title></rect>"
                )
                x += w
        else:
            w = max(0.0, min(bar.value, scale_max) * scale)
            parts.append(
                f'<rect x="{label_width}" y="{y + 2}" width="{w:.1f}" height="{BAR_HEIGHT}" fill="{SINGLE}">'
                f"<title>{escape(bar.label)}: {escape(bar.value_text or _fmt(bar.value))}{escape(chart.unit)}</title>"
                "</rect>"
            )
        end = label_width + min(bar.value, scale_max) * scale + 6
        text = bar.value_text or f"{_fmt(bar.value)}{chart.unit}"
        parts.append(f'<text x="{end:.1f}" y="{y + 15}" fill="{TEXT}">{escape(text)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every piece of text above went through escape()


def _describe(chart: Chart) -> str:
    shown = ", ".join(f"{b.label}: {b.value_text or _fmt(b.value) + chart.unit}" for b in list(chart.bars)[:12])
    more = f" e mais {len(chart.bars) - 12}" if len(chart.bars) > 12 else ""
    return f"{chart.title}. {shown}{more}." if shown else f"{chart.title}: sem dados."


def _cell(value: object) -> str:
    # Brazilian spreadsheets: decimal comma (the separator is the semicolon, so there is no clash).
    if isinstance(value, float | Decimal):
        return f"{value:.4f}".rstrip("0").rstrip(".").replace(".", ",")
    return "" if value is None else str(value)


def csv_response(filename: str, header: Sequence[str], rows: Sequence[Sequence[object]]) -> Response[bytes]:
    """CSV as Brazilian spreadsheets open it: UTF-8 with BOM, ``;`` separated, decimal comma."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([_cell(v) for v in row] for row in rows)
    return Response(
        ("\ufeff" + buffer.getvalue()).encode("utf-8"),
        media_type="text/csv",  # Litestar appends "; charset=utf-8" to text/* types
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


#: The on-screen titles of the CSV columns ("Ver os números"); a column not listed is titled by its name.
TABLE_TITLES_PT: Final = {
    "codigo": "Código",
    "nome": "Nome",
    "na_fila": "Na fila",
    "espera_ate_30": "Espera até 30 dias",
    "espera_31_60": "Espera de 31 a 60 dias",
    "espera_61_90": "Espera de 61 a 90 dias",
    "espera_91_180": "Espera de 91 a 180 dias",
    "espera_mais_180": "Espera de mais de 180 dias",
    "mediana_dias": "Mediana (dias)",
    "acima_75_tm": "Acima de 75% do tM",
    "concluidas": "Concluídas",
    "no_prazo": "No prazo",
    "percentual_no_prazo": "% no prazo",
    "atendimentos_previstos": "Atendimentos previstos",
    "faltas": "Faltas",
    "percentual_faltas": "% de faltas",
    "agendadas_no_periodo": "Agendadas no período",
    "mediana_dias_ate_agendamento": "Mediana de dias até o agendamento",
    "na_fila_agora": "Na fila agora",
    "mediana_dias_na_fila": "Mediana de dias na fila",
    "mes": "Mês",
    "planejado": "Planejado",
    "concluidas_adequadamente": "Concluídas adequadamente",
    "valor_planejado": "Valor planejado",
    "valor_producao_adequada": "Valor da produção adequada",
}
#: CSV columns that carry a machine key for spreadsheets ("sem_indice", "v1") next to its name: not shown.
_KEY_COLUMNS: Final = frozenset({"grupo"})


def table_header(chart: Chart) -> list[str]:
    """The chart's numbers as a table on the page: the CSV's columns, titled in Portuguese, without key columns."""
    return [TABLE_TITLES_PT.get(h, h.replace("_", " ")) for h in chart.csv_header if h not in _KEY_COLUMNS]


def table_rows(chart: Chart, fmt: Callable[[object], str] = _cell) -> list[list[str]]:
    keep = [i for i, h in enumerate(chart.csv_header) if h not in _KEY_COLUMNS] if chart.csv_header else None
    return [[fmt(v) for i, v in enumerate(row) if keep is None or i in keep] for row in chart.csv_rows]
