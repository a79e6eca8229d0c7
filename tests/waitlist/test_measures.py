"""Each derived measure has a Python form and a SQL form (``regula.waitlist.measures``): for generated inputs, the
SQL form evaluated by PostgreSQL on rows gives what the Python form gives — and so does its text rendering, the one
the dashboard's and the jobs' text queries embed."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Date, DateTime, Integer, String, bindparam, cast, column, select, text, values
from sqlalchemy.ext.asyncio import AsyncSession

from regula.waitlist import measures as m
from regula.waitlist.states import EntryStatus

ZONES = ("America/Sao_Paulo", "America/Manaus", "America/Noronha", "America/Rio_Branco", "UTC")
moments = st.datetimes(datetime(2024, 1, 1), datetime(2027, 12, 31), timezones=st.just(UTC))
days = st.dates(date(2024, 1, 1), date(2028, 6, 30))
entries = st.fixed_dictionaries(
    {
        "authorized_at": moments,
        "suspended_days": st.integers(0, 400),
        "paused_since": st.none() | moments,
        "max_days": st.integers(1, 180),
        "first_on": days,
        "span": st.integers(0, 200),
        "status": st.sampled_from([s.value for s in EntryStatus]),
        "status_changed_at": moments,
    }
)
PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _rows(cases: list[dict[str, Any]]) -> Any:
    rows = (
        values(
            column("i", Integer),
            column("authorized_at", DateTime(timezone=True)),
            column("suspended_days", Integer),
            column("paused_since", DateTime(timezone=True)),
            column("max_days", Integer),
            column("first_on", Date),
            column("last_on", Date),
            column("status", String),
            column("status_changed_at", DateTime(timezone=True)),
            name="e",
        )
        .data(
            [
                (
                    i,
                    c["authorized_at"],
                    c["suspended_days"],
                    c["paused_since"],
                    c["max_days"],
                    c["first_on"],
                    c["first_on"] + timedelta(days=c["span"]),
                    c["status"],
                    c["status_changed_at"],
                )
                for i, c in enumerate(cases)
            ]
        )
        .alias("v")
    )
    # A column of NULLs only would be text in VALUES: typed as a table's column is.
    return select(
        *(c for c in rows.c if c.name != "paused_since"),
        cast(rows.c.paused_since, DateTime(timezone=True)).label("paused_since"),
    ).subquery("e")


@PROPERTY
@given(cases=st.lists(entries, min_size=1, max_size=25), today=days, tz=st.sampled_from(ZONES))
async def test_entry_measures_agree_with_postgresql(
    session: AsyncSession, cases: list[dict[str, Any]], today: date, tz: str
) -> None:
    e = _rows(cases)
    orm = m.EntrySql.of(e.c)
    stmt = select(
        e.c.i,
        orm.days(today, tz),
        orm.deadline(today, tz),
        orm.past_escalation(today, tz),
        orm.past_tm(today, tz),
        m.within_tm_sql(e.c.first_on, e.c.last_on, e.c.max_days),
        # the text form, as text() queries embed it, with :today bound at execution
        text(m.as_text(m.EntrySql.alias("e").days(m.date_param("today"), tz))).bindparams(
            bindparam("today", today, type_=Date)
        ),
        text(m.as_text(m.EntrySql.alias("e").past_escalation(m.date_param("today"), tz))).bindparams(
            bindparam("today", today, type_=Date)
        ),
    ).order_by(e.c.i)
    async with session.begin_nested():  # one example's error does not abort the next ones'
        got = (await session.execute(stmt)).all()
    for (i, sql_days, sql_deadline, sql_75, sql_past, sql_within, text_days, text_75), case in zip(
        got, cases, strict=True
    ):
        clock = m.entry_clock(SimpleNamespace(**case), today, tz)
        assert clock is not None
        last_on = case["first_on"] + timedelta(days=case["span"])
        assert (sql_days, sql_deadline, sql_75, sql_past) == (
            clock.days,
            clock.deadline,
            clock.past_escalation,
            clock.past_tm,
        ), (i, case)
        assert (text_days, text_75) == (clock.days, clock.past_escalation)
        assert sql_within == m.within_tm(case["first_on"], last_on, case["max_days"])
        # the aggregate over the same rows
    within, concluded = m.tm_compliance_sql(e.c.first_on, e.c.last_on, e.c.max_days)
    share = (await session.execute(select(within, concluded).select_from(e))).one()
    expected = m.tm_compliance((c["first_on"], c["first_on"] + timedelta(days=c["span"]), c["max_days"]) for c in cases)
    assert (share[0], share[1]) == (expected.part, expected.whole)


@PROPERTY
@given(
    outcomes=st.lists(st.sampled_from(["faltou", "em_atendimento", "agendada", "confirmada", "cancelada"]), max_size=40)
)
async def test_no_show_rate_agrees_with_postgresql(session: AsyncSession, outcomes: list[str]) -> None:
    if not outcomes:
        rate = m.no_show_rate(outcomes)
        assert (rate.part, rate.whole, rate.percent) == (0, 0, None)
        return
    ev = values(column("to_status", String), name="ev").data([(o,) for o in outcomes]).alias("ev")
    missed, due = m.no_show_rate_sql(ev.c.to_status)
    got = (await session.execute(select(missed, due).select_from(ev))).one()
    rate = m.no_show_rate(outcomes)
    assert (got[0], got[1]) == (rate.part, rate.whole)


@PROPERTY
@given(moment=moments, tz=st.sampled_from(ZONES))
async def test_local_date_agrees_with_postgresql(session: AsyncSession, moment: datetime, tz: str) -> None:
    got = (await session.execute(select(m.local_date_sql(bindparam("t", moment, DateTime(timezone=True)), tz)))).one()
    assert got[0] == m.local_date(moment, tz)


def test_days_are_local_and_today_is_a_parameter() -> None:
    # 22:30 in Brasília on 3 March is 01:30 UTC on 4 March: the authorization is of 3 March.
    late = datetime(2026, 3, 4, 1, 30, tzinfo=UTC)
    entry = SimpleNamespace(
        authorized_at=late,
        suspended_days=2,
        paused_since=None,
        max_days=42,
        status="autorizada",
        status_changed_at=late,
    )
    clock = m.entry_clock(entry, date(2026, 4, 5), "America/Sao_Paulo")
    assert clock is not None
    assert clock.authorized_on == date(2026, 3, 3)
    assert clock.days == 33 - 2 and clock.deadline == date(2026, 4, 16)
    assert not clock.past_escalation  # 31 days: 100·31 < 75·42
    later = m.entry_clock(entry, date(2026, 4, 6), "America/Sao_Paulo")
    assert later is not None and later.days == 32 and later.past_escalation  # 3200 ≥ 3150
    # An open pause counts up to the day asked about; a closed entry stopped waiting the day it closed.
    paused_at = datetime(2026, 3, 10, 12, tzinfo=UTC)
    paused = SimpleNamespace(
        authorized_at=late,
        suspended_days=0,
        paused_since=paused_at,
        max_days=40,
        status="suspensa",
        status_changed_at=paused_at,
    )
    paused_clock = m.entry_clock(paused, date(2026, 3, 20), "America/Sao_Paulo")
    assert paused_clock is not None and paused_clock.days == 7 and paused_clock.paused == 10
    closed = SimpleNamespace(
        **vars(entry) | {"status": "cancelada", "status_changed_at": datetime(2026, 3, 13, 12, tzinfo=UTC)}
    )
    closed_clock = m.entry_clock(closed, date(2026, 12, 1), "America/Sao_Paulo")
    assert closed_clock is not None and closed_clock.days == 10 - 2


@pytest.mark.parametrize(
    ("first", "last", "tm", "within"),
    [(date(2026, 1, 1), date(2026, 1, 31), 30, True), (date(2026, 1, 1), date(2026, 2, 1), 30, False)],
)
def test_within_tm_counts_first_to_last_procedure(first: date, last: date, tm: int, within: bool) -> None:
    assert m.within_tm(first, last, tm) is within
