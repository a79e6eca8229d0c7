"""Twilio's webhooks (replies and delivery receipts) and the message log API.

Both webhooks are public routes guarded by Twilio's request signature: ``X-Twilio-Signature`` is checked with the
twilio SDK's ``RequestValidator`` against ``REGULA_PUBLIC_BASE_URL`` + path (+ query) and the posted form. A
forgery gets 403, is audited, and changes nothing.
"""

from __future__ import annotations

import hmac
import logging
from datetime import datetime
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import QueryParameter
from msgspec import Struct
from sqlalchemy.ext.asyncio import AsyncSession

from regula.access.actor import Actor
from regula.access.policy import Role, allow, public
from regula.access.service import Principal
from regula.audit.service import record_in_own_transaction
from regula.config import Settings
from regula.core.errors import PermissionDenied
from regula.db.listing import ListingError
from regula.http import listing
from regula.http.input_guard import OptionalId
from regula.http.state import audit_context_for, sessionmaker_from, settings_from
from regula.logs import mask_phone
from regula.notify.content import KIND_LABELS_PT
from regula.notify.models import MESSAGE_STATUSES, Message
from regula.notify.receipts import Receipt, ReceiptSink
from regula.notify.replies import handle_inbound
from regula.notify.repository import MESSAGE_SORTS, MessageFilter, message_page
from regula.territory.filters import municipality_filter, region_filter

log = logging.getLogger("regula.notify")
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
RECEIPT_SINK_KEY = "receipt_sink"


def signed_url(settings: Settings, request: Request[Any, Any, Any]) -> str:
    url = settings.public_base_url.rstrip("/") + request.url.path
    query = request.scope.get("query_string", b"").decode()
    return f"{url}?{query}" if query else url


def signature_matches(token: str, url: str, params: dict[str, str], signature: str) -> bool:
    """Twilio's signature check with one HMAC for a genuine request (issue 18 item 6).

    ``RequestValidator.validate`` always computes two (the URL with and without its port, since Twilio is not
    consistent about which it signs) and compares them in a Python loop. Twilio signs the callback URL regula gave
    it, which is ``signed_url`` as configured: that one is tried first, with ``hmac.compare_digest``; only a
    signature that does not match it is checked against the other spelling by the SDK."""
    from twilio.request_validator import RequestValidator

    validator = RequestValidator(token)
    if hmac.compare_digest(validator.compute_signature(url, params).encode(), signature.encode()):
        return True
    return bool(validator.validate(url, params, signature))


async def verified_form(request: Request[Any, Any, Any]) -> dict[str, str]:
    """The posted form, only when Twilio signed it; otherwise 403 (audited)."""
    settings = settings_from(request.app.state)
    form = await request.form()
    params = {k: str(v) for k, v in form.items()}
    signature = request.headers.get("x-twilio-signature", "")
    token = settings.twilio_auth_token.get_secret_value() if settings.twilio_auth_token else None
    if token and signature and signature_matches(token, signed_url(settings, request), params, signature):
        return params
    error = PermissionDenied("Assinatura do Twilio inválida.", code="assinatura_invalida")
    await record_in_own_transaction(
        sessionmaker_from(request.app.state),
        audit_context_for(request),
        "deny",
        reason=f"{error.code}: webhook {request.url.path} from {params.get('From', '?')}",
        status_code=403,
    )
    raise error


class TwilioWebhooks(Controller):
    path = "/webhooks/twilio"
    include_in_schema = False

    @post("/inbound", opt=public(), status_code=200)
    async def inbound(
        self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]
    ) -> Response[str]:
        params = await verified_form(request)
        settings = settings_from(request.app.state)
        sid = params.get("MessageSid") or params.get("SmsMessageSid") or ""
        if not sid or not params.get("From"):
            return Response(EMPTY_TWIML, media_type="text/xml")
        row = await handle_inbound(
            db_session, settings, sid, params["From"], params.get("To", ""), params.get("Body", "")
        )
        # The number masked and the text never: no personal data in logs.
        log.info(
            "reply %s from %s: %s",
            row.intent,
            mask_phone(row.from_address),
            row.outcome,
            extra={"inbound_id": row.id, "reply_to_message_id": row.message_id},
        )
        return Response(EMPTY_TWIML, media_type="text/xml")

    @post("/status", opt=public(), status_code=204)
    async def status(self, request: Request[Any, Any, Any]) -> None:
        params = await verified_form(request)
        raw_id = request.query_params.get("m")
        status = params.get("MessageStatus") or params.get("SmsStatus") or ""
        sid = params.get("MessageSid") or params.get("SmsSid") or ""
        if not status or not sid:
            return
        receipt = Receipt(
            int(raw_id) if raw_id and raw_id.isdigit() else None, sid, status, params.get("ErrorCode") or None
        )
        state = request.app.state
        sink = state.get(RECEIPT_SINK_KEY)
        if sink is None:
            sink = ReceiptSink(sessionmaker_from(state), settings_from(state))
            state[RECEIPT_SINK_KEY] = sink
        await sink.submit(receipt)


class MessagePublic(Struct):
    id: int
    entry_id: int | None
    kind: str
    channel: str
    to: str
    body: str
    status: str
    provider_status: str | None
    question: str | None
    answer: str | None
    due_at: datetime
    sent_at: datetime | None
    delivered_at: datetime | None
    attempts: int
    error_code: str | None
    deferred_reason: str | None
    created_at: datetime


def public_message(m: Message) -> MessagePublic:
    return MessagePublic(
        m.id or 0,
        m.entry_id,
        m.kind,
        m.channel,
        m.to_address,
        m.body,
        m.status,
        m.provider_status,
        m.question,
        m.answer,
        m.due_at,
        m.sent_at,
        m.delivered_at,
        m.attempts,
        m.error_code,
        m.deferred_reason,
        m.created_at,
    )


MessageSort = Annotated[str | None, QueryParameter(description=listing.sort_description(MESSAGE_SORTS), required=False)]


class MessagesController(Controller):
    path = "/api/v1/messages"
    tags = ["mensagens"]

    @get(
        "/",
        summary="Mensagens aos cidadãos do seu território",
        opt=allow(Role.REGULADOR, Role.NAVEGADOR, Role.GESTOR, Role.AUDITOR),
        operation_id="listMessages",
        description=(
            "Mensagens aos cidadãos do seu território, paginadas por cursor (decisão 23): o total verdadeiro vem em "
            "X-Total-Count e o cursor da página seguinte em X-Next-Cursor. Os mesmos filtros e ordenações da "
            "página /mensagens."
        ),
        response_headers=listing.RESPONSE_HEADERS,
    )
    async def list_messages(
        self,
        request: Request[Principal, Any, Any],
        db_session: NamedDependency[AsyncSession],
        entry_id: OptionalId = None,
        status: Annotated[
            str | None,
            QueryParameter(description="Situação (pendente, entregue, falhou…).", required=False),
        ] = None,
        kind: Annotated[
            str | None, QueryParameter(description="Tipo de mensagem (fila_entrada, agendamento…).", required=False)
        ] = None,
        municipality: Annotated[
            str | None,
            QueryParameter(description="Município de residência (código IBGE, 6 ou 7 dígitos).", required=False),
        ] = None,
        region: Annotated[
            str | None, QueryParameter(description="Região de saúde (código de 5 dígitos).", required=False)
        ] = None,
        sort: MessageSort = None,
        direction: listing.Direction = None,
        cursor: listing.CursorParam = None,
        limit: listing.Limit = 200,
    ) -> Response[list[MessagePublic]]:
        if status is not None and status not in MESSAGE_STATUSES:
            raise ListingError.of("status", "status_desconhecido", f"Situação desconhecida: “{status[:20]}”.")
        if kind is not None and kind not in KIND_LABELS_PT:
            raise ListingError.of("kind", "kind_desconhecido", f"Tipo de mensagem desconhecido: “{kind[:24]}”.")
        f = MessageFilter(
            entry_id=entry_id,
            status=status,
            kind=kind,
            municipality=municipality_filter(municipality, "municipality"),
            municipalities=region_filter(region, "region"),
        )
        window = listing.window(MESSAGE_SORTS, sort, direction, cursor, limit)
        found = await message_page(db_session, Actor.of(request.user), f, window)
        return Response([public_message(m) for m in found.rows], headers=listing.headers(found))


ROUTES = [TwilioWebhooks, MessagesController]
