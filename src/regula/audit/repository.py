"""The audit log's queries, scoped to the reader, in one place.

``readable(actor)`` is the only place the jurisdiction filter on ``audit_event`` is written. Events about a place
outside the reader's jurisdiction are not shown; events without a place (logins, denials, configuration) are
shown only to national readers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    RowMapping,
    String,
    and_,
    cast,
    false,
    func,
    literal,
    or_,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONPATH
from sqlalchemy.ext.asyncio import AsyncSession

from regula.access.actor import Actor
from regula.access.policy import JurisdictionKind
from regula.audit.models import BULK_CREATED, BULK_IMPORT, AuditEvent
from regula.db.listing import Slice, SortKey, Sorts, Window, fetch

_T = AuditEvent.__table__  # type: ignore[attr-defined]


def readable(actor: Actor) -> ColumnElement[bool]:
    j = actor.jurisdiction
    if j.kind is JurisdictionKind.NATIONAL:
        return true()
    if j.kind is JurisdictionKind.UF:
        return _T.c.uf == j.code  # type: ignore[no-any-return]
    if j.kind is JurisdictionKind.MUNICIPALITY:
        return _T.c.municipality_ibge == j.code  # type: ignore[no-any-return]
    return _T.c.municipality_ibge.in_(actor.municipality_filter() or [])  # type: ignore[no-any-return]


async def events(
    session: AsyncSession,
    actor: Actor,
    *,
    limit: int,
    before_id: int | None = None,
    entity_type: str | None = None,
    entity_id: str | None = None,
    action: str | None = None,
) -> Sequence[RowMapping]:
    """The events ``actor`` may read, newest first, before the cursor ``before_id``."""
    stmt = select(_T).where(readable(actor)).order_by(_T.c.id.desc()).limit(limit)
    filters: tuple[tuple[str, Any], ...] = (("entity_type", entity_type), ("entity_id", entity_id), ("action", action))
    for column, value in filters:
        if value is not None:
            stmt = stmt.where(_T.c[column] == value)
    if before_id is not None:
        stmt = stmt.where(_T.c.id < before_id)
    return (await session.execute(stmt)).mappings().all()


# -- who created a record ------------------------------------------------------------------------------------------


def created(entity_type: str, entity_id: int) -> ColumnElement[bool]:
    """The event that created the record: its ``create`` row written by the flush listener, or the one event of the
    bulk import whose ``after.created`` runs hold its id (decision 0025; the partial index of migration 0021 keeps
    the import events a short scan)."""
    if not entity_type.isidentifier():
        raise ValueError(f"entity type {entity_type!r}")
    # strict: in lax mode the filter would unwrap each [first, last] pair; silent: older import events name no ids.
    runs = f'strict $.{BULK_CREATED}."{entity_type}"[*] ? (@[0] <= $id && @[1] >= $id)'
    return or_(
        and_(_T.c.action == "create", _T.c.entity_type == entity_type, _T.c.entity_id == str(entity_id)),
        and_(
            _T.c.action == BULK_IMPORT,
            func.jsonb_path_exists(
                _T.c.after,
                cast(literal(runs), JSONPATH),
                func.jsonb_build_object("id", cast(literal(entity_id), BigInteger)),
                true(),
            ),
        ),
    )


async def created_by(session: AsyncSession, actor: Actor, entity_type: str, entity_id: int) -> RowMapping | None:
    """Who created record ``entity_id`` of ``entity_type``, when and from where: the event that created it, if
    ``actor`` may read it (``readable``), else None. An imported record answers with its import's event."""
    stmt = select(_T).where(readable(actor), created(entity_type, entity_id)).order_by(_T.c.id).limit(1)
    return (await session.execute(stmt)).mappings().first()


# -- the auditor's search (issue 17 item 5) -------------------------------------------------------------------------

#: What the auditor asks for by kind of action, in words people use: a "read" is a record opened or a list that
#: named it (``read_list``); an export is its own action.
ACTIONS: Final[dict[str, tuple[str, ...]]] = {
    "read": ("read", "read_list"),
    "create": ("create", BULK_IMPORT),
    "update": ("update",),
    "export": ("export",),
}
#: The entity types whose list events (``after.ids``) name waiting-list entries: a page of entries, an export.
_ENTRY_LISTS: Final = ("WaitlistEntry", "waitlist_export")

SORTS: Final = Sorts(
    keys=(
        SortKey("quando", _T.c.occurred_at, datetime, descending_first=True),
        SortKey("usuario", func.coalesce(_T.c.actor_username, ""), str),
        SortKey("acao", _T.c.action, str),
    ),
    default="quando",
    default_descending=True,
    tiebreak=_T.c.id,
)


@dataclass(frozen=True)
class AuditSearch:
    """The auditor's question: who saw or changed which citizen, entry or export, when and from where. Every field
    is optional; the conditions add up (AND)."""

    citizen_id: int | None = None
    #: The citizen's entries (``waitlist.repository.entry_ids_of_citizen``), read by the caller: the audit log stays
    #: below the domains it records (no import of people or waitlist here).
    citizen_entry_ids: tuple[int, ...] = ()
    entry_id: int | None = None
    export_id: str | None = None
    username: str | None = None
    action: str | None = None  # a key of ACTIONS
    since: datetime | None = None
    until: datetime | None = None  # exclusive
    address: str | None = None  # an IP address, or its beginning (a network: "10.2.")
    #: The kind of record, by every name the log gives it (the model class and its table: ``OciExecution``,
    #: ``oci_execution``); empty is any kind.
    entity_types: tuple[str, ...] = ()


def _names_any(ids: Any) -> ColumnElement[bool]:
    """A list event (``after.ids``) that named any of ``ids`` (text)."""
    return _T.c.after["ids"].has_any(ids)  # type: ignore[no-any-return]


def _text_array(values: list[str]) -> Any:
    return cast(literal(values, ARRAY(String)), ARRAY(String))


def _about_entries(entry_ids: list[str]) -> ColumnElement[bool]:
    """Events about these entries: the entry read or changed, or named by a list or an export."""
    return or_(
        and_(_T.c.entity_type == "WaitlistEntry", _T.c.entity_id.in_(entry_ids)),
        and_(_T.c.entity_type.in_(_ENTRY_LISTS), _names_any(_text_array(entry_ids))),
    )


def conditions(actor: Actor, q: AuditSearch) -> list[ColumnElement[bool]]:
    """The search's WHERE, always inside what ``actor`` may read (``readable``)."""
    where: list[ColumnElement[bool]] = [readable(actor)]
    if q.citizen_id is not None:
        # The citizen's record itself, and each of their entries (read, changed, listed, exported).
        ids = [str(i) for i in q.citizen_entry_ids]
        person = str(q.citizen_id)
        where.append(
            or_(
                and_(_T.c.entity_type == "Citizen", _T.c.entity_id == person),
                and_(_T.c.entity_type == "Citizen", _names_any(_text_array([person]))),
                _about_entries(ids) if ids else false(),
                # Created by a bulk import: its one event (decision 0025).
                created("Citizen", q.citizen_id),
                *(created("WaitlistEntry", i) for i in q.citizen_entry_ids),
            )
        )
    if q.entry_id is not None:
        where.append(or_(_about_entries([str(q.entry_id)]), created("WaitlistEntry", q.entry_id)))
    if q.export_id is not None:
        where.append(and_(_T.c.entity_type == "waitlist_export", _T.c.entity_id == q.export_id))
    if q.username is not None:
        where.append(_T.c.actor_username == q.username)
    if q.action is not None:
        where.append(_T.c.action.in_(ACTIONS.get(q.action, ())) if q.action in ACTIONS else false())
    if q.since is not None:
        where.append(_T.c.occurred_at >= q.since)
    if q.until is not None:
        where.append(_T.c.occurred_at < q.until)
    if q.entity_types:
        where.append(_T.c.entity_type.in_(q.entity_types))
    if q.address is not None:
        # The address exactly, or a network given by its beginning ("10.2." matches 10.2.0.1…).
        where.append(or_(_T.c.ip == q.address, _T.c.ip.startswith(q.address, autoescape=True)))
    return where


async def search(session: AsyncSession, actor: Actor, q: AuditSearch, window: Window) -> Slice[RowMapping]:
    """One window of the events matching ``q`` that ``actor`` may read (keyset, decision 23)."""
    base = select(_T).where(*conditions(actor, q))
    found = await fetch(session, base, SORTS, window)
    return found.map([row._mapping for row in found.rows])


async def event(session: AsyncSession, actor: Actor, event_id: int) -> RowMapping | None:
    """One event, when ``actor`` may read it (``readable``); None otherwise, as if it did not exist."""
    stmt = select(_T).where(_T.c.id == event_id, readable(actor))
    return (await session.execute(stmt)).mappings().one_or_none()


async def search_all(session: AsyncSession, actor: Actor, q: AuditSearch, *, limit: int) -> Sequence[RowMapping]:
    """The events matching ``q`` (newest first, at most ``limit``): the CSV download."""
    stmt = select(_T).where(*conditions(actor, q)).order_by(_T.c.occurred_at.desc(), _T.c.id.desc()).limit(limit)
    return (await session.execute(stmt)).mappings().all()
