"""The simulation report as HTML: the dashboard's SVG bar charts (``web.charts``) and tables of the numbers, for a
report or a comparison (``regula.simulation.report``). Pure: a report dict in, a standalone HTML document out (the
same bytes for the same report). Used by ``regula simulate --html`` (passed in by the CLI's composition root) and
by the manager's page, which shows the same charts inside the application."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any, Final

from markupsafe import Markup

from regula.web.charts import Bar, Chart, render

RISK_LABELS: Final = {"vermelho": "Vermelho", "amarelo": "Amarelo", "verde": "Verde", "azul": "Azul"}
POLICY_LABELS: Final = {
    "fifo": "Ordem de chegada, sem mensagens",
    "fifo_reminders": "Ordem de chegada, com lembretes",
    "regula": "regula: prioridade, otimizador, confirmação e encaixe",
}
STYLE: Final = (
    "body{font-family:system-ui,sans-serif;color:#1b1f24;max-width:1000px;margin:24px auto;padding:0 12px}"
    "table{border-collapse:collapse;margin:8px 0 20px}td,th{border:1px solid #d0d7de;padding:4px 8px;text-align:right}"
    "th:first-child,td:first-child{text-align:left}svg.grafico{max-width:100%;height:auto;display:block}"
    "figure{margin:0 0 24px}figcaption{font-weight:600;margin-bottom:4px}.nota{color:#4a525c}"
)


def _num(value: Any, unit: str = "") -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        text = f"{value:,.1f}".replace(",", "_").replace(".", ",").replace("_", ".")
    elif isinstance(value, int):
        text = f"{value:,}".replace(",", ".")
    else:
        return escape(str(value))
    return f"{text}{unit}"


def _bar(label: str, value: Any, unit: str = "") -> Bar:
    v = float(value) if isinstance(value, int | float) else 0.0
    return Bar(label, v, value_text=_num(value, unit) if value is not None else "—")


def _figure(chart: Chart) -> str:
    return f"<figure><figcaption>{escape(chart.title)}</figcaption>{render(chart)}</figure>"


def _label(report: Mapping[str, Any]) -> str:
    sc = report["scenario"]
    return f"{sc['name']} ({POLICY_LABELS.get(sc['policy'], sc['policy'])}, capacidade ×{sc['capacity_factor']})"


def report_charts(report: Mapping[str, Any]) -> list[Chart]:
    m = report["metrics"]
    risks = [r for r in RISK_LABELS if r in m["median_wait_days"]]
    return [
        Chart(
            "tm-por-risco",
            "Concluídas dentro do tM, por classe de risco",
            [_bar(RISK_LABELS[r], m["concluded_within_tm_by_risk"].get(r), "%") for r in risks],
            unit="%",
            max_value=100,
        ),
        Chart(
            "espera-mediana",
            "Espera mediana até o primeiro procedimento, por classe de risco (dias)",
            [_bar(RISK_LABELS[r], m["median_wait_days"].get(r), " dias") for r in risks],
        ),
        Chart(
            "espera-p90",
            "Espera no percentil 90, por classe de risco (dias)",
            [_bar(RISK_LABELS[r], m["p90_wait_days"].get(r), " dias") for r in risks],
        ),
        Chart(
            "vagas",
            "Vagas e faltas",
            [
                _bar("Vagas usadas", m["slots_used_pct"], "%"),
                _bar("Vagas perdidas por falta", m["slots_lost_no_show_pct"], "%"),
                _bar("Taxa de faltas", m["no_show_pct"], "%"),
            ],
            unit="%",
            max_value=100,
        ),
    ]


def comparison_charts(comparison: Mapping[str, Any]) -> list[Chart]:
    reports: Sequence[Mapping[str, Any]] = comparison["reports"]
    names = [r["scenario"]["name"] for r in reports]

    def chart(key: str, title: str, get: Any, unit: str, top: float | None = None) -> Chart:
        return Chart(
            key,
            title,
            [_bar(n, get(r["metrics"]), unit) for n, r in zip(names, reports, strict=True)],
            unit=unit,
            max_value=top,
        )

    return [
        chart("cmp-tm", "Concluídas dentro do tM", lambda m: m["concluded_within_tm_pct"], "%", 100),
        chart("cmp-concluidas", "OCIs concluídas", lambda m: m["concluded"], ""),
        chart("cmp-no-prazo", "OCIs concluídas dentro do tM (número)", lambda m: m["concluded_within_tm"], ""),
        chart("cmp-atrasadas", "Aguardando além do tM ao fim do período", lambda m: m["waiting_past_tm_at_end"], ""),
        chart("cmp-faltas", "Taxa de faltas", lambda m: m["no_show_pct"], "%", 100),
        chart("cmp-vagas", "Vagas usadas", lambda m: m["slots_used_pct"], "%", 100),
        chart(
            "cmp-azul",
            "Espera mediana da classe azul (dias)",
            lambda m: m["median_wait_days"].get("azul"),
            " dias",
        ),
        chart(
            "cmp-vermelho",
            "Espera mediana da classe vermelha (dias)",
            lambda m: m["median_wait_days"].get("vermelho"),
            " dias",
        ),
        chart("cmp-equidade", "Maior diferença de espera entre grupos (equidade)", lambda m: m["equity_gap_pct"], "%"),
    ]


SUMMARY_ROWS: Final = (
    ("referrals", "Encaminhamentos", ""),
    ("concluded", "OCIs concluídas", ""),
    ("concluded_within_tm_pct", "Concluídas dentro do tM", "%"),
    ("no_show_pct", "Taxa de faltas", "%"),
    ("slots_used_pct", "Vagas usadas", "%"),
    ("equity_gap_pct", "Maior diferença de espera entre grupos", "%"),
    ("escalations", "Escalonamentos (75% do tM)", ""),
    ("waiting_at_end", "Aguardando ao fim", ""),
    ("waiting_past_tm_at_end", "Aguardando além do tM ao fim", ""),
)


def _interval(report: Mapping[str, Any], key: str, unit: str) -> str:
    iv = report.get("intervals", {}).get(key)
    if not iv or iv.get("low") is None:
        return "—"
    return f"{_num(iv['low'], unit)} a {_num(iv['high'], unit)}"


def summary_table(report: Mapping[str, Any]) -> Markup:
    m = report["metrics"]
    rows = "".join(
        f"<tr><td>{escape(label)}</td><td>{_num(m.get(key), unit)}</td><td>{_interval(report, key, unit)}</td></tr>"
        for key, label, unit in SUMMARY_ROWS
    )
    head = "<tr><th>Medida</th><th>Valor (média)</th><th>IC 95%</th></tr>"
    return Markup(f"<table>{head}{rows}</table>")  # noqa: S704 - every text above went through escape()


def differences_table(comparison: Mapping[str, Any]) -> Markup:
    head = "<tr><th>Cenário</th>" + "".join(f"<th>{escape(label)}</th>" for _, label, _ in SUMMARY_ROWS[1:6]) + "</tr>"
    rows = []
    for diff in comparison["differences"]:
        cells = []
        for key, _, unit in SUMMARY_ROWS[1:6]:
            iv = diff.get(key)
            if not iv:
                cells.append("<td>—</td>")
                continue
            ci = "" if iv.get("low") is None else f" ({_num(iv['low'], unit)} a {_num(iv['high'], unit)})"
            sign = "+" if iv["mean"] > 0 else ""
            cells.append(f"<td>{sign}{_num(iv['mean'], unit)}{ci}</td>")
        rows.append(f"<tr><td>{escape(diff['scenario'])} − {escape(diff['against'])}</td>{''.join(cells)}</tr>")
    return Markup(f"<table>{head}{''.join(rows)}</table>")  # noqa: S704 - escaped above


def _document(title: str, body: str) -> str:
    return (
        '<!doctype html>\n<html lang="pt-BR"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>{body}</body></html>\n"
    )


def report_html(report: dict[str, Any]) -> str:
    """A report or a comparison as a standalone HTML document."""
    if report.get("format") == "regula.simulation.comparison/1":
        parts = [
            "<h1>Comparação de políticas (simulação)</h1>",
            f"<p class='nota'>Mesma demanda simulada para todos (sementes {escape(str(report['seeds']))}). "
            "Diferenças em relação ao primeiro cenário, com intervalo de confiança de 95% entre replicações.</p>",
            differences_table(report),
            *(_figure(c) for c in comparison_charts(report)),
        ]
        for rep in report["reports"]:
            parts += [f"<h2>{escape(_label(rep))}</h2>", summary_table(rep)]
        return _document("Comparação de políticas", "".join(parts))
    parts = [
        f"<h1>Simulação: {escape(_label(report))}</h1>",
        f"<p class='nota'>{report['replications']} replicação(ões); sementes {escape(str(report['seeds']))}.</p>",
        summary_table(report),
        *(_figure(c) for c in report_charts(report)),
    ]
    return _document("Simulação de política", "".join(parts))
