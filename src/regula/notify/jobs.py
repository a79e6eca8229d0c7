"""The notifier's periodic work, run by the jobs process (``regula scheduler``, collected in ``regula.jobs.process``):

* ``dispatch``: send what is due (the outbox trigger; ``regula notify dispatch`` runs the same loop on its own);
* ``reply_deadlines``: questions nobody answered in time — an offer goes to the next person, an unanswered
  confirmation to the navigators' worklist for a phone call;
* ``planning``: the monthly position-and-estimate update (sooner when the estimate moved by more than two weeks)
  and the 90-day validation question ("você ainda precisa desta consulta?").
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from regula.config import Settings
from regula.core.errors import Conflict
from regula.db.base import utcnow
from regula.jobs.runner import Counts, Job, JobContext, in_transaction
from regula.navigation.service import open_task_for_entry
from regula.notify.dispatcher import Dispatcher
from regula.notify.events import base_variables
from regula.notify.models import Message
from regula.notify.outbox import Outgoing, enqueue
from regula.people.models import Citizen
from regula.waitlist import measures
from regula.waitlist import service as wl
from regula.waitlist.models import WaitlistEntry
from regula.waitlist.states import EntryStatus

PLANNING_BATCH = 5000


async def dispatch(ctx: JobContext) -> Counts:
    """The outbox trigger: send what is due (``regula notify dispatch`` does the same continuously)."""
    stats = await Dispatcher(ctx.db, ctx.settings).run(once=True)
    return dict(vars(stats))


async def expire_questions(session: AsyncSession, settings: Settings) -> dict[str, int]:
    now = utcnow()
    rows = (
        (
            await session.execute(
                select(Message)
                .where(
                    col(Message.question).is_not(None),
                    col(Message.answered_at).is_(None),
                    col(Message.reply_by) < now,
                    col(Message.status).in_(("enviada", "entregue")),
                )
                .order_by(col(Message.reply_by))
                .with_for_update(skip_locked=True)
            )
        )
        .scalars()
        .all()
    )
    counts = {"offers_released": 0, "confirmations_to_navigators": 0, "closed": 0}
    for message in rows:
        message.answer = "sem_resposta"
        message.answered_at = now
        await session.flush()
        counts["closed"] += 1
        if message.entry_id is None:
            continue
        entry = await wl.get_entry(session, message.entry_id)
        if entry.status != EntryStatus.AGENDADA.value:
            continue
        if message.question == "oferta":
            try:
                async with session.begin_nested():
                    await wl.transition(
                        session,
                        message.entry_id,
                        EntryStatus.AUTORIZADA.value,
                        wl.Actor.system("sem-resposta"),
                        settings,
                        reason_text="Sem resposta à oferta de vaga no prazo: a vaga passou à próxima pessoa.",
                    )
                counts["offers_released"] += 1
            except Conflict:
                continue
        elif message.question == "confirmacao":
            await open_task_for_entry(
                session,
                "confirmacao_sem_resposta",
                message.entry_id,
                "Não respondeu ao pedido de confirmação da consulta: ligar para confirmar ou liberar a vaga.",
                message_id=message.id,
            )
            counts["confirmations_to_navigators"] += 1
    return counts


async def planning(session: AsyncSession, settings: Settings) -> Counts:
    positions = await plan_position_updates(session, settings)
    validations = await plan_validations(session, settings)
    return {"position_updates": positions, "validation_questions": validations}


def _estimate_text(entry: WaitlistEntry) -> str | None:
    if entry.estimate_from is None:
        return None
    a, b = entry.estimate_from, entry.estimate_to or entry.estimate_from
    if (a.year, a.month) == (b.year, b.month):
        return f"{a:%m/%Y}"
    return f"entre {a:%m/%Y} e {b:%m/%Y}"


async def plan_position_updates(session: AsyncSession, settings: Settings) -> int:
    """Tell waiting citizens where they stand: monthly, or sooner when the estimate moved by more than 14 days."""
    due = await session.execute(
        text(
            "SELECT e.id FROM waitlist_entry e JOIN waitlist_standing s ON s.entry_id = e.id "
            "LEFT JOIN LATERAL (SELECT m.created_at, (m.variables->>'estimate_from')::date AS told "
            "  FROM message m WHERE m.entry_id = e.id AND m.kind IN ('fila_entrada', 'posicao') "
            "  ORDER BY m.created_at DESC LIMIT 1) last ON true "
            "WHERE e.status = 'autorizada' AND s.position IS NOT NULL AND ("
            "  last.created_at IS NULL OR last.created_at < now() - make_interval(days => :days) "
            "  OR (s.estimate_from IS NOT NULL AND last.told IS NOT NULL AND abs(s.estimate_from - last.told) > 14)) "
            "ORDER BY e.id LIMIT :n"
        ),
        {"days": settings.notify_position_days, "n": PLANNING_BATCH},
    )
    ids = [r[0] for r in due]
    return await _enqueue_for(session, settings, ids, "posicao")


async def plan_validations(session: AsyncSession, settings: Settings, today: date | None = None) -> int:
    """Every 90 days in the queue: "você ainda precisa desta consulta?" (art. 10 §2 V — keep the queue true).
    Days in the queue are days waited (``waitlist.measures``: local days, paused days not counted)."""
    days = settings.notify_validation_days
    asked_lately = (
        select(col(Message.id))
        .where(
            col(Message.entry_id) == col(WaitlistEntry.id),
            col(Message.kind) == "validacao",
            col(Message.created_at) > utcnow() - timedelta(days=days),
        )
        .exists()
    )
    due = await session.execute(
        select(col(WaitlistEntry.id))
        .where(
            col(WaitlistEntry.status) == EntryStatus.AUTORIZADA.value,
            col(WaitlistEntry.authorized_at).is_not(None),
            measures.EntrySql.of(WaitlistEntry).days(today or wl.local_today(settings), settings.timezone) >= days,
            ~asked_lately,
        )
        .order_by(col(WaitlistEntry.id))
        .limit(PLANNING_BATCH)
    )
    ids = [entry_id for entry_id in due.scalars() if entry_id is not None]
    return await _enqueue_for(session, settings, ids, "validacao")


async def _enqueue_for(session: AsyncSession, settings: Settings, ids: list[int], kind: str) -> int:
    if not ids:
        return 0
    rows = (
        await session.execute(
            select(WaitlistEntry, Citizen)
            .join(Citizen, col(Citizen.id) == col(WaitlistEntry.citizen_id))
            .where(col(WaitlistEntry.id).in_(ids))
        )
    ).all()
    now = utcnow()
    today: date = wl.local_today(settings)
    written = 0
    for entry, citizen in rows:
        variables: dict[str, Any] = base_variables(entry, settings)
        if kind == "posicao":
            variables |= {
                "position": entry.position,
                "estimate": _estimate_text(entry),
                "estimate_from": entry.estimate_from.isoformat() if entry.estimate_from else None,
            }
            out = Outgoing(
                kind, f"e{entry.id}:posicao:{today:%Y%m%d}", variables, now + timedelta(days=7), entry_id=entry.id
            )
        else:
            out = Outgoing(
                kind,
                f"e{entry.id}:validacao:{today:%Y%m%d}",
                variables,
                now + timedelta(days=7),
                entry_id=entry.id,
                reply_within=timedelta(days=7),
            )
        if await enqueue(session, settings, citizen, out) is not None:
            written += 1
    return written


JOBS = (
    Job("notify_dispatch", "Envia as mensagens pendentes aos cidadãos", dispatch, "* * * * *"),
    Job(
        "reply_deadlines",
        "Trata perguntas sem resposta no prazo (ofertas, confirmações)",
        in_transaction(expire_questions),
        "*/5 * * * *",
    ),
    Job("notify_planning", "Planeja avisos de posição e validações de 90 dias", in_transaction(planning), "0 9 * * *"),
)
