"""``repository.waiting_at_or_above`` (the analysis list's provisional place) against a count done in Python: each
wanted score's entries at or above it in its own queue, and the queue's size, whatever the mix of queues, ties and
empty queues in one call."""

from __future__ import annotations

import random
from collections import defaultdict

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from tests.waitlist.test_refresh import populate

from regula.config import Settings
from regula.waitlist import refresh
from regula.waitlist import repository as repo
from regula.waitlist.queues import QueueKey

pytestmark = pytest.mark.usefixtures("reference_data")


async def test_counts_equal_a_count_in_python(session: AsyncSession, settings: Settings) -> None:
    await populate(session, settings, 300, seed=7)
    await refresh.refresh_all(session, settings)
    # Few distinct scores, so ties with the wanted scores are common.
    await session.execute(text("UPDATE waitlist_standing SET score = score % 7 WHERE score IS NOT NULL"))
    # One entry not scored yet: in its queue's size, above nobody.
    await session.execute(
        text(
            "UPDATE waitlist_standing SET score = NULL "
            "WHERE entry_id = (SELECT min(id) FROM waitlist_entry WHERE status = 'autorizada')"
        )
    )
    rows = (
        await session.execute(
            text(
                "SELECT oci_code, scope_kind, scope_code, score FROM waitlist_entry "
                "JOIN waitlist_standing ON entry_id = id WHERE status = 'autorizada'"
            )
        )
    ).all()
    queues: dict[QueueKey, list[int | None]] = defaultdict(list)
    for oci, kind, code, score in rows:
        queues[QueueKey(oci, kind, code)].append(score)
    assert sum(s is None for q in queues.values() for s in q) == 1
    assert len(queues) >= 3
    rng = random.Random(7)
    empty = QueueKey("0902010026", "uf", "AC")  # nobody waits there
    wanted = [(i, rng.choice([*queues, empty]), rng.randint(-1, 8)) for i in range(1, 41)]
    got = await repo.waiting_at_or_above(session, wanted)
    expected = {
        i: (sum(1 for s in queues.get(key, []) if s is not None and s >= score), len(queues.get(key, [])))
        for i, key, score in wanted
    }
    assert got == expected
    assert any(n == 0 for _a, n in got.values()) and any(0 < a < n for a, n in got.values())
    assert await repo.waiting_at_or_above(session, []) == {}
