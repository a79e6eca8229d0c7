"""The navigators' pages: the worklist of what needs a person, with a contact log; and the message log.

Navigator (NGC) worklist: unconfirmed appointments, messages that could not be delivered, no-shows, validation
replies, entries past 75% of tM, replies nobody understood — each with its action (call, log the outcome, close)
and a link to the entry. The message log shows every message of the outbox in the user's territory, or of one
entry, with what the provider said.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

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
from regula.waitlist import measures
from regula.web import common, forms, listing
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


#: Why a message failed, in words (regula's own codes, then Twilio's most common ones); any other code is shown as
#: "código do provedor N" — never a bare code (issue 17).
MESSAGE_ERROR_LABELS_PT = {
    "sem_modelo": "sem modelo de mensagem aprovado para este tipo",
    "timeout": "o provedor não respondeu a tempo",
    "conexao": "sem conexão com o provedor",
    "erro": "erro ao enviar",
    "consulta": "não foi possível conferir no provedor",
    "canal": "canal de envio indisponível",
    "excecao": "falha interna ao enviar (registrada para a equipe técnica)",
    "21211": "número de telefone inválido",
    "21408": "envio não permitido para esta região",
    "21610": "o cidadão bloqueou mensagens deste número",
    "21614": "o número não é de celular",
    "30003": "celular desligado ou fora de área",
    "30004": "mensagem bloqueada pelo destinatário",
    "30005": "número inexistente",
    "30006": "número fixo ou não alcançável pela operadora",
    "30007": "mensagem filtrada pela operadora",
    "30008": "erro desconhecido na operadora",
}
MESSAGE_CHANNEL_LABELS_PT = {
    **common.CHANNEL_LABELS_PT,
    "console": "Console (demonstração)",
    "memoria": "Memória (testes)",
}


def message_error_label(code: str) -> str:
    return MESSAGE_ERROR_LABELS_PT.get(code, f"código do provedor {code}")


UPCOMING_DAYS = 30
UPCOMING_SHOWN = 25


async def unconfirmed_appointments(
    db_session: AsyncSession, act: Any, limit: int = 500, place: nav_repo.TaskFilter | None = None
) -> list[dict[str, Any]]:
    """Appointments in the coming days that nobody has confirmed yet, soonest first, with what the citizen was
    last asked and answered — the navigator's phone list (Portaria 3.492/2024 art. 10 §2 V)."""
    rows = await nav_repo.unconfirmed_appointments(
        db_session, act, utcnow(), days=UPCOMING_DAYS, limit=limit, place=place
    )
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


#: The worklist's sortable columns (``navigation.repository.TASK_SORTS``).
TASK_COLUMNS = (
    listing.Column("prazo", "Prazo"),
    listing.Column("tipo", "Caso"),
    listing.Column("cidadao", "Cidadão"),
    listing.Column("municipio", "Município"),
    listing.Column("aberta_em", "Aberta em"),
)
WORKLIST = "/navegacao"
DONE_PT = {
    "encerrada": "Tarefa encerrada.",
    "registrado": "Contato registrado.",
    "confirmada": "Presença confirmada por telefone.",
    "autorizada": "Vaga liberada: a pessoa voltou à fila e a vaga vai para a próxima.",
}


def _task_listing(params: dict[str, str | None], tz: str) -> tuple[listing.Listing, nav_repo.TaskFilter]:
    """The worklist's state from its URL: filters (situação, tipo, município, região, vence até), order and cursor;
    a parameter that cannot be read is a 400 naming it."""
    situacao = params.get("situacao") or "aberta"
    listing.choice_param(situacao, "situacao", ("aberta", "concluida"), "Situação")
    tipo = listing.choice_param(params.get("tipo"), "tipo", TASK_KIND_LABELS_PT, "Tipo de tarefa")
    municipio = listing.municipality_param(params.get("municipio"))
    region = listing.region_param(params.get("regiao"))
    due = listing.date_param(params.get("vence_ate"), "vence_ate")
    state = listing.listing(
        WORKLIST,
        nav_repo.TASK_SORTS,
        {
            "situacao": situacao if situacao != "aberta" else None,
            "tipo": tipo,
            "municipio": municipio,
            "regiao": params.get("regiao") or None,
            "vence_ate": due.isoformat() if due else None,
        },
        ordem=params.get("ordem"),
        sentido=params.get("sentido"),
        cursor=params.get("cursor"),
        columns=TASK_COLUMNS,
    )
    f = nav_repo.TaskFilter(
        status=situacao,
        kind=tipo,
        municipality=municipio,
        municipalities=region,
        # "Vence até" a local day: due before the first instant of the next one.
        due_before=measures.start_of_day(due + timedelta(days=1), tz) if due else None,
    )
    return state, f


async def _worklist(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    settings: Settings,
    params: dict[str, str | None],
    *,
    errors: dict[int, dict[str, str]] | None = None,
    alert: str | None = None,
    done: str | None = None,
    status_code: int = 200,
    values: dict[int, dict[str, str]] | None = None,
) -> Template:
    act = common.actor(request)
    state, f = _task_listing(params, settings.timezone)
    state.slice = await nav_repo.task_page(db_session, act, f, state.window)
    rows: list[nav_repo.TaskRow] = state.slice.rows
    contacts = await nav_repo.contacts_of_tasks(db_session, [r.task.id or 0 for r in rows])
    # The soonest appointments to confirm, with their true count (the box showed "500+" before).
    # Narrowed by the worklist's municipality / region filter like the tasks below it.
    upcoming = (
        await unconfirmed_appointments(db_session, act, limit=UPCOMING_SHOWN, place=f) if f.status == "aberta" else []
    )
    upcoming_total = (
        await nav_repo.count_unconfirmed_appointments(db_session, act, utcnow(), days=UPCOMING_DAYS, place=f)
        if f.status == "aberta"
        else 0
    )
    counts = await nav_repo.count_tasks_by_kind(db_session, act, f)
    p = common.principal(request)
    municipalities = common.visible_municipalities(p)
    regions = sorted(
        {(m.health_region_code, m.health_region_name) for m in municipalities if m.health_region_code},
        key=lambda r: r[1] or "",
    )
    return Template(
        "navegacao/lista.html",
        context={
            "rows": rows,
            "l": state,
            "upcoming": upcoming,
            "upcoming_total": upcoming_total,
            "message_statuses": MESSAGE_STATUS_LABELS_PT,
            "contacts": contacts,
            "counts": counts,
            "kinds": TASK_KIND_LABELS_PT,
            "outcomes": CONTACT_OUTCOMES,
            "q": {
                "tipo": f.kind or "",
                "situacao": f.status,
                "municipio": f.municipality or "",
                "regiao": params.get("regiao") or "",
                "vence_ate": state.filters.get("vence_ate", ""),
            },
            "municipalities": municipalities if len(municipalities) <= 600 else [],
            "regions": regions,
            "errors": errors or {},
            "values": values or {},
            "contact_form": CONTACT_FORM,
            "alert": alert,
            "done": DONE_PT.get(done or ""),
            "can_work": p.role in (*WORKERS, Role.ADMIN),
        },
        status_code=status_code,
    )


@get(WORKLIST, opt=allow(*READERS), include_in_schema=False)
@listing.list_page
async def worklist_page(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    tipo: FromQuery[str | None] = None,
    situacao: FromQuery[str | None] = None,
    municipio: FromQuery[str | None] = None,
    regiao: FromQuery[str | None] = None,
    vence_ate: FromQuery[str | None] = None,
    ordem: FromQuery[str | None] = None,
    sentido: FromQuery[str | None] = None,
    cursor: FromQuery[str | None] = None,
    feito: FromQuery[str | None] = None,
) -> Template:
    params = {
        "tipo": tipo,
        "situacao": situacao,
        "municipio": municipio,
        "regiao": regiao,
        "vence_ate": vence_ate,
        "ordem": ordem,
        "sentido": sentido,
        "cursor": cursor,
    }
    return await _worklist(request, db_session, settings, params, done=feito)


#: The worklist's filters: what the server accepts is checked by ``listing.municipality_param`` (an IBGE code of 6
#: or 7 digits that exists) and ``listing.date_param`` (a date), each a 400 naming the parameter otherwise.
FILTER_FORM = forms.register(
    forms.FormSpec(
        "navegacao_filtro",
        (
            forms.FieldSpec("tipo", "Tipo", kind="choice"),
            forms.FieldSpec(
                "municipio",
                "Município",
                max_length=7,
                pattern="[0-9]{6,7}",
                pattern_message="Use o código IBGE do município (6 ou 7 dígitos).",
                inputmode="numeric",
            ),
            forms.FieldSpec("regiao", "Região de saúde", kind="choice"),
            forms.FieldSpec("vence_ate", "Prazo até", max_length=10, type="date"),
            forms.FieldSpec("situacao", "Situação", kind="choice"),
        ),
    )
)

#: The contact form's fields and limits (``contact_attempt.notes`` is free text: 2,000 characters hold a call's
#: notes), the browser's and the server's alike.
CONTACT_FORM = forms.register(
    forms.FormSpec(
        "navegacao_contato",
        (
            forms.FieldSpec("resultado", "Resultado do contato", kind="choice"),
            forms.FieldSpec("anotacao", "Anotação", max_length=2000, kind="textarea"),
            forms.FieldSpec("encerrar", "Caso resolvido: encerrar a tarefa", kind="checkbox"),
        ),
    )
)


class ContactForm(Struct):
    """One contact with the citizen, logged against a worklist task; ``voltar`` is the list's URL (filters, order
    and page) the form was on, ``seguinte`` the task shown below this one (where to land when this one closes)."""

    resultado: str = ""
    anotacao: str = ""
    canal: str = ""
    encerrar: str = ""
    voltar: str = ""
    seguinte: str = ""


def _params_of(url: str) -> dict[str, str | None]:
    """The list parameters of a worklist URL (``voltar``), to show the same list again after a refused form."""
    target = listing.return_to(url, WORKLIST)
    query = urlsplit(target).query
    return {k: v for k, v in parse_qsl(query) if k != "feito"}


@post("/navegacao/tarefas/{task_id:int}/contatos", opt=allow(*WORKERS), include_in_schema=False, status_code=303)
async def log_contact(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    task_id: FromPath[int],
    data: Form[ContactForm],
) -> Redirect | Template:
    close = forms.checked(data.encerrar)
    back = forms.field_text(data.voltar, 2000)
    following = forms.field_text(data.seguinte, 20)
    anchor = f"tarefa-{task_id}"
    if close:  # the closed task leaves the open list: land on the one that was below it
        anchor = f"tarefa-{following}" if following.isdigit() else "resumo-lista"

    notes = (data.anotacao or "").strip()
    typed = {
        task_id: {
            "resultado": forms.field_text(data.resultado, 20),
            "anotacao": notes,
            "encerrar": "1" if close else "",
        }
    }

    async def rerender(refusal: forms.Refusal) -> Template:
        params = _params_of(back)
        if refusal.status_code == 422:
            # The service names the outcome "outcome"; the form calls it "resultado". What was typed is shown again.
            errors = {task_id: {"resultado" if k == "outcome" else k: v for k, v in refusal.fields.items()}}
            return await _worklist(request, db_session, settings, params, errors=errors, status_code=422, values=typed)
        return await _worklist(
            request, db_session, settings, params, alert=refusal.message, status_code=refusal.status_code
        )

    limits = CONTACT_FORM.check({"anotacao": notes})
    if limits:  # refused by name, never cut silently
        return await rerender(forms.Refusal.of_limits(limits))
    return await forms.submit(
        db_session,
        lambda: nav.log_contact(
            db_session,
            task_id,
            common.actor(request),
            forms.field_text(data.resultado, 20),
            notes or None,
            forms.field_text(data.canal, 12) or "telefone",
            close=close,
        ),
        redirect=lambda _contact: listing.return_to(
            back, WORKLIST, anchor, feito="encerrada" if close else "registrado"
        ),
        rerender=rerender,
    )


@get("/mensagens", opt=allow(*READERS), include_in_schema=False)
@listing.list_page
async def messages_page(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    entrada: OptionalId = None,
    situacao: FromQuery[str | None] = None,
    tipo: FromQuery[str | None] = None,
    municipio: FromQuery[str | None] = None,
    regiao: FromQuery[str | None] = None,
    ordem: FromQuery[str | None] = None,
    sentido: FromQuery[str | None] = None,
    cursor: FromQuery[str | None] = None,
) -> Template:
    """Every message of the outbox in the user's territory (or of one entry): filtered, sorted, paged by cursor
    with the true total (decision 23; it stopped at 300 rows before)."""
    status = listing.choice_param(situacao, "situacao", MESSAGE_STATUS_LABELS_PT, "Situação")
    kind = listing.choice_param(tipo, "tipo", KIND_LABELS_PT, "Tipo de mensagem")
    municipality = listing.municipality_param(municipio)
    region = listing.region_param(regiao)
    state = listing.listing(
        "/mensagens",
        notify_repo.MESSAGE_SORTS,
        {"entrada": entrada, "situacao": status, "tipo": kind, "municipio": municipality, "regiao": regiao},
        ordem=ordem,
        sentido=sentido,
        cursor=cursor,
    )
    f = notify_repo.MessageFilter(
        entry_id=entrada, status=status, kind=kind, municipality=municipality, municipalities=region
    )
    state.slice = await notify_repo.message_page(db_session, common.actor(request), f, state.window)
    municipalities = common.visible_municipalities(common.principal(request))
    regions = sorted(
        {(m.health_region_code, m.health_region_name) for m in municipalities if m.health_region_code},
        key=lambda r: r[1] or "",
    )
    return Template(
        "mensagens/lista.html",
        context={
            "rows": state.slice.rows,
            "l": state,
            "q": {
                "entrada": entrada or "",
                "situacao": status or "",
                "tipo": kind or "",
                "municipio": municipality or "",
                "regiao": regiao or "",
            },
            "statuses": MESSAGE_STATUS_LABELS_PT,
            "kinds": KIND_LABELS_PT,
            "deferred": DEFERRED_LABELS_PT,
            "channels": MESSAGE_CHANNEL_LABELS_PT,
            "error_label": message_error_label,
            "channel": settings.notify_channel,
            "municipalities": municipalities if len(municipalities) <= 600 else [],
            "regions": regions,
        },
    )


ROUTES = [worklist_page, log_contact, messages_page]
