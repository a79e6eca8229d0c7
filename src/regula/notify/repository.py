"""The messages' queries, scoped to the caller, for the API, the navigators' pages and the worklist alike.

``readable(actor)`` is the only place the jurisdiction filter on ``message`` is written: a message belongs where
its citizen lives, so a user sees the messages of residents of the municipalities in their jurisdiction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from regula.access.actor import Actor
from regula.audit.service import record_list_read
from regula.db.listing import Slice, SortKey, Sorts, Window, fetch
from regula.notify.models import Message
from regula.people.models import Citizen


def readable(actor: Actor) -> ColumnElement[bool]:
    """The messages ``actor`` may see, for a statement that joins the message's ``Citizen``."""
    allowed = actor.municipality_filter()
    if allowed is None:
        return true()
    return col(Citizen.municipality_ibge).in_(allowed)


# -- the message log, paged by cursor (issue 17 item 1, decision 23: /mensagens stopped at 300 rows) -------------


@dataclass(frozen=True)
class MessageFilter:
    entry_id: int | None = None
    status: str | None = None
    kind: str | None = None
    municipality: str | None = None
    municipalities: tuple[str, ...] | None = None  # a health region's


#: The message log's sort keys: created (default, newest first), kind, status; each followed by the message's id.
MESSAGE_SORTS = Sorts(
    keys=(
        SortKey("criada", col(Message.created_at), datetime, descending_first=True),
        SortKey("tipo", col(Message.kind), str),
        SortKey("situacao", col(Message.status), str),
    ),
    default="criada",
    default_descending=True,
    tiebreak=col(Message.id),
)


async def message_page(session: AsyncSession, actor: Actor, f: MessageFilter, window: Window) -> Slice[Message]:
    """One window of the messages ``actor`` may see, with the true total (audited: phone numbers and texts)."""
    base = (
        select(Message, col(Citizen.uf), col(Citizen.municipality_ibge))
        .join(Citizen, col(Citizen.id) == col(Message.citizen_id))
        .where(readable(actor))
    )
    if f.entry_id is not None:
        base = base.where(col(Message.entry_id) == f.entry_id)
    if f.status is not None:
        base = base.where(col(Message.status) == f.status)
    if f.kind is not None:
        base = base.where(col(Message.kind) == f.kind)
    if f.municipality is not None:
        base = base.where(col(Citizen.municipality_ibge) == f.municipality)
    if f.municipalities is not None:
        base = base.where(col(Citizen.municipality_ibge).in_(f.municipalities))
    found = await fetch(session, base, MESSAGE_SORTS, window)
    await record_list_read(
        session, "Message", [row[0].id for row in found.rows], places=[(row[1], row[2]) for row in found.rows]
    )
    return found.map([row[0] for row in found.rows])


async def last_asked(
    session: AsyncSession, entry_ids: Sequence[int], kinds: Sequence[str]
) -> dict[int, tuple[str, str, str | None]]:
    """For each entry, the (kind, status, answer) of the latest message of these kinds sent about it."""
    if not entry_ids:
        return {}
    rows = await session.execute(
        select(col(Message.entry_id), col(Message.kind), col(Message.status), col(Message.answer))
        .where(col(Message.entry_id).in_(entry_ids), col(Message.kind).in_(kinds))
        .order_by(col(Message.entry_id), col(Message.created_at))
    )
    asked: dict[int, tuple[str, str, str | None]] = {}
    for entry_id, kind, status, answer in rows:
        if entry_id is not None:
            asked[entry_id] = (kind, status, answer)
    return asked
