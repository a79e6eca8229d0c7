"""The navigators' worklist: tasks opened by the system, worked and closed by people, with a contact log."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, literal, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from regula.access.actor import Actor
from regula.core.errors import Conflict, NotFound, ValidationFailed
from regula.db.base import utcnow
from regula.navigation.models import CONTACT_OUTCOMES, TASK_KINDS, ContactAttempt, NavigationTask
from regula.people.models import Citizen
from regula.waitlist.events import EntryTransitioned
from regula.waitlist.models import WaitlistEntry
from regula.waitlist.states import EntryStatus


@dataclass(frozen=True)
class TaskWanted:
    """A task some event asks for: :func:`open_tasks` opens it or refreshes the open one."""

    citizen: Citizen
    entry_id: int | None
    detail: str
    message_id: int | None = None
    due_at: datetime | None = None


async def open_task(
    session: AsyncSession,
    kind: str,
    citizen: Citizen,
    entry_id: int | None,
    detail: str,
    *,
    message_id: int | None = None,
    due_at: datetime | None = None,
) -> NavigationTask:
    """Open a task, or refresh the open one of the same kind for the same entry (causes never pile up)."""
    (task,) = await open_tasks(session, kind, [TaskWanted(citizen, entry_id, detail, message_id, due_at)])
    return task


async def open_tasks(session: AsyncSession, kind: str, wanted: Sequence[TaskWanted]) -> list[NavigationTask]:
    """:func:`open_task` for many at once (the undeliverable messages of an allocation run's commit), one query
    and one flush: each entry's open task of ``kind`` is refreshed, or one is opened; asked twice for the same
    entry, the later ask refreshes what the earlier opened, as two calls would. Returns one task per ask."""
    assert kind in TASK_KINDS, kind
    entry_ids = sorted({w.entry_id for w in wanted if w.entry_id is not None})
    open_now: dict[int, NavigationTask] = {}
    if entry_ids:
        rows = await session.execute(
            select(NavigationTask).where(
                col(NavigationTask.entry_id).in_(entry_ids),
                col(NavigationTask.kind) == kind,
                col(NavigationTask.status) == "aberta",
            )
        )
        open_now = {int(t.entry_id): t for t in rows.scalars() if t.entry_id is not None}
    tasks: list[NavigationTask] = []
    for w in wanted:
        assert w.citizen.id is not None
        existing = open_now.get(w.entry_id) if w.entry_id is not None else None
        if existing is not None:
            existing.detail = w.detail
            existing.message_id = w.message_id or existing.message_id
            existing.due_at = w.due_at or existing.due_at
            tasks.append(existing)
            continue
        task = NavigationTask(
            kind=kind,
            citizen_id=w.citizen.id,
            entry_id=w.entry_id,
            message_id=w.message_id,
            municipality_ibge=w.citizen.municipality_ibge,
            uf=w.citizen.uf,
            detail=w.detail,
            due_at=w.due_at,
        )
        session.add(task)
        if w.entry_id is not None:
            open_now[w.entry_id] = task
        tasks.append(task)
    await session.flush()
    return tasks


async def open_task_for_entry(session: AsyncSession, kind: str, entry_id: int, detail: str, **kw: object) -> None:
    row = (
        await session.execute(
            select(Citizen)
            .join(WaitlistEntry, col(WaitlistEntry.citizen_id) == col(Citizen.id))
            .where(col(WaitlistEntry.id) == entry_id)
        )
    ).scalar_one()
    await open_task(session, kind, row, entry_id, detail, **kw)  # type: ignore[arg-type]


async def close_tasks_of_entry(session: AsyncSession, entry_id: int, kinds: tuple[str, ...], outcome: str) -> None:
    """Tasks that resolved themselves (the citizen answered after all, the entry closed)."""
    rows = (
        (
            await session.execute(
                select(NavigationTask).where(
                    col(NavigationTask.entry_id) == entry_id,
                    col(NavigationTask.kind).in_(kinds),
                    col(NavigationTask.status) == "aberta",
                )
            )
        )
        .scalars()
        .all()
    )
    for task in rows:
        task.status = "concluida"
        task.closed_at = utcnow()
        task.closed_by = "sistema"
        task.outcome = outcome
    await session.flush()


async def get_task(session: AsyncSession, task_id: int, actor: Actor, *, for_update: bool = False) -> NavigationTask:
    stmt = select(NavigationTask).where(col(NavigationTask.id) == task_id)
    if for_update:
        stmt = stmt.with_for_update()
    task = (await session.execute(stmt)).scalar_one_or_none()
    if task is None or not actor.covers(task.municipality_ibge):
        raise NotFound("Tarefa não encontrada.", code="tarefa_nao_encontrada")
    return task


async def log_contact(
    session: AsyncSession,
    task_id: int,
    actor: Actor,
    outcome: str,
    notes: str | None = None,
    channel: str = "telefone",
    *,
    close: bool = False,
) -> ContactAttempt:
    """A navigator's contact attempt; closing the task with it when the case is settled."""
    if outcome not in CONTACT_OUTCOMES:
        raise ValidationFailed.for_field(
            "outcome",
            "resultado_invalido",
            # People read the labels (issue 17: the page showed the codes, e.g. "nao_atendeu").
            "Resultado inválido: escolha um destes: " + "; ".join(CONTACT_OUTCOMES.values()) + ".",
        )
    if channel not in ("telefone", "whatsapp", "presencial", "visita"):
        raise ValidationFailed.for_field(
            "channel", "canal_invalido", "Canal inválido; use telefone, whatsapp, presencial ou visita."
        )
    notes = (notes or "").strip() or None
    if notes is not None and len(notes) > 2000:
        raise ValidationFailed.for_field("notes", "texto_longo", "A anotação pode ter no máximo 2000 caracteres.")
    task = await get_task(session, task_id, actor, for_update=True)
    if task.status != "aberta":
        raise Conflict("Esta tarefa já foi concluída.", code="tarefa_concluida")
    attempt = ContactAttempt(
        task_id=task.id,
        citizen_id=task.citizen_id,
        entry_id=task.entry_id,
        municipality_ibge=task.municipality_ibge,
        uf=task.uf,
        channel=channel,
        outcome=outcome,
        notes=notes,
        made_by=actor.username,
    )
    session.add(attempt)
    if close:
        task.status = "concluida"
        task.closed_at = utcnow()
        task.closed_by = actor.username
        task.outcome = CONTACT_OUTCOMES[outcome] + (f": {notes}" if notes else "")
    await session.flush()
    return attempt


async def contacts_of_task(session: AsyncSession, task_id: int) -> list[ContactAttempt]:
    stmt = select(ContactAttempt).where(col(ContactAttempt.task_id) == task_id).order_by(col(ContactAttempt.made_at))
    return list((await session.execute(stmt)).scalars().all())


async def open_escalation_tasks(session: AsyncSession) -> int:
    """Entries escalated at 75% of tM that have no open task yet (the escalation sweep calls this)."""
    stmt = (
        insert(NavigationTask)
        .from_select(
            ["kind", "status", "citizen_id", "entry_id", "municipality_ibge", "uf", "detail", "created_at"],
            select(
                literal("prazo_75"),
                literal("aberta"),
                col(WaitlistEntry.citizen_id),
                col(WaitlistEntry.id),
                col(WaitlistEntry.municipality_ibge),
                col(WaitlistEntry.uf),
                literal("Passou de 75% do prazo (tM) sem vaga: a fila foi ampliada; acompanhar o caso."),
                func.now(),
            ).where(
                col(WaitlistEntry.status) == "autorizada",
                col(WaitlistEntry.escalated_at).is_not(None),
                ~select(col(NavigationTask.id))
                .where(
                    col(NavigationTask.entry_id) == col(WaitlistEntry.id),
                    col(NavigationTask.kind) == "prazo_75",
                )
                .exists(),
            ),
        )
        .on_conflict_do_nothing()
    )
    result = await session.execute(stmt)
    return int(getattr(result, "rowcount", 0) or 0)


async def on_entry_transitioned(event: EntryTransitioned) -> None:
    """Subscriber of ``waitlist.events.ENTRY_TRANSITIONED`` (see ``regula.wiring``): a confirmed presence closes
    the tasks that were chasing it."""
    if event.target is EntryStatus.CONFIRMADA:
        assert event.entry.id is not None
        await close_tasks_of_entry(
            event.session,
            event.entry.id,
            ("confirmacao_sem_resposta", "mensagem_nao_entregue"),
            "Presença confirmada.",
        )
