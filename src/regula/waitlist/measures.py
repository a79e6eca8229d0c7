"""The derived measures of regula, each defined once: a Python form and a SQL form side by side.

Jobs, pages, the dashboard, the exports, the allocation instance builder and production control all call these;
``tests/waitlist/test_measures.py`` evaluates every SQL form on PostgreSQL rows and checks it against the Python form
for generated inputs. ``docs/measures.md`` states the definitions for people; decision 13
(``docs/decisions/0013-derived-measures.md``) says why.

Two rules hold for every measure:

* **Dates are local.** A day is a day of the regulation center's time zone (``Settings.timezone``), the one the
  citizen lives in, never UTC: an authorization at 22:00 in Brasília is that day's, not the next one's.
* **Today is a parameter.** No measure reads the clock; the caller (a request, a job, the CLI) passes ``today``.

The measures:

* **days waited** — days from the local date of the authorization to ``as_of`` (today while the entry is open, the
  day it closed otherwise), minus the days the clock was paused (``suspended_days``, plus the open pause counted up
  to ``as_of``), never negative. The waiting clock pauses while the entry is suspended, returned to APS or waiting
  for a teleconsultation (``waitlist.states.clock_paused``).
* **days since the request** — days from the local date of the request to today, never negative: the wait of a
  referral still under review (solicitada, em análise), before days waited starts.
* **tM** — the OCI's maximum time (``max_days``; Portaria GM/MS 3.492/2024 art. 14 §2 III, and art. 14 §3 III as
  amended: "tempo limite máximo (TM) para cada OCI"). The ordinance counts it **from the first to the last
  procedure of the OCI** (amendment, art. 14 §3 III): that is **tM compliance**, below. Before the first procedure,
  regula spends the same number of days as the budget of the wait (the navigators must act before the OCI itself
  can start late):
* **tM deadline** — the day days waited reaches tM: authorization date + tM + paused days.
* **past 75% of tM** — days waited ≥ 75% of tM (``100 · days ≥ 75 · tM``, integers). Portugal's SIGIC transfers a
  patient at 75% of the maximum guaranteed time; regula escalates the entry (navigators' task, wider scope in the
  allocation) at the same point. 75 is :data:`ESCALATION_PERCENT`.
* **past tM** — days waited > tM.
* **tM compliance** — a concluded OCI is within tM when its last procedure is at most tM days after its first
  (amendment to Portaria GM/MS 3.492/2024, art. 14 §3 III: "verificando-se o tempo entre a realização do primeiro e
  do último procedimento de uma OCI respeitou o tempo máximo"). The share concluded within tM counts OCI executions
  concluded in a period; production control (``production.execution.conclude``) records the same verdict.
* **no-show rate** — of the appointments that came due (the entry went to ``em_atendimento``: attended; or to
  ``faltou``: missed), the share missed (Portaria GM/MS 3.492/2024, art. 12 VIII: absenteeism).
* **median and p90 of a wait** — PostgreSQL's ``percentile_cont`` (linear interpolation between the two nearest
  ranks), the same in Python (:func:`percentile`).
* **expected wait** — how long the people ahead take to be served at the recent pace (Little's law, L = λW, read
  as W = L / λ): ``ceil(ahead × window / served)`` days, where ``served`` entries got their first booking in the last
  ``window`` days (:data:`PACE_WINDOW_DAYS`). For a new referral, ``ahead`` is everyone waiting in its queue now;
  for an entry, its position. None when nobody was served in the window (no pace to extrapolate).
* **vulnerability band** — the social vulnerability index (0–1) in quarters (``v1`` below 0.25 … ``v4`` 0.75 or
  more), ``sem_indice`` when unknown: how the dashboard and the equity report group people (art. 3 VIII).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from sqlalchemy import Date, Integer, case, cast, func, literal, literal_column, or_
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql.elements import ColumnElement

from regula.waitlist.states import TERMINAL_STATUSES, is_terminal

ESCALATION_PERCENT: Final = 75
#: The event statuses that mean an appointment came due: attended (``em_atendimento``) or missed (``faltou``).
ATTENDED: Final = "em_atendimento"
MISSED: Final = "faltou"
DUE_OUTCOMES: Final = (ATTENDED, MISSED)

SqlDate = ColumnElement[date] | date
SqlInt = ColumnElement[int] | int


# -- local dates -----------------------------------------------------------------------------------------------------


def local_date(moment: datetime, tz: str) -> date:
    """The day ``moment`` (an aware datetime) falls on in the time zone ``tz``."""
    return moment.astimezone(ZoneInfo(tz)).date()


def local_date_sql(moment: ColumnElement[datetime], tz: str | ColumnElement[str]) -> ColumnElement[date]:
    # timezone(zone, timestamptz) is the wall-clock time in that zone; its date is the local day.
    zone = tz if isinstance(tz, ColumnElement) else literal(tz)
    return cast(func.timezone(zone, moment), Date)


def start_of_day(day: date, tz: str) -> datetime:
    """The first instant of the local ``day`` (to compare timestamps with a period of local days)."""
    return datetime.combine(day, time(), ZoneInfo(tz))


def _date_sql(value: SqlDate) -> ColumnElement[date]:
    return cast(literal(value), Date) if isinstance(value, date) else value


def _int_sql(value: SqlInt) -> ColumnElement[int]:
    return literal(value, Integer) if isinstance(value, int) else value


# -- days waited -----------------------------------------------------------------------------------------------------


def paused_days(suspended_days: int, paused_on: date | None, as_of: date) -> int:
    """Days the waiting clock did not run: the closed pauses plus the open one (from its local day to ``as_of``)."""
    return suspended_days + (max(0, (as_of - paused_on).days) if paused_on is not None else 0)


def paused_days_sql(
    suspended_days: ColumnElement[int], paused_since: ColumnElement[datetime], as_of: SqlDate, tz: str
) -> ColumnElement[int]:
    open_pause = func.greatest(0, _date_sql(as_of) - local_date_sql(paused_since, tz))
    return suspended_days + func.coalesce(open_pause, 0)


def days_waited(authorized_on: date, as_of: date, paused: int) -> int:
    """Days from the local authorization date to ``as_of``, without the ``paused`` days; never negative."""
    return max(0, (as_of - authorized_on).days - paused)


def days_waited_sql(authorized_on: SqlDate, as_of: SqlDate, paused: SqlInt) -> ColumnElement[int]:
    return func.greatest(0, _date_sql(as_of) - _date_sql(authorized_on) - _int_sql(paused))


def waited_until(status: str | None, closed_at: datetime | None, today: date, tz: str) -> date:
    """The day the wait is counted to: today for an open entry, the local day it closed (its last status change)
    for a closed one (``waitlist.states.TERMINAL_STATUSES``)."""
    if status is None or closed_at is None or not is_terminal(status):
        return today
    return min(today, local_date(closed_at, tz))


def waited_until_sql(
    status: ColumnElement[str], closed_at: ColumnElement[datetime], today: SqlDate, tz: str
) -> ColumnElement[date]:
    closed = status.in_(sorted(s.value for s in TERMINAL_STATUSES))
    return case((closed, func.least(_date_sql(today), local_date_sql(closed_at, tz))), else_=_date_sql(today))


def days_since_request(requested_at: datetime, as_of: date, tz: str) -> int:
    """Days from the local date of the request to ``as_of``, never negative: how long a referral has waited for the
    regulation center's decision. Days waited starts at the authorization; before it, this is the wait the queue
    management of Portaria GM/MS 3.492/2024 art. 10 §2 ("gestão das filas", "reduzir tempos de espera") sees."""
    return max(0, (as_of - local_date(requested_at, tz)).days)


def days_since_request_sql(requested_at: ColumnElement[datetime], as_of: SqlDate, tz: str) -> ColumnElement[int]:
    return func.greatest(0, _date_sql(as_of) - local_date_sql(requested_at, tz))


# -- tM --------------------------------------------------------------------------------------------------------------


def tm_deadline(authorized_on: date, max_days: int, paused: int) -> date:
    """The day days waited reaches tM (the clock's paused days move it later)."""
    return authorized_on + timedelta(days=max_days + paused)


def tm_deadline_sql(authorized_on: SqlDate, max_days: SqlInt, paused: SqlInt) -> ColumnElement[date]:
    # date + integer is a date in PostgreSQL
    return _date_sql(authorized_on) + _int_sql(max_days) + _int_sql(paused)


def past_escalation(days: int, max_days: int) -> bool:
    """Past 75% of tM: ``100 · days ≥ 75 · tM`` (integers, so no rounding decides it)."""
    return 100 * days >= ESCALATION_PERCENT * max_days


def past_escalation_sql(days: SqlInt, max_days: SqlInt) -> ColumnElement[bool]:
    return 100 * _int_sql(days) >= ESCALATION_PERCENT * _int_sql(max_days)


def past_tm(days: int, max_days: int) -> bool:
    return days > max_days


def past_tm_sql(days: SqlInt, max_days: SqlInt) -> ColumnElement[bool]:
    return _int_sql(days) > _int_sql(max_days)


def tm_percent(days: int, max_days: int) -> int:
    """Days waited as a percentage of tM, rounded half to even as Python's ``round`` (for display only: the
    thresholds compare integers, see :func:`past_escalation`)."""
    return round(100 * days / max_days)


# -- tM compliance (first → last procedure) ----------------------------------------------------------------------------


def span_days(first_on: date, last_on: date) -> int:
    """Days from the first to the last procedure of an OCI."""
    return (last_on - first_on).days


def within_tm(first_on: date, last_on: date, max_days: int) -> bool:
    """Amendment to Portaria GM/MS 3.492/2024, art. 14 §3 III: the time between the first and the last procedure of
    the OCI respected its maximum time."""
    return span_days(first_on, last_on) <= max_days


def within_tm_sql(first_on: SqlDate, last_on: SqlDate, max_days: SqlInt) -> ColumnElement[bool]:
    return _date_sql(last_on) - _date_sql(first_on) <= _int_sql(max_days)


@dataclass(frozen=True, slots=True)
class Share:
    part: int
    whole: int

    @property
    def percent(self) -> float | None:
        """The share in percent with one decimal, or None when there is nothing to count."""
        return round(100 * self.part / self.whole, 1) if self.whole else None


def tm_compliance(spans: Iterable[tuple[date, date, int]]) -> Share:
    """Of the concluded OCIs given as (first, last, tM), how many were within tM."""
    done = list(spans)
    return Share(sum(within_tm(f, last, m) for f, last, m in done), len(done))


def tm_compliance_sql(
    first_on: ColumnElement[date], last_on: ColumnElement[date], max_days: ColumnElement[int]
) -> tuple[ColumnElement[int], ColumnElement[int]]:
    """(within, concluded) as aggregates over concluded OCI executions."""
    within = func.count().filter(within_tm_sql(first_on, last_on, max_days))
    return within, func.count()


# -- no-show rate ------------------------------------------------------------------------------------------------------


def no_show_rate(outcomes: Iterable[str]) -> Share:
    """Of the appointments that came due (outcome ``em_atendimento`` or ``faltou``; others ignored), the missed."""
    due = [o for o in outcomes if o in DUE_OUTCOMES]
    return Share(sum(o == MISSED for o in due), len(due))


def came_due_sql(to_status: ColumnElement[str]) -> ColumnElement[bool]:
    return or_(to_status == ATTENDED, to_status == MISSED)


def no_show_rate_sql(to_status: ColumnElement[str]) -> tuple[ColumnElement[int], ColumnElement[int]]:
    """(missed, due) as aggregates over transition events (filter them with :func:`came_due_sql`)."""
    missed = func.count().filter(to_status == MISSED)
    due = func.count().filter(came_due_sql(to_status))
    return missed, due


# -- distributions, pace, vulnerability ---------------------------------------------------------------------------

#: The window the pace of a queue is measured over: the last 26 weeks of first bookings.
PACE_WINDOW_DAYS: Final = 182


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """``percentile_cont(fraction)`` of PostgreSQL: linear interpolation between the two nearest ranks; None for no
    values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = fraction * (len(ordered) - 1)
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return float(ordered[low] + (ordered[high] - ordered[low]) * (rank - low))


def percentile_sql(fraction: float, value: ColumnElement[Any]) -> ColumnElement[float]:
    """The aggregate ``percentile_cont(fraction) WITHIN GROUP (ORDER BY value)``."""
    return func.percentile_cont(fraction).within_group(value)


def median_sql(value: ColumnElement[Any]) -> ColumnElement[float]:
    return percentile_sql(0.5, value)


def p90_sql(value: ColumnElement[Any]) -> ColumnElement[float]:
    return percentile_sql(0.9, value)


def expected_wait_days(ahead: int, served: int, window_days: int = PACE_WINDOW_DAYS) -> int | None:
    """Days until the ``ahead`` people are served at the pace of ``served`` first bookings in ``window_days``
    (Little's law, W = L / λ); None when nobody was served (no pace to extrapolate)."""
    if served <= 0 or window_days <= 0:
        return None
    return max(0, math.ceil(ahead * window_days / served))


VULNERABILITY_BANDS: Final = ("v1", "v2", "v3", "v4", "sem_indice")


def vulnerability_band(index: float | None) -> str:
    """The quarter of the social vulnerability index (0–1): ``v1`` below 0.25 … ``v4`` 0.75 or more."""
    if index is None:
        return "sem_indice"
    if index < 0.25:
        return "v1"
    if index < 0.5:
        return "v2"
    if index < 0.75:
        return "v3"
    return "v4"


def vulnerability_band_sql(index: ColumnElement[Any]) -> ColumnElement[str]:
    return case(
        (index.is_(None), "sem_indice"),
        (index < 0.25, "v1"),
        (index < 0.5, "v2"),
        (index < 0.75, "v3"),
        else_="v4",
    )


# -- waitlist entries --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EntryClock:
    """The measures of one waitlist entry on one day."""

    authorized_on: date
    as_of: date
    paused: int
    max_days: int

    @property
    def days(self) -> int:
        return days_waited(self.authorized_on, self.as_of, self.paused)

    @property
    def deadline(self) -> date:
        return tm_deadline(self.authorized_on, self.max_days, self.paused)

    @property
    def past_escalation(self) -> bool:
        return past_escalation(self.days, self.max_days)

    @property
    def past_tm(self) -> bool:
        return past_tm(self.days, self.max_days)


def entry_clock(entry: Any, today: date, tz: str) -> EntryClock | None:
    """The clock of an entry-like row (``authorized_at``, ``suspended_days``, ``paused_since``, ``max_days``,
    ``status``, ``status_changed_at``) on ``today``; None before authorization."""
    if entry.authorized_at is None:
        return None
    as_of = waited_until(entry.status, entry.status_changed_at, today, tz)
    paused_on = local_date(entry.paused_since, tz) if entry.paused_since is not None else None
    return EntryClock(
        authorized_on=local_date(entry.authorized_at, tz),
        as_of=as_of,
        paused=paused_days(entry.suspended_days, paused_on, as_of),
        max_days=entry.max_days,
    )


@dataclass(frozen=True)
class EntrySql:
    """The SQL forms over the columns of a waitlist entry (ORM columns, or ``e.column`` of a text query)."""

    authorized_at: ColumnElement[datetime]
    suspended_days: ColumnElement[int]
    paused_since: ColumnElement[datetime]
    max_days: ColumnElement[int]
    status: ColumnElement[str]
    status_changed_at: ColumnElement[datetime]

    _COLUMNS = ("authorized_at", "suspended_days", "paused_since", "max_days", "status", "status_changed_at")

    @classmethod
    def of(cls, model: Any) -> EntrySql:
        """Over the columns of ``model`` (the ``WaitlistEntry`` class, an alias of it, or a subquery's ``.c``)."""

        def column(name: str) -> Any:
            attr = getattr(model, name)
            # an ORM attribute is not a column expression itself; its clause element is
            return attr.__clause_element__() if hasattr(attr, "__clause_element__") else attr

        return cls(*(column(name) for name in cls._COLUMNS))

    @classmethod
    def alias(cls, name: str) -> EntrySql:
        """Over ``name.column`` of a text query."""
        return cls(*(literal_column(f"{name}.{column}") for column in cls._COLUMNS))

    def authorized_on(self, tz: str) -> ColumnElement[date]:
        return local_date_sql(self.authorized_at, tz)

    def as_of(self, today: SqlDate, tz: str) -> ColumnElement[date]:
        return waited_until_sql(self.status, self.status_changed_at, today, tz)

    def paused(self, today: SqlDate, tz: str) -> ColumnElement[int]:
        return paused_days_sql(self.suspended_days, self.paused_since, self.as_of(today, tz), tz)

    def days(self, today: SqlDate, tz: str) -> ColumnElement[int]:
        return days_waited_sql(self.authorized_on(tz), self.as_of(today, tz), self.paused(today, tz))

    def deadline(self, today: SqlDate, tz: str) -> ColumnElement[date]:
        return tm_deadline_sql(self.authorized_on(tz), self.max_days, self.paused(today, tz))

    def past_escalation(self, today: SqlDate, tz: str) -> ColumnElement[bool]:
        return past_escalation_sql(self.days(today, tz), self.max_days)

    def past_tm(self, today: SqlDate, tz: str) -> ColumnElement[bool]:
        return past_tm_sql(self.days(today, tz), self.max_days)


def date_param(name: str) -> ColumnElement[date]:
    """A ``:name`` date parameter of a ``text()`` query, as an operand of the SQL forms."""
    return literal_column(f"CAST(:{name} AS date)", Date)


def as_text(expression: ColumnElement[Any]) -> str:
    """An expression as PostgreSQL text with ``:name`` parameters, to put inside a ``text()`` query whose other
    parameters are named the same way. Literal values are inlined (dates, the time zone, integers)."""
    dialect = postgresql.dialect(paramstyle="named")  # type: ignore[no-untyped-call]
    return str(expression.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
