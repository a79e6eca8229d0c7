"""The equity impact report (Portaria GM/MS 3.492/2024, art. 3 VIII: access "considerando os Determinantes Sociais
de Saúde … reduzindo as iniquidades, com ênfase em gênero e raça/etnia"): for each queue, what the equity weights of
its priority policy did — how many entries they moved and by how many positions — and the median position and
projected wait by sex, race/colour, vulnerability and CadÚnico with and without them, so that managers justify the
weights with numbers.

"Without the weights" is the real scoring of ``waitlist.priority`` with the queue's own policy and its equity term
turned off (``priority.without_equity``): every other term (class, legal priority, waiting, deadline pressure) scores
the same, so a difference in position is the equity term's doing. Both orders are computed on the same day from the
same facts (``priority.compute_scores_bulk``, the nightly refresh's scoring) and ranked as the queue is
(``priority.sort_key``: score, then authorization time, then id).

The projected wait of an entry is its days waited (``waitlist.measures``) plus the expected days until its turn at
the queue's recent pace: ``measures.expected_wait_days(position, served)``, the people up to and including it served
at the rate of the last ``measures.PACE_WINDOW_DAYS`` days' first bookings. Queues that booked nobody in the window
have no projection (their medians of projected wait are None); positions are still compared.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncSession

from regula.access.actor import Actor
from regula.config import Settings
from regula.people.service import age_on
from regula.waitlist import measures, priority, service
from regula.waitlist import repository as repo
from regula.waitlist.queues import QueueKey

#: The groups the report compares, and how each entry falls in one.
DIMENSIONS: Final[dict[str, Callable[[repo.WaitingFacts], str]]] = {
    "sexo": lambda f: f.sex,
    "raca_cor": lambda f: f.race_color,
    "vulnerabilidade": lambda f: measures.vulnerability_band(f.vulnerability_index),
    "cadunico": lambda f: "sim" if f.cadunico else "nao",
}


@dataclass(frozen=True)
class GroupFigures:
    dimension: str  # sexo | raca_cor | vulnerabilidade | cadunico
    group: str
    people: int
    median_position_with: float | None
    median_position_without: float | None
    median_wait_with: float | None  # projected days: waited + until its turn at the recent pace
    median_wait_without: float | None


@dataclass(frozen=True)
class QueueEquity:
    queue: QueueKey
    policy: str  # the policy version that governs the queue, "key vN"
    size: int
    served: int  # first bookings in the pace window
    moved: int  # entries whose position differs with and without the equity weights
    moved_up: int  # of which ahead thanks to the weights
    moved_down: int
    max_shift: int  # positions, largest move
    median_shift: float | None  # positions, median move of the entries that moved
    groups: list[GroupFigures]


@dataclass(frozen=True)
class EquityReport:
    today: date
    queues: list[QueueEquity]
    overall: list[GroupFigures]  # every entry of every queue in the report


@dataclass(frozen=True)
class _Placed:
    facts: repo.WaitingFacts
    with_position: int
    without_position: int
    with_wait: int | None
    without_wait: int | None


def _median(values: Iterable[float | int | None]) -> float | None:
    present = [float(v) for v in values if v is not None]
    return round(statistics.median(present), 1) if present else None


def _columns(rows: Sequence[repo.WaitingFacts], today: date, oci_sex: str | None) -> dict[str, list[Any]]:
    """The bulk scoring's columns (``priority.BULK_COLUMNS``) for ``rows``, as the nightly refresh builds them."""
    return {
        "risk_class": [r.risk_class for r in rows],
        "authorized_on": [r.authorized_on for r in rows],
        "suspended_days": [r.paused for r in rows],
        "max_days": [r.max_days for r in rows],
        "age_years": [age_on(r.birth_date, today) for r in rows],
        "pregnant": [r.pregnant for r in rows],
        "disability": [r.disability for r in rows],
        "autism": [r.autism for r in rows],
        "race_color": [r.race_color for r in rows],
        "sex": [r.sex for r in rows],
        "cadunico": [r.cadunico for r in rows],
        "vulnerability_index": [r.vulnerability_index for r in rows],
        "oci_sex": [oci_sex] * len(rows),
    }


def _positions(rows: Sequence[repo.WaitingFacts], scores: Sequence[int]) -> list[int]:
    """Each row's position in the queue's order (``priority.sort_key``), 1-based."""
    order = sorted(range(len(rows)), key=lambda i: priority.sort_key(scores[i], rows[i].authorized_at, rows[i].id))
    positions = [0] * len(rows)
    for position, i in enumerate(order, start=1):
        positions[i] = position
    return positions


def place(
    rows: Sequence[repo.WaitingFacts],
    policy: priority.PriorityPolicy,
    today: date,
    oci_sex: str | None,
    served: int,
) -> list[_Placed]:
    """The rows of one queue placed with and without the equity weights of ``policy``."""
    columns = _columns(rows, today, oci_sex)
    with_scores = priority.compute_scores_bulk(columns, policy, today)
    without_scores = priority.compute_scores_bulk(columns, priority.without_equity(policy), today)
    with_positions = _positions(rows, with_scores)
    without_positions = _positions(rows, without_scores)
    placed = []
    for r, p_with, p_without in zip(rows, with_positions, without_positions, strict=True):
        wait_with = measures.expected_wait_days(p_with, served)
        wait_without = measures.expected_wait_days(p_without, served)
        placed.append(
            _Placed(
                r,
                p_with,
                p_without,
                r.days + wait_with if wait_with is not None else None,
                r.days + wait_without if wait_without is not None else None,
            )
        )
    return placed


def _groups(placed: Sequence[_Placed]) -> list[GroupFigures]:
    out = []
    for dimension, group_of in DIMENSIONS.items():
        by_group: dict[str, list[_Placed]] = defaultdict(list)
        for p in placed:
            by_group[group_of(p.facts)].append(p)
        for group in sorted(by_group):
            members = by_group[group]
            out.append(
                GroupFigures(
                    dimension=dimension,
                    group=group,
                    people=len(members),
                    median_position_with=_median(p.with_position for p in members),
                    median_position_without=_median(p.without_position for p in members),
                    median_wait_with=_median(p.with_wait for p in members),
                    median_wait_without=_median(p.without_wait for p in members),
                )
            )
    return out


async def equity_report(
    session: AsyncSession, settings: Settings, actor: Actor, today: date, *, oci: str | None = None
) -> EquityReport:
    """The report for every queue in which ``actor`` sees someone waiting (of one OCI when given), on ``today``."""
    tz = settings.timezone
    facts = await repo.waiting_facts(session, actor, today, tz, oci=oci)
    served = await repo.served_by_queue(session, actor, today, tz, oci=oci)
    catalog = await service.load_catalog(session, settings)
    latest = await service.latest_policies(session)
    compiled: dict[int, priority.PriorityPolicy] = {}
    by_queue: dict[QueueKey, list[repo.WaitingFacts]] = defaultdict(list)
    for f in facts:
        by_queue[f.queue].append(f)
    queues: list[QueueEquity] = []
    everyone: list[_Placed] = []
    for key in sorted(by_queue, key=str):
        rows = by_queue[key]
        version = service.resolve_policy(latest, key)
        assert version.id is not None
        if version.id not in compiled:
            compiled[version.id] = priority.policy_from_json(version.params)
        oci_summary = catalog.ocis.get(key.oci_code)
        placed = place(rows, compiled[version.id], today, oci_summary.sex if oci_summary else None, served.get(key, 0))
        everyone += placed
        shifts = [p.without_position - p.with_position for p in placed]
        moved = [abs(s) for s in shifts if s]
        queues.append(
            QueueEquity(
                queue=key,
                policy=service.policy_label(version.queue_key, version.version),
                size=len(rows),
                served=served.get(key, 0),
                moved=len(moved),
                moved_up=sum(1 for s in shifts if s > 0),
                moved_down=sum(1 for s in shifts if s < 0),
                max_shift=max(moved, default=0),
                median_shift=_median(moved),
                groups=_groups(placed),
            )
        )
    return EquityReport(today=today, queues=queues, overall=_groups(everyone))
