"""Citizens' replies: read robustly, matched to the pending question for that phone, acted upon.

"sim", "s", "1", "confirmo", "ok" are yes; "não", "nao", "n", "2", "cancelar" are no; "SAIR", "PARAR", "STOP"
opt out of messages (never out of the queue). Anything else gets one short help message per question; a second
unreadable reply goes to the navigators. Acting on a reply is an ordinary, audited workflow transition by the
citizen-channel robot (role ``sistema``):

* appointment notice and confirmation request: SIM → confirmada; NÃO → the place is released and offered
  to the next person;
* short-notice offer: SIM → confirmada (and the appointment details follow); NÃO → released, next person;
* 90-day validation: SIM → stays; NÃO → "confirma que quer sair?"; SIM to that → cancelada
  (``recusa_validacao``), the reason recorded.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import timedelta
from typing import Final

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from regula.config import Settings
from regula.core.errors import Conflict, PermissionDenied
from regula.db.base import utcnow
from regula.navigation.service import open_task
from regula.notify.events import offer_accepted
from regula.notify.models import InboundMessage, Message
from regula.notify.outbox import Outgoing, enqueue
from regula.people.models import Citizen
from regula.waitlist import service as wl
from regula.waitlist.models import WaitlistEntry
from regula.waitlist.states import CancelReason, EntryStatus

YES: Final = frozenset({"sim", "s", "1", "confirmo", "confirmar", "confirmado", "confirma", "ok", "okay", "si", "vou"})
NO: Final = frozenset({"nao", "n", "2", "cancelar", "cancela", "cancelo", "desisto", "nao vou"})
OPT_OUT: Final = frozenset({"sair", "parar", "pare", "stop", "descadastrar", "cancelar mensagens"})
ROBOT: Final = "cidadao"


def parse_reply(body: str) -> str:
    """``sim``, ``nao``, ``sair`` or ``desconhecida``."""
    folded = "".join(ch for ch in unicodedata.normalize("NFKD", body) if not unicodedata.combining(ch)).lower()
    cleaned = re.sub(r"[^\w\s]", " ", folded)
    words = cleaned.split()
    if not words:
        return "desconhecida"
    whole = " ".join(words)
    if whole in OPT_OUT or words[0] in OPT_OUT:
        return "sair"
    if whole in YES or (words[0] in YES and not any(w in ("nao", "n") for w in words[1:2])):
        return "sim"
    if whole in NO or words[0] in NO:
        return "nao"
    return "desconhecida"


def phone_of(address: str) -> tuple[str, str]:
    """(channel, E.164 phone) of a Twilio address such as ``whatsapp:+5548…``."""
    if address.startswith("whatsapp:"):
        return "whatsapp", address.removeprefix("whatsapp:")
    return "sms", address


async def handle_inbound(
    session: AsyncSession, settings: Settings, sid: str, from_address: str, to_address: str, body: str
) -> InboundMessage:
    """Record the reply (once per provider SID) and act on it."""
    existing = (
        await session.execute(select(InboundMessage).where(col(InboundMessage.provider_sid) == sid))
    ).scalar_one_or_none()
    if existing is not None:
        return existing  # Twilio retried the webhook: already handled
    channel, phone = phone_of(from_address)
    citizens = list(
        (
            await session.execute(
                select(Citizen).where(col(Citizen.phone) == phone, col(Citizen.merged_into_id).is_(None))
            )
        )
        .scalars()
        .all()
    )
    intent = parse_reply(body)
    inbound = InboundMessage(
        provider_sid=sid,
        channel=channel,
        from_address=from_address,
        to_address=to_address,
        body=body[:1600],
        citizen_id=citizens[0].id if citizens else None,
        intent=intent,
        outcome="recebida",
    )
    inserted = await session.execute(
        insert(InboundMessage)
        .values(**{k: v for k, v in inbound.model_dump().items() if k != "id"})
        .on_conflict_do_nothing(index_elements=["provider_sid"])
        .returning(col(InboundMessage.id))
    )
    inbound_id = inserted.scalar_one_or_none()
    if inbound_id is None:  # a concurrent delivery of the same webhook won
        found = await session.execute(select(InboundMessage).where(col(InboundMessage.provider_sid) == sid))
        return found.scalar_one()
    row = await session.get(InboundMessage, inbound_id)
    assert row is not None
    if not citizens:
        row.outcome = "telefone_desconhecido"
        await session.flush()
        return row
    if intent == "sair":
        row.outcome = await _opt_out(session, settings, citizens)
        await session.flush()
        return row
    question = await _pending_question(session, [c.id for c in citizens if c.id is not None])
    if question is None:
        row.outcome = "sem_pergunta_pendente"
        await _help(session, settings, citizens[0], f"tel{phone}:{utcnow():%Y%m%d}")
        await session.flush()
        return row
    row.message_id = question.id
    citizen = next(c for c in citizens if c.id == question.citizen_id)
    if intent == "desconhecida":
        row.outcome = await _not_understood(session, settings, citizen, question)
        await session.flush()
        return row
    question.answer = intent
    question.answered_at = utcnow()
    await session.flush()
    try:
        row.outcome = await _act(session, settings, citizen, question, intent)
    except (Conflict, PermissionDenied) as exc:
        row.outcome = f"sem_efeito:{exc.code}"[:48]
    await session.flush()
    return row


async def _pending_question(session: AsyncSession, citizen_ids: list[int]) -> Message | None:
    stmt = (
        select(Message)
        .where(
            col(Message.citizen_id).in_(citizen_ids),
            col(Message.question).is_not(None),
            col(Message.answered_at).is_(None),
            col(Message.status).in_(("enviada", "entregue")),
        )
        .order_by(col(Message.sent_at).desc(), col(Message.id).desc())
        .limit(1)
        .with_for_update()
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def _act(session: AsyncSession, settings: Settings, citizen: Citizen, question: Message, intent: str) -> str:
    assert question.entry_id is not None
    entry = await wl.get_entry(session, question.entry_id)
    entry_id = question.entry_id
    robot = wl.Actor.system(ROBOT)
    variables = dict(question.variables)
    kind = question.question
    if kind in ("aviso", "confirmacao", "oferta"):
        booked = entry.status in (EntryStatus.AGENDADA.value, EntryStatus.CONFIRMADA.value)
        if not booked or (intent == "sim" and entry.status != EntryStatus.AGENDADA.value):
            return "sem_efeito:ja_resolvida"
        if intent == "sim":
            await wl.transition(session, entry_id, EntryStatus.CONFIRMADA.value, robot, settings)
            if kind == "oferta":
                await offer_accepted(session, settings, await wl.get_entry(session, entry_id))
            else:
                await _say(session, settings, citizen, "confirmada", f"q{question.id}:confirmada", variables, entry_id)
            return "confirmou"
        said = {"aviso": "ao aviso de agendamento", "confirmacao": "à confirmação", "oferta": "à oferta de vaga"}[kind]
        await wl.transition(
            session,
            entry_id,
            EntryStatus.AUTORIZADA.value,
            robot,
            settings,
            reason_text=f"O cidadão respondeu NÃO {said} por mensagem.",
        )
        return "recusou_vaga"
    if kind == "validacao":
        if intent == "sim":
            await _say(session, settings, citizen, "continua", f"q{question.id}:continua", variables, entry_id)
            return "ainda_precisa"
        await enqueue(
            session,
            settings,
            citizen,
            Outgoing(
                "validacao_confirma",
                f"q{question.id}:validacao_confirma",
                variables,
                valid_until=utcnow() + timedelta(days=3),
                entry_id=entry_id,
                reply_within=timedelta(hours=72),
            ),
        )
        return "pediu_confirmacao_de_saida"
    if kind == "validacao_confirma":
        if intent == "nao":
            await _say(session, settings, citizen, "continua", f"q{question.id}:continua", variables, entry_id)
            return "continua_na_fila"
        if entry.status != EntryStatus.AUTORIZADA.value:
            return "sem_efeito:nao_esta_na_fila"
        await wl.transition(
            session,
            entry_id,
            EntryStatus.CANCELADA.value,
            robot,
            settings,
            reason_code=CancelReason.RECUSA_VALIDACAO.value,
            reason_text="O cidadão respondeu, e confirmou, que não precisa mais da consulta.",
        )
        await _say(session, settings, citizen, "encerrada", f"q{question.id}:encerrada", variables, entry_id)
        return "saiu_da_fila"
    return "sem_efeito"


async def _say(
    session: AsyncSession,
    settings: Settings,
    citizen: Citizen,
    kind: str,
    key: str,
    variables: dict[str, object],
    entry_id: int | None,
) -> None:
    await enqueue(
        session,
        settings,
        citizen,
        Outgoing(kind, key, dict(variables), valid_until=utcnow() + timedelta(days=1), entry_id=entry_id),
    )


async def _help(session: AsyncSession, settings: Settings, citizen: Citizen, key: str) -> None:
    await _say(session, settings, citizen, "ajuda", f"{key}:ajuda", {}, None)


async def _not_understood(session: AsyncSession, settings: Settings, citizen: Citizen, question: Message) -> str:
    helped = (
        await session.execute(
            select(col(Message.id)).where(col(Message.idempotency_key).startswith(f"q{question.id}:ajuda"))
        )
    ).first()
    if helped is None:
        await _help(session, settings, citizen, f"q{question.id}")
        return "ajuda_enviada"
    if question.entry_id is not None:
        await open_task(
            session,
            "resposta_nao_entendida",
            citizen,
            question.entry_id,
            "O cidadão respondeu algo que não entendemos, duas vezes: ligar para esclarecer.",
            message_id=question.id,
        )
    return "encaminhada_navegacao"


async def _opt_out(session: AsyncSession, settings: Settings, citizens: list[Citizen]) -> str:
    """No more messages for this phone; the queue place is untouched. Appointments go to the navigators."""
    now = utcnow()
    for citizen in citizens:
        assert citizen.id is not None
        citizen.contact_consent = False
        citizen.contact_consent_at = now
        citizen.updated_at = now
        await session.flush()
        await session.execute(
            update(Message)
            .where(col(Message.citizen_id) == citizen.id, col(Message.status) == "pendente")
            .values(status="bloqueada", deferred_reason="optout", updated_at=now)
        )
        booked = (
            await session.execute(
                select(col(WaitlistEntry.id)).where(
                    col(WaitlistEntry.citizen_id) == citizen.id,
                    col(WaitlistEntry.status).in_((EntryStatus.AGENDADA.value, EntryStatus.CONFIRMADA.value)),
                )
            )
        ).all()
        for (entry_id,) in booked:
            await open_task(
                session,
                "mensagem_nao_entregue",
                citizen,
                entry_id,
                "O cidadão pediu para não receber mais mensagens e tem consulta marcada: confirmar por telefone.",
            )
    await enqueue(
        session,
        settings,
        citizens[0],
        Outgoing(
            "optout",
            f"c{citizens[0].id}:optout:{now:%Y%m%d%H%M%S}",
            {},
            valid_until=now + timedelta(days=1),
            bypass_consent=True,
        ),
    )
    return "optout"
