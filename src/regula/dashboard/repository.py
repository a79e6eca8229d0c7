"""The dashboard's queries, scoped to the reader, with the measures' SQL forms (``regula.waitlist.measures``).

The page (``regula.web.dashboard``) turns these rows into charts and CSV; the numbers are decided here and in
``waitlist.measures``. The jurisdiction filter is ``waitlist.repository``'s, in its SQL form.

A ``DashboardFilter`` narrows every query the same way (issue 17 item 6): to some municipalities of residence (a
health region's or one; never wider than the jurisdiction: the two lists are intersected here, whatever the adapter
checked), to one OCI, and to a period of local days for the measures over a period (concluded OCIs, no-shows, first
bookings). The queue itself is a snapshot of today: the people waiting now, however long ago they entered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Literal

from sqlalchemy import ColumnElement, literal_column, text
from sqlalchemy.ext.asyncio import AsyncSession

from regula.waitlist import measures as m
from regula.waitlist import repository as waitlist

PERIOD_DAYS = 365

_DISTRIBUTION_SQL = """
SELECT {dim} AS k, count(*) AS n,
       count(*) FILTER (WHERE w.days <= 30) AS b0,
       count(*) FILTER (WHERE w.days BETWEEN 31 AND 60) AS b1,
       count(*) FILTER (WHERE w.days BETWEEN 61 AND 90) AS b2,
       count(*) FILTER (WHERE w.days BETWEEN 91 AND 180) AS b3,
       count(*) FILTER (WHERE w.days > 180) AS b4,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY w.days) AS median,
       count(*) FILTER (WHERE {past_75}) AS past_75
FROM waitlist_entry e
CROSS JOIN LATERAL (SELECT {days} AS days) w
WHERE e.status = 'autorizada' AND e.authorized_at IS NOT NULL {where}
GROUP BY 1
ORDER BY n DESC, 1
"""

# The OCI executions production control concluded (production.execution.conclude): first → last procedure.
_CONCLUDED_SQL = """
SELECT x.oci_code AS k, {compliance},
       percentile_cont(0.5) WITHIN GROUP (ORDER BY x.last_on - x.first_on) AS median
FROM oci_execution x
JOIN waitlist_entry e ON e.id = x.entry_id
WHERE x.status = 'concluida' AND x.first_on IS NOT NULL AND x.last_on IS NOT NULL AND x.concluded_at >= :since_at
      AND x.concluded_at < :until_at {where}
GROUP BY 1
ORDER BY 1
"""

_NO_SHOW_SQL = """
SELECT e.oci_code AS k, {no_shows}
FROM waitlist_entry_event ev
JOIN waitlist_entry e ON e.id = ev.entry_id
WHERE ev.kind = 'transition' AND ({came_due}) AND ev.occurred_at >= :since_at AND ev.occurred_at < :until_at {where}
GROUP BY 1
ORDER BY 1
"""

_EQUITY_SQL = """
WITH booked AS (
    SELECT entry_id, min(occurred_at) AS first_at
    FROM waitlist_entry_event
    WHERE kind = 'transition' AND to_status = 'agendada'
    GROUP BY entry_id
), waits AS (
    SELECT 'agendamento' AS measure, e.citizen_id, {days_to_booking} AS days
    FROM waitlist_entry e JOIN booked b ON b.entry_id = e.id
    WHERE e.authorized_at IS NOT NULL AND b.first_at >= :since_at AND b.first_at < :until_at {where}
    UNION ALL
    SELECT 'fila', e.citizen_id, {days}
    FROM waitlist_entry e
    WHERE e.status = 'autorizada' AND e.authorized_at IS NOT NULL {where}
), people AS (
    SELECT w.measure, w.days, c.race_color, c.sex,
           {vulnerability} AS vulnerability,
           CASE WHEN c.cadunico THEN 'sim' ELSE 'nao' END AS cadunico
    FROM waits w JOIN citizen c ON c.id = w.citizen_id
)
SELECT measure, race_color, sex, vulnerability, cadunico, count(*) AS n,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY days) AS median
FROM people
GROUP BY measure, GROUPING SETS ((race_color), (sex), (vulnerability), (cadunico))
"""

# The columns the queue's distribution can be grouped by.
Dimension = Literal["e.oci_code", "e.municipality_ibge", "e.uf"]


@dataclass(frozen=True)
class DashboardFilter:
    """What the dashboard is narrowed to, already read and checked by the adapter; None: not narrowed."""

    municipalities: tuple[str, ...] | None = None  # IBGE codes of residence (a health region's, or one)
    oci: str | None = None
    since: date | None = None  # first local day of the period (default: PERIOD_DAYS before ``until``)
    until: date | None = None  # last local day of the period, included (default: today)


def default_since(until: date) -> date:
    """The period's default start: the last 12 months up to ``until``."""
    return until - timedelta(days=PERIOD_DAYS)


@dataclass
class DashboardData:
    """The rows behind the dashboard on ``today``, for the municipalities ``allowed`` (None: all) narrowed by
    ``filters``; each query runs once per instance, however many charts read it."""

    session: AsyncSession
    timezone: str
    today: date
    allowed: list[str] | None
    filters: DashboardFilter = field(default_factory=DashboardFilter)
    params: dict[str, Any] = field(init=False)
    where: str = field(init=False)
    cache: dict[str, list[Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        until = self.filters.until or self.today
        since = self.filters.since or default_since(until)
        self.params = {
            "today": self.today,
            "since": since,
            "until": until,
            "since_at": m.start_of_day(since, self.timezone),
            "until_at": m.start_of_day(until + timedelta(days=1), self.timezone),
        }
        self.where = waitlist.municipalities_sql(self._municipalities(), self.params)
        if self.filters.oci is not None:
            self.params["oci"] = self.filters.oci
            self.where += " AND e.oci_code = :oci"

    def _municipalities(self) -> list[str] | None:
        """The jurisdiction narrowed by the filter: a filter never widens what the reader may see."""
        wanted = self.filters.municipalities
        if wanted is None:
            return self.allowed
        if self.allowed is None:
            return list(wanted)
        inside = set(self.allowed)
        return [code for code in wanted if code in inside]

    @property
    def since(self) -> date:
        since: date = self.params["since"]
        return since

    @property
    def until(self) -> date:
        until: date = self.params["until"]
        return until

    def measures(self) -> dict[str, str]:
        """The measures' SQL forms (``waitlist.measures``) as the text queries above embed them."""
        tz = self.timezone
        e = m.EntrySql.alias("e")
        within, concluded = m.tm_compliance_sql(
            literal_column("x.first_on"), literal_column("x.last_on"), literal_column("x.max_days")
        )
        missed, due = m.no_show_rate_sql(literal_column("ev.to_status"))
        booked_on = m.local_date_sql(literal_column("b.first_at"), tz)
        return {
            "days": m.as_text(e.days(m.date_param("today"), tz)),
            "past_75": m.as_text(m.past_escalation_sql(literal_column("w.days"), e.max_days)),
            "compliance": f"{m.as_text(concluded)} AS n, {m.as_text(within)} AS within",
            "no_shows": f"{m.as_text(due)} AS due, {m.as_text(missed)} AS missed",
            "came_due": m.as_text(m.came_due_sql(literal_column("ev.to_status"))),
            # days to the first booking: the wait as it stood then (pauses are not known per day; none counted)
            "days_to_booking": m.as_text(m.days_waited_sql(e.authorized_on(tz), booked_on, 0)),
            "vulnerability": m.as_text(m.vulnerability_band_sql(literal_column("c.vulnerability_index"))),
        }

    async def _rows(self, sql: str) -> list[Any]:
        if sql not in self.cache:
            query = sql.format(where=self.where, **self.measures())
            result = await self.session.execute(text(query), self.params)
            self.cache[sql] = list(result.all())
        return self.cache[sql]

    async def queue_distribution(self, dim: Dimension) -> list[Any]:
        """The people waiting (authorized) by ``dim``: how many, by waiting-time bucket, the median, past 75% of tM;
        largest first."""
        return await self._rows(_DISTRIBUTION_SQL.replace("{dim}", dim, 1))

    async def concluded(self) -> list[Any]:
        """Per OCI, the executions concluded in the period: how many, how many within tM, the median first→last."""
        return await self._rows(_CONCLUDED_SQL)

    async def no_shows(self) -> list[Any]:
        """Per OCI, the appointments that came due in the period and those missed."""
        return await self._rows(_NO_SHOW_SQL)

    async def equity(self) -> list[Any]:
        """Median waits (to the first booking; in the queue now) by race/colour, sex, vulnerability and CadÚnico."""
        return await self._rows(_EQUITY_SQL)


# -- the public transparency panel (Portaria GM/MS 3.492/2024, art. 10 §2 VI) ---------------------------------------
#
# Aggregates of a whole UF, for anyone: no jurisdiction filter (nothing personal leaves these queries: counts and
# statistics per OCI × health region × municipality of residence; small cells are protected by
# regula.dashboard.disclosure before anything is shown). Each query groups by the three levels at once.

_LEVELS = "GROUPING SETS ((a.oci_code), (a.oci_code, a.region), (a.oci_code, a.region, a.municipality))"

_PUBLIC_WAITING_SQL = """
WITH a AS (
    SELECT e.oci_code, COALESCE(m.health_region_code, '') AS region, e.municipality_ibge AS municipality,
           {days} AS days
    FROM waitlist_entry e JOIN municipality m ON m.ibge_code = e.municipality_ibge
    WHERE e.status = 'autorizada' AND e.authorized_at IS NOT NULL AND e.uf = :uf
)
SELECT a.oci_code, a.region, a.municipality, count(*) AS n, {median} AS median, {p90} AS p90
FROM a GROUP BY {levels}
"""

_FIRST_BOOKING = """
    SELECT entry_id, min(occurred_at) AS first_at
    FROM waitlist_entry_event
    WHERE kind = 'transition' AND to_status = 'agendada'
    GROUP BY entry_id
"""

_PUBLIC_SERVED_SQL = """
WITH booked AS ({first_booking}), a AS (
    SELECT e.oci_code, COALESCE(m.health_region_code, '') AS region, e.municipality_ibge AS municipality
    FROM waitlist_entry e
    JOIN booked b ON b.entry_id = e.id
    JOIN municipality m ON m.ibge_code = e.municipality_ibge
    WHERE e.uf = :uf AND b.first_at >= :pace_since_at
)
SELECT a.oci_code, a.region, a.municipality, count(*) AS served
FROM a GROUP BY {levels}
"""

_PUBLIC_CONCLUDED_SQL = """
WITH a AS (
    SELECT x.oci_code, COALESCE(m.health_region_code, '') AS region, e.municipality_ibge AS municipality,
           x.first_on, x.last_on, x.max_days
    FROM oci_execution x
    JOIN waitlist_entry e ON e.id = x.entry_id
    JOIN municipality m ON m.ibge_code = e.municipality_ibge
    WHERE x.status = 'concluida' AND x.first_on IS NOT NULL AND x.last_on IS NOT NULL
      AND x.concluded_at >= :since_at AND e.uf = :uf
)
SELECT a.oci_code, a.region, a.municipality, {compliance}
FROM a GROUP BY {levels}
"""

_PUBLIC_TREND_SQL = """
WITH booked AS ({first_booking}), a AS (
    SELECT to_char({booked_on}, 'YYYY-MM') AS month, {days_to_booking} AS days
    FROM waitlist_entry e
    JOIN booked b ON b.entry_id = e.id
    JOIN municipality m ON m.ibge_code = e.municipality_ibge
    WHERE e.uf = :uf AND e.authorized_at IS NOT NULL AND b.first_at >= :since_at {filters}
)
SELECT a.month, count(*) AS n, {median} AS median, {p90} AS p90
FROM a GROUP BY a.month ORDER BY a.month
"""


@dataclass(frozen=True)
class AreaFigures:
    """One OCI in one area: the UF (``region`` and ``municipality`` None), a health region (``municipality`` None;
    ``region`` is "" for municipalities without one) or a municipality of residence."""

    oci_code: str
    region: str | None
    municipality: str | None
    waiting: int = 0
    median: float | None = None
    p90: float | None = None
    served: int = 0  # first bookings in the pace window (waitlist.measures.PACE_WINDOW_DAYS)
    concluded: int = 0  # OCI executions concluded in the last 12 months
    within: int = 0  # of which within tM (first → last procedure)


@dataclass(frozen=True)
class MonthFigures:
    month: str  # AAAA-MM, local
    booked: int  # people whose first booking fell in the month
    median: float | None  # days from authorization to that booking
    p90: float | None


async def public_ufs(session: AsyncSession) -> list[str]:
    """The UFs with anyone waiting or booked, most entries first."""
    sql = "SELECT uf FROM waitlist_entry WHERE authorized_at IS NOT NULL GROUP BY uf ORDER BY count(*) DESC, uf"
    return [r.uf for r in (await session.execute(text(sql))).all()]


async def public_area_figures(session: AsyncSession, uf: str, today: date, tz: str) -> list[AreaFigures]:
    """Every OCI of ``uf`` at the three levels (UF, health region, municipality of residence): people waiting with
    the median and p90 of their days waited, first bookings in the pace window, and OCIs concluded in the last 12
    months with those within tM — the measures of ``waitlist.measures``."""
    since = today - timedelta(days=PERIOD_DAYS)
    pace_since = today - timedelta(days=m.PACE_WINDOW_DAYS)
    params: dict[str, Any] = {
        "uf": uf,
        "today": today,
        "since_at": m.start_of_day(since, tz),
        "pace_since_at": m.start_of_day(pace_since, tz),
    }
    days: ColumnElement[Any] = literal_column("a.days")
    within, concluded = m.tm_compliance_sql(
        literal_column("a.first_on"), literal_column("a.last_on"), literal_column("a.max_days")
    )
    waiting_sql = _PUBLIC_WAITING_SQL.format(
        days=m.as_text(m.EntrySql.alias("e").days(m.date_param("today"), tz)),
        median=m.as_text(m.median_sql(days)),
        p90=m.as_text(m.p90_sql(days)),
        levels=_LEVELS,
    )
    served_sql = _PUBLIC_SERVED_SQL.format(first_booking=_FIRST_BOOKING, levels=_LEVELS)
    concluded_sql = _PUBLIC_CONCLUDED_SQL.format(
        compliance=f"{m.as_text(concluded)} AS concluded, {m.as_text(within)} AS within", levels=_LEVELS
    )
    figures: dict[tuple[str, str | None, str | None], dict[str, Any]] = {}
    for sql in (waiting_sql, served_sql, concluded_sql):
        for row in (await session.execute(text(sql), params)).mappings():
            key = (row["oci_code"], row["region"], row["municipality"])
            values = {k: v for k, v in row.items() if k not in ("oci_code", "region", "municipality")}
            figures.setdefault(key, {}).update(values)
    return [
        AreaFigures(
            oci_code=oci,
            region=region,
            municipality=municipality,
            waiting=int(v.get("n") or 0),
            median=float(v["median"]) if v.get("median") is not None else None,
            p90=float(v["p90"]) if v.get("p90") is not None else None,
            served=int(v.get("served") or 0),
            concluded=int(v.get("concluded") or 0),
            within=int(v.get("within") or 0),
        )
        for (oci, region, municipality), v in sorted(
            figures.items(), key=lambda kv: (kv[0][0], kv[0][1] or "", kv[0][2] or "")
        )
    ]


async def public_trend(
    session: AsyncSession,
    uf: str,
    today: date,
    tz: str,
    *,
    oci: str | None = None,
    region: str | None = None,
    municipality: str | None = None,
) -> list[MonthFigures]:
    """Month by month over the last 12 months (local months), the people of ``uf`` (of one OCI, region or
    municipality when given) whose first booking fell in the month: how many, and the median and p90 of the days
    they had waited from authorization (the dashboard's wait to the first booking)."""
    month = today.month - 11  # the current month and the 11 before it
    since = date(today.year, month, 1) if month > 0 else date(today.year - 1, month + 12, 1)
    params: dict[str, Any] = {"uf": uf, "since_at": m.start_of_day(since, tz)}
    filters = ""
    if oci:
        params["oci"] = oci
        filters += " AND e.oci_code = :oci"
    if region is not None:
        params["region"] = region
        filters += " AND COALESCE(m.health_region_code, '') = :region"
    if municipality:
        params["municipality"] = municipality
        filters += " AND e.municipality_ibge = :municipality"
    e = m.EntrySql.alias("e")
    booked_on = m.local_date_sql(literal_column("b.first_at"), tz)
    days: ColumnElement[Any] = literal_column("a.days")
    sql = _PUBLIC_TREND_SQL.format(
        first_booking=_FIRST_BOOKING,
        booked_on=m.as_text(booked_on),
        days_to_booking=m.as_text(m.days_waited_sql(e.authorized_on(tz), booked_on, 0)),
        filters=filters,
        median=m.as_text(m.median_sql(days)),
        p90=m.as_text(m.p90_sql(days)),
    )
    rows = (await session.execute(text(sql), params)).all()
    return [MonthFigures(r.month, int(r.n), _float(r.median), _float(r.p90)) for r in rows]


def _float(value: Any) -> float | None:
    return float(value) if value is not None else None
