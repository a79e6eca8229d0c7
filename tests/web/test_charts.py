"""The SVG bar charts and their CSV: text escaped, bars to scale, numbers as Brazilian spreadsheets read them."""

from __future__ import annotations

import re

from regula.web.charts import Bar, Chart, csv_response, render


def test_bars_are_drawn_to_scale_and_text_is_escaped() -> None:
    chart = Chart(
        key="teste",
        title="Fila <por> OCI",
        bars=[Bar("<script>alert(1)</script>", 50), Bar("Cardiologia", 100)],
        unit=" pessoas",
    )
    svg = str(render(chart))
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert 'role="img"' in svg and '<title id="grafico-teste-t">Fila &lt;por&gt; OCI</title>' in svg
    widths = [float(w) for w in re.findall(r'<rect x="[\d.]+" y="[\d.]+" width="([\d.]+)"', svg)]
    assert widths[1] == 2 * widths[0]
    assert "100 pessoas" in svg


def test_stacked_segments_add_up_and_have_a_legend() -> None:
    chart = Chart(
        key="espera",
        title="Espera",
        bars=[Bar("Florianópolis/SC", 6, (1, 2, 3))],
        segment_labels=("até 30", "31 a 60", "mais de 60"),
    )
    svg = str(render(chart))
    for name in ("até 30", "31 a 60", "mais de 60"):
        assert name in svg
    pattern = r'<rect x="[\d.]+" y="[\d.]+" width="([\d.]+)" height="18" fill="#[0-9a-f]+"><title>Florianópolis/SC ·'
    widths = [float(w) for w in re.findall(pattern, svg)]
    assert len(widths) == 3
    assert abs(widths[1] - 2 * widths[0]) < 0.2 and abs(widths[2] - 3 * widths[0]) < 0.2
    assert "Florianópolis/SC · 31 a 60: 2" in svg  # each segment names its bucket


def test_empty_chart_says_there_is_no_data() -> None:
    assert "Sem dados no período." in str(render(Chart(key="vazio", title="Nada", bars=[])))


def test_csv_uses_semicolons_decimal_commas_and_a_bom() -> None:
    response = csv_response("x.csv", ("nome", "percentual", "n"), [("Joaçaba", 12.5, 3), ("Lages", None, 0)])
    body = response.content
    assert isinstance(body, bytes) and body.startswith(b"\xef\xbb\xbf")
    assert body.decode("utf-8-sig").splitlines() == ["nome;percentual;n", "Joaçaba;12,5;3", "Lages;;0"]
    assert response.headers["Content-Disposition"] == 'attachment; filename="x.csv"'
