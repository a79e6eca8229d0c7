"""The deployment's maximum travel distance and the operator's widening of it for one run (issue 17 item 3)."""

from __future__ import annotations

from pathlib import Path

import pytest

from regula.allocation.service import travel_limits
from regula.config import Settings


def _settings(tmp_path: Path, **over: object) -> Settings:
    return Settings(home=tmp_path, **over)  # type: ignore[arg-type]


def test_the_default_is_200_km_for_every_oci(tmp_path: Path) -> None:
    s = _settings(tmp_path)
    assert s.allocation_max_travel_km == 200
    assert travel_limits(s) == (200, {})


def test_the_operator_only_widens(tmp_path: Path) -> None:
    s = _settings(tmp_path, allocation_max_travel_km_by_oci={"0901010014": 120, "0902010026": 400})
    assert travel_limits(s, 300) == (300, {"0901010014": 300, "0902010026": 400})
    assert travel_limits(s, 50) == (200, {"0901010014": 120, "0902010026": 400})


@pytest.mark.parametrize("raw", ["null", "", "None"])
def test_the_limit_can_be_switched_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("REGULA_ALLOCATION_MAX_TRAVEL_KM", raw)
    s = _settings(tmp_path)
    assert s.allocation_max_travel_km is None
    # Without a general limit, widening leaves it off and raises only the per-OCI ones.
    assert travel_limits(s, 500) == (None, {})
