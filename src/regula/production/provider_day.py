"""The provider's day (issue 17 item 2): an establishment's appointments and the moves its staff make on them —
start the attendance (check-in), record a no-show, and, through ``production.execution``, the OCI's procedures and
its conclusion.

Who may make which move is the waitlist's state table (``waitlist.states``): ``confirmada → em_atendimento``
("Iniciar atendimento") and ``agendada/confirmada → faltou`` are the executante's (and the navigator's no-show:
Portaria GM/MS 3.492/2024 art. 10 §2 V and §4 I); nothing here names a role. Where: a provider's user
(``cnes:`` jurisdiction) acts only on the entries booked or performed at its establishment
(``production.service.require_access``); the waitlist's transition then runs with the entry's municipality as
that user's place (``execution.territorial``), same person, same role, same history.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from sqlalchemy.ext.asyncio import AsyncSession

from regula.config import Settings
from regula.core.errors import ValidationFailed
from regula.production.execution import territorial
from regula.production.service import get_execution, require_access
from regula.waitlist import service as wl
from regula.waitlist.models import WaitlistEntry
from regula.waitlist.states import EntryStatus, TransitionRule, requestable_rules

#: The moves of the day's list: check-in and no-show (the state table says who may make them, and from where).
DAY_MOVES: Final = (EntryStatus.EM_ATENDIMENTO, EntryStatus.FALTOU)


@dataclass(frozen=True)
class DayAction:
    target: str
    label: str  # the state table's button text


def day_actions(status: str, role: str) -> list[DayAction]:
    """The day's moves ``role`` may make on an entry in ``status``, as the state table allows them."""
    rules: list[TransitionRule] = requestable_rules(status, role)
    return [DayAction(r.target.value, r.action_pt) for r in rules if r.target in DAY_MOVES]


async def require_entry_access(session: AsyncSession, actor: wl.Actor, entry: WaitlistEntry) -> None:
    """The entry is the actor's to see: a provider's user only its own establishment's entries, any other user
    the residents of their jurisdiction (``PermissionDenied`` otherwise)."""
    await require_access(session, actor, entry, await get_execution(session, entry.id or 0))


async def acting_as(session: AsyncSession, actor: wl.Actor, entry_id: int) -> wl.Actor:
    """The actor the waitlist checks a move by: a provider's user, once the entry is found at its establishment,
    with the entry's municipality as its place; anyone else unchanged (the waitlist checks their territory)."""
    entry = await wl.get_entry(session, entry_id)
    await require_entry_access(session, actor, entry)
    return territorial(actor, entry)


async def move(
    session: AsyncSession,
    settings: Settings,
    entry_id: int,
    target: str,
    actor: wl.Actor,
    *,
    reason_code: str | None = None,
    reason_text: str | None = None,
) -> WaitlistEntry:
    """One of the day's moves (:data:`DAY_MOVES`) on an entry of the actor's establishment; the state table
    decides whether this role may make it from the entry's status (409/403 with the allowed moves otherwise)."""
    if target not in {m.value for m in DAY_MOVES}:
        raise ValidationFailed.for_field(
            "to",
            "acao_desconhecida",
            "Ação desconhecida: use em_atendimento (iniciar o atendimento) ou faltou (registrar a falta).",
        )
    return await wl.transition(
        session, entry_id, target, await acting_as(session, actor, entry_id), settings, reason_code, reason_text
    )
