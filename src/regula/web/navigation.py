"""The navigators' pages: the worklist of what needs a person, with a contact log; and the message log.

Navigator (NGC) worklist: unconfirmed appointments, messages that could not be delivered, no-shows, validation
replies, entries past 75% of tM, replies nobody understood — each with its action (call, log the outcome, close)
and a link to the entry. The message log shows every message of the outbox in the user's territory, or of one
entry, with what the provider said.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from msgspec import Struct
from sqlalchemy.ext.asyncio import AsyncSession

from regula.access.policy import Role, allow
from regula.config import Settings
from regula.db.base import utcnow
from regula.http.input_guard import OptionalId
from regula.navigation import repository as nav_repo
from regula.navigation import service as nav
from regula.navigation.models import CONTACT_OUTCOMES, TASK_KIND_LABELS_PT
from regula.notify import repository as notify_repo
from regula.notify.content import KIND_LABELS_PT
from regula.notify.repository import message_log
from regula.web import common, forms
from regula.web.forms import Form

WORKERS = (Role.NAVEGADOR, Role.REGULADOR)
READERS = (Role.NAVEGADOR, Role.REGULADOR, Role.GESTOR, Role.AUDITOR)
MESSAGE_STATUS_LABELS_PT = {
    "pendente": "Na fila de envio",
    "enviando": "Enviando",
    "enviada": "Enviada",
    "entregue": "Entregue",
    "falhou": "Falhou",
    "expirada": "Expirou sem envio",
    "cancelada": "Cancelada",
    "bloqueada": "Bloqueada (sem consentimento/telefone)",
}
DEFERRED_LABELS_PT = {
    "horario_silencioso": "aguardando horário permitido",
    "limite_diario": "limite diário do cidadão",
    "retry": "nova tentativa agendada",
    "unknown": "conferindo no provedor antes de reenviar",
    "sem_consentimento": "sem consentimento",
    "sem_telefone": "sem telefone",
    "sem_canal": "cidadão não quer mensagens",
    "optout": "cidadão pediu para sair",
    "vaga_liberada": "a vaga foi liberada",
    "solicitacao_encerrada": "solicitação encerrada",
    "ja_confirmada": "já confirmada",
    "validade": "passou da validade",
}


UPCOMING_DAYS = 30


async def unconfirmed_appointments(db_session: AsyncSession, act: Any, limit: int = 500) -> list[dict[str, Any]]:
    """Appointments in the coming days that nobody has confirmed yet, soonest first, with what the citizen was
    last asked and answered — the navigator's phone list (Portaria 3.492/2024 art. 10 §2 V)."""
    rows = await nav_repo.unconfirmed_appointments(db_session, act, utcnow(), days=UPCOMING_DAYS, limit=limit)
    asked = await notify_repo.last_asked(
        db_session, [a.entry.id or 0 for a in rows], ("agendamento", "confirmacao", "oferta")
    )
    return [
        {
            "entry": a.entry,
            "name": a.citizen.social_name or a.citizen.name,
            "phone": a.citizen.phone,
            "consent": a.citizen.contact_consent,
            "starts_at": a.slot.starts_at,
            "place": a.establishment.name,
            "last_message": asked.get(a.entry.id or 0),
        }
        for a in rows
    ]


async def _worklist(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    *,
    tipo: str | None,
    situacao: str,
    errors: dict[int, dict[str, str]] | None = None,
    alert: str | None = None,
    done: str | None = None,
    status_code: int = 200,
) -> Template:
    act = common.actor(request)
    rows = await nav_repo.list_tasks(db_session, act, status=situacao, kind=tipo or None)
    contacts = {r.task.id: await nav.contacts_of_task(db_session, r.task.id or 0) for r in rows[:100]}
    upcoming = await unconfirmed_appointments(db_session, act) if situacao == "aberta" else []
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.task.kind] = counts.get(r.task.kind, 0) + 1
    return Template(
        "navegacao/lista.html",
        context={
            "rows": rows,
            "upcoming": upcoming,
            "message_statuses": MESSAGE_STATUS_LABELS_PT,
            "contacts": contacts,
            "counts": counts,
            "kinds": TASK_KIND_LABELS_PT,
            "outcomes": CONTACT_OUTCOMES,
            "q": {"tipo": tipo or "", "situacao": situacao},
            "errors": errors or {},
            "alert": alert,
            "done": done,
            "can_work": common.principal(request).role in (*WORKERS, Role.ADMIN),
        },
        status_code=status_code,
    )


@get("/navegacao", opt=allow(*READERS), include_in_schema=False)
async def worklist_page(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    tipo: FromQuery[str | None] = None,
    situacao: FromQuery[str] = "aberta",
    feito: FromQuery[str | None] = None,
) -> Template:
    if situacao not in ("aberta", "concluida"):
        situacao = "aberta"
    return await _worklist(request, db_session, tipo=tipo, situacao=situacao, done=feito)


class ContactForm(Struct):
    """One contact with the citizen, logged against a worklist task."""

    resultado: str = ""
    anotacao: str = ""
    canal: str = ""
    encerrar: str = ""


@post("/navegacao/tarefas/{task_id:int}/contatos", opt=allow(*WORKERS), include_in_schema=False, status_code=303)
async def log_contact(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    task_id: FromPath[int],
    data: Form[ContactForm],
) -> Redirect | Template:
    close = forms.checked(data.encerrar)

    async def rerender(refusal: forms.Refusal) -> Template:
        if refusal.status_code == 422:
            # The service names the outcome "outcome"; the form calls it "resultado".
            errors = {task_id: {"resultado" if k == "outcome" else k: v for k, v in refusal.fields.items()}}
            return await _worklist(request, db_session, tipo=None, situacao="aberta", errors=errors, status_code=422)
        return await _worklist(
            request, db_session, tipo=None, situacao="aberta", alert=refusal.message, status_code=refusal.status_code
        )

    return await forms.submit(
        db_session,
        lambda: nav.log_contact(
            db_session,
            task_id,
            common.actor(request),
            forms.field_text(data.resultado, 20),
            forms.field_text(data.anotacao, 2000) or None,
            forms.field_text(data.canal, 12) or "telefone",
            close=close,
        ),
        redirect=lambda _contact: f"/navegacao?feito={'encerrada' if close else 'registrado'}",
        rerender=rerender,
    )


@get("/mensagens", opt=allow(*READERS), include_in_schema=False)
async def messages_page(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    entrada: OptionalId = None,
    situacao: FromQuery[str | None] = None,
) -> Template:
    rows = await message_log(db_session, common.actor(request), entry_id=entrada, status=situacao or None, limit=300)
    return Template(
        "mensagens/lista.html",
        context={
            "rows": rows,
            "q": {"entrada": entrada or "", "situacao": situacao or ""},
            "statuses": MESSAGE_STATUS_LABELS_PT,
            "kinds": KIND_LABELS_PT,
            "deferred": DEFERRED_LABELS_PT,
            "channel": settings.notify_channel,
        },
    )


ROUTES = [worklist_page, log_contact, messages_page]
