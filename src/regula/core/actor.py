"""Who acts, as far as the bottom layer needs to know: the role name automatic actions use (the jobs, the
citizen-channel robot, the backfill). The full ``Actor`` with its jurisdiction is ``regula.access.actor``."""

from __future__ import annotations

from typing import Final

SYSTEM_ROLE: Final = "sistema"
