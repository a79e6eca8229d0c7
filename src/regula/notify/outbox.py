"""Writing messages into the outbox, in the caller's transaction.

:func:`enqueue` is the only way a message is born. It runs inside the transaction of the change that causes the
message (an appointment, a released place…), so the message exists if and only if that change committed; its
idempotency key — (entry, event, version, channel) — makes writing it twice a no-op (``ON CONFLICT DO NOTHING``).
The channel is chosen here: the console in the demo, else the citizen's preferred channel. A citizen who cannot be
reached (no phone, no consent, opted out, channel "nenhum") gets the row anyway, ``bloqueada``, so the message log
tells the whole story, and a critical message then becomes a navigator's task.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from regula.config import Settings
from regula.db.base import utcnow
from regula.db.bulk import unnest_insert, unnest_params
from regula.navigation.service import TaskWanted, open_tasks
from regula.notify import content
from regula.notify.models import Message
from regula.notify.respect import timezone_for
from regula.people.models import Citizen


@dataclass(frozen=True)
class Outgoing:
    """What the caller wants said; :func:`enqueue` decides how and when."""

    kind: str
    key: str  # the event and version part of the idempotency key, e.g. "e42:b7:agendamento"
    variables: dict[str, Any]
    valid_until: datetime
    due_at: datetime | None = None
    entry_id: int | None = None
    booking_id: int | None = None
    reply_within: timedelta | None = None  # questions: how long the citizen has, counted from sending
    reply_deadline: datetime | None = None  # …but never past this
    bypass_consent: bool = False  # only the opt-out acknowledgement


def channel_for(citizen: Citizen, settings: Settings) -> tuple[str, str | None]:
    """(channel, address) — the address is None when the citizen cannot be reached by message."""
    if settings.notify_channel == "console":
        return "console", citizen.phone
    if citizen.preferred_channel == "whatsapp" and settings.twilio_whatsapp_sender:
        return "whatsapp", f"whatsapp:{citizen.phone}" if citizen.phone else None
    return "sms", citizen.phone


def blocked_reason(citizen: Citizen, address: str | None) -> str | None:
    if citizen.phone is None or address is None:
        return "sem_telefone"
    if citizen.preferred_channel == "nenhum":
        return "sem_canal"
    if not citizen.contact_consent:
        return "sem_consentimento"
    return None


@dataclass(frozen=True)
class Queued:
    id: int
    kind: str
    status: str


async def enqueue(
    session: AsyncSession, settings: Settings, citizen: Citizen, out: Outgoing, *, channel: str | None = None
) -> Queued | None:
    """Write the message (or nothing, when the same key was written before)."""
    written = await enqueue_many(session, settings, citizen, [out], channel=channel)
    return written[0] if written else None


async def enqueue_many(
    session: AsyncSession,
    settings: Settings,
    citizen: Citizen,
    outs: Sequence[Outgoing],
    *,
    channel: str | None = None,
) -> list[Queued]:
    """Write several messages to one citizen in one statement; returns those that were new."""
    return await enqueue_for_citizens(session, settings, [(citizen, outs)], channel=channel)


async def enqueue_for_citizens(
    session: AsyncSession,
    settings: Settings,
    batch: Sequence[tuple[Citizen, Sequence[Outgoing]]],
    *,
    channel: str | None = None,
) -> list[Queued]:
    """Write the messages of many citizens (an allocation run's appointments) in ONE statement (``INSERT … SELECT
    FROM unnest``, the same text whatever the number of rows, so it is prepared once); returns those that were new.
    Each citizen's channel, address and respect rules (consent, channel "nenhum", no phone → ``bloqueada``) are
    decided per citizen by :func:`channel_for` and :func:`blocked_reason`, as for one; a critical message that
    cannot go out opens its navigator's task (one flush for all of them)."""
    now = utcnow()
    rows: list[dict[str, Any]] = []
    reach: dict[int, tuple[Citizen, str | None]] = {}
    for citizen, outs in batch:
        assert citizen.id is not None
        chosen, address = channel_for(citizen, settings)
        if channel is not None:
            chosen = channel
            address = f"whatsapp:{citizen.phone}" if channel == "whatsapp" and citizen.phone else citizen.phone
        reach[citizen.id] = (citizen, address)
        rows.extend(_row(citizen, out, chosen, address, now) for out in outs)
    if not rows:
        return []
    params: dict[str, Any] = unnest_params(_MESSAGE_COLUMNS, rows) | {"now": now}
    result = await session.execute(_INSERT_MESSAGES, params)
    written = [(Queued(int(i), kind, status), entry_id, int(c)) for i, kind, status, entry_id, c in result.all()]
    blocked: list[TaskWanted] = []
    for queued, entry_id, citizen_id in written:
        if queued.status == "bloqueada" and content.KINDS[queued.kind][0] and entry_id is not None:
            citizen, address = reach[citizen_id]
            reason = blocked_reason(citizen, address) or "sem_consentimento"
            detail = (
                f"{content.KIND_LABELS_PT[queued.kind]} não pôde ser enviada ({_REASONS_PT[reason]}): "
                "ligar para o cidadão."
            )
            blocked.append(TaskWanted(citizen, entry_id, detail, message_id=queued.id))
    if blocked:
        await open_tasks(session, "mensagem_nao_entregue", blocked)
    return [q for q, _, _ in written]


def _row(citizen: Citizen, out: Outgoing, chosen: str, address: str | None, now: datetime) -> dict[str, Any]:
    """One message row: its body rendered for the channel, its status by the respect rules."""
    critical, question = content.KINDS[out.kind]
    variables = dict(out.variables)
    if out.reply_within is not None:
        variables["reply_within_s"] = int(out.reply_within.total_seconds())
    if out.reply_deadline is not None:
        variables["reply_deadline"] = out.reply_deadline.isoformat()
    variables["tz"] = timezone_for(citizen.uf, citizen.municipality_ibge)
    reason = None if out.bypass_consent and citizen.phone else blocked_reason(citizen, address)
    due = max(out.due_at or now, now)
    return {
        "idempotency_key": f"{out.key}:{chosen}",
        "citizen_id": citizen.id,
        "entry_id": out.entry_id,
        "booking_id": out.booking_id,
        "kind": out.kind,
        "channel": chosen,
        "to_address": address or "",
        "body": content.render(out.kind, variables, chosen),
        "variables": variables,
        "question": question,
        "critical": critical,
        "status": "bloqueada" if reason else "pendente",
        "deferred_reason": reason,
        "due_at": due,
        "next_attempt_at": due,
        "valid_until": out.valid_until,
    }


#: The columns :func:`enqueue_for_citizens` writes, with their types; ``created_at`` and ``updated_at`` are the
#: statement's one ``now``.
_MESSAGE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("idempotency_key", "text"),
    ("citizen_id", "bigint"),
    ("entry_id", "bigint"),
    ("booking_id", "bigint"),
    ("kind", "text"),
    ("channel", "text"),
    ("to_address", "text"),
    ("body", "text"),
    ("variables", "jsonb"),
    ("question", "text"),
    ("critical", "boolean"),
    ("status", "text"),
    ("deferred_reason", "text"),
    ("due_at", "timestamptz"),
    ("next_attempt_at", "timestamptz"),
    ("valid_until", "timestamptz"),
)
_INSERT_MESSAGES = unnest_insert(
    "message",
    _MESSAGE_COLUMNS,
    constants={"created_at": "CAST(:now AS timestamptz)", "updated_at": "CAST(:now AS timestamptz)"},
    tail="ON CONFLICT (idempotency_key) DO NOTHING RETURNING id, kind, status, entry_id, citizen_id",
)


_REASONS_PT = {
    "sem_telefone": "sem telefone cadastrado",
    "sem_canal": "cidadão não quer mensagens",
    "sem_consentimento": "sem consentimento para mensagens",
}


async def cancel_pending(
    session: AsyncSession, entry_id: int, kinds: tuple[str, ...] | None = None, *, reason: str = "motivo_encerrado"
) -> int:
    """Messages of an entry not yet sent whose cause went away (a released appointment, a closed entry)."""
    stmt = (
        update(Message)
        .where(col(Message.entry_id) == entry_id, col(Message.status) == "pendente")
        .values(status="cancelada", deferred_reason=reason, updated_at=utcnow())
    )
    if kinds is not None:
        stmt = stmt.where(col(Message.kind).in_(kinds))
    result = await session.execute(stmt)
    return int(getattr(result, "rowcount", 0) or 0)


async def close_questions(session: AsyncSession, entry_id: int, answer: str) -> None:
    """Questions about an entry that no longer need an answer (it moved on by other means)."""
    await session.execute(
        update(Message)
        .where(
            col(Message.entry_id) == entry_id,
            col(Message.question).is_not(None),
            col(Message.answered_at).is_(None),
        )
        .values(answer=answer, answered_at=utcnow(), updated_at=utcnow())
    )


async def messages_of_entry(session: AsyncSession, entry_id: int) -> list[Message]:
    stmt = select(Message).where(col(Message.entry_id) == entry_id).order_by(col(Message.created_at), col(Message.id))
    return list((await session.execute(stmt)).scalars().all())
