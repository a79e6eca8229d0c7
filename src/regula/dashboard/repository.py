"""The dashboard's queries, scoped to the reader, with the measures' SQL forms (``regula.waitlist.measures``).

The page (``regula.web.dashboard``) turns these rows into charts and CSV; the numbers are decided here and in
``waitlist.measures``. The jurisdiction filter is ``waitlist.repository``'s, in its SQL form.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Literal

from sqlalchemy import literal_column, text
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
      {where}
GROUP BY 1
ORDER BY 1
"""

_NO_SHOW_SQL = """
SELECT e.oci_code AS k, {no_shows}
FROM waitlist_entry_event ev
JOIN waitlist_entry e ON e.id = ev.entry_id
WHERE ev.kind = 'transition' AND ({came_due}) AND ev.occurred_at >= :since_at {where}
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
    WHERE e.authorized_at IS NOT NULL AND b.first_at >= :since_at {where}
    UNION ALL
    SELECT 'fila', e.citizen_id, {days}
    FROM waitlist_entry e
    WHERE e.status = 'autorizada' AND e.authorized_at IS NOT NULL {where}
), people AS (
    SELECT w.measure, w.days, c.race_color, c.sex,
           CASE WHEN c.vulnerability_index IS NULL THEN 'sem_indice'
                WHEN c.vulnerability_index < 0.25 THEN 'v1'
                WHEN c.vulnerability_index < 0.5 THEN 'v2'
                WHEN c.vulnerability_index < 0.75 THEN 'v3'
                ELSE 'v4' END AS vulnerability,
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


@dataclass
class DashboardData:
    """The rows behind the dashboard on ``today``, for the municipalities ``allowed`` (None: all); each query runs
    once per instance, however many charts read it."""

    session: AsyncSession
    timezone: str
    today: date
    allowed: list[str] | None
    params: dict[str, Any] = field(init=False)
    where: str = field(init=False)
    cache: dict[str, list[Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        since = self.today - timedelta(days=PERIOD_DAYS)
        self.params = {"today": self.today, "since": since, "since_at": m.start_of_day(since, self.timezone)}
        self.where = waitlist.municipalities_sql(self.allowed, self.params)

    @property
    def since(self) -> date:
        since: date = self.params["since"]
        return since

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
