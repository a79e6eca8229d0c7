"""The dispatcher: claims due messages from the outbox, sends them at the allowed rate, records what happened.

Exactly once, without an idempotency key at Twilio (docs/decisions/0007-outbox-exactly-once.md):

1. **Claim** a batch with ``FOR UPDATE SKIP LOCKED`` and commit it as ``enviando`` with this dispatcher's id and
   the sender chosen for each message. Several dispatchers never take the same row.
2. **Send**, each sender at its configured rate (token buckets per sender and per account).
3. **Record** the SID (``enviada``) in batches. A retry is scheduled with exponential backoff and jitter for a 429
   (certainly not taken); a timeout, a 5xx or a dropped connection leaves the outcome *unknown* and the message is
   marked ``needs_reconcile``.
4. Each dispatcher holds a PostgreSQL advisory lock for its whole life. Rows ``enviando`` whose owner's lock is
   free belong to a dead dispatcher: they go back to ``pendente`` with ``needs_reconcile``.
5. Before a message marked ``needs_reconcile`` is sent again, it is **looked up at the provider** (recipient,
   sender, body): found means it went out — record its SID and do not resend. The look-up waits
   ``RECONCILE_GRACE`` after the attempt, so a request still queued at the provider has landed by then.

A channel that raises instead of answering (a bug, an SDK surprise) must not stall the outbox: the exception is
caught, the row is counted (``attempts``, ``error_code = 'excecao'``), logged once with its cause and without
personal data, looked up before the next try (it may have gone out), retried with exponential backoff and, after
``REGULA_NOTIFY_MAX_ATTEMPTS`` raises, marked ``falhou`` — a critical one then becomes a navigator's task.

Quiet hours, consent and the per-citizen daily cap are checked when a message is claimed, so a message written
in the afternoon for the evening waits for the morning; a message past its validity expires and, when it mattered
(an appointment, a confirmation, an offer), becomes a navigator's task.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import re
import socket
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlmodel import col

from regula.audit.service import AuditContext, set_context
from regula.config import Settings
from regula.core.clock import Clock
from regula.core.locks import lock_key
from regula.db.base import utcnow
from regula.db.engine import Database
from regula.notify.channels import PROVIDER_RANK, Channel, Envelope, SendResult, build_channels, status_for
from regula.notify.models import InboundMessage, Message
from regula.notify.receipts import handle_undeliverable
from regula.notify.respect import next_allowed, timezone_for
from regula.people.models import Citizen

log = logging.getLogger("regula.notify")

BACKOFF_BASE_SECONDS = 2.0
BACKOFF_CAP_SECONDS = 15 * 60.0
# How long after an attempt whose outcome is unknown (a timeout, a dropped connection, a 5xx, a dead dispatcher)
# the message is looked up: a request we gave up on may still sit in a slow provider's queue and be accepted
# later, and a look-up that comes before it finds nothing and resends. (It was 5 s, and 1–3 s — the first
# backoff — after a timeout, shorter than the ~10 s stalls the fake Twilio showed under load.)
RECONCILE_GRACE = timedelta(seconds=60)
#: ``error_code`` of an attempt whose channel raised (see ``_raised``).
RAISED = "excecao"
# Digit runs long enough to be a CPF, a CNS or a phone number, with or without punctuation.
_DOCUMENT_LIKE = re.compile(r"\+?\d[\d.\-/ ]{6,}\d")


def backoff(attempt: int, retry_after: float | None = None) -> timedelta:
    """Exponential backoff with jitter (0.5×–1.5×), at least what the provider asked for."""
    delay = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(0, attempt - 1))
    delay *= random.uniform(0.5, 1.5)
    return timedelta(seconds=max(delay, retry_after or 0.0))


class TokenBucket:
    """``rate`` tokens per second, bursts of at most ``burst``; ``take`` waits for a token."""

    def __init__(self, rate: float, burst: float | None = None) -> None:
        self.rate = rate
        self.capacity = burst if burst is not None else max(1.0, rate / 10)
        self.tokens = self.capacity
        self.stamp = time.monotonic()
        self._lock = asyncio.Lock()

    async def take(self) -> None:
        async with self._lock:
            while True:
                now = time.monotonic()
                self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
                self.stamp = now
                if self.tokens >= 1:
                    self.tokens -= 1
                    return
                await asyncio.sleep((1 - self.tokens) / self.rate)


@dataclass
class DispatchStats:
    claimed: int = 0
    sent: int = 0
    reconciled: int = 0
    retried: int = 0
    unknown: int = 0
    failed: int = 0
    expired: int = 0
    blocked: int = 0
    deferred: int = 0
    recovered: int = 0
    errors: int = 0  # sends that raised (each also counted in the message's ``attempts``)

    def add(self, other: DispatchStats) -> None:
        for name in vars(self):
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class _Claimed:
    id: int
    citizen_id: int
    entry_id: int | None
    kind: str
    channel: str
    to: str
    body: str
    variables: dict[str, Any]
    valid_until: datetime
    critical: bool
    needs_reconcile: bool
    attempts: int
    sender: str | None
    claimed_at: datetime
    error_code: str | None = None  # the previous attempt's, to log a raising row once, not on every retry


@dataclass
class _Lane:
    channel: Channel
    sender: str
    queue: asyncio.Queue[Envelope | None] = field(default_factory=asyncio.Queue)
    bucket: TokenBucket | None = None


class Dispatcher:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        channels: dict[str, Channel] | None = None,
        worker: str | None = None,
        clock: Clock = utcnow,
    ) -> None:
        self.db = db
        self.settings = settings
        # The instant the quiet hours, the Sunday rule and validity are judged against: injected, so a test of
        # quiet hours does not depend on the hour it runs (it failed once in CI at 23:00 in São Paulo).
        self.clock = clock
        self.channels = channels if channels is not None else build_channels(settings)
        self.worker = worker or f"{socket.gethostname()}:{os.getpid()}:{random.randrange(16**6):06x}"
        self._live: AsyncConnection | None = None
        self._account_bucket = TokenBucket(settings.notify_rate_per_account)
        self._sender_buckets: dict[str, TokenBucket] = {}
        # twilio's HTTP client logs every request and response at INFO (ten lines a message, the query of every
        # lookup with the citizen's phone number): half of a send's CPU time (docs/benchmarks.md, notifier).
        # Quiet unless someone set its level on purpose.
        twilio_log = logging.getLogger("twilio")
        if twilio_log.level == logging.NOTSET:
            twilio_log.setLevel(logging.WARNING)

    # -- life ------------------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Hold this dispatcher's liveness lock: while it is held, nobody touches our claimed rows."""
        if self._live is None:
            self._live = await self.db.engine.connect()
            await self._live.execute(text("SELECT pg_advisory_lock(:k)"), {"k": lock_key(f"notify:{self.worker}")})
            await self._live.commit()

    async def close(self) -> None:
        for channel in self.channels.values():
            await channel.close()
        if self._live is not None:
            await self._live.close()
            self._live = None

    async def run(self, *, once: bool = False, stop: asyncio.Event | None = None, poll: float = 1.0) -> DispatchStats:
        """Send what is due; with ``once`` exit when nothing is due any more, else poll until ``stop`` is set."""
        total = DispatchStats()
        await self.start()
        try:
            while True:
                total.recovered += await self.recover()
                total.add(await self.drain())
                if once or (stop is not None and stop.is_set()):
                    return total
                try:
                    await asyncio.wait_for((stop or asyncio.Event()).wait(), timeout=poll)
                    return total
                except TimeoutError:
                    continue
        finally:
            await self.close()

    # -- recovery --------------------------------------------------------------------------------------------

    async def recover(self) -> int:
        """Rows claimed by dispatchers that died go back to the outbox, to be looked up before any resend."""
        assert self._live is not None
        async with self.db.transaction() as session:
            owners = (
                (
                    await session.execute(
                        text("SELECT DISTINCT claimed_by FROM message WHERE status = 'enviando' AND claimed_by <> :me"),
                        {"me": self.worker},
                    )
                )
                .scalars()
                .all()
            )
        recovered = 0
        for owner in owners:
            key = lock_key(f"notify:{owner}")
            got = (await self._live.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key})).scalar_one()
            if not got:
                continue  # alive
            await self._live.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
            await self._live.commit()
            async with self.db.transaction() as session:
                result = await session.execute(
                    text(
                        "UPDATE message SET status = 'pendente', needs_reconcile = true, claimed_by = NULL, "
                        "next_attempt_at = now() + make_interval(secs => :grace), updated_at = now() "
                        "WHERE status = 'enviando' AND claimed_by = :owner"
                    ),
                    {"owner": owner, "grace": RECONCILE_GRACE.total_seconds()},
                )
                n = int(getattr(result, "rowcount", 0) or 0)
            if n:
                log.warning("recovered %d messages claimed by a dead dispatcher %s", n, owner)
            recovered += n
        return recovered

    # -- the pipeline ----------------------------------------------------------------------------------------

    def _lanes(self) -> dict[tuple[str, str], _Lane]:
        lanes: dict[tuple[str, str], _Lane] = {}
        for name, channel in self.channels.items():
            for sender in channel.senders():
                bucket = None
                if name not in ("console", "memoria"):
                    bucket = self._sender_buckets.setdefault(sender, TokenBucket(self.settings.notify_rate_per_sender))
                lanes[(name, sender)] = _Lane(channel, sender, bucket=bucket)
        return lanes

    def _sender_for(self, channel: str, to: str) -> str | None:
        ch = self.channels.get(channel)
        if ch is None:
            return None
        senders = ch.senders()
        # The same citizen always hears from the same number, so their replies land in one conversation.
        return senders[zlib.crc32(to.encode()) % len(senders)]

    def _prefetch(self) -> int:
        """How many claimed messages may wait in the lanes: about one second of sending. Every one of them is
        looked up at the provider before it is sent, should this dispatcher die, so fewer is cheaper to recover."""
        rated = [c for n, c in self.channels.items() if n not in ("console", "memoria")]
        if not rated:
            return self.settings.notify_batch_size * 4
        senders = sum(len(c.senders()) for c in rated)
        rate = min(self.settings.notify_rate_per_account, self.settings.notify_rate_per_sender * senders)
        return max(20, min(self.settings.notify_batch_size, int(rate)))

    async def drain(self) -> DispatchStats:
        """Send everything due now; returns when the outbox has nothing due."""
        stats = DispatchStats()
        lanes = self._lanes()
        results: list[tuple[_Claimed, Envelope | None, SendResult]] = []
        in_flight = asyncio.Semaphore(self.settings.notify_max_in_flight)
        sends: set[asyncio.Task[None]] = set()
        claimed_by_id: dict[int, _Claimed] = {}

        async def send_one(lane: _Lane, env: Envelope) -> None:
            try:
                claimed = claimed_by_id[env.id]
                result: SendResult | None = None
                if claimed.needs_reconcile:
                    try:
                        result = await lane.channel.lookup(env)
                    except Exception as exc:  # cannot tell: try later rather than risk a duplicate
                        result = SendResult("unknown", error_code="consulta", error=repr(exc))
                    if result is not None and result.outcome == "sent":
                        stats.reconciled += 1
                if result is None:
                    try:
                        result = await lane.channel.send(env)
                    except Exception as exc:  # a bug in a channel must not stall the outbox: count, back off, end
                        result = _raised(exc, env)
                results.append((claimed, env, result))
            finally:
                in_flight.release()

        async def lane_worker(lane: _Lane) -> None:
            while True:
                env = await lane.queue.get()
                if env is None:
                    return
                if lane.bucket is not None:
                    await lane.bucket.take()
                    await self._account_bucket.take()
                await in_flight.acquire()
                task = asyncio.create_task(send_one(lane, env))
                sends.add(task)
                task.add_done_callback(sends.discard)

        workers = [asyncio.create_task(lane_worker(lane)) for lane in lanes.values()]
        flushing = asyncio.Event()

        async def flusher() -> None:
            while not flushing.is_set() or results:
                if results:
                    batch = results[:]
                    del results[: len(batch)]
                    await self._record(batch, stats)
                    for claimed, _, _ in batch:
                        claimed_by_id.pop(claimed.id, None)
                else:
                    await asyncio.sleep(0.1)

        flush_task = asyncio.create_task(flusher())
        prefetch = self._prefetch()
        try:
            while True:
                backlog = sum(lane.queue.qsize() for lane in lanes.values())
                room = prefetch - backlog
                if room < max(1, prefetch // 4):  # top the lanes up, a quarter of the prefetch at least
                    await asyncio.sleep(0.05)
                    continue
                batch = await self._claim(stats, room)
                for claimed, env in batch:
                    claimed_by_id[claimed.id] = claimed
                    lane = lanes.get((claimed.channel, env.sender))
                    if lane is None:
                        results.append((claimed, None, SendResult("failed", error_code="canal", error="sem canal")))
                        continue
                    await lane.queue.put(env)
                if not batch:
                    if backlog == 0 and not sends and all(lane.queue.empty() for lane in lanes.values()):
                        break
                    await asyncio.sleep(0.05)
        finally:
            for lane in lanes.values():
                await lane.queue.put(None)
            await asyncio.gather(*workers, return_exceptions=True)
            if sends:
                await asyncio.gather(*list(sends), return_exceptions=True)
            flushing.set()
            await flush_task
        return stats

    # -- claim -----------------------------------------------------------------------------------------------

    async def _claim(self, stats: DispatchStats, limit: int | None = None) -> list[tuple[_Claimed, Envelope]]:
        """Take a batch of due messages; defer, block or expire those that must not go now."""
        async with self.db.transaction() as session:
            set_context(session, AuditContext.system("notify", "dispatcher"))
            rows = (
                await session.execute(
                    text(
                        "WITH due AS (SELECT id FROM message WHERE status = 'pendente' AND next_attempt_at <= now() "
                        "ORDER BY next_attempt_at, id LIMIT :n FOR UPDATE SKIP LOCKED) "
                        "UPDATE message m SET status = 'enviando', claimed_by = :me, "
                        # A message whose last attempt may have gone out keeps that attempt's claim time: the
                        # look-up searches the provider from there (channels.TwilioChannel.lookup). Taking the new
                        # claim's time instead missed a message recovered from a dead dispatcher and claimed again
                        # minutes later, and sent it twice (docs/benchmarks.md, notifier).
                        "claimed_at = CASE WHEN m.needs_reconcile AND m.claimed_at IS NOT NULL THEN m.claimed_at "
                        "ELSE now() END, "
                        "updated_at = now() FROM due WHERE m.id = due.id "
                        "RETURNING m.id, m.citizen_id, m.entry_id, m.kind, m.channel, m.to_address, m.body, "
                        "m.variables, m.valid_until, m.critical, m.needs_reconcile, m.attempts, m.sender, "
                        "m.claimed_at, m.error_code"
                    ),
                    {
                        "n": min(limit or self.settings.notify_batch_size, self.settings.notify_batch_size),
                        "me": self.worker,
                    },
                )
            ).all()
        if not rows:
            return []
        # The claim commits on its own, before the claimed rows are written again. In one transaction, the second
        # write of a row this transaction had already updated makes PostgreSQL re-check its foreign keys, which
        # takes a share lock on the message's entry: a dispatcher holding messages then waited for an entry, while a
        # transition holding that entry waited to cancel its messages — a deadlock, and the regulator's request a 409
        # (found by tests/test_multiprocess.py; entries before messages, as decision 0008 orders entries first).
        async with self.db.transaction() as session:
            set_context(session, AuditContext.system("notify", "dispatcher"))
            claimed = [_Claimed(*r) for r in rows]
            stats.claimed += len(claimed)
            now = self.clock()  # one instant for the quiet hours, validity, the daily cap and WhatsApp's 24 h
            citizens = await self._citizens(session, {c.citizen_id for c in claimed})
            sent_today = await self._sent_last_day(session, {c.citizen_id for c in claimed}, now)
            sessions = await self._whatsapp_sessions(session, {c.to for c in claimed if c.channel == "whatsapp"}, now)
            ready: list[tuple[_Claimed, Envelope]] = []
            updates: list[dict[str, Any]] = []
            closed: list[tuple[_Claimed, str]] = []
            for c in claimed:
                citizen = citizens[c.citizen_id]
                tz = timezone_for(citizen.uf, citizen.municipality_ibge)
                if c.valid_until <= now:
                    updates.append(_row(c.id, status="expirada", deferred_reason="validade"))
                    closed.append((c, "expirada"))
                    stats.expired += 1
                    continue
                if c.kind != "optout" and (not citizen.contact_consent or citizen.preferred_channel == "nenhum"):
                    updates.append(_row(c.id, status="bloqueada", deferred_reason="sem_consentimento"))
                    closed.append((c, "bloqueada"))
                    stats.blocked += 1
                    continue
                allowed = next_allowed(now, tz, self.settings)
                if allowed > now:
                    updates.append(_defer(c.id, allowed, "horario_silencioso"))
                    stats.deferred += 1
                    continue
                count, oldest = sent_today.get(c.citizen_id, (0, None))
                if not c.critical and c.kind not in ("optout", "ajuda") and count >= self.settings.notify_daily_cap:
                    until = (oldest or now) + timedelta(days=1)
                    updates.append(_defer(c.id, max(until, now + timedelta(minutes=5)), "limite_diario"))
                    stats.deferred += 1
                    continue
                sent_today[c.citizen_id] = (count + 1, oldest or now)
                sender = c.sender if c.needs_reconcile and c.sender else self._sender_for(c.channel, c.to)
                if sender is None:
                    updates.append(_row(c.id, status="falhou", error_code="canal", last_error="canal indisponível"))
                    closed.append((c, "falhou"))
                    stats.failed += 1
                    continue
                updates.append({"id": c.id, "sender": sender})
                ready.append((c, self._envelope(c, sender, c.to in sessions)))
            await _bulk_update(session, updates)
            for c, why in closed:
                await _undeliverable(session, self.settings, c.id, why)
            return ready

    def _envelope(self, c: _Claimed, sender: str, in_session: bool) -> Envelope:
        callback = None
        if c.channel in ("sms", "whatsapp"):
            callback = f"{self.settings.public_base_url.rstrip('/')}/webhooks/twilio/status?m={c.id}"
        return Envelope(
            id=c.id,
            channel=c.channel,
            kind=c.kind,
            to=c.to,
            body=c.body,
            variables=c.variables,
            sender=sender,
            status_callback=callback,
            in_session=in_session,
            claimed_at=c.claimed_at,
        )

    @staticmethod
    async def _citizens(session: AsyncSession, ids: set[int]) -> dict[int, Citizen]:
        rows = (await session.execute(select(Citizen).where(col(Citizen.id).in_(ids)))).scalars().all()
        return {c.id: c for c in rows if c.id is not None}

    @staticmethod
    async def _sent_last_day(session: AsyncSession, ids: set[int], now: datetime) -> dict[int, tuple[int, datetime]]:
        rows = await session.execute(
            text(
                "SELECT citizen_id, count(*), min(sent_at) FROM message WHERE citizen_id = ANY(:ids) "
                "AND sent_at > :since AND NOT critical AND kind NOT IN ('optout', 'ajuda') "
                "GROUP BY citizen_id"
            ),
            {"ids": list(ids), "since": now - timedelta(days=1)},
        )
        return {r[0]: (int(r[1]), r[2]) for r in rows}

    @staticmethod
    async def _whatsapp_sessions(session: AsyncSession, addresses: set[str], now: datetime) -> set[str]:
        if not addresses:
            return set()
        rows = await session.execute(
            select(col(InboundMessage.from_address)).where(
                col(InboundMessage.from_address).in_(addresses),
                col(InboundMessage.received_at) > now - timedelta(hours=24),
            )
        )
        return {r[0] for r in rows}

    # -- record ----------------------------------------------------------------------------------------------

    async def _record(
        self, batch: Sequence[tuple[_Claimed, Envelope | None, SendResult]], stats: DispatchStats
    ) -> None:
        now = self.clock()
        sent: list[dict[str, Any]] = []
        later: list[dict[str, Any]] = []
        closed: list[tuple[_Claimed, str]] = []
        for c, _env, r in batch:
            if r.outcome == "sent":
                stats.sent += 1
                sent.append(
                    {
                        "id": c.id,
                        "me": self.worker,
                        "sid": r.sid,
                        "pstatus": r.provider_status,
                        "rank": PROVIDER_RANK.get(r.provider_status or "", 2),
                        "status": status_for(r.provider_status),
                        "sent_at": now,
                        "reply_by": _reply_by(c.variables, now),
                        "delivered_at": now if status_for(r.provider_status) == "entregue" else None,
                    }
                )
                continue
            if r.outcome == "error":
                stats.errors += 1
                attempts = c.attempts + 1
                final = attempts >= self.settings.notify_max_attempts
                if c.error_code != RAISED:  # once per row, not on every retry: the log must not fill
                    log.warning(
                        "message %d: channel %s raised %s (attempt %d of %d; %s)",
                        c.id,
                        c.channel,
                        r.error,
                        attempts,
                        self.settings.notify_max_attempts,
                        "marked falhou" if final else "retrying with backoff",
                        extra={"message_id": c.id, "channel": c.channel, "error_code": RAISED},
                    )
                if final:
                    stats.failed += 1
                    later.append(_row(c.id, status="falhou", error_code=RAISED, last_error=r.error, attempts=attempts))
                    closed.append((c, "falhou"))
                    continue
                nxt = now + backoff(attempts)
                if nxt >= c.valid_until:
                    stats.expired += 1
                    later.append(
                        _row(c.id, status="expirada", error_code=RAISED, last_error=r.error, attempts=attempts)
                    )
                    closed.append((c, "expirada"))
                    continue
                row = _defer(c.id, nxt, RAISED)
                # The channel may have raised after the provider took the message: look it up before resending.
                row |= {"error_code": RAISED, "last_error": r.error, "attempts": attempts, "needs_reconcile": True}
                later.append(row)
                continue
            if r.outcome in ("retry", "unknown"):
                nxt = now + backoff(c.attempts + 1, r.retry_after)
                if r.outcome == "unknown":
                    nxt = max(nxt, now + RECONCILE_GRACE)
                if nxt >= c.valid_until:
                    stats.expired += 1
                    later.append(
                        _row(
                            c.id,
                            status="expirada",
                            error_code=r.error_code,
                            last_error=r.error,
                            attempts=c.attempts + 1,
                        )
                    )
                    closed.append((c, "expirada"))
                    continue
                if r.outcome == "retry":
                    stats.retried += 1
                else:
                    stats.unknown += 1
                row = _defer(c.id, nxt, r.outcome)
                row |= {
                    "error_code": r.error_code,
                    "last_error": r.error,
                    "attempts": c.attempts + 1,
                    "needs_reconcile": r.outcome == "unknown" or c.needs_reconcile,
                }
                later.append(row)
                continue
            stats.failed += 1
            later.append(
                _row(c.id, status="falhou", error_code=r.error_code, last_error=r.error, attempts=c.attempts + 1)
            )
            closed.append((c, "falhou"))
        async with self.db.transaction() as session:
            set_context(session, AuditContext.system("notify", "dispatcher"))
            # Rows in id order, as the receipts writer takes them: two writers never wait on each other in a cycle.
            sent.sort(key=lambda row: int(row["id"]))
            later.sort(key=lambda row: int(row["id"]))
            if sent:
                await session.execute(_RECORD_SENT, sent)
            await _bulk_update(session, later)
            for c, why in closed:
                await _undeliverable(session, self.settings, c.id, why)


# A callback may have arrived before this write: the provider's status only ever moves forward (rank).
_RECORD_SENT = text(
    "UPDATE message SET provider_sid = COALESCE(provider_sid, :sid), sent_at = :sent_at, claimed_by = NULL, "
    "needs_reconcile = false, attempts = attempts + 1, error_code = NULL, last_error = NULL, "
    "deferred_reason = NULL, reply_by = :reply_by, updated_at = now(), "
    "delivered_at = COALESCE(delivered_at, :delivered_at), "
    "status = CASE WHEN provider_rank >= :rank THEN status ELSE :status END, "
    "provider_status = CASE WHEN provider_rank >= :rank THEN provider_status ELSE :pstatus END, "
    "provider_rank = GREATEST(provider_rank, :rank) "
    "WHERE id = :id AND claimed_by = :me"
)


def _raised(exc: Exception, envelope: Envelope) -> SendResult:
    """A channel's exception as an outcome: its class and message, without the recipient, the text or anything
    that looks like a document or phone number (it is logged and stored in ``last_error``)."""
    text_ = str(exc)
    for secret in (envelope.body, envelope.to, envelope.to.removeprefix("whatsapp:")):
        if secret:
            text_ = text_.replace(secret, "***")
    text_ = _DOCUMENT_LIKE.sub("***", text_)
    cause = f"{type(exc).__name__}: {text_}" if text_ else type(exc).__name__
    return SendResult("error", error_code=RAISED, error=cause[:300])


def _reply_by(variables: dict[str, Any], sent_at: datetime) -> datetime | None:
    within = variables.get("reply_within_s")
    if within is None:
        return None
    reply_by = sent_at + timedelta(seconds=int(within))
    deadline = variables.get("reply_deadline")
    if deadline:
        reply_by = min(reply_by, datetime.fromisoformat(deadline))
    return reply_by


def _row(message_id: int, **values: Any) -> dict[str, Any]:
    return {"id": message_id, "claimed_by": None, "updated_at": utcnow(), **values}


def _defer(message_id: int, until: datetime, reason: str) -> dict[str, Any]:
    return _row(message_id, status="pendente", next_attempt_at=until, deferred_reason=reason)


async def _bulk_update(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Update by primary key, grouped by the set of columns (executemany needs one statement per shape)."""
    shapes: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        shapes.setdefault(tuple(sorted(row)), []).append(row)
    for keys, group in shapes.items():
        sets = ", ".join(f"{k} = :{k}" for k in keys if k != "id")
        await session.execute(text(f"UPDATE {Message.__tablename__} SET {sets} WHERE id = :id"), group)  # noqa: S608


async def _undeliverable(session: AsyncSession, settings: Settings, message_id: int, why: str) -> None:
    """A message that will not arrive: try WhatsApp after a failed SMS, else hand a critical one to a navigator."""
    await handle_undeliverable(session, settings, message_id, why)
