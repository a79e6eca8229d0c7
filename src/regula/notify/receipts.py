"""Delivery receipts (Twilio's status callbacks) and what happens when a message will not arrive.

Callbacks are applied idempotently and never move a message backwards: each provider status has a rank
(queued < sent < failed/undelivered < delivered < read) and a callback only applies when its rank is higher than
the message's. Duplicates and late arrivals are therefore harmless. The callback URL carries our message id
(``?m=``), so a receipt lands even when the dispatcher died before recording the SID.

Under load the receipts are written by :class:`ReceiptSink`, a group commit: concurrent requests are gathered
for a few milliseconds and written in one transaction, and each request answers only after its write committed.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from regula.audit.service import AuditContext, set_context
from regula.config import Settings
from regula.navigation.service import open_task
from regula.notify.channels import PROVIDER_RANK, status_for
from regula.notify.content import KIND_LABELS_PT
from regula.notify.models import Message
from regula.notify.outbox import Outgoing, enqueue
from regula.people.models import Citizen

log = logging.getLogger("regula.notify")


@dataclass(frozen=True)
class Receipt:
    message_id: int | None
    sid: str
    provider_status: str
    error_code: str | None = None

    @property
    def rank(self) -> int:
        return PROVIDER_RANK.get(self.provider_status, 0)

    @property
    def failed(self) -> bool:
        return self.provider_status in ("failed", "undelivered")


_APPLY_SQL = (
    "UPDATE message SET provider_status = :pstatus, provider_rank = :rank, status = :status, "
    "provider_sid = COALESCE(provider_sid, :sid), error_code = COALESCE(:error_code, error_code), "
    "delivered_at = CASE WHEN CAST(:delivered AS boolean) THEN COALESCE(delivered_at, now()) ELSE delivered_at END, "
    "updated_at = now() "
    "WHERE (id = :mid OR (:mid = 0 AND provider_sid = :sid)) AND provider_rank < :rank "
    "AND status IN ('enviando', 'enviada', 'entregue', 'falhou')"
)
_APPLY = text(_APPLY_SQL)
_APPLY_RETURNING = text(_APPLY_SQL + " RETURNING id")
# The same update for many messages (each at most once) in one statement: one plan, one round trip.
_APPLY_MANY = text(
    "UPDATE message AS m SET provider_status = v.pstatus, provider_rank = v.rank, status = v.status, "
    "provider_sid = COALESCE(m.provider_sid, v.sid), error_code = COALESCE(v.error_code, m.error_code), "
    "delivered_at = CASE WHEN v.delivered THEN COALESCE(m.delivered_at, now()) ELSE m.delivered_at END, "
    "updated_at = now() "
    "FROM unnest(CAST(:mid AS bigint[]), CAST(:sid AS text[]), CAST(:pstatus AS text[]), "
    "CAST(:rank AS smallint[]), CAST(:status AS text[]), CAST(:error_code AS text[]), "
    "CAST(:delivered AS boolean[])) AS v(mid, sid, pstatus, rank, status, error_code, delivered) "
    "WHERE m.id = v.mid AND m.provider_rank < v.rank AND m.status IN ('enviando', 'enviada', 'entregue', 'falhou')"
)


def _params(r: Receipt) -> dict[str, Any]:
    return {
        "mid": r.message_id or 0,
        "sid": r.sid,
        "pstatus": r.provider_status,
        "rank": r.rank,
        "status": status_for(r.provider_status),
        "error_code": r.error_code,
        "delivered": status_for(r.provider_status) == "entregue",
    }


def _columns(receipts: list[Receipt]) -> dict[str, list[Any]]:
    rows = [_params(r) for r in receipts]
    return {key: [row[key] for row in rows] for key in rows[0]}


async def apply_receipts(session: AsyncSession, settings: Settings, receipts: list[Receipt]) -> None:
    """Write a batch of receipts; failures then get their follow-up (fallback channel or navigators).

    Receipts that name their message (``?m=``, always the case for ours) are written a round at a time: round k
    holds the k-th receipt of each message, in order of arrival, so the end state is the one of applying them one
    by one (statements on different messages commute). The others are matched by SID, one statement each.
    """
    ok = [r for r in receipts if r.rank and not r.failed]
    rounds: list[list[Receipt]] = []
    seen: dict[int, int] = {}
    for r in ok:
        if r.message_id:
            k = seen.get(r.message_id, 0)
            seen[r.message_id] = k + 1
            if k == len(rounds):
                rounds.append([])
            rounds[k].append(r)
    for group in rounds:
        # In id order, as other writers (another web worker's sink, the dispatcher) mostly lock rows: a deadlock
        # is rare, and ReceiptSink retries the batch when PostgreSQL breaks one.
        group.sort(key=lambda r: r.message_id or 0)
        await session.execute(_APPLY_MANY, _columns(group))
    by_sid = [_params(r) for r in ok if not r.message_id]
    if by_sid:
        await session.execute(_APPLY, by_sid)
    for r in receipts:
        if r.failed:
            changed = (await session.execute(_APPLY_RETURNING, _params(r))).scalar_one_or_none()
            if changed is not None:  # the first failure receipt of this message, not a repeat
                await handle_undeliverable(session, settings, int(changed), "falhou")


async def handle_undeliverable(session: AsyncSession, settings: Settings, message_id: int, why: str) -> None:
    """A failed SMS is tried once on WhatsApp when configured; a critical message then goes to the navigators."""
    message = await session.get(Message, message_id)
    if message is None:
        return
    citizen = await session.get(Citizen, message.citizen_id)
    assert citizen is not None
    if (
        why == "falhou"
        and message.channel == "sms"
        and settings.twilio_whatsapp_sender
        and settings.notify_channel == "twilio"
        and message.valid_until is not None
    ):
        base_key = message.idempotency_key.rsplit(":", 1)[0]
        copy = await enqueue(
            session,
            settings,
            citizen,
            Outgoing(
                message.kind,
                base_key,
                dict(message.variables),
                valid_until=message.valid_until,
                entry_id=message.entry_id,
                booking_id=message.booking_id,
            ),
            channel="whatsapp",
        )
        if copy is not None and copy.status == "pendente":
            return
    if message.critical and message.entry_id is not None:
        reasons = {"falhou": "falhou", "expirada": "não foi enviada a tempo", "bloqueada": "foi bloqueada"}
        await open_task(
            session,
            "mensagem_nao_entregue",
            citizen,
            message.entry_id,
            f"{KIND_LABELS_PT.get(message.kind, message.kind)} {reasons.get(why, why)}"
            f"{f' (erro {message.error_code})' if message.error_code else ''}: ligar para o cidadão.",
            message_id=message.id,
        )


class ReceiptSink:
    """Group commit of receipts: many concurrent callbacks, one transaction every few milliseconds.

    Up to ``writers`` transactions are in flight at once; while all of them are busy, arriving receipts gather into
    the next, larger batch. One writer is the default: the web process is CPU-bound long before the disk is, and
    with four, batches were smaller and the route slower (docs/benchmarks.md, notifier). A batch that loses a
    deadlock (another web worker's sink, the dispatcher) is retried; any other failure fails its requests (Twilio
    then retries the callback).
    """

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: Settings,
        window: float = 0.005,
        *,
        writers: int = 1,
        max_batch: int = 2000,
    ):
        self.sessionmaker = sessionmaker
        self.settings = settings
        self.window = window
        self.writers = max(1, writers)
        self.max_batch = max_batch
        self._queue: list[tuple[Receipt, asyncio.Future[None]]] = []
        self._task: asyncio.Task[None] | None = None
        self._writing: set[asyncio.Task[None]] = set()

    async def submit(self, receipt: Receipt) -> None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._queue.append((receipt, future))
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._run())
        await future

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while self._queue:
            await asyncio.sleep(self.window)
            while len(self._writing) >= self.writers:
                await asyncio.wait(set(self._writing), return_when=asyncio.FIRST_COMPLETED)
            batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch :]
            task = loop.create_task(self._write(batch))
            self._writing.add(task)
            task.add_done_callback(self._writing.discard)

    async def _write(self, batch: list[tuple[Receipt, asyncio.Future[None]]]) -> None:
        receipts = [r for r, _ in batch]
        for attempt in range(3):
            try:
                async with self.sessionmaker() as session, session.begin():
                    set_context(session, AuditContext.system("notify", "receipts"))
                    await apply_receipts(session, self.settings, receipts)
                break
            except Exception as exc:
                if attempt < 2 and _retryable(exc):
                    log.warning("retrying %d delivery receipts after %s", len(batch), type(exc).__name__)
                    continue
                log.exception("could not record %d delivery receipts", len(batch))
                for _, f in batch:
                    if not f.done():
                        f.set_exception(exc)
                return
        for _, f in batch:
            if not f.done():
                f.set_result(None)


def _retryable(exc: BaseException) -> bool:
    """A deadlock or serialization failure: the transaction was rolled back and may simply run again."""
    orig = getattr(exc, "orig", None)
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    return isinstance(exc, DBAPIError) and code in ("40P01", "40001")
