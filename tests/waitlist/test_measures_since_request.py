"""Days since the request (``waitlist.measures.days_since_request``, decision 23): the Python and SQL forms agree on
PostgreSQL for generated moments, days and time zones, and the day is the local one."""

from __future__ import annotations

from datetime import UTC, date, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import DateTime, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from regula.waitlist import measures as m

ZONES = ("America/Sao_Paulo", "America/Manaus", "America/Noronha", "America/Rio_Branco", "UTC")
PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@PROPERTY
@given(
    requested_at=st.datetimes(datetime(2024, 1, 1), datetime(2027, 12, 31), timezones=st.just(UTC)),
    today=st.dates(date(2023, 6, 1), date(2028, 6, 30)),
    tz=st.sampled_from(ZONES),
)
async def test_days_since_request_agrees_with_postgresql(
    session: AsyncSession, requested_at: datetime, today: date, tz: str
) -> None:
    moment = bindparam("t", requested_at, DateTime(timezone=True))
    got = (await session.execute(select(m.days_since_request_sql(moment, today, tz)))).scalar_one()
    assert got == m.days_since_request(requested_at, today, tz)
    assert got >= 0


def test_days_since_request_counts_local_days() -> None:
    # 23:30 in Brasília on 1 March is already 2 March in UTC: the request is the 1st's.
    evening = datetime(2026, 3, 2, 2, 30, tzinfo=UTC)
    assert m.days_since_request(evening, date(2026, 3, 2), "America/Sao_Paulo") == 1
    assert m.days_since_request(evening, date(2026, 3, 2), "UTC") == 0
    assert m.days_since_request(evening, date(2026, 2, 1), "America/Sao_Paulo") == 0  # never negative
