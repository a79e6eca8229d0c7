"""The regulation operator's pages: queues by OCI and scope, the entries of a queue with their position, score and
tM clock, the referrals waiting for a decision, and one entry with its history and the decisions the user's role
may take (authorize, return to APS with a pendência, deny with a reason, and the rest of the workflow)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from regula.access.policy import Role, allow
from regula.config import Settings
from regula.core.errors import ValidationFailed
from regula.production import provider_day
from regula.providers import repository as providers
from regula.waitlist import measures, priority, standing
from regula.waitlist import repository as repo
from regula.waitlist import service as wl
from regula.waitlist.states import TRANSITIONS, EntryStatus
from regula.web import common, forms, listing
from regula.web.entries import (
    ALL,
    STATUS_GROUPS,
    EntryFilters,
    load_entry_view,
    status_options,
    status_values,
)
from regula.web.forms import Form, TransitionForm

S = EntryStatus
# Who reads queues and entries: operators regulate, managers and auditors watch, navigators follow.
READERS = (Role.REGULADOR, Role.GESTOR, Role.NAVEGADOR, Role.AUDITOR)
# Who moves entries along the workflow from these pages (the state machine decides which moves each may make).
WORKFLOW_ROLES = (Role.REGULADOR, Role.NAVEGADOR)
# One entry's page is also the provider's (its own establishment's entries only: production.provider_day), and the
# entry's actions are offered to whoever of its readers the state table lets move entries — the executante starts
# the attendance and records a no-show (issue 17): asked of the table, not listed here.
ENTRY_READERS = (*READERS, Role.EXECUTANTE)
ENTRY_ACTORS = tuple(r for r in ENTRY_READERS if any(r.value in rule.roles for rule in TRANSITIONS))

DONE_MESSAGES: dict[str, str] = {
    S.AUTORIZADA.value: "Solicitação autorizada: a pessoa entrou na fila.",
    S.DEVOLVIDA.value: "Solicitação devolvida à APS com a pendência.",
    S.NEGADA.value: "Solicitação negada; o motivo ficou registrado no histórico.",
    S.EM_ANALISE.value: "Análise iniciada.",
    S.CANCELADA.value: "Solicitação cancelada.",
    S.SUSPENSA.value: "Solicitação suspensa; o relógio de espera está pausado.",
    S.TRANSFERIDA.value: "Solicitação transferida.",
    S.AGENDADA.value: "Solicitação agendada.",
    S.CONFIRMADA.value: "Presença confirmada.",
    S.FALTOU.value: "Falta registrada.",
    S.EM_ATENDIMENTO.value: "Atendimento iniciado: registre os procedimentos da OCI.",
    S.SOLICITADA.value: "Solicitação enviada à regulação.",
}


#: The queue list's sort keys (name -> largest first on the first click).
QUEUE_SORTS = {
    "oci": False,
    "escopo": False,
    "tamanho": True,
    "vermelho": True,
    "espera": True,
    "p75": True,
    "capacidade": True,
}


def _queue_value(q: dict[str, Any], key: str) -> Any:
    match key:
        case "oci":
            return q["oci_code"]
        case "escopo":
            return q["scope"]
        case "tamanho":
            return q["size"]
        case "vermelho":
            return q["red"]
        case "espera":
            return q["longest"] or 0
        case "p75":
            return q["past_75"]
        case _:
            return q["weekly_capacity"] if q["weekly_capacity"] is not None else -1


@get("/regulacao/filas", opt=allow(*READERS), include_in_schema=False)
@listing.list_page
async def queues_page(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    oci: FromQuery[str | None] = None,
    escopo: FromQuery[str | None] = None,
    pagina: FromQuery[int | None] = None,
    ordem: FromQuery[str | None] = None,
    sentido: FromQuery[str | None] = None,
) -> Template:
    # A few hundred queue summaries at most, read whole by one aggregate: sorted and paged in memory.
    order = listing.memory_order(
        "/regulacao/filas",
        QUEUE_SORTS,
        "oci",  # by OCI, then scope: the order the summary always had
        {"oci": oci, "escopo": escopo},
        ordem=ordem,
        sentido=sentido,
    )
    catalog = await wl.load_catalog(db_session, settings)
    actor = common.actor(request)
    review_count = await repo.count_in_status(db_session, actor, repo.UNDER_REVIEW)
    rows = await repo.queue_summaries(db_session, actor, wl.local_today(settings), settings.timezone, oci=oci or None)
    queues: list[dict[str, Any]] = [
        {
            "key": r.key,
            "oci_code": r.oci_code,
            "oci_name": catalog.ocis[r.oci_code].name if r.oci_code in catalog.ocis else r.oci_code,
            "max_days": catalog.ocis[r.oci_code].max_days if r.oci_code in catalog.ocis else None,
            "scope": common.scope_label(r.scope_kind, r.scope_code),
            "size": r.size,
            "longest": r.longest,
            "past_75": r.past_75,
            "red": r.red,
            "weekly_capacity": r.weekly_capacity,
        }
        for r in rows
    ]
    scopes = sorted({(r.scope_kind, r.scope_code) for r in rows}, key=lambda k: common.scope_label(*k))
    if escopo:
        queues = [q for q in queues if q["key"].split(":", 1)[1] == escopo]
    queues = order.apply(queues, _queue_value, lambda q: q["key"])
    pg = common.Page(common.page_number(pagina), common.PAGE_SIZE, len(queues))
    return Template(
        "regulacao/filas.html",
        context={
            "queues": queues[pg.offset : pg.offset + pg.size],
            "page": pg,
            "ocis": sorted(catalog.ocis.values(), key=lambda o: o.code),
            "scopes": [(f"{k}:{c}", common.scope_label(k, c)) for k, c in scopes],
            "q": {"oci": oci or "", "escopo": escopo or ""},
            "l": order,
            "total": sum(q["size"] for q in queues),
            "count": len(queues),
            "review_count": review_count,
        },
    )


@dataclass(frozen=True)
class ListRow:
    """One row of the regulator's entry lists: the entry, the person, days waited and the tM clock (once
    authorized), days since the request, the booked slot, and — for a referral under review — where it would stand
    if authorized today (``waitlist.standing``)."""

    entry: Any
    citizen_name: str
    days_waiting: int | None
    clock: dict[str, Any] | None
    days_since_request: int
    appointment: datetime | None = None
    standing: standing.Standing | None = None
    #: the score an authorized entry shows, with its explanation (``standing.shown_scores``)
    score: priority.Score | None = None


ENTRY_COLUMNS = (
    listing.Column("fila", "Posição"),
    listing.Column("protocolo", "Protocolo"),
    listing.Column("risco", "Risco"),
    listing.Column("pontuacao", "Pontuação", numeric=True),
    listing.Column("espera", "Espera", numeric=True),
    listing.Column("solicitacao", "Solicitada em"),
    listing.Column("prazo", "Relógio tM"),
    listing.Column("atualizacao", "Situação"),
)


async def _entries_page(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    settings: Settings,
    *,
    title: str,
    filters: EntryFilters,
    params: dict[str, str | None],
    path: str,
) -> Template:
    """The regulator's entry lists (the queue, the referrals under review, any status): filtered, sorted by any
    column of ``waitlist.repository.entry_sorts``, paged by cursor, with the true total (decision 23)."""
    p = common.principal(request)
    act = common.actor(request)
    catalog = await wl.load_catalog(db_session, settings)
    today = wl.local_today(settings)
    statuses = status_values(filters.status)
    under_review = statuses is not None and set(statuses) <= set(repo.UNDER_REVIEW)
    sorts = repo.entry_sorts(today, settings.timezone, under_review=under_review)
    region = listing.region_param(params.get("regiao"))
    municipality = listing.municipality_param(filters.municipality)
    risk = listing.choice_param(filters.risk, "risco", common.RISK_LABELS_PT, "Classe de risco")
    oci = listing.choice_param(filters.oci, "oci", catalog.ocis, "OCI") if filters.oci else None
    query = {
        "oci": oci or "",
        "municipio": municipality or "",
        "regiao": params.get("regiao") or "",
        "situacao": filters.status or "",
        "risco": risk or "",
        "fila": filters.queue or "",
        "busca": filters.search or "",
    }
    state = listing.listing(
        path,
        sorts,
        {k: v for k, v in query.items() if not (path == "/regulacao/analise" and k == "situacao")},
        ordem=params.get("ordem"),
        sentido=params.get("sentido"),
        cursor=params.get("cursor"),
        columns=ENTRY_COLUMNS,
    )
    queue = None
    if filters.queue:
        try:
            queue = wl.QueueKey.parse(filters.queue)
        except ValidationFailed:
            raise listing.ListingError.of("fila", "fila_invalida", "Fila inválida: use OCI:escopo:código.") from None
    search = repo.EntrySearch(
        oci=oci,
        statuses=statuses,
        municipality=municipality,
        municipalities=region,
        risk=risk,
        queue=queue,
        text=filters.search or None,
    )
    found = await repo.entry_page(db_session, act, search, sorts, state.window)
    state.slice = found
    hits: list[repo.EntryHit] = found.rows
    booked = [h.entry.id or 0 for h in hits if h.entry.status in (S.AGENDADA.value, S.CONFIRMADA.value)]
    appointments = await providers.appointment_times(db_session, booked)
    reviewing = [h.entry for h in hits if h.entry.status in repo.UNDER_REVIEW]
    standings = await standing.provisional(db_session, settings, reviewing, today)
    shown = await standing.shown_scores(db_session, settings, [h.entry for h in hits], today)
    rows = []
    for h in hits:
        e = h.entry
        days = wl.days_waiting(e, today, settings.timezone)
        rows.append(
            ListRow(
                e,
                h.social_name or h.name,
                days,
                common.entry_tm_clock(e, today, settings.timezone),
                measures.days_since_request(e.requested_at, today, settings.timezone),
                appointments.get(e.id or 0),
                standings.get(e.id or 0),
                shown.get(e.id or 0),
            )
        )
    municipalities = common.visible_municipalities(p)
    regions = sorted(
        {(m.health_region_code, m.health_region_name) for m in municipalities if m.health_region_code},
        key=lambda r: r[1] or "",
    )
    return Template(
        "regulacao/entradas.html",
        context={
            "title": title,
            "path": path,
            "rows": rows,
            "l": state,
            "under_review": under_review,
            "q": query,
            "ocis": sorted(catalog.ocis.values(), key=lambda o: o.code),
            "oci_names": {code: o.name for code, o in catalog.ocis.items()},
            "municipalities": municipalities if len(municipalities) <= 600 else [],
            "regions": regions,
            "statuses": status_options(("analise", "agendadas", "encerradas")),
            "queue_label": _queue_label(filters.queue, catalog),
        },
    )


def _queue_label(queue: str | None, catalog: wl.Catalog) -> str | None:
    if not queue:
        return None
    try:
        key = wl.QueueKey.parse(queue)
    except ValidationFailed:
        return None
    name = catalog.ocis[key.oci_code].name if key.oci_code in catalog.ocis else key.oci_code
    return f"{name} · {common.scope_label(key.scope_kind, key.scope_code)}"


_LIST_PARAMS = ("regiao", "ordem", "sentido", "cursor")


@get("/regulacao/entradas", opt=allow(*READERS), include_in_schema=False)
@listing.list_page
async def entries_page(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    oci: FromQuery[str | None] = None,
    municipio: FromQuery[str | None] = None,
    regiao: FromQuery[str | None] = None,
    situacao: FromQuery[str | None] = None,
    risco: FromQuery[str | None] = None,
    fila: FromQuery[str | None] = None,
    busca: FromQuery[str | None] = None,
    ordem: FromQuery[str | None] = None,
    sentido: FromQuery[str | None] = None,
    cursor: FromQuery[str | None] = None,
) -> Template:
    status = situacao or S.AUTORIZADA.value  # the queue itself, unless asked otherwise
    filters = EntryFilters(
        oci=oci or None,
        municipality=municipio or None,
        status=status,
        risk=risco or None,
        queue=fila or None,
        search=busca or None,
    )
    in_queue = status == S.AUTORIZADA.value
    # A status filter that is not one of the choices lists nothing silently no more: it is a 400 naming it.
    if status != ALL and status_values(status) is None:
        raise listing.ListingError.of("situacao", "situacao_desconhecida", f"Situação desconhecida: “{status[:30]}”.")
    return await _entries_page(
        request,
        db_session,
        settings,
        title="Fila de espera" if in_queue else "Solicitações",
        filters=filters,
        params={
            "regiao": regiao,
            "ordem": ordem or (None if in_queue else "atualizacao"),
            "sentido": sentido,
            "cursor": cursor,
        },
        path="/regulacao/entradas",
    )


@get("/regulacao/analise", opt=allow(*READERS), include_in_schema=False)
@listing.list_page
async def review_page(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    oci: FromQuery[str | None] = None,
    municipio: FromQuery[str | None] = None,
    regiao: FromQuery[str | None] = None,
    risco: FromQuery[str | None] = None,
    busca: FromQuery[str | None] = None,
    ordem: FromQuery[str | None] = None,
    sentido: FromQuery[str | None] = None,
    cursor: FromQuery[str | None] = None,
) -> Template:
    filters = EntryFilters(
        oci=oci or None, municipality=municipio or None, status="analise", risk=risco or None, search=busca or None
    )
    return await _entries_page(
        request,
        db_session,
        settings,
        title="Solicitações para análise",
        filters=filters,
        params={"regiao": regiao, "ordem": ordem, "sentido": sentido, "cursor": cursor},
        path="/regulacao/analise",
    )


async def _detail(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    settings: Settings,
    entry_id: int,
    *,
    done: str | None = None,
    errors: dict[str, dict[str, str]] | None = None,
    alert: str | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> Template:
    p = common.principal(request)
    view = await load_entry_view(db_session, settings, p, entry_id)
    next_id = None
    if done:
        next_id = await repo.next_for_review(db_session, common.actor(request))
    return Template(
        "regulacao/entrada.html",
        context={
            "v": view,
            "done": DONE_MESSAGES.get(done or ""),
            "errors": errors or {},
            "alert": alert,
            "values": values or {},
            "next_id": next_id,
            "action_url": f"/regulacao/entradas/{entry_id}/transicao",
            "can_act": p.role in ENTRY_ACTORS or p.role is Role.ADMIN,
            # The queue's list is not the provider's page (READERS): no "ver a fila" link that answers 403.
            "can_list": p.role in READERS or p.role is Role.ADMIN,
            # Where the user came from: the provider's day for a provider, the entries' list for everyone else.
            "back": ("Agenda do dia", "/prestador")
            if p.role is Role.EXECUTANTE
            else ("Solicitações", "/regulacao/entradas"),
        },
        status_code=status_code,
    )


@get("/regulacao/entradas/{entry_id:int}", opt=allow(*ENTRY_READERS), include_in_schema=False)
async def entry_page(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    entry_id: FromPath[int],
    feito: FromQuery[str | None] = None,
) -> Template:
    return await _detail(request, db_session, settings, entry_id, done=feito)


@post(
    "/regulacao/entradas/{entry_id:int}/transicao",
    opt=allow(*ENTRY_ACTORS),
    include_in_schema=False,
    status_code=303,
)
async def entry_transition(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    entry_id: FromPath[int],
    data: Form[TransitionForm],
) -> Redirect | Template:
    # A decision on a referral just sent starts its analysis first: the service's rule (states.path_to), as in the API.
    # A provider's user acts on its own establishment's entries only (403 otherwise).
    actor = await provider_day.acting_as(db_session, common.actor(request), entry_id)
    return await data.submit(
        db_session,
        settings,
        actor,
        entry_id,
        detail=functools.partial(_detail, request, db_session, settings, entry_id),
        done_url=f"/regulacao/entradas/{entry_id}",
        redirect_to=_back_to_worklist(data.voltar),
    )


def _back_to_worklist(raw: str) -> Callable[[str], str] | None:
    """The navigators' worklist confirms or releases an appointment from its own page: back there, same filters,
    order and page, at the box of appointments to confirm (the row itself has left it)."""
    back = forms.field_text(raw, 2000)
    if not back.startswith("/navegacao"):
        return None
    return lambda target: listing.return_to(back, "/navegacao", "h-confirmar", feito=target)


ROUTES = [queues_page, entries_page, review_page, entry_page, entry_transition]
__all__ = ["ALL", "READERS", "ROUTES", "STATUS_GROUPS"]
