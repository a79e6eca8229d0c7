"""The waitlist's queries, scoped to the caller, in one place for the API, the pages and the dashboard.

``readable(actor)`` is the only place the jurisdiction filter on ``waitlist_entry`` is written: a user sees the
residents of the municipalities in their jurisdiction (everyone, nationally); the services still check each record
they change. The entry search and the queue summaries here are the ones the API and the pages both show, so a
filter or a count means the same on either.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import accumulate
from typing import Any

from sqlalchemy import (
    ColumnElement,
    String,
    Text,
    bindparam,
    case,
    cast,
    column,
    func,
    literal_column,
    select,
    text,
    true,
    values,
)
from sqlalchemy.dialects.postgresql import JSON, aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from regula.access.actor import Actor
from regula.audit.service import record_list_read
from regula.catalog.models import CatalogOci, CatalogVersion
from regula.db.driver import DriverConnection, DriverStatement
from regula.db.listing import Slice, SortKey, Sorts, Window, fetch
from regula.people.models import Citizen
from regula.territory.reference import search_key
from regula.waitlist import measures
from regula.waitlist.models import EntryEvent, PriorityPolicyVersion, WaitlistEntry, WaitlistStanding
from regula.waitlist.queues import QueueKey
from regula.waitlist.states import EntryStatus

S = EntryStatus
# Referrals waiting for the regulation center's decision.
UNDER_REVIEW = (S.SOLICITADA.value, S.EM_ANALISE.value)


# -- who sees what -----------------------------------------------------------------------------------------------


def readable(actor: Actor) -> ColumnElement[bool]:
    """The entries ``actor`` may see: residents of the municipalities in their jurisdiction (all, nationally)."""
    allowed = actor.municipality_filter()
    if allowed is None:
        return true()
    return col(WaitlistEntry.municipality_ibge).in_(allowed)


def readable_sql(actor: Actor, params: dict[str, Any]) -> str:
    """The same filter for hand-written SQL over ``waitlist_entry AS e``: an ``AND …`` clause (empty
    nationally), its bound parameter added to ``params``."""
    return municipalities_sql(actor.municipality_filter(), params)


def municipalities_sql(allowed: list[str] | None, params: dict[str, Any]) -> str:
    """``readable_sql`` for a list of IBGE codes already worked out (None: no restriction)."""
    if allowed is None:
        return ""
    params["munis"] = allowed
    return "AND e.municipality_ibge = ANY(CAST(:munis AS text[]))"


# -- the entry search --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EntrySearch:
    """What a person filters the entries by (already validated by the adapter that read it)."""

    oci: str | None = None
    statuses: tuple[str, ...] | None = None
    municipality: str | None = None
    risk: str | None = None
    queue: QueueKey | None = None
    created_by: str | None = None
    text: str | None = None  # a protocol, or part of the citizen's name
    municipalities: tuple[str, ...] | None = None  # a health region's (the adapter resolves the region)
    born_on_or_before: date | None = None
    born_after: date | None = None
    waited: WaitedAtLeast | None = None  # days waited (waitlist.measures) at least


@dataclass(frozen=True)
class WaitedAtLeast:
    days: int
    today: date
    tz: str


@dataclass(frozen=True)
class EntryHit:
    entry: WaitlistEntry
    name: str
    social_name: str | None


# The orders a search comes in: "id" (the keyset order the API pages by), "queue" (position within each queue),
# "oldest" (longest since the request), anything else the most recently changed first.
Order = str


def _conditions(actor: Actor, s: EntrySearch) -> list[ColumnElement[bool]]:
    e, c = WaitlistEntry, Citizen
    where: list[ColumnElement[bool]] = [readable(actor)]
    if s.oci:
        where.append(col(e.oci_code) == s.oci)
    if s.municipality:
        where.append(col(e.municipality_ibge) == s.municipality)
    if s.municipalities is not None:
        where.append(col(e.municipality_ibge).in_(s.municipalities))
    if s.statuses is not None:
        where.append(col(e.status).in_(s.statuses))
    if s.risk:
        where.append(col(e.risk_class) == s.risk)
    if s.queue is not None:
        where += [
            col(e.oci_code) == s.queue.oci_code,
            col(e.scope_kind) == s.queue.scope_kind,
            col(e.scope_code) == s.queue.scope_code,
        ]
    if s.created_by:
        where.append(col(e.created_by) == s.created_by)
    if s.text:
        term = s.text.strip()
        if term.upper().isalnum() and any(ch.isdigit() for ch in term):
            where.append(col(e.protocol) == term.upper())
        else:
            where.append(col(c.search_name).contains(search_key(term)))
    if s.born_on_or_before is not None:
        where.append(col(c.birth_date) <= s.born_on_or_before)
    if s.born_after is not None:
        where.append(col(c.birth_date) > s.born_after)
    if s.waited is not None:
        where.append(measures.EntrySql.of(e).days(s.waited.today, s.waited.tz) >= s.waited.days)
    return where


def _order_by(order: Order) -> list[Any]:
    e = WaitlistEntry
    match order:
        case "id":  # keyset order: stable under inserts
            return [col(e.id)]
        case "queue":  # the queue's own order: position, then (for entries without one) by id
            return [
                col(e.oci_code),
                col(e.scope_kind),
                col(e.scope_code),
                e.position.asc().nulls_last(),
                col(e.id),
            ]
        case "oldest":
            return [col(e.requested_at), col(e.id)]
        case _:
            return [col(e.status_changed_at).desc(), col(e.id).desc()]


async def count_entries(session: AsyncSession, actor: Actor, s: EntrySearch) -> int:
    e, c = WaitlistEntry, Citizen
    stmt = select(func.count()).select_from(e).join(c, col(c.id) == col(e.citizen_id)).where(*_conditions(actor, s))
    return int((await session.execute(stmt)).scalar_one())


async def search_entries(
    session: AsyncSession,
    actor: Actor,
    s: EntrySearch,
    *,
    limit: int,
    order: Order = "id",
    after_id: int | None = None,
    offset: int = 0,
) -> list[EntryHit]:
    """The entries matching ``s`` that ``actor`` may see, with the citizen's names: after the cursor ``after_id``
    (with ``order="id"``) or from ``offset``. Whoever shows them shows names, so the read is audited here, one
    event naming the entries returned (the API and the pages alike)."""
    e, c = WaitlistEntry, Citizen
    stmt = select(e, col(c.name), col(c.social_name)).join(c, col(c.id) == col(e.citizen_id))
    stmt = stmt.where(*_conditions(actor, s))
    if after_id is not None:
        stmt = stmt.where(col(e.id) > after_id)
    stmt = stmt.order_by(*_order_by(order)).offset(offset).limit(limit)
    hits = [EntryHit(row[0], row[1], row[2]) for row in (await session.execute(stmt)).all()]
    await record_list_read(
        session,
        "WaitlistEntry",
        [h.entry.id for h in hits],
        places=[(h.entry.uf, h.entry.municipality_ibge) for h in hits],
    )
    return hits


# -- the entry lists, paged by cursor and sortable (issue 17 item 1, decision 23) ---------------------------------

_NO_DATE = date(9999, 12, 31)
_RISK_ORDER = case(
    (col(WaitlistEntry.risk_class) == "vermelho", 0),
    (col(WaitlistEntry.risk_class) == "amarelo", 1),
    (col(WaitlistEntry.risk_class) == "verde", 2),
    (col(WaitlistEntry.risk_class) == "azul", 3),
    else_=4,
)


def entry_sorts(today: date, tz: str, *, under_review: bool = False) -> Sorts:
    """The sort keys of the entry lists (the URL's ``ordem``). ``espera`` is days waited (``measures``) in the
    queue, and the days since the request for referrals under review (not yet waiting: ``under_review``);
    ``fila`` is each queue's own order (by queue, then position); entries without a figure sort last."""
    e = WaitlistEntry
    if under_review:
        requested_at: Any = col(e.requested_at)
        wait = measures.days_since_request_sql(requested_at, today, tz)
    else:
        wait = func.coalesce(measures.EntrySql.of(e).days(today, tz), -1)
    queue_order = func.concat(
        col(e.oci_code),
        ":",
        col(e.scope_kind),
        ":",
        col(e.scope_code),
        ":",
        func.lpad(cast(func.coalesce(e.position, 999_999_999), String), 10, "0"),
    )
    keys: tuple[SortKey, ...] = (
        SortKey("fila", queue_order, str),
        SortKey("pontuacao", func.coalesce(e.score, -1), int, descending_first=True),
        SortKey("espera", wait, int, descending_first=True),
        SortKey("solicitacao", col(e.requested_at), datetime),
        SortKey("risco", _RISK_ORDER, int),
        SortKey("prazo", func.coalesce(measures.EntrySql.of(e).deadline(today, tz), _NO_DATE), date),
        SortKey("atualizacao", col(e.status_changed_at), datetime, descending_first=True),
        SortKey("protocolo", col(e.protocol), str),
    )
    if under_review:  # no position, score or tM deadline before authorization: nothing to sort by
        keys = tuple(k for k in keys if k.name not in ("fila", "pontuacao", "prazo"))
    return Sorts(
        keys=keys,
        # Referrals under review: the oldest request first (first come, first decided); the queue: its own order.
        default="solicitacao" if under_review else "fila",
        default_descending=False,
        tiebreak=col(e.id),
    )


async def entry_page(
    session: AsyncSession, actor: Actor, s: EntrySearch, sorts: Sorts, window: Window
) -> Slice[EntryHit]:
    """One window of the entries matching ``s`` that ``actor`` may see, with the true total (audited, as
    ``search_entries``: the list shows names)."""
    e, c = WaitlistEntry, Citizen
    base = (
        select(e, col(c.name), col(c.social_name)).join(c, col(c.id) == col(e.citizen_id)).where(*_conditions(actor, s))
    )
    found = await fetch(session, base, sorts, window)
    hits = [EntryHit(row[0], row[1], row[2]) for row in found.rows]
    await record_list_read(
        session,
        "WaitlistEntry",
        [h.entry.id for h in hits],
        places=[(h.entry.uf, h.entry.municipality_ibge) for h in hits],
    )
    return found.map(hits)


async def citizens_by_id(session: AsyncSession, ids: Sequence[int]) -> dict[int, Citizen]:
    if not ids:
        return {}
    stmt = select(Citizen).where(col(Citizen.id).in_(set(ids)))
    return {c.id or 0: c for c in (await session.execute(stmt)).scalars()}


async def policies_by_id(session: AsyncSession, ids: Iterable[int]) -> dict[int, PriorityPolicyVersion]:
    wanted = set(ids)
    if not wanted:
        return {}
    stmt = select(PriorityPolicyVersion).where(col(PriorityPolicyVersion.id).in_(wanted))
    return {p.id or 0: p for p in (await session.execute(stmt)).scalars()}


async def waiting_at_or_above(
    session: AsyncSession, wanted: Sequence[tuple[int, QueueKey, int]]
) -> dict[int, tuple[int, int]]:
    """For each ``(id, queue, score)``: how many entries waiting in that queue have a score at least ``score``, and
    the queue's size (``waitlist.standing``: where a referral under review would stand).

    One statement reads, for each distinct queue among the wanted ones, how many wait with each score (a LATERAL
    walk of the queue index per queue); the counts are then summed here. Since the queue index no longer keys the
    score (decision 0027), a count per wanted entry walked the whole queue twice per entry, and a set-based join
    made PostgreSQL walk it again per entry or read the whole table (``docs/benchmarks.md``)."""
    if not wanted:
        return {}
    keys = sorted({k for _i, k, _s in wanted}, key=str)
    v = values(column("oci", String), column("sk", String), column("sc", String), name="queues").data(
        [(k.oci_code, k.scope_kind, k.scope_code) for k in keys]
    )
    e, st = WaitlistEntry, WaitlistStanding
    per_score = (
        select(col(st.score).label("score"), func.count().label("n"))
        .select_from(e)
        .join(st, col(st.entry_id) == col(e.id))
        .where(
            col(e.status) == S.AUTORIZADA.value,
            col(e.oci_code) == v.c.oci,
            col(e.scope_kind) == v.c.sk,
            col(e.scope_code) == v.c.sc,
        )
        .group_by(col(st.score))
        .lateral("per_score")
    )
    stmt = select(v.c.oci, v.c.sk, v.c.sc, per_score.c.score, per_score.c.n).select_from(v.join(per_score, true()))
    histograms: dict[QueueKey, list[tuple[int, int]]] = defaultdict(list)
    sizes: dict[QueueKey, int] = defaultdict(int)
    for oci, kind, code, score, n in (await session.execute(stmt)).all():
        key = QueueKey(oci, kind, code)
        sizes[key] += int(n)
        if score is not None:  # not yet scored: in the queue's size, above nobody (as ``score >= x`` in SQL)
            histograms[key].append((int(score), int(n)))
    # Per queue: its distinct scores ascending, and how many wait at or above each (a suffix sum).
    ladders: dict[QueueKey, tuple[list[int], list[int]]] = {}
    for key, counts in histograms.items():
        counts.sort()
        ladders[key] = ([sc for sc, _n in counts], list(accumulate(n for _sc, n in reversed(counts)))[::-1])
    out: dict[int, tuple[int, int]] = {}
    for entry_id, key, score in wanted:
        scores, at_or_above = ladders.get(key, ([], []))
        first = bisect_left(scores, score)
        out[entry_id] = (at_or_above[first] if first < len(scores) else 0, sizes.get(key, 0))
    return out


# -- one entry ---------------------------------------------------------------------------------------------------


async def fresh_entry(session: AsyncSession, entry_id: int) -> tuple[WaitlistEntry, Citizen] | None:
    """The entry and its citizen as the database has them now (not a copy the session already holds)."""
    entry = (
        await session.execute(
            select(WaitlistEntry).where(col(WaitlistEntry.id) == entry_id).execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()
    if entry is None:
        return None
    citizen = (
        await session.execute(
            select(Citizen).where(col(Citizen.id) == entry.citizen_id).execution_options(populate_existing=True)
        )
    ).scalar_one()
    return entry, citizen


async def entry_ids_of_citizen(session: AsyncSession, citizen_id: int) -> tuple[int, ...]:
    """Every entry of one citizen, in any status (the auditor's trail follows them all; the caller has already
    checked the citizen is theirs to read)."""
    entry_id = col(WaitlistEntry.id)
    stmt = select(entry_id).where(col(WaitlistEntry.citizen_id) == citizen_id).order_by(entry_id)
    return tuple(i for i in (await session.execute(stmt)).scalars() if i is not None)


async def entries_by_id(session: AsyncSession, ids: Sequence[int]) -> dict[int, WaitlistEntry]:
    if not ids:
        return {}
    stmt = select(WaitlistEntry).where(col(WaitlistEntry.id).in_(ids))
    return {e.id or 0: e for e in (await session.execute(stmt)).scalars()}


async def protocols_of(session: AsyncSession, ids: Sequence[int]) -> dict[int, str]:
    """Each entry's protocol, by id."""
    if not ids:
        return {}
    stmt = select(col(WaitlistEntry.id), col(WaitlistEntry.protocol)).where(col(WaitlistEntry.id).in_(ids))
    return {i: protocol for i, protocol in (await session.execute(stmt)).all() if i is not None}


async def last_requesting_cnes(session: AsyncSession, username: str) -> str | None:
    """The unit this user sent their latest referral from."""
    stmt = (
        select(col(WaitlistEntry.requesting_cnes))
        .where(col(WaitlistEntry.created_by) == username)
        .order_by(col(WaitlistEntry.id).desc())
        .limit(1)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


# -- summaries ---------------------------------------------------------------------------------------------------


async def count_in_status(session: AsyncSession, actor: Actor, statuses: tuple[str, ...]) -> int:
    stmt = select(func.count()).select_from(WaitlistEntry).where(col(WaitlistEntry.status).in_(statuses))
    return int((await session.execute(stmt.where(readable(actor)))).scalar_one())


async def next_for_review(session: AsyncSession, actor: Actor) -> int | None:
    """The referral waiting longest for a decision, among those ``actor`` sees."""
    stmt = (
        select(col(WaitlistEntry.id))
        .where(col(WaitlistEntry.status).in_(UNDER_REVIEW), readable(actor))
        .order_by(col(WaitlistEntry.requested_at), col(WaitlistEntry.id))
        .limit(1)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


@dataclass(frozen=True)
class QueueSummary:
    """One queue (OCI and scope) as the people who regulate it see it: how many wait and for how long."""

    oci_code: str
    scope_kind: str
    scope_code: str
    size: int
    oldest_authorized_at: datetime | None
    longest: int | None  # days waited by whoever waits longest
    past_75: int  # how many have waited 75% of the OCI's tM or more
    red: int  # how many are of the red risk class
    weekly_capacity: int | None

    @property
    def key(self) -> str:
        return f"{self.oci_code}:{self.scope_kind}:{self.scope_code}"


_QUEUES_SQL = """
SELECT e.oci_code, e.scope_kind, e.scope_code, count(*) AS size,
       min(e.authorized_at) AS oldest,
       max(w.days) AS longest,
       count(*) FILTER (WHERE {past_75}) AS past_75,
       count(*) FILTER (WHERE e.risk_class = 'vermelho') AS red,
       min(c.weekly_capacity) AS weekly_capacity
FROM waitlist_entry e
CROSS JOIN LATERAL (
    SELECT {days} AS days
) w
LEFT JOIN queue_capacity c
  ON c.oci_code = e.oci_code AND c.scope_kind = e.scope_kind AND c.scope_code = e.scope_code
WHERE e.status = 'autorizada' AND e.authorized_at IS NOT NULL {where}
GROUP BY e.oci_code, e.scope_kind, e.scope_code
ORDER BY e.oci_code, e.scope_kind, e.scope_code
"""


async def queue_summaries(
    session: AsyncSession, actor: Actor, today: date, tz: str, *, oci: str | None = None
) -> list[QueueSummary]:
    """Every queue with someone authorized and waiting that ``actor`` sees, in key order (the API's list and the
    operator's queue page). Days waited and "past 75% of tM" are ``waitlist.measures``' on ``today``."""
    params: dict[str, Any] = {"today": today}
    where = readable_sql(actor, params)
    if oci:
        params["oci"] = oci
        where += " AND e.oci_code = :oci"
    clock = measures.EntrySql.alias("e")
    days = measures.as_text(clock.days(measures.date_param("today"), tz))
    past_75 = measures.as_text(measures.past_escalation_sql(literal_column("w.days"), clock.max_days))
    sql = _QUEUES_SQL.format(where=where, days=days, past_75=past_75)
    rows = (await session.execute(text(sql), params)).all()
    return [
        QueueSummary(
            r.oci_code,
            r.scope_kind,
            r.scope_code,
            r.size,
            r.oldest,
            r.longest,
            r.past_75,
            r.red,
            r.weekly_capacity,
        )
        for r in rows
    ]


# -- the equity impact report (Portaria GM/MS 3.492/2024, art. 3 VIII) ----------------------------------------------


@dataclass(frozen=True)
class WaitingFacts:
    """One waiting entry with what its score needs (``priority.BULK_COLUMNS``' sources) and its days waited; no
    name, no document: the report shows aggregates only."""

    id: int
    oci_code: str
    scope_kind: str
    scope_code: str
    risk_class: str
    authorized_at: datetime
    authorized_on: date
    paused: int
    days: int
    max_days: int
    birth_date: date
    pregnant: bool
    disability: bool
    autism: bool
    race_color: str
    sex: str
    cadunico: bool
    vulnerability_index: float | None

    @property
    def queue(self) -> QueueKey:
        return QueueKey(self.oci_code, self.scope_kind, self.scope_code)


_WAITING_FACTS_SQL = """
SELECT e.id, e.oci_code, e.scope_kind, e.scope_code, e.risk_class, e.authorized_at,
       {authorized_on} AS authorized_on, {paused} AS paused, {days} AS days, e.max_days,
       c.birth_date, c.pregnant, c.disability, c.autism, c.race_color, c.sex, c.cadunico,
       CAST(c.vulnerability_index AS double precision) AS vulnerability_index
FROM waitlist_entry e JOIN citizen c ON c.id = e.citizen_id
WHERE e.status = 'autorizada' AND e.authorized_at IS NOT NULL
  AND (e.oci_code, e.scope_kind, e.scope_code) IN (
      SELECT DISTINCT e.oci_code, e.scope_kind, e.scope_code FROM waitlist_entry e
      WHERE e.status = 'autorizada' {where})
ORDER BY e.oci_code, e.scope_kind, e.scope_code, e.id
"""

_SERVED_BY_QUEUE_SQL = """
WITH booked AS (
    SELECT entry_id, min(occurred_at) AS first_at
    FROM waitlist_entry_event
    WHERE kind = 'transition' AND to_status = 'agendada'
    GROUP BY entry_id
)
SELECT e.oci_code, e.scope_kind, e.scope_code, count(*) AS served
FROM waitlist_entry e JOIN booked b ON b.entry_id = e.id
WHERE b.first_at >= :since_at
  AND (e.oci_code, e.scope_kind, e.scope_code) IN (
      SELECT DISTINCT e.oci_code, e.scope_kind, e.scope_code FROM waitlist_entry e
      WHERE e.status = 'autorizada' {where})
GROUP BY 1, 2, 3
"""


async def waiting_facts(
    session: AsyncSession, actor: Actor, today: date, tz: str, *, oci: str | None = None
) -> list[WaitingFacts]:
    """Every waiting entry of every queue in which ``actor`` sees someone waiting (the whole queue: a position is
    relative to everyone in it), with the waiting clock of ``waitlist.measures`` on ``today``."""
    params: dict[str, Any] = {"today": today}
    where = readable_sql(actor, params)
    if oci:
        params["oci"] = oci
        where += " AND e.oci_code = :oci"
    clock = measures.EntrySql.alias("e")
    today_sql = measures.date_param("today")
    sql = _WAITING_FACTS_SQL.format(
        authorized_on=measures.as_text(clock.authorized_on(tz)),
        paused=measures.as_text(clock.paused(today_sql, tz)),
        days=measures.as_text(clock.days(today_sql, tz)),
        where=where,
    )
    return [WaitingFacts(**row) for row in (await session.execute(text(sql), params)).mappings()]


async def served_by_queue(
    session: AsyncSession, actor: Actor, today: date, tz: str, *, oci: str | None = None
) -> dict[QueueKey, int]:
    """First bookings in the pace window (``measures.PACE_WINDOW_DAYS``) of the queues ``waiting_facts`` reads."""
    since = today - timedelta(days=measures.PACE_WINDOW_DAYS)
    params: dict[str, Any] = {"since_at": measures.start_of_day(since, tz)}
    where = readable_sql(actor, params)
    if oci:
        params["oci"] = oci
        where += " AND e.oci_code = :oci"
    rows = (await session.execute(text(_SERVED_BY_QUEUE_SQL.format(where=where)), params)).all()
    return {QueueKey(r.oci_code, r.scope_kind, r.scope_code): int(r.served) for r in rows}


# -- one entry, as its detail page and API read it ------------------------------------------------------------------

_EVENT = EntryEvent.__table__  # type: ignore[attr-defined]
_EVENT_FIELDS = (
    "id",
    "kind",
    "from_status",
    "to_status",
    "reason_code",
    "reason_text",
    "data",
    "actor_username",
    "actor_role",
)
_UTC_MICROS: ColumnElement[str] = literal_column("'YYYY-MM-DD\"T\"HH24:MI:SS.US'")


def _event_object() -> ColumnElement[Any]:
    pairs: list[Any] = []
    for name in _EVENT_FIELDS:
        pairs += [literal_column(f"'{name}'"), _EVENT.c[name]]
    occurred = func.to_char(func.timezone(literal_column("'UTC'"), _EVENT.c.occurred_at), _UTC_MICROS)
    return func.json_build_object(*pairs, literal_column("'occurred_at'"), occurred)


#: The entry's history as one JSON array, oldest first; ``occurred_at`` as UTC text with its microseconds (JSON has
#: no timestamp type, and the session's TimeZone must not change what the API says).
_HISTORY = (
    select(
        func.coalesce(
            func.json_agg(aggregate_order_by(_event_object(), _EVENT.c.id)), literal_column("'[]'::json"), type_=JSON
        )
    )
    .where(_EVENT.c.entry_id == col(WaitlistEntry.id))
    .scalar_subquery()
)


@dataclass(frozen=True, slots=True)
class EntryReadout:
    """The columns of a waitlist entry that its reading (the API's ``GET /entries/{id}``) shows, as read by the
    driver (decision 0030): the same names and values as the ``WaitlistEntry`` attributes, no ORM entity."""

    id: int
    protocol: str
    citizen_id: int
    oci_code: str
    cid_code: str
    risk_class: str
    risk_justification: str
    checklist: dict[str, Any]
    requesting_cnes: str
    requested_procedure_code: str | None
    municipality_ibge: str
    uf: str
    scope_kind: str
    scope_code: str
    status: str
    status_changed_at: datetime
    requested_at: datetime
    authorized_at: datetime | None
    max_days: int
    suspended_days: int
    paused_since: datetime | None
    score: int | None
    policy_id: int | None
    position: int | None
    queue_size: int | None
    estimate_from: date | None
    estimate_to: date | None
    position_updated_at: datetime | None


@dataclass(frozen=True, slots=True)
class CitizenFacts:
    """The citizen's fields the score is computed from (``service.priority_facts``), read with the entry."""

    birth_date: date
    sex: str
    race_color: str
    pregnant: bool
    disability: bool
    autism: bool
    cadunico: bool
    vulnerability_index: Decimal | None


@dataclass(frozen=True, slots=True)
class PolicyReadout:
    """The policy version that gave the entry's stored score: its name parts and its parameters as JSON text."""

    queue_key: str
    version: int
    params_json: str


_READOUT_FIELDS = tuple(f.name for f in fields(EntryReadout))
_STANDING = WaitlistStanding.__table__  # type: ignore[attr-defined]
_ENTRY = WaitlistEntry.__table__  # type: ignore[attr-defined]
_FACT_FIELDS = tuple(f.name for f in fields(CitizenFacts))
_POLICY = PriorityPolicyVersion.__table__  # type: ignore[attr-defined]
_OCI_SEX = (
    select(col(CatalogOci.sex_sigtap))
    .where(
        col(CatalogOci.code) == col(WaitlistEntry.oci_code),
        col(CatalogOci.competencia) == select(func.max(col(CatalogVersion.competencia))).scalar_subquery(),
    )
    .scalar_subquery()
)
_ENTRY_FOR_READING = DriverStatement.of(
    select(
        *(_STANDING.c[name] if name in _STANDING.c else _ENTRY.c[name] for name in _READOUT_FIELDS),
        col(Citizen.name),
        _HISTORY,
        *(Citizen.__table__.c[name] for name in _FACT_FIELDS),  # type: ignore[attr-defined]
        _POLICY.c.queue_key,
        _POLICY.c.version,
        cast(_POLICY.c.params, Text),
        _OCI_SEX,
    )
    .join(_STANDING, _STANDING.c.entry_id == col(WaitlistEntry.id))
    .join(Citizen, col(Citizen.id) == col(WaitlistEntry.citizen_id))
    .outerjoin(_POLICY, _POLICY.c.id == _STANDING.c.policy_id)
    .where(col(WaitlistEntry.id) == bindparam("entry_id"))
)


@dataclass(frozen=True)
class EntryForReading:
    entry: EntryReadout
    citizen_name: str
    #: The history, oldest first: the event table's columns but ``entry_id`` and ``actor_user_id``, with
    #: ``occurred_at`` an aware datetime in UTC.
    history: list[dict[str, Any]]
    citizen: CitizenFacts
    #: None when the entry was never scored
    policy: PolicyReadout | None
    #: the OCI's SIGTAP sex letter in the current competência (None if the catalog no longer lists it)
    oci_sex_sigtap: str | None


async def entry_for_reading(connection: DriverConnection, entry_id: int) -> EntryForReading | None:
    """The entry, its citizen's name, its history and what its shown score is computed from (the citizen's facts,
    the policy of its stored score, the OCI's sex restriction) in one statement (one round trip instead of three:
    issue 18 item 3), run by the driver (decision 0030), or None when there is no such entry."""
    row = await _ENTRY_FOR_READING.fetchrow(connection, {"entry_id": entry_id})
    if row is None:
        return None
    n, k = len(_READOUT_FIELDS), len(_FACT_FIELDS)
    history: list[dict[str, Any]] = row[n + 1]
    for event in history:
        event["occurred_at"] = datetime.fromisoformat(event["occurred_at"]).replace(tzinfo=UTC)
    at = n + 2 + k
    queue_key, version, params_json, oci_sex = row[at], row[at + 1], row[at + 2], row[at + 3]
    return EntryForReading(
        EntryReadout(*row[:n]),
        row[n],
        history,
        CitizenFacts(*row[n + 2 : at]),
        PolicyReadout(queue_key, version, params_json) if queue_key is not None else None,
        oci_sex,
    )


# -- the public look-up -----------------------------------------------------------------------------------------------

_PUBLIC_ANSWER = DriverStatement.of(
    select(
        col(WaitlistEntry.protocol),
        col(WaitlistEntry.status),
        _STANDING.c.position,
        _STANDING.c.queue_size,
        _STANDING.c.estimate_from,
        _STANDING.c.estimate_to,
        _STANDING.c.position_updated_at,
        col(Citizen.name),
        col(Citizen.social_name),
    )
    .join(_STANDING, _STANDING.c.entry_id == col(WaitlistEntry.id))
    .join(Citizen, col(Citizen.id) == col(WaitlistEntry.citizen_id))
    .where(col(WaitlistEntry.protocol) == bindparam("protocol"), col(Citizen.birth_date) == bindparam("birth_date"))
    .limit(1)
)


@dataclass(frozen=True, slots=True)
class PublicAnswerRow:
    """What the public look-up reads: the columns of ``_PUBLIC_ANSWER``, in its order."""

    protocol: str
    status: str
    position: int | None
    queue_size: int | None
    estimate_from: date | None
    estimate_to: date | None
    position_updated_at: datetime | None
    name: str
    social_name: str | None


async def public_answer(connection: DriverConnection, protocol: str, birth_date: date) -> PublicAnswerRow | None:
    """What the public look-up shows of the entry with ``protocol`` whose citizen was born on ``birth_date``, or
    None. One statement, run by the driver on a connection outside any transaction (decision 0030)."""
    row = await _PUBLIC_ANSWER.fetchrow(connection, {"protocol": protocol, "birth_date": birth_date})
    return None if row is None else PublicAnswerRow(*row)
