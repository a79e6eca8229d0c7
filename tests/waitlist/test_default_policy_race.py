"""The default priority policy is created on first use; two web workers using it first at the same moment must
not make one of them answer 500 (issue 18 item 8: two web workers authorizing two referrals at once on a new
installation hit the unique index ``uq_priority_policy_queue_key_version``)."""

from __future__ import annotations

import asyncio

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from regula.db.engine import make_sessionmaker
from regula.waitlist.service import DEFAULT_KEY, latest_policies


async def test_two_transactions_creating_the_default_policy_at_once_share_one(fresh_database_url: str) -> None:
    engine = create_async_engine(fresh_database_url, pool_size=3)
    try:
        sessionmaker = make_sessionmaker(engine)
        async with sessionmaker() as first, sessionmaker() as second:
            mine = await latest_policies(first)  # inserted, not yet committed: holds the key
            theirs = asyncio.create_task(latest_policies(second))  # waits on the unique index for the first
            await asyncio.sleep(0.3)
            assert not theirs.done()
            await first.commit()
            other = await asyncio.wait_for(theirs, timeout=10)
            await second.commit()
        assert other[DEFAULT_KEY].id == mine[DEFAULT_KEY].id
        async with engine.connect() as conn:
            rows = (await conn.execute(text("SELECT count(*) FROM priority_policy WHERE queue_key = '*'"))).scalar_one()
        assert rows == 1
    finally:
        await engine.dispose()
