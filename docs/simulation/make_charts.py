"""Writes the SVG charts of docs/simulation.md from the stored comparison (the dashboard's chart style)::

.venv/bin/python docs/simulation/make_charts.py docs/simulation/sc-comparison.json docs/simulation
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from regula.web.charts import render
from regula.web.simulation_report import comparison_charts


def main() -> None:
    source, target = Path(sys.argv[1]), Path(sys.argv[2])
    comparison = json.loads(source.read_text(encoding="utf-8"))
    for chart in comparison_charts(comparison):
        (target / f"{chart.key}.svg").write_text(str(render(chart)) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
