"""The nightly bulk refresh gives the per-entry path's scores, positions and estimates, and only writes changes."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import event, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from regula.config import Settings
from regula.db.engine import Database
from regula.db.work_mem import kb_for
from regula.people.models import Citizen
from regula.territory.reference import territory
from regula.waitlist import refresh, service
from regula.waitlist.models import WaitlistEntry, WaitlistStanding
from regula.waitlist.service import QueueKey

pytestmark = pytest.mark.usefixtures("reference_data")

CARDIO = "0902010026"  # 60 days, any sex: governed by a queue-specific policy in one region
CERVIX = "0901010057"  # 30 days, SIGTAP-restricted to F: the default policy's sex points never apply
ORTHO = "0903010011"  # 60 days, any sex: governed by an OCI-wide policy (with sex points and an aging cap)
OCIS = (CARDIO, CERVIX, ORTHO)
entry_table = WaitlistEntry.__table__  # type: ignore[attr-defined]
standing_table = WaitlistStanding.__table__  # type: ignore[attr-defined]
citizen_table = Citizen.__table__  # type: ignore[attr-defined]


def _places() -> list[tuple[str, str, str]]:
    """Three SC municipalities of different health regions: (ibge, scope_kind, scope_code); the last one's queues
    reach the whole macro-region."""
    seen: dict[str, Any] = {}
    for m in territory().by_uf("SC"):
        if m.health_region_code and m.health_region_code not in seen:
            seen[m.health_region_code] = m
    a, b, c = list(seen.values())[:3]
    assert a.health_region_code and b.health_region_code
    return [
        (a.ibge_code, "region", a.health_region_code),
        (b.ibge_code, "region", b.health_region_code),
        (c.ibge_code, "macro", c.macro_code),
    ]


def years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # Feb 29 of a leap year
        return day.replace(year=day.year - years, day=28)


async def populate(session: AsyncSession, settings: Settings, n: int, seed: int) -> dict[str, Any]:
    """Policies, capacities, ``n`` waiting entries with varied facts across 9 queues, and a few entries that left
    their queue with a stale position. Inserted with Core, without scores."""
    rng = random.Random(seed)
    today = service.local_today(settings)
    now = datetime.now(UTC)
    places = _places()
    actor = service.Actor.system("test")
    cardio_queue = QueueKey(CARDIO, places[0][1], places[0][2])
    await service.set_policy(session, str(cardio_queue), {"cross_class_aging_days": 90}, actor, settings)
    await service.set_policy(
        session,
        f"{ORTHO}:*",
        {"aging": {"points_per_day": 1.5, "cap_points": 120}, "equity": {"sex": {"F": 5}}},
        actor,
        settings,
    )
    # Sex points by default: never for an OCI that SIGTAP restricts to one sex (CERVIX).
    await service.set_policy(session, service.DEFAULT_KEY, {"equity": {"sex": {"F": 3}}}, actor, settings)
    await service.set_capacity(session, cardio_queue, 7)
    await service.set_capacity(session, QueueKey(ORTHO, places[2][1], places[2][2]), 3)
    await service.set_capacity(session, QueueKey(CERVIX, places[1][1], places[1][2]), 0)  # no estimate

    # Feb 29, and people turning 60 today and 80 tomorrow: the legal-priority points hinge on the exact age.
    births = [date(1952, 2, 29), years_before(today, 60), years_before(today + timedelta(days=1), 80)]
    citizens, entries = [], []
    tied_at = now - timedelta(days=40, hours=3)
    for i in range(n):
        ibge, kind, code = places[i % 3]
        oci = OCIS[(i // 3) % 3]
        tie = i % 9 == 0 and i < 45  # one queue, identical facts and authorization time: only the id orders them
        sex = "F" if oci == CERVIX or tie else rng.choice("MF")
        birth = births[i % 3] if i % 7 == 0 else date(1920, 1, 1) + timedelta(days=rng.randrange(95 * 365))
        citizen_id = i + 1
        citizens.append(
            {
                "id": citizen_id,
                "cpf": f"9{uuid.uuid4().int % 10**10:010d}",
                "name": f"Pessoa {i}",
                "search_name": f"pessoa {i}",
                "birth_date": date(1970, 5, 5) if tie else birth,
                "sex": sex,
                "race_color": "parda" if tie else rng.choice(["branca", "preta", "parda", "amarela", "indigena"]),
                "municipality_ibge": ibge,
                "uf": "SC",
                "preferred_channel": "sms",
                "contact_consent": False,
                "pregnant": not tie and sex == "F" and rng.random() < 0.1,
                "disability": not tie and rng.random() < 0.1,
                "autism": not tie and rng.random() < 0.05,
                "cadunico": not tie and rng.random() < 0.3,
                "vulnerability_index": None if tie or rng.random() < 0.3 else Decimal(rng.randrange(1001)) / 1000,
                "created_at": now,
                "updated_at": now,
            }
        )
        authorized = tied_at if tie else now - timedelta(seconds=rng.randrange(200 * 86400))
        paused = not tie and rng.random() < 0.1
        entries.append(
            {
                "protocol": f"T{uuid.uuid4().hex[:14].upper()}",
                "citizen_id": citizen_id,
                "oci_code": oci,
                "catalog_competencia": "202601",
                "cid_code": "Z136",
                "risk_class": "amarelo" if tie else rng.choice(["vermelho", "amarelo", "verde", "azul"]),
                "risk_justification": "Justificativa suficiente.",
                "checklist": {},
                "requesting_cnes": "2691868",
                "municipality_ibge": ibge,
                "uf": "SC",
                "scope_kind": kind,
                "scope_code": code,
                "status": "autorizada",
                "status_changed_at": authorized,
                "requested_at": authorized - timedelta(days=2),
                "authorized_at": authorized,
                "max_days": 30 if oci == CERVIX else 60,
                "suspended_days": 0 if tie or rng.random() < 0.8 else rng.randrange(1, 20),
                # an open pause counts up to now; 5 h off midnight so both paths see the same whole days
                "paused_since": now - timedelta(days=rng.randrange(1, 15), hours=5) if paused else None,
                "created_at": now,
                "updated_at": now,
            }
        )
    await session.execute(insert(citizen_table), citizens)
    await session.execute(text("SELECT setval(pg_get_serial_sequence('citizen', 'id'), :n)"), {"n": n + 10})
    await session.execute(insert(entry_table), entries)
    # Entries that left their queue but still show a position: the refresh clears it. A status change clears the
    # figures itself (migration 0023), so the stray figures are written afterwards, as a hand-made fix might.
    left = list((await session.execute(select(entry_table.c.id).order_by(entry_table.c.id.desc()).limit(4))).scalars())
    await session.execute(update(entry_table).where(entry_table.c.id.in_(left)).values(status="agendada"))
    await session.execute(
        update(standing_table)
        .where(standing_table.c.entry_id.in_(left))
        .values(position=3, queue_size=10, estimate_from=today)
    )
    return {"places": places, "cardio_queue": cardio_queue}


async def snapshot(session: AsyncSession) -> dict[int, tuple[Any, ...]]:
    rows = await session.execute(
        text(
            "SELECT id, status, score, policy_id, position, queue_size, estimate_from, estimate_to "
            "FROM waitlist_entry JOIN waitlist_standing ON entry_id = id ORDER BY id"
        )
    )
    return {r[0]: tuple(r[1:]) for r in rows}


async def test_bulk_refresh_equals_the_per_entry_path(session: AsyncSession, settings: Settings) -> None:
    await populate(session, settings, 360, seed=1)
    result = await refresh.refresh_all(session, settings)
    assert result.entries == 356 and result.queues == 9 and result.policies == 3
    assert result.written == 356 and result.scores_changed == 356 and result.cleared == 4
    bulk = await snapshot(session)

    await session.execute(
        update(standing_table).values(
            score=None, policy_id=None, position=None, queue_size=None, estimate_from=None, estimate_to=None
        )
    )
    scored, changed = await service.rescore(session, settings)  # per entry, then recompute_positions
    assert (scored, changed) == (356, 356)
    per_entry = await snapshot(session)
    assert bulk == per_entry
    policies = {row[2] for row in bulk.values() if row[0] == "autorizada"}
    assert len(policies) == 3
    # recompute_positions agrees with every position and estimate the refresh wrote
    assert await service.recompute_positions(session, settings) == 0


class Sent:
    """The statements a block sends, in order: through the session (SQLAlchemy's event) and on the driver's own
    connection (asyncpg's query logger), as (text, parameters)."""

    def __init__(self) -> None:
        self.statements: list[tuple[str, Any]] = []

    def session_statement(self, _conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        self.statements.append((statement, parameters))

    def driver_statement(self, q: Any) -> None:
        self.statements.append((q.query, q.args))

    def around(self, marker: str, name: str) -> list[Any]:
        """Each work_mem setting sent (its value, or "sized" when the database sizes it from the table) and each
        statement containing ``marker`` (as ``name``)."""
        return [
            name if marker in query else "sized" if "reltuples" in query else args[0]
            for query, args in self.statements
            if marker in query or "set_config('work_mem'" in query or "reltuples" in query
        ]


async def _sending(session: AsyncSession, sent: Sent, work: Any) -> Any:
    sync = (await session.connection()).sync_connection
    driver = (await (await session.connection()).get_raw_connection()).driver_connection
    assert sync is not None and driver is not None
    event.listen(sync, "before_cursor_execute", sent.session_statement)
    driver.add_query_logger(sent.driver_statement)
    try:
        return await work()
    finally:
        await asyncio.sleep(0)  # asyncpg hands each statement to its loggers with call_soon: the last one too
        driver.remove_query_logger(sent.driver_statement)
        event.remove(sync, "before_cursor_execute", sent.session_statement)


async def test_the_update_gets_the_memory_of_one_hash_batch_and_gives_the_caller_its_own_back(
    session: AsyncSession, settings: Settings
) -> None:
    """The refresh's UPDATE raises ``work_mem`` for itself (one hash batch: each page visited about once) and puts
    back the setting of the caller's transaction, which the import and the weekly cycle run it inside."""
    await populate(session, settings, 120, seed=11)
    await session.execute(text("SET LOCAL work_mem = '5MB'"))
    sent = Sent()
    result = await _sending(session, sent, lambda: refresh.refresh_all(session, settings))
    assert result.written == 116
    assert sent.around(refresh._UPDATE_SQL, "update") == ["4096kB", "update", "5MB"]
    assert (await session.execute(text("SHOW work_mem"))).scalar_one() == "5MB"
    assert kb_for(116, refresh._HASH_BYTES_PER_ROW) == 4 * 1024  # never below PostgreSQL's default
    assert kb_for(1_000_000, refresh._HASH_BYTES_PER_ROW) == 93_750  # ~92 MB: a million ids' hash fits
    assert kb_for(10**9, refresh._HASH_BYTES_PER_ROW) == 1024 * 1024  # capped at 1 GB


async def test_recompute_positions_sizes_its_memory_by_the_table_and_gives_the_caller_its_own_back(
    session: AsyncSession, settings: Settings
) -> None:
    await populate(session, settings, 150, seed=12)
    await refresh.refresh_all(session, settings)
    await session.execute(text("SET LOCAL work_mem = '5MB'"))
    await session.execute(update(standing_table).values(position=None))
    sent = Sent()
    written = await _sending(session, sent, lambda: service.recompute_positions(session, settings))
    assert written == 146
    assert sent.around("row_number() OVER w", "positions") == ["sized", "positions", "5MB"]
    assert (await session.execute(text("SHOW work_mem"))).scalar_one() == "5MB"
    assert await service.recompute_positions(session, settings) == 0  # the positions it wrote are right


async def test_positions_are_gapless_in_queue_order(session: AsyncSession, settings: Settings) -> None:
    await populate(session, settings, 300, seed=2)
    await refresh.refresh_all(session, settings)
    rows = await session.execute(
        text(
            "SELECT oci_code, scope_kind, scope_code, id, score, authorized_at, position, queue_size "
            "FROM waitlist_entry JOIN waitlist_standing ON entry_id = id WHERE status = 'autorizada'"
        )
    )
    queues: dict[tuple[str, str, str], list[Any]] = defaultdict(list)
    for r in rows:
        queues[(r[0], r[1], r[2])].append(r)
    assert len(queues) == 9
    for members in queues.values():
        members.sort(key=lambda r: (-r.score, r.authorized_at, r.id))
        assert [r.position for r in members] == list(range(1, len(members) + 1))
        assert {r.queue_size for r in members} == {len(members)}
    # identical facts and authorization time: equal scores, ordered by id
    first_id = min(r.id for members in queues.values() for r in members)
    tied = [r for members in queues.values() for r in members if (r.id - first_id) % 9 == 0 and r.id - first_id < 45]
    assert len({(r[0], r[1], r[2]) for r in tied}) == 1 and len({r.score for r in tied}) == 1
    assert [r.id for r in sorted(tied, key=lambda r: r.position)] == sorted(r.id for r in tied)
    left = await session.execute(text("SELECT count(*) FROM waitlist_entry WHERE status <> 'autorizada'"))
    assert left.scalar_one() == 4
    assert (
        await session.execute(
            text(
                "SELECT count(*) FROM waitlist_entry JOIN waitlist_standing ON entry_id = id "
                "WHERE status <> 'autorizada' AND position IS NOT NULL"
            )
        )
    ).scalar_one() == 0


async def test_recompute_of_given_queues_writes_what_the_whole_table_pass_writes(
    session: AsyncSession, settings: Settings
) -> None:
    """The per-queue form (the queues numbered from the keys given; a key given twice ranked once) and the
    whole-table form rank alike, estimates included (queues with and without a weekly capacity)."""
    await populate(session, settings, 300, seed=5)
    await refresh.refresh_all(session, settings)
    assert await service.recompute_positions(session, settings) == 0  # the whole-table pass agrees with the refresh
    whole = await snapshot(session)
    keys = [
        QueueKey(*r)
        for r in await session.execute(
            text("SELECT DISTINCT oci_code, scope_kind, scope_code FROM waitlist_entry WHERE status = 'autorizada'")
        )
    ]
    assert len(keys) == 9
    await session.execute(
        update(standing_table).values(position=None, queue_size=None, estimate_from=None, estimate_to=None)
    )
    assert await service.recompute_positions(session, settings, [*keys, keys[0], keys[3]]) == 296
    assert await snapshot(session) == whole
    estimated = {row[6] is not None for row in whole.values() if row[0] == "autorizada"}
    assert estimated == {True, False}  # both kinds of queue were ranked


async def test_the_estimates_in_integers_equal_the_decimal_formula(session: AsyncSession) -> None:
    """``recompute_positions`` computes the estimated weeks in integers (as the refresh does): the same figures as
    floor((pos - 1) / capacity) and ceil(pos / (capacity * share)) in PostgreSQL's numeric, for every position up
    to 3,000 and every weekly capacity up to 60."""
    share = service.ESTIMATE_USABLE_FRACTION
    differing = await session.execute(
        text(
            "SELECT count(*) FROM generate_series(1, 3000) AS pos, generate_series(1, 60) AS cap "
            "WHERE (pos - 1) / cap <> floor((pos - 1) / cap::numeric) "
            "OR (pos * :den + cap * :num - 1) / (cap * :num) <> ceil(pos / (cap * CAST(:share AS numeric)))"
        ),
        {"num": share.numerator, "den": share.denominator, "share": service.ESTIMATE_USABLE_SHARE},
    )
    assert differing.scalar_one() == 0


async def test_second_refresh_the_same_day_writes_nothing(session: AsyncSession, settings: Settings) -> None:
    await populate(session, settings, 200, seed=3)
    first = await refresh.refresh_all(session, settings)
    before = await snapshot(session)
    again = await refresh.refresh_all(session, settings)
    assert first.written == 196
    assert (again.entries, again.written, again.scores_changed, again.cleared) == (196, 0, 0, 0)
    assert await snapshot(session) == before


async def test_a_later_day_ages_scores_and_moves_estimates(
    session: AsyncSession, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    await populate(session, settings, 240, seed=4)
    today = service.local_today(settings)
    await refresh.refresh_all(session, settings, today=today)
    before = await snapshot(session)
    facts = {
        r.id: r
        for r in await session.execute(
            text("SELECT id, oci_code, authorized_at, suspended_days, paused_since FROM waitlist_entry")
        )
    }
    later = today + timedelta(days=10)
    result = await refresh.refresh_all(session, settings, today=later)
    after = await snapshot(session)
    assert result.written == result.entries == 236
    ortho_capped = 0
    for entry_id, (status, score, *_rest) in before.items():
        if status != "autorizada":
            continue
        f = facts[entry_id]
        waited = (today - f.authorized_at.date()).days - f.suspended_days
        new_score = after[entry_id][1]
        if f.oci_code == ORTHO and (waited + 10) * 1.5 >= 120:
            ortho_capped += 1  # reaches the aging cap: the waiting term grows less, or not at all
            assert new_score >= score
        elif f.paused_since is None:
            assert new_score >= score + 10, (entry_id, score, new_score)
        else:
            assert new_score >= score  # paused: the clock stood still (the pause grew as much as the days)
    assert ortho_capped > 0
    # The estimates count from the later day and agree with recompute_positions run on that day.
    # (It rewrites every row, though: for it, positions confirmed before that day are stale.)
    monkeypatch.setattr(service, "local_today", lambda _settings: later)
    await service.recompute_positions(session, settings)
    assert await snapshot(session) == after


async def test_refresh_of_some_queues_leaves_the_others(session: AsyncSession, settings: Settings) -> None:
    data = await populate(session, settings, 180, seed=5)
    queue: QueueKey = data["cardio_queue"]
    result = await refresh.refresh_all(session, settings, queues=[queue])
    rows = await session.execute(
        text(
            "SELECT oci_code, scope_kind, scope_code, score "
            "FROM waitlist_entry JOIN waitlist_standing ON entry_id = id WHERE status = 'autorizada'"
        )
    )
    scored = {QueueKey(r[0], r[1], r[2]) for r in rows if r[3] is not None}
    assert scored == {queue}
    assert result.queues == 1 and result.entries == result.written == 20
    assert (await refresh.refresh_all(session, settings, queues=[])).entries == 0


async def test_nightly_refresh_commits_one_transaction(
    session: AsyncSession, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await populate(session, settings, 60, seed=6)
    await session.commit()  # releases the savepoint: the job's own session sees the rows
    db = Database(url="unused", engine=None, sessionmaker=sessionmaker)  # type: ignore[arg-type]
    result = await refresh.nightly_refresh(db, settings)
    assert result.entries == result.written == 56
    unscored = await session.execute(
        text(
            "SELECT count(*) FROM waitlist_entry JOIN waitlist_standing ON entry_id = id "
            "WHERE status = 'autorizada' AND position IS NULL"
        )
    )
    assert unscored.scalar_one() == 0


async def test_the_refresh_rewrites_rows_as_heap_only_updates(session: AsyncSession, settings: Settings) -> None:
    # Migrations 0022 and 0026: the refresh writes the narrow standing rows only, never the entries' own wide rows;
    # no column it writes is indexed, and pages keep room for a new row version, so the nightly rewrite of every
    # waiting row writes no index entry. Indexing one of those columns (say the score, as the queue-order index once
    # did) turns every one of them into a full update.
    await populate(session, settings, 300, seed=8)
    counts = text(
        "SELECT pg_stat_get_xact_tuples_updated('waitlist_standing'::regclass), "
        "pg_stat_get_xact_tuples_hot_updated('waitlist_standing'::regclass), "
        "pg_stat_get_xact_tuples_updated('waitlist_entry'::regclass)"
    )
    updated_before, hot_before, entries_before = (await session.execute(counts)).one()
    result = await refresh.refresh_all(session, settings)
    updated_after, hot_after, entries_after = (await session.execute(counts)).one()
    updated, hot = updated_after - updated_before, hot_after - hot_before
    assert updated >= result.written > 0
    assert entries_after == entries_before  # not one entry row rewritten
    # Standing rows inserted in this same transaction (by the entries' trigger, empty: ~40 bytes) double in size with
    # their first figures, so about a third no longer fit beside their first version (measured: 189 of 300 heap-only)
    # and their one index (the key) gets an entry; on later nights a row keeps its size, the day-old versions are
    # pruned and nearly every update is heap-only. An index on a daily column makes none of them heap-only.
    assert hot >= 0.5 * updated, (hot, updated)


async def test_nothing_the_daily_work_writes_is_indexed(session: AsyncSession) -> None:
    async def indexed(table: str) -> set[str]:
        found = await session.execute(
            text(
                "SELECT DISTINCT a.attname FROM pg_index i "
                "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
                "WHERE i.indrelid = CAST(:t AS regclass)"
            ),
            {"t": table},
        )
        return set(found.scalars())

    predicates = (
        await session.execute(
            text(
                "SELECT string_agg(coalesce(pg_get_expr(indpred, indrelid), '') || pg_get_indexdef(indexrelid), ' ') "
                "FROM pg_index WHERE indrelid = 'waitlist_standing'::regclass"
            )
        )
    ).scalar_one()
    daily = {"score", "policy_id", "position", "queue_size", "estimate_from", "estimate_to", "position_updated_at"}
    # The daily figures live in the standing table (migration 0026), keyed by the entry and indexed by nothing else.
    assert await indexed("waitlist_standing") == {"entry_id"}
    assert not any(column in predicates for column in daily)
    columns = set(
        (
            await session.execute(
                text("SELECT attname FROM pg_attribute WHERE attrelid = 'waitlist_entry'::regclass AND attnum > 0")
            )
        ).scalars()
    )
    assert not (columns & daily)
    options = text("SELECT reloptions FROM pg_class WHERE oid = CAST(:t AS regclass)")
    assert (await session.execute(options, {"t": "waitlist_standing"})).scalar_one() == ["fillfactor=50"]
    # Nothing rewrites the entries' rows daily any more: full pages (every scan of the table reads half as many).
    assert (await session.execute(options, {"t": "waitlist_entry"})).scalar_one() is None


async def test_every_entry_has_exactly_one_standing_row_whoever_inserts_it(session: AsyncSession) -> None:
    """Migration 0026: the statement trigger makes the standing rows of every insert, one by one or many at once."""
    await populate(session, Settings(), 30, seed=4)  # one multi-row Core insert
    count = text(
        "SELECT count(*) AS entries, count(s.entry_id) AS standing, count(DISTINCT s.entry_id) AS distinct_standing "
        "FROM waitlist_entry e LEFT JOIN waitlist_standing s ON s.entry_id = e.id"
    )
    assert tuple((await session.execute(count)).one()) == (30, 30, 30)
    row = (await session.execute(select(entry_table).limit(1))).mappings().one()
    copy = {k: v for k, v in row.items() if k != "id"} | {"protocol": "TSTANDING00001", "status": "cancelada"}
    await session.execute(text("UPDATE waitlist_entry SET status = 'cancelada' WHERE id = :i"), {"i": row["id"]})
    await session.execute(insert(entry_table), [copy])  # a single-row insert
    assert tuple((await session.execute(count)).one()) == (31, 31, 31)
    stray = await session.execute(
        text(
            "SELECT count(*) FROM waitlist_standing s LEFT JOIN waitlist_entry e ON e.id = s.entry_id "
            "WHERE e.id IS NULL"
        )
    )
    assert stray.scalar_one() == 0


async def test_an_entry_that_leaves_its_queue_loses_its_position_at_once(
    session: AsyncSession, settings: Settings
) -> None:
    # Migration 0023: the status change itself clears the figures (trigger), so a per-queue recompute need not
    # scan the table for entries no longer waiting; a change that keeps the entry waiting keeps them.
    await populate(session, settings, 120, seed=9)
    await refresh.refresh_all(session, settings)
    leaving, staying = (
        await session.execute(
            text(
                "SELECT id FROM waitlist_entry JOIN waitlist_standing ON entry_id = id "
                "WHERE status = 'autorizada' AND position IS NOT NULL "
                "ORDER BY id LIMIT 2"
            )
        )
    ).scalars()
    await session.execute(text("UPDATE waitlist_entry SET status = 'agendada' WHERE id = :i"), {"i": leaving})
    await session.execute(text("UPDATE waitlist_entry SET status = 'autorizada' WHERE id = :i"), {"i": staying})
    figures = text("SELECT position, queue_size, estimate_from, estimate_to FROM waitlist_standing WHERE entry_id = :i")
    assert tuple((await session.execute(figures, {"i": leaving})).one()) == (None, None, None, None)
    assert (await session.execute(figures, {"i": staying})).one()[0] is not None
    # The queue's recompute then closes the gap the leaver left, without looking for it.
    statements: list[str] = []
    queue = (
        await session.execute(
            text("SELECT oci_code, scope_kind, scope_code FROM waitlist_entry WHERE id = :i"), {"i": leaving}
        )
    ).one()
    conn = await session.connection()

    def seen(_c: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(conn.sync_connection, "before_cursor_execute", seen)
    try:
        await service.recompute_positions(session, settings, [QueueKey(*queue)])
    finally:
        event.remove(conn.sync_connection, "before_cursor_execute", seen)
    assert not any("status <> 'autorizada'" in s for s in statements)
    positions = (
        (
            await session.execute(
                text(
                    "SELECT position FROM waitlist_entry JOIN waitlist_standing ON entry_id = id "
                    "WHERE status = 'autorizada' AND oci_code = :o "
                    "AND scope_kind = :k AND scope_code = :c ORDER BY position"
                ),
                {"o": queue[0], "k": queue[1], "c": queue[2]},
            )
        )
        .scalars()
        .all()
    )
    assert positions == list(range(1, len(positions) + 1))


async def test_the_safety_net_joins_the_entries_only_when_a_stray_position_exists(
    session: AsyncSession, settings: Settings
) -> None:
    """The refresh's clear of positions left on entries no longer waiting is a safety net (the status change clears
    them itself): a count over the standing rows decides whether the entries need joining at all."""
    await populate(session, settings, 90, seed=13)  # with 4 stray positions
    clears = (refresh._CLEAR_SQL, refresh._POSITIONED_SQL)
    sent = Sent()
    result = await _sending(session, sent, lambda: refresh.refresh_all(session, settings))
    assert result.cleared == 4
    assert [q for q, _ in sent.statements if q in clears] == [refresh._POSITIONED_SQL, refresh._CLEAR_SQL]
    sent = Sent()
    result = await _sending(session, sent, lambda: refresh.refresh_all(session, settings))
    assert result.cleared == 0
    assert [q for q, _ in sent.statements if q in clears] == [refresh._POSITIONED_SQL]  # no join
