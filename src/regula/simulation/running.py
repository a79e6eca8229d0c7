"""The CPU-bound part of a simulation run, in a worker process of the jobs process (as ``allocation.solving``).

Pure: the scenario as JSON data in, the report out; where it is goes to a small JSON file the jobs process reads to
show the progress (a worker process shares no memory and no database connection with it). Written atomically
(a temporary file renamed over it), so a reader never sees half a file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from regula.simulation.report import run_scenario
from regula.simulation.scenario import load_scenario


def write_progress(path: Path, percent: int, message: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"percent": percent, "message": message}, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)


def read_progress(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def simulate_scenario(scenario: dict[str, Any], progress_path: str) -> dict[str, Any]:
    path = Path(progress_path)
    last = [-1]

    def progress(done: float, message: str) -> None:
        percent = int(100 * done)
        if percent != last[0]:
            last[0] = percent
            write_progress(path, percent, message)

    return run_scenario(load_scenario(scenario), progress)
