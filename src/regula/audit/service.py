"""Audit: who did what, when, from where, with the state before and after.

One mechanism covers every write: a flush listener records an ``audit_event`` row for each insert or update of
a model marked ``__audited__ = True``, in the same transaction (so a rolled-back change leaves no audit row and a
committed one always has its row). Hard deletes of any regula model are refused: records are closed, cancelled
or revoked, never removed. Reads of a citizen's record and denied requests are recorded explicitly.

The actor comes from the ``AuditContext`` put on the session (``session.info``) by the request, job or command
that owns the transaction.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlalchemy import bindparam, event, insert, inspect, literal_column
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapper, ORMExecuteState, Session, UOWTransaction
from sqlalchemy.orm.base import PASSIVE_NO_INITIALIZE
from sqlalchemy.sql.dml import ReturningInsert

from regula.audit.models import BULK_CREATED, BULK_IMPORT, AuditEvent
from regula.core.errors import Conflict
from regula.db.bulk import unnest_insert, unnest_params
from regula.db.driver import DriverConnection, DriverStatement

_CONTEXT_KEY = "regula_audit_context"
# Set on session.info: the transaction recorded a read of personal data / wrote anything else (decision 0024).
_READ_RECORDED = "regula_audit_read_recorded"
_OTHER_WRITE = "regula_audit_other_write"
# Set on session.info by the owner of a safe request's session (``regula.http.state.provide_db_session``): its read
# events may turn off the wait for the disk in their own INSERT (decision 0024). Never set for jobs or commands.
_MAY_SKIP_FSYNC = "regula_audit_may_skip_fsync"
# Set on session.info when a read event's INSERT did so, for this transaction.
_FSYNC_SKIPPED = "regula_audit_fsync_skipped"
#: Events that record a read, as opposed to a change (an export is recorded as a read but kept apart: rare and
#: the one an inquiry asks for first).
READ_ACTIONS = frozenset({"read", "read_list"})
_audit_table = AuditEvent.__table__  # type: ignore[attr-defined]
_INSERT_ONE = insert(_audit_table)
#: A read event's row, and ``SET LOCAL synchronous_commit TO OFF`` in the same statement (``set_config(..., true)``
#: is transaction-local like ``SET LOCAL``): the read's commit skips the wait for the disk without a round trip
#: of its own (decision 0024).
_INSERT_READ_NO_FSYNC: ReturningInsert[tuple[str]] = insert(_audit_table).returning(
    literal_column("set_config('synchronous_commit', 'off', true)")
)


@dataclass(frozen=True)
class AuditContext:
    actor_user_id: int | None = None
    actor_username: str | None = None
    actor_role: str | None = None
    source: str = "web"
    ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None
    method: str | None = None
    path: str | None = None

    @classmethod
    def system(cls, source: str, name: str) -> AuditContext:
        """For commands and jobs: the actor is the system component, named."""
        return cls(actor_username=name, source=source)

    def columns(self) -> dict[str, Any]:
        # The fields are scalars: a shallow copy is ``dataclasses.asdict``'s answer without its recursive deep copy
        # (once per audit row, so once per audited read).
        return dict(self.__dict__)


def set_context(session: AsyncSession | Session, context: AuditContext) -> None:
    session.info[_CONTEXT_KEY] = context


def get_context(session: AsyncSession | Session) -> AuditContext:
    ctx = session.info.get(_CONTEXT_KEY)
    return ctx if isinstance(ctx, AuditContext) else AuditContext(source="unknown")


_SCALARS = frozenset({str, int, float, bool, type(None)})


def jsonable(value: Any) -> Any:
    if type(value) in _SCALARS:  # the common case, without the isinstance chain below (same answer)
        return value
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, enum.Enum):
        return jsonable(value.value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    return str(value)


def _is_audited(obj: object) -> bool:
    return bool(getattr(type(obj), "__audited__", False))


def _excluded_of(model: type) -> frozenset[str]:
    excluded: frozenset[str] = getattr(model, "__audit_exclude__", frozenset())
    return excluded


_COLUMN_KEYS: dict[type, tuple[str, ...]] = {}


def _column_keys(model: type) -> tuple[str, ...]:
    """The audited attributes of a model: its column attributes, in the mapper's order (computed once a model)."""
    keys = _COLUMN_KEYS.get(model)
    if keys is None:
        mapper: Mapper[Any] = inspect(model)
        keys = _COLUMN_KEYS[model] = tuple(prop.key for prop in mapper.attrs if prop.key in mapper.columns)
    return keys


# -- the shape of an audit row for a change: ONE rule, for the flush listener and for set-based writers ----------


def snapshot(model: type, values: Mapping[str, Any]) -> dict[str, Any]:
    """``after`` of a ``create``: every column of the row (``values`` by attribute name), but the secrets."""
    excluded = _excluded_of(model)
    return {key: jsonable(values.get(key)) for key in _column_keys(model) if key not in excluded}


def changes(model: type, old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``before`` and ``after`` of an ``update``: only the columns of ``new`` whose value differs from ``old`` (the
    ORM's history: a value set to what it was is no change), secrets shown as changed, never their value."""
    excluded = _excluded_of(model)
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for key in _column_keys(model):
        if key not in new or new[key] == old.get(key):
            continue
        if key in excluded:
            before[key], after[key] = "***", "*** (alterado)"
            continue
        before[key], after[key] = jsonable(old.get(key)), jsonable(new[key])
    return before, after


def change_event(
    context: Mapping[str, Any],
    action: str,
    model: type,
    entity_id: object,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    place: tuple[str | None, str | None] = (None, None),
) -> dict[str, Any]:
    """The ``audit_event`` row of one insert (``create``) or update (``update``) of an audited model: the actor and
    origin from ``context`` (``AuditContext.columns()``), the subject's place (``audit_place()``), the entity and
    the values."""
    return dict(context) | {
        "uf": place[0],
        "municipality_ibge": place[1],
        "action": action,
        "entity_type": model.__name__,
        "entity_id": str(entity_id),
        "before": before,
        "after": after,
        "reason": None,
        "status_code": None,
    }


def created_events(
    session: AsyncSession | Session,
    model: type,
    rows: Iterable[Mapping[str, Any]],
    places: Iterable[tuple[str | None, str | None]] | None = None,
) -> list[dict[str, Any]]:
    """The audit rows the flush listener writes for these rows inserted without the ORM (``rows``: every column by
    attribute name, as ``RETURNING *`` gives them; ``places``: each row's ``audit_place()``, when the model has
    one). Write them with :func:`record_changes`."""
    context = get_context(session).columns()
    mapper: Mapper[Any] = inspect(model)
    pk = [mapper.get_property_by_column(column).key for column in mapper.primary_key]
    listed = list(rows)
    where = list(places) if places is not None else [(None, None)] * len(listed)
    return [
        change_event(context, "create", model, ":".join(str(row[k]) for k in pk), None, snapshot(model, row), place)
        for row, place in zip(listed, where, strict=True)
    ]


def updated_events(
    session: AsyncSession | Session,
    model: type,
    updates: Iterable[tuple[object, Mapping[str, Any], Mapping[str, Any], tuple[str | None, str | None]]],
) -> list[dict[str, Any]]:
    """The audit rows the flush listener writes for rows updated without the ORM: ``updates`` are (entity id, old
    values, new values, place); an update that changed nothing has no row, as in the listener."""
    context = get_context(session).columns()
    events = []
    for entity_id, old, new, place in updates:
        before, after = changes(model, old, new)
        if after:
            events.append(change_event(context, "update", model, entity_id, before, after, place))
    return events


_EVENT_COLUMNS = (
    ("actor_user_id", "bigint"),
    ("actor_username", "text"),
    ("actor_role", "text"),
    ("source", "text"),
    ("ip", "text"),
    ("user_agent", "text"),
    ("request_id", "text"),
    ("method", "text"),
    ("path", "text"),
    ("uf", "text"),
    ("municipality_ibge", "text"),
    ("action", "text"),
    ("entity_type", "text"),
    ("entity_id", "text"),
    ("before", "jsonb"),
    ("after", "jsonb"),
    ("reason", "text"),
    ("status_code", "int"),
)
_INSERT_EVENTS = unnest_insert("audit_event", _EVENT_COLUMNS)


async def record_changes(session: AsyncSession, events: Sequence[Mapping[str, Any]]) -> None:
    """Write the audit rows of a set-based change (:func:`created_events`, :func:`updated_events`) in ONE
    statement, in the caller's transaction: a writer that bypasses the ORM for thousands of rows (an allocation
    run's commit) audits them as the listener would have, row for row (decision 3)."""
    if not events:
        return
    session.info[_OTHER_WRITE] = True
    await session.execute(_INSERT_EVENTS, unnest_params(_EVENT_COLUMNS, events))


def _snapshot(obj: object) -> dict[str, Any]:
    model = type(obj)
    return snapshot(model, {key: getattr(obj, key) for key in _column_keys(model) if key not in _excluded_of(model)})


def _changes(obj: object) -> tuple[dict[str, Any], dict[str, Any]]:
    """Only the columns that changed, their old and new values (secrets shown as changed, never their value)."""
    state = inspect(obj)
    excluded = _excluded_of(type(obj))
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for key in _column_keys(type(obj)):
        hist = state.get_history(key, PASSIVE_NO_INITIALIZE)
        if not hist.has_changes():
            continue
        if key in excluded:
            before[key], after[key] = "***", "*** (alterado)"
            continue
        before[key] = jsonable(hist.deleted[0]) if hist.deleted else None
        after[key] = jsonable(hist.added[0]) if hist.added else None
    return before, after


def _entity_id(obj: object) -> str:
    # The identity key is assigned after the flush completes; the mapper reads the key the INSERT produced.
    key = inspect(obj).mapper.primary_key_from_instance(obj)
    return ":".join(str(part) for part in key)


def _place(obj: object) -> tuple[str | None, str | None]:
    """Models that belong to a place expose ``audit_place()`` -> (uf, municipality_ibge)."""
    getter = getattr(obj, "audit_place", None)
    uf, municipality = getter() if callable(getter) else (None, None)
    return uf, municipality


def _before_flush(session: Session, flush_context: UOWTransaction, instances: object) -> None:
    for obj in session.deleted:
        raise Conflict(
            "Registros do regula nunca são apagados: encerre, cancele ou revogue o registro.",
            code="exclusao_proibida",
            extra={"entity": type(obj).__name__},
        )


def _after_flush(session: Session, flush_context: UOWTransaction) -> None:
    if session.new or session.dirty or session.deleted:
        session.info[_OTHER_WRITE] = True
    context = get_context(session).columns()
    rows: list[dict[str, Any]] = []
    for obj in session.new:
        if _is_audited(obj):
            rows.append(change_event(context, "create", type(obj), _entity_id(obj), None, _snapshot(obj), _place(obj)))
    for obj in session.dirty:
        if _is_audited(obj) and session.is_modified(obj, include_collections=False):
            before, after = _changes(obj)
            if after:
                rows.append(change_event(context, "update", type(obj), _entity_id(obj), before, after, _place(obj)))
    if rows:
        session.connection().execute(insert(_audit_table), rows)


def install() -> None:
    """Attach the listeners to every ORM session (idempotent)."""
    if not event.contains(Session, "before_flush", _before_flush):
        event.listen(Session, "before_flush", _before_flush)
        event.listen(Session, "after_flush", _after_flush)
        event.listen(Session, "do_orm_execute", _on_execute)
        event.listen(Session, "after_commit", _transaction_ended)
        event.listen(Session, "after_rollback", _transaction_ended)


def _event_row(
    context: AuditContext,
    action: str,
    *,
    entity_type: str | None = None,
    entity_id: str | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str | None = None,
    uf: str | None = None,
    municipality_ibge: str | None = None,
    status_code: int | None = None,
) -> dict[str, Any]:
    """One explicit event's row: the context's columns and the event's own (:func:`record` and
    :func:`record_read_on_driver` write the same shape)."""
    return context.columns() | {
        "action": action,
        "entity_type": entity_type,
        "entity_id": entity_id,
        "before": jsonable(before),
        "after": jsonable(after),
        "reason": reason,
        "uf": uf,
        "municipality_ibge": municipality_ibge,
        "status_code": status_code,
    }


async def record(
    session: AsyncSession,
    action: str,
    *,
    entity_type: str | None = None,
    entity_id: str | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str | None = None,
    uf: str | None = None,
    municipality_ibge: str | None = None,
    status_code: int | None = None,
) -> None:
    """An explicit event in the caller's transaction: reads of a citizen's record, logins, imports.

    In a session that allows it (:func:`allow_commit_without_fsync`), the first read event of a transaction that
    has written nothing else also sets ``synchronous_commit`` off for that transaction, in its own INSERT; the
    owner of the transaction turns it back on before committing if anything else is written after it
    (:func:`fsync_skipped`, :func:`only_reads_recorded`)."""
    info = session.info
    is_read = action in READ_ACTIONS
    info[_READ_RECORDED if is_read else _OTHER_WRITE] = True
    row = _event_row(
        get_context(session),
        action,
        entity_type=entity_type,
        entity_id=entity_id,
        before=before,
        after=after,
        reason=reason,
        uf=uf,
        municipality_ibge=municipality_ibge,
        status_code=status_code,
    )
    if (
        is_read
        and info.get(_MAY_SKIP_FSYNC)
        and not info.get(_FSYNC_SKIPPED)
        and not info.get(_OTHER_WRITE)
        and not (session.new or session.dirty or session.deleted)
    ):
        info[_FSYNC_SKIPPED] = True
        await session.execute(_INSERT_READ_NO_FSYNC, row)
        return
    await session.execute(_INSERT_ONE, row)


def allow_commit_without_fsync(session: AsyncSession) -> None:
    """Let this session's read events turn off ``synchronous_commit`` for their transaction (decision 0024): only
    for a safe request's session, whose owner commits it through ``regula.http.state.provide_db_session``."""
    session.info[_MAY_SKIP_FSYNC] = True


def fsync_skipped(session: AsyncSession) -> bool:
    """Whether a read event's INSERT has set ``synchronous_commit`` off for the session's current transaction."""
    return bool(session.info.get(_FSYNC_SKIPPED))


def only_reads_recorded(session: AsyncSession) -> bool:
    """Whether the session's transaction wrote nothing but read events (``READ_ACTIONS``) through regula's ORM
    and audit functions: the case in which ``regula.http.state.provide_db_session`` commits a safe request
    without waiting for the disk (decision 0024)."""
    info = session.info
    pending = session.new or session.dirty or session.deleted
    return bool(info.get(_READ_RECORDED)) and not info.get(_OTHER_WRITE) and not pending


def _on_execute(state: ORMExecuteState) -> None:
    # A Core INSERT, UPDATE or DELETE run through the session (derived data, a last-used stamp) is a write too;
    # only the audit table's own rows are left to ``record`` to classify.
    if (state.is_insert or state.is_update or state.is_delete) and getattr(
        state.statement, "table", None
    ) is not _audit_table:
        state.session.info[_OTHER_WRITE] = True


def _transaction_ended(session: Session, *args: Any) -> None:
    session.info.pop(_READ_RECORDED, None)
    session.info.pop(_OTHER_WRITE, None)
    session.info.pop(_FSYNC_SKIPPED, None)


#: :func:`record_read`'s row on the driver's connection (decision 0030): the context's columns and the read's own,
#: with ``synchronous_commit`` off for the statement's transaction as in ``_INSERT_READ_NO_FSYNC``.
_READ_ON_DRIVER = DriverStatement.of(
    insert(_audit_table)
    .values({name: bindparam(name, type_=_audit_table.c[name].type) for name in _event_row(AuditContext(), "read")})
    .returning(literal_column("set_config('synchronous_commit', 'off', true)"))
)


async def record_read_on_driver(
    connection: DriverConnection,
    context: AuditContext,
    entity_type: str,
    entity_id: str,
    *,
    uf: str | None,
    municipality_ibge: str | None,
) -> None:
    """:func:`record_read` for a read made on the driver's connection (``regula.http.state.driver_connection``):
    the same row, written by its own statement — its own transaction outside one, committed without waiting for
    the disk (decisions 0024, 0029, 0030). Call it after the read and before anything is answered."""
    row = _event_row(
        context, "read", entity_type=entity_type, entity_id=entity_id, uf=uf, municipality_ibge=municipality_ibge
    )
    await _READ_ON_DRIVER.fetchval(connection, row)


async def record_read(
    session: AsyncSession, entity_type: str, entity_id: str, *, uf: str | None, municipality_ibge: str | None
) -> None:
    await record(
        session,
        "read",
        entity_type=entity_type,
        entity_id=entity_id,
        uf=uf,
        municipality_ibge=municipality_ibge,
    )


#: ``action`` of the event a list read writes (see :func:`record_list_read`).
LIST_READ = "read_list"


async def record_list_read(
    session: AsyncSession,
    entity_type: str,
    ids: Iterable[int | str | None],
    *,
    places: Iterable[tuple[str | None, str | None]] = (),
    action: str = LIST_READ,
    entity_id: str | None = None,
    detail: dict[str, Any] | None = None,
    uf: str | None = None,
    municipality_ibge: str | None = None,
    even_if_empty: bool = False,
) -> None:
    """One event for one read of a list holding personal data (entries, messages, navigators' tasks, a run's
    assignments or instance, an export), naming every id it returned, in the caller's transaction.

    Called by the function that produces the list, so the API route and the page that share it share the audit
    too. One row per request, not per record: a page of 50 entries is one event with 50 ids. ``places`` are the
    (uf, municipality) of the records: when they all share one, the event carries it, so that an auditor's
    jurisdiction applies to it; ``uf``/``municipality_ibge`` override. A list that returned nothing read nothing
    and writes nothing, unless ``even_if_empty`` (an export is recorded even when empty).
    """
    names = list(dict.fromkeys(str(i) for i in ids if i is not None))
    if not names and not even_if_empty:
        return
    ufs: set[str | None] = set()
    munis: set[str | None] = set()
    for place_uf, place_muni in places:
        ufs.add(place_uf)
        munis.add(place_muni)
    await record(
        session,
        action,
        entity_type=entity_type,
        entity_id=entity_id,
        after=(detail or {}) | {"ids": names, "count": len(names)},
        uf=uf or (next(iter(ufs)) if len(ufs) == 1 else None),
        municipality_ibge=municipality_ibge or (next(iter(munis)) if len(munis) == 1 else None),
    )


def id_ranges(ids: Iterable[int]) -> list[list[int]]:
    """The ids as sorted ``[first, last]`` runs of consecutive numbers: a million ids handed out by one sequence in
    one transaction are a handful of runs, so the event that names them stays small (decision 0025)."""
    runs: list[list[int]] = []
    for i in sorted(set(ids)):
        if runs and runs[-1][1] == i - 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    return runs


async def record_bulk_import(
    session: AsyncSession,
    *,
    entity_type: str,
    created: dict[str, Iterable[int]],
    detail: dict[str, Any],
    reason: str,
    uf: str | None = None,
    municipality_ibge: str | None = None,
) -> None:
    """One event for one bulk import, in the caller's transaction, instead of one ``create`` row per record it wrote
    (decision 0025): who, when and from where (the context), ``detail`` (the file's hash, the counts) and, under
    ``created``, the ids of every record created, per entity type, as runs (``id_ranges``). Later changes of those
    records are audited row by row by the flush listener as any other."""
    after = jsonable(detail) | {BULK_CREATED: {kind: id_ranges(ids) for kind, ids in created.items()}}
    await record(
        session,
        BULK_IMPORT,
        entity_type=entity_type,
        after=after,
        reason=reason,
        uf=uf,
        municipality_ibge=municipality_ibge,
    )


async def record_in_own_transaction(
    sessionmaker: async_sessionmaker[AsyncSession], context: AuditContext, action: str, **fields: Any
) -> None:
    """For denials and failed logins: the request's own transaction is rolled back, the record must stay."""
    async with sessionmaker() as session, session.begin():
        set_context(session, context)
        await record(session, action, **fields)
