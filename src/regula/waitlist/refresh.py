"""The nightly refresh of the waitlist: every waiting entry's score (waiting time ages every day), then the
positions and estimated dates of every queue.

Built for a million waiting entries. :func:`regula.waitlist.service.rescore` scores entry by entry through the
ORM, which is right for one queue or a policy change and far too slow for the whole state. Here:

1. one binary ``COPY`` reads only the needed columns of the waiting entries and their citizens into numpy arrays;
2. each policy's rows are scored at once with :func:`regula.waitlist.priority.compute_scores_bulk` (the same
   integers as ``priority.compute_score``, so the same scores as ``service.rescore``);
3. positions, queue sizes and estimates are computed from the new scores exactly as
   :func:`regula.waitlist.service.recompute_positions` computes them (``row_number()`` in the order score desc,
   authorization time, id; the same estimate formulas);
4. only the rows where anything changed are written, scores and positions together, by one ``UPDATE`` joined to a
   temporary table filled by a binary ``COPY``.

Why one write and not a score write-back followed by ``recompute_positions``: every waiting entry's score changes
every day (the waiting term grows by ``points_per_day``) and so do its estimated dates (they count from today),
so each of those statements rewrites every row. None of the columns written here is indexed and the table's pages
are half full (migration 0022), so each of these UPDATEs is heap-only: a new row version on the same page and no
index entry, where a full update writes one in each of the table's seven indexes (measured in
``docs/benchmarks.md``, "the daily rewrites as heap-only updates"). Keep it so: indexing any column this statement
writes makes every nightly row write seven index entries again. Doing it once instead of twice still halves the
row versions, and ``position_updated_at`` costs nothing extra: it rides on a row version that is written anyway.

The table is locked against writes (``SHARE ROW EXCLUSIVE``, reads go on) for the refresh's transaction, so
positions computed from the snapshot that was read are still true when they are written: a referral authorized or
scheduled meanwhile waits a few seconds and then recomputes its queue itself.

No explanation of the score is stored (decision 0031): whoever shows one computes it on read from the same rule and
facts (``waitlist.standing.shown_score``), so it always matches the score this refresh wrote.
"""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from sqlalchemy import Date, literal_column, text
from sqlalchemy.ext.asyncio import AsyncSession

from regula.catalog.schemas import OciSummary
from regula.config import Settings
from regula.db.engine import Database
from regula.db.work_mem import kb_for, work_mem
from regula.waitlist import measures, priority, service
from regula.waitlist.models import PriorityPolicyVersion
from regula.waitlist.queues import QueueKey

I64 = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]

_EPOCH: Final = date(2000, 1, 1)  # PostgreSQL's binary dates and timestamps count from here
_NULL_BIGINT: Final = int(np.iinfo(np.int64).min)
_NULL_INT: Final = int(np.iinfo(np.int32).min)
_RISKS: Final = priority.RISK_CLASSES
_RACES: Final = priority.RACE_COLORS
_SEXES: Final = priority.SEXES
_TMP: Final = "regula_refresh"  # spelled out in _UPDATE_SQL
_PG_COPY_HEADER: Final = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags, no header extension
_PG_COPY_TRAILER: Final = b"\xff\xff"


@dataclass(frozen=True)
class RefreshResult:
    """What a refresh did, with the wall-clock seconds of each phase. ``write_seconds`` and ``clear_seconds`` are
    the statements that write (filling the temporary table, the UPDATE, clearing positions of entries that left);
    ``read_seconds`` includes decoding the rows and ``compute_seconds`` is Python only."""

    today: date
    entries: int  # waiting entries read and scored
    written: int  # rows written: score, policy, position, queue size or an estimate changed
    scores_changed: int  # of which the score or the governing policy changed
    cleared: int  # entries no longer waiting whose stale position was removed
    queues: int
    policies: int  # policy versions that govern at least one of the queues
    read_seconds: float
    compute_seconds: float
    write_seconds: float
    clear_seconds: float

    @property
    def database_seconds(self) -> float:
        return self.write_seconds + self.clear_seconds

    @property
    def total_seconds(self) -> float:
        return self.read_seconds + self.compute_seconds + self.write_seconds + self.clear_seconds


# -- read ---------------------------------------------------------------------------------------------------------

# Every column is fixed-width and never NULL (sentinels instead), so the binary COPY stream is an array of equal-size
# records that numpy reads in place. Texts become codes in SQL (array_position over the known values, 0 = unknown);
# the queue key travels as two ASCII texts padded to 16 bytes (the columns are varchar(10), (10) and (7)).
_READ_COLUMNS: Final[tuple[tuple[str, str, str], ...]] = (
    ("id", ">i8", "e.id"),
    ("oci", "S16", "rpad(e.oci_code, 16)"),
    ("scope", "S16", "rpad(e.scope_kind || ':' || e.scope_code, 16)"),
    ("risk", ">i4", "COALESCE(array_position({risks}::text[], e.risk_class::text), 0)"),
    ("authorized_us", ">i8", "e.authorized_at"),
    # The waiting clock of waitlist.measures, computed by its SQL form: the local authorization date (a binary date
    # counts days from 2000-01-01) and the paused days up to {today}.
    ("authorized_on", ">i4", "{authorized_on}"),
    ("paused_days", ">i4", "{paused_days}"),
    ("max_days", ">i4", "e.max_days"),
    ("birth_days", ">i4", "c.birth_date"),
    ("pregnant", "?", "c.pregnant"),
    ("disability", "?", "c.disability"),
    ("autism", "?", "c.autism"),
    ("cadunico", "?", "c.cadunico"),
    ("race", ">i4", "COALESCE(array_position({races}::text[], c.race_color::text), 0)"),
    ("sex", ">i4", "COALESCE(array_position({sexes}::text[], c.sex::text), 0)"),
    ("vi_milli", ">i4", "COALESCE(CAST(c.vulnerability_index * 1000 AS int4), -1)"),
    ("score", ">i8", f"COALESCE(s.score, {_NULL_BIGINT})"),
    ("policy_id", ">i8", "COALESCE(s.policy_id, 0)"),
    ("position", ">i4", "COALESCE(s.position, -1)"),
    ("queue_size", ">i4", "COALESCE(s.queue_size, -1)"),
    ("est_from", ">i4", f"COALESCE(s.estimate_from - {{today}}, {_NULL_INT})"),
    ("est_to", ">i4", f"COALESCE(s.estimate_to - {{today}}, {_NULL_INT})"),
    # recompute_positions' own test for "not confirmed today", in the session's time zone
    ("stale", "?", "(s.position_updated_at IS NULL OR s.position_updated_at < {today})"),
)
_FIELD_SIZES: Final = {">i8": 8, ">i4": 4, "?": 1, "S16": 16}


# (oci_code, scope_kind, scope_code) IN these queues: three parallel text arrays as $2, $3, $4.
_QUEUES_PARAM: Final = "(SELECT * FROM unnest($2::text[], $3::text[], $4::text[]))"


def _queue_args(queues: Sequence[QueueKey]) -> list[list[str]]:
    return [[q.oci_code for q in queues], [q.scope_kind for q in queues], [q.scope_code for q in queues]]


def _text_array(values: Sequence[str]) -> str:
    assert all(v.replace("_", "").isalnum() for v in values)
    return "'{" + ",".join(values) + "}'"


def _read_sql(filtered: bool, tz: str) -> str:
    clock = measures.EntrySql.alias("e")
    today = literal_column("$1::date", Date)
    fields = {
        "risks": _text_array(_RISKS),
        "races": _text_array(_RACES),
        "sexes": _text_array(_SEXES),
        "today": "$1::date",
        "authorized_on": measures.as_text(clock.authorized_on(tz)),
        "paused_days": measures.as_text(clock.paused(today, tz)),
    }
    select = ",\n       ".join(expr.format(**fields) for _, _, expr in _READ_COLUMNS)
    where = "e.status = 'autorizada'"
    if filtered:
        where += f" AND (e.oci_code, e.scope_kind, e.scope_code) IN {_QUEUES_PARAM}"
    return (
        f"SELECT {select}\nFROM waitlist_entry e JOIN citizen c ON c.id = e.citizen_id"
        f" JOIN waitlist_standing s ON s.entry_id = e.id\nWHERE {where}"
    )


def _copy_dtype(columns: Iterable[tuple[str, str]]) -> np.dtype[np.void]:
    """A binary COPY record: the field count, then each field's length and value, big-endian."""
    fields: list[tuple[str, str]] = [("nfields", ">i2")]
    for name, fmt in columns:
        fields += [(f"{name}__len", ">i4"), (name, fmt)]
    return np.dtype(fields)


_READ_DTYPE: Final = _copy_dtype((name, fmt) for name, fmt, _ in _READ_COLUMNS)


def _parse_copy(data: bytes) -> npt.NDArray[np.void]:
    """The records of a binary COPY whose fields all have the sizes of ``_READ_COLUMNS`` (checked)."""
    if data[:11] != _PG_COPY_HEADER[:11]:
        raise RuntimeError("unexpected binary COPY header")
    start, end = 19 + int.from_bytes(data[15:19], "big"), len(data) - 2
    if data[end:] != _PG_COPY_TRAILER or (end - start) % _READ_DTYPE.itemsize:
        raise RuntimeError("a waiting entry has a NULL or non-ASCII field the refresh needs")
    records = np.frombuffer(data, dtype=_READ_DTYPE, offset=start, count=(end - start) // _READ_DTYPE.itemsize)
    bad = records["nfields"] != len(_READ_COLUMNS)
    for name, fmt, _ in _READ_COLUMNS:
        bad |= records[f"{name}__len"] != _FIELD_SIZES[fmt]
    if bool(bad.any()):
        raise RuntimeError(f"waiting entry {int(records['id'][np.argmax(bad)])}: a field is NULL or not fixed-width")
    return records


async def _copy_out(conn: Any, today: date, queues: Sequence[QueueKey] | None, tz: str) -> bytes:
    chunks: list[bytes] = []

    async def sink(chunk: bytes) -> None:
        chunks.append(chunk)

    args = [today, *_queue_args(queues)] if queues is not None else [today]
    await conn.copy_from_query(_read_sql(queues is not None, tz), *args, output=sink, format="binary")
    return b"".join(chunks)


@dataclass
class _Rows:
    """The waiting entries as native columns; ``queue`` indexes ``queues``."""

    queues: list[QueueKey]
    queue: I64
    col: dict[str, npt.NDArray[Any]]

    def __len__(self) -> int:
        return len(self.queue)


def _dense(values: npt.NDArray[np.bytes_]) -> tuple[list[str], I64]:
    """The distinct 16-byte texts and each row's index among them. Sorting 16-byte strings is slow, so each half
    is taken as an integer: three unique() over integers instead of one over strings (5x faster on 1M rows)."""
    halves = np.ascontiguousarray(values).view(np.uint64).reshape(-1, 2)
    _, low = np.unique(halves[:, 0], return_inverse=True)
    high_values, high = np.unique(halves[:, 1], return_inverse=True)
    pairs = low.reshape(-1).astype(np.int64) * len(high_values) + high.reshape(-1)
    _, first, codes = np.unique(pairs, return_index=True, return_inverse=True)
    return [bytes(values[i]).decode().rstrip() for i in first.tolist()], codes.reshape(-1).astype(np.int64)


def _decode(records: npt.NDArray[np.void]) -> _Rows:
    ocis, oci = _dense(records["oci"])
    scopes, scope = _dense(records["scope"])
    pairs, queue = np.unique(oci * len(scopes) + scope, return_inverse=True)
    queues = []
    for pair in pairs.tolist():
        kind, code = scopes[pair % len(scopes)].split(":")
        queues.append(QueueKey(ocis[pair // len(scopes)], kind, code))
    col: dict[str, npt.NDArray[Any]] = {}
    for name, fmt, _ in _READ_COLUMNS:
        if fmt != "S16":
            col[name] = records[name].astype(np.bool_ if fmt == "?" else np.int64)
    return _Rows(queues, queue.reshape(-1).astype(np.int64), col)


# -- compute ------------------------------------------------------------------------------------------------------


def _ages(birth_days: I64, today: date) -> I64:
    """``people.service.age_on`` of every birth date (days since 2000-01-01) at ``today``."""
    birth = np.datetime64(_EPOCH, "D") + birth_days.astype("timedelta64[D]")
    year = birth.astype("datetime64[Y]").astype(np.int64) + 1970
    month_start = birth.astype("datetime64[M]")
    month = month_start.astype(np.int64) % 12 + 1
    day = (birth - month_start).astype(np.int64) + 1
    before_birthday = (today.month * 100 + today.day) < (month * 100 + day)
    ages: I64 = today.year - year - before_birthday.astype(np.int64)
    return ages


def _labels(codes: I64, labels: Sequence[str], column: str, ids: I64) -> npt.NDArray[np.object_]:
    bad = (codes < 1) | (codes > len(labels))
    if bool(bad.any()):
        raise RuntimeError(f"waiting entry {int(ids[np.argmax(bad)])}: unknown {column}")
    out: npt.NDArray[np.object_] = np.array(list(labels), dtype=object)[codes - 1]
    return out


def _facts(rows: _Rows, oci_sex: Sequence[str | None], today: date) -> dict[str, Any]:
    """The columns of :data:`priority.BULK_COLUMNS`, computed as ``service._facts`` computes them for one entry."""
    c, ids = rows.col, rows.col["id"]
    return {
        "risk_class": _labels(c["risk"], _RISKS, "risk_class", ids),
        "authorized_on": np.datetime64(_EPOCH, "D") + c["authorized_on"].astype("timedelta64[D]"),
        "suspended_days": c["paused_days"],
        "max_days": c["max_days"],
        "age_years": _ages(c["birth_days"], today),
        "pregnant": c["pregnant"],
        "disability": c["disability"],
        "autism": c["autism"],
        "race_color": _labels(c["race"], _RACES, "race_color", ids),
        "sex": _labels(c["sex"], _SEXES, "sex", ids),
        "cadunico": c["cadunico"],
        # n / 1000.0 is the double nearest to the numeric(4,3) value, as float(Decimal) gives
        "vulnerability_index": np.where(c["vi_milli"] < 0, np.nan, c["vi_milli"] / 1000.0),
        "oci_sex": np.array(list(oci_sex), dtype=object)[rows.queue],
    }


def _scores(
    rows: _Rows,
    governing: Sequence[PriorityPolicyVersion],
    catalog: dict[str, OciSummary],
    today: date,
) -> tuple[I64, I64, int]:
    """New scores and policy ids of ``rows``, and how many policies were used."""
    oci_sex = [o.sex if (o := catalog.get(q.oci_code)) else None for q in rows.queues]
    facts = _facts(rows, oci_sex, today)
    policy_ids = np.array([p.id or 0 for p in governing], dtype=np.int64)[rows.queue]
    scores = np.zeros(len(rows), dtype=np.int64)
    versions = {p.id or 0: p for p in governing}
    for policy_id, version in versions.items():
        (where,) = np.nonzero(policy_ids == policy_id)
        group = {name: values[where] for name, values in facts.items()}
        policy = priority.policy_from_json(version.params)
        scores[where] = np.asarray(priority.compute_scores_bulk(group, policy, today), dtype=np.int64)
    return scores, policy_ids, len(versions)


def _positions(rows: _Rows, scores: I64, capacity: I64) -> tuple[I64, I64, I64, I64]:
    """Position, queue size and estimate offsets in days from today (``_NULL_INT`` without a capacity), as
    ``service.recompute_positions`` computes them: ``row_number()`` by score desc, authorized_at, id."""
    n, queue = len(rows), rows.queue
    ids, authorized = rows.col["id"], rows.col["authorized_us"]
    if len(scores) and scores.min() >= 0 and scores.max() < 1 << 32:  # always, within the policy's bounds
        order = np.lexsort((ids, authorized, (queue << 32) - scores))  # 3 keys sort 40% faster than 4
    else:
        order = np.lexsort((ids, authorized, -scores, queue))
    sizes = np.bincount(queue, minlength=len(rows.queues)).astype(np.int64)
    first = np.concatenate(([0], np.cumsum(sizes)[:-1]))  # index of each queue's first row in ``order``
    position = np.empty(n, dtype=np.int64)
    position[order] = np.arange(n, dtype=np.int64) - first[queue[order]] + 1
    cap = capacity[queue]
    # est_from = today + floor((pos - 1) / cap) weeks; est_to = today + ceil(pos / (cap * share)) weeks + 6 days,
    # in exact integers (the share is a decimal, as PostgreSQL's numeric takes it).
    share = service.ESTIMATE_USABLE_FRACTION
    has = cap > 0
    safe = np.where(has, cap, 1)
    est_from = np.where(has, (position - 1) // safe * 7, _NULL_INT)
    est_to = np.where(has, -((-position * share.denominator) // (safe * share.numerator)) * 7 + 6, _NULL_INT)
    return position, sizes[queue], est_from, est_to


# -- write --------------------------------------------------------------------------------------------------------

_WRITE_COLUMNS: Final = (
    ("id", ">i8", "bigint"),
    ("score", ">i8", "bigint"),
    ("policy_id", ">i8", "bigint"),
    ("position", ">i4", "integer"),
    ("queue_size", ">i4", "integer"),
    ("est_from", ">i4", "integer"),
    ("est_to", ">i4", "integer"),
    ("positioned", "?", "boolean"),
)
_WRITE_DTYPE: Final = _copy_dtype((name, fmt) for name, fmt, _ in _WRITE_COLUMNS)


def _copy_payload(values: dict[str, npt.NDArray[Any]]) -> bytes:
    """A binary COPY stream of fixed-width records, built by numpy (no Python object per row)."""
    records = np.zeros(len(values["id"]), dtype=_WRITE_DTYPE)
    records["nfields"] = len(_WRITE_COLUMNS)
    for name, fmt, _ in _WRITE_COLUMNS:
        records[f"{name}__len"] = _FIELD_SIZES[fmt]
        records[name] = values[name]
    return _PG_COPY_HEADER + records.tobytes() + _PG_COPY_TRAILER


# -2147483648 = _NULL_INT: no estimate (the queue has no weekly capacity).
# No guard on the entry's status: the refresh holds ``waitlist_entry`` in SHARE ROW EXCLUSIVE from before its read to
# its end, so no entry leaves its queue in between (a join to the entries for it cost ~1.2 s a million rows).
_UPDATE_SQL: Final = """UPDATE waitlist_standing s
SET score = t.score, policy_id = t.policy_id, position = t.position, queue_size = t.queue_size,
    estimate_from = CASE WHEN t.est_from <> -2147483648 THEN $1::date + t.est_from END,
    estimate_to = CASE WHEN t.est_to <> -2147483648 THEN $1::date + t.est_to END,
    position_updated_at = CASE WHEN t.positioned THEN now() ELSE s.position_updated_at END
FROM regula_refresh t
WHERE s.entry_id = t.id"""


#: Memory for the UPDATE's hash join per row written (the hash of the waiting rows' ids measured 55–63 MB for a
#: million), so the join runs in one batch whatever the server's ``work_mem``.
_HASH_BYTES_PER_ROW: Final = 96


async def _write(conn: Any, values: dict[str, npt.NDArray[Any]], today: date) -> int:
    """One UPDATE of the rows in ``values`` (in id order), joined to a temporary table filled by binary COPY.

    Measured at a million rows on the 2-core machine with PostgreSQL's defaults (``docs/benchmarks.md``, "the bulk
    UPDATEs in the table's order"): in the queues' order and in 8 hash batches the UPDATE read 4.3 GB and wrote
    3.7 GB of buffers for a 547 MB table; in id order in one batch (the caller's ``work_mem``), about one pass."""
    columns = ", ".join(f"{name} {sql_type} NOT NULL" for name, _, sql_type in _WRITE_COLUMNS)
    await conn.execute(f"DROP TABLE IF EXISTS {_TMP}; CREATE TEMP TABLE {_TMP} ({columns}) ON COMMIT DROP")
    payload = _copy_payload(values)
    await conn.copy_to_table(_TMP, source=io.BytesIO(payload), format="binary")
    status: str = await conn.execute(_UPDATE_SQL, today)
    await conn.execute(f"DROP TABLE {_TMP}")
    return int(status.split()[-1])


_CLEAR_SQL: Final = (
    "UPDATE waitlist_standing s SET position = NULL, queue_size = NULL, estimate_from = NULL, estimate_to = NULL "
    "FROM waitlist_entry e WHERE e.id = s.entry_id AND e.status <> 'autorizada' AND s.position IS NOT NULL"
)
_CLEAR_QUEUES_SQL: Final = (
    "UPDATE waitlist_standing s SET position = NULL, queue_size = NULL, estimate_from = NULL, estimate_to = NULL "
    "FROM waitlist_entry e WHERE e.id = s.entry_id AND e.status <> 'autorizada' AND s.position IS NOT NULL "
    "AND (e.oci_code, e.scope_kind, e.scope_code) IN (SELECT * FROM unnest($1::text[], $2::text[], $3::text[]))"
)


_POSITIONED_SQL: Final = "SELECT count(*) FROM waitlist_standing WHERE position IS NOT NULL"


async def _clear(conn: Any, queues: Sequence[QueueKey] | None, waiting: int) -> int:
    """Entries that left their queue keep no position (as ``recompute_positions`` does). A safety net: the status
    change itself clears them (trigger, decision 0028), so normally there is none.

    For every queue, first a count over the narrow standing table: after the write each of the ``waiting`` entries
    read has a position, and the table locks held since the read keep both figures still, so more positioned rows
    than that means some entry that left its queue still has one, and only then are the entries joined (a million
    look-ups by id took 1.9 s of a night's 5 s, docs/benchmarks.md)."""
    if queues is None:
        if int(await conn.fetchval(_POSITIONED_SQL)) <= waiting:
            return 0
        status: str = await conn.execute(_CLEAR_SQL)
    else:
        status = await conn.execute(_CLEAR_QUEUES_SQL, *_queue_args(queues))
    return int(status.split()[-1])


# -- the refresh --------------------------------------------------------------------------------------------------


async def refresh_all(
    session: AsyncSession,
    settings: Settings,
    *,
    queues: Iterable[QueueKey] | None = None,
    today: date | None = None,
) -> RefreshResult:
    """Recompute the score of every waiting entry (status ``autorizada``) of ``queues`` (default: every queue)
    with its queue's policy, then the queues' positions, sizes and estimates; write the rows that changed.

    The results are those of ``service.rescore`` followed by ``service.recompute_positions`` (tested). ``today``
    defaults to the local date (``settings.timezone``); an open pause is counted up to ``today``
    (``waitlist.measures``), so a refresh "as of" a later day sees the waiting clock as it will be then. Runs in
    the session's transaction (and locks ``waitlist_entry`` against writes until it ends); never commits.
    """
    today = today or service.local_today(settings)
    keys = None if queues is None else sorted(set(queues), key=str)

    t0 = time.perf_counter()
    # Through the session first: it opens the transaction that the raw driver connection then works in.
    await session.execute(text("LOCK TABLE waitlist_entry, waitlist_standing IN SHARE ROW EXCLUSIVE MODE"))
    conn = (await (await session.connection()).get_raw_connection()).driver_connection
    assert conn is not None
    catalog = await service.load_catalog(session, settings)
    latest = await service.latest_policies(session)
    capacities = {
        QueueKey(r["oci_code"], r["scope_kind"], r["scope_code"]): int(r["weekly_capacity"])
        for r in await conn.fetch("SELECT oci_code, scope_kind, scope_code, weekly_capacity FROM queue_capacity")
    }
    raw = await _copy_out(conn, today, keys, settings.timezone) if keys is None or keys else None
    t1 = time.perf_counter()

    def compute() -> tuple[_Rows, dict[str, npt.NDArray[Any]], int, int]:
        rows = _decode(_parse_copy(raw)) if raw else _Rows([], np.zeros(0, dtype=np.int64), {})
        if not len(rows):
            return rows, {}, 0, 0
        c = rows.col
        scores, policy_ids, n_policies = _scores(
            rows, [service.resolve_policy(latest, q) for q in rows.queues], catalog.ocis, today
        )
        capacity = np.array([capacities.get(q, 0) for q in rows.queues], dtype=np.int64)
        position, size, est_from, est_to = _positions(rows, scores, capacity)
        scored: Bools = (scores != c["score"]) | (policy_ids != c["policy_id"])
        positioned: Bools = (
            c["stale"]
            | (position != c["position"])
            | (size != c["queue_size"])
            | (est_from != c["est_from"])
            | (est_to != c["est_to"])
        )
        changed = scored | positioned
        # In id order, which is about the rows' order on disk (inserted in id order; heap-only updates keep a row on
        # its page): the UPDATE then visits each page of the table about once instead of once per hash batch.
        rows_changed = np.flatnonzero(changed)
        rows_changed = rows_changed[np.argsort(c["id"][rows_changed], kind="stable")]
        values = {
            "id": c["id"][rows_changed],
            "score": scores[rows_changed],
            "policy_id": policy_ids[rows_changed],
            "position": position[rows_changed],
            "queue_size": size[rows_changed],
            "est_from": est_from[rows_changed],
            "est_to": est_to[rows_changed],
            "positioned": positioned[rows_changed],
        }
        return rows, values, int(scored.sum()), n_policies

    # Decoding and computing a million rows is a couple of seconds of CPU: keep the event loop free meanwhile.
    rows, values, scores_changed, n_policies = await asyncio.to_thread(compute)
    t2 = time.perf_counter()
    written = 0
    if values and len(values["id"]):
        # One hash batch for the UPDATE's join (regula.db.work_mem), for this statement only.
        async with work_mem(session, kb_for(len(values["id"]), _HASH_BYTES_PER_ROW)):
            written = await _write(conn, values, today)
    t3 = time.perf_counter()
    cleared = await _clear(conn, keys, len(rows)) if keys is None or keys else 0
    t4 = time.perf_counter()
    session.expire_all()  # rows were changed behind the ORM's back
    return RefreshResult(
        today=today,
        entries=len(rows),
        written=written,
        scores_changed=scores_changed,
        cleared=cleared,
        queues=len(rows.queues),
        policies=n_policies,
        read_seconds=t1 - t0,
        compute_seconds=t2 - t1,
        write_seconds=t3 - t2,
        clear_seconds=t4 - t3,
    )


async def nightly_refresh(db: Database, settings: Settings) -> RefreshResult:
    """The scheduler's job: refresh every queue in one transaction, committed at the end."""
    async with db.transaction() as session:
        return await refresh_all(session, settings)
