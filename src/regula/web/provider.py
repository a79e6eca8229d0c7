"""The provider's day (issue 17 item 2): ``/prestador`` lists the appointments of the executante's establishment —
today's or the week's — with the patients' names (its own patients only: ``production.appointments``), and the
moves the state table lets the user make on each: "Iniciar atendimento" (check-in) and the no-show. The OCI's
procedures and its conclusion are on the OCI's page (``/producao/entradas/{id}``), linked from each row.

Every action is a POST form carrying ``voltar`` (the list's URL: period, filters, order and page) and returns
there, on the same row; a refusal shows the same list again with the message next to the row. Which buttons a
row shows is asked of the state table (``production.provider_day.day_actions``), never decided by role here.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from msgspec import Struct
from sqlalchemy.ext.asyncio import AsyncSession

from regula.access.policy import JurisdictionKind, Role, allow
from regula.config import Settings
from regula.core.errors import PermissionDenied
from regula.production import appointments as repo
from regula.production import provider_day
from regula.waitlist import service as wl
from regula.waitlist.states import STATUS_LABELS_PT, EntryStatus
from regula.web import common, forms, listing
from regula.web.forms import Form

PATH = "/prestador"
VIEWERS = (Role.EXECUTANTE,)
PERIODS = {"dia": "O dia", "semana": "A semana (7 dias a partir do dia)"}
COLUMNS = (
    listing.Column("horario", "Horário"),
    listing.Column("paciente", "Paciente"),
    listing.Column("oci", "OCI"),
    listing.Column("situacao", "Situação"),
)
DONE_MESSAGES = {
    EntryStatus.EM_ATENDIMENTO.value: "Atendimento iniciado: registre os procedimentos da OCI na página dela.",
    EntryStatus.FALTOU.value: "Falta registrada: a navegação do cuidado vai procurar a pessoa.",
}
# The entries' statuses one may filter the day by.
DAY_STATUSES = {
    s.value: STATUS_LABELS_PT[s]
    for s in (
        EntryStatus.AGENDADA,
        EntryStatus.CONFIRMADA,
        EntryStatus.EM_ATENDIMENTO,
        EntryStatus.CONCLUIDA,
        EntryStatus.FALTOU,
    )
}


async def _day(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    settings: Settings,
    params: dict[str, str | None],
    *,
    done: str | None = None,
    errors: dict[int, str] | None = None,
    alert: str | None = None,
    status_code: int = 200,
) -> Template:
    actor = common.actor(request)
    today = wl.local_today(settings)
    day = listing.date_param(params.get("dia"), "dia") or today
    period = listing.choice_param(params.get("periodo"), "periodo", PERIODS, "Período") or "dia"
    status = listing.choice_param(params.get("situacao"), "situacao", DAY_STATUSES, "Situação")
    catalog = await wl.load_catalog(db_session, settings)
    oci = listing.choice_param(params.get("oci"), "oci", catalog.ocis, "OCI")
    establishments = await repo.establishments_of(db_session, actor)
    allowed = {e.cnes: e for e in establishments}
    own = actor.jurisdiction.kind is JurisdictionKind.CNES
    cnes = actor.jurisdiction.code if own else params.get("cnes") or None
    if cnes is not None and cnes not in allowed:
        # A provider's user has only its own establishment; anyone else, those of their jurisdiction.
        raise PermissionDenied("Estabelecimento fora da sua jurisdição.", code="fora_da_jurisdicao")
    if cnes is None and establishments:
        cnes = establishments[0].cnes
    state = listing.listing(
        PATH,
        repo.APPOINTMENT_SORTS,
        {
            "cnes": None if own else cnes,
            "dia": day.isoformat() if day != today else None,
            "periodo": period if period != "dia" else None,
            "situacao": status,
            "oci": oci,
        },
        ordem=params.get("ordem"),
        sentido=params.get("sentido"),
        cursor=params.get("cursor"),
        columns=COLUMNS,
    )
    tz = ZoneInfo(settings.timezone)
    start = datetime.combine(day, datetime.min.time(), tz)
    end = start + timedelta(days=7 if period == "semana" else 1)
    f = repo.AppointmentFilter(cnes, start, end, (status,) if status else None, oci)
    found = await repo.appointments_page(db_session, actor, f, state.window) if cnes else None
    rows: list[dict[str, Any]] = []
    if found is not None:
        state.slice = found
        role = common.principal(request).role.value
        for a in found.rows:
            o = catalog.ocis.get(a.entry.oci_code)
            rows.append(
                {
                    "a": a,
                    "when": a.slot.starts_at.astimezone(tz),
                    "oci_name": o.name if o else "",
                    "actions": provider_day.day_actions(a.entry.status, role),
                    "oci_page": a.entry.status in ("em_atendimento", "concluida"),
                }
            )
    shown = {r["a"].entry.id for r in rows}
    # A refusal about an appointment not on this page (another establishment's, say) is said at the top.
    elsewhere = [message for entry_id, message in (errors or {}).items() if entry_id not in shown]
    alert = " ".join([*([alert] if alert else []), *elsewhere]) or None
    return Template(
        "prestador/agenda.html",
        context={
            "l": state,
            "rows": rows,
            "establishment": allowed.get(cnes or ""),
            "establishments": [] if own else establishments,
            "day": day,
            "today": today,
            "end_day": (end - timedelta(days=1)).date(),
            "period": period,
            "periods": PERIODS,
            "statuses": DAY_STATUSES,
            "ocis": sorted(catalog.ocis.values(), key=lambda o: o.code),
            "q": {"situacao": status or "", "oci": oci or "", "dia": day.isoformat()},
            "week_url": state.url(periodo="semana", cursor=None),
            "day_url": state.url(periodo=None, cursor=None),
            "previous_day": state.url(dia=(day - timedelta(days=1)).isoformat(), cursor=None),
            "next_day": state.url(dia=(day + timedelta(days=1)).isoformat(), cursor=None),
            "today_url": state.url(dia=None, cursor=None),
            "done": DONE_MESSAGES.get(done or ""),
            "errors": errors or {},
            "alert": alert,
        },
        status_code=status_code,
    )


@get(PATH, opt=allow(*VIEWERS), include_in_schema=False)
@listing.list_page
async def day_page(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    cnes: FromQuery[str | None] = None,
    dia: FromQuery[str | None] = None,
    periodo: FromQuery[str | None] = None,
    situacao: FromQuery[str | None] = None,
    oci: FromQuery[str | None] = None,
    ordem: FromQuery[str | None] = None,
    sentido: FromQuery[str | None] = None,
    cursor: FromQuery[str | None] = None,
    feito: FromQuery[str | None] = None,
) -> Template:
    """Today's (or a day's, or the week's) appointments at the establishment, with the patients' names."""
    params = {
        "cnes": cnes,
        "dia": dia,
        "periodo": periodo,
        "situacao": situacao,
        "oci": oci,
        "ordem": ordem,
        "sentido": sentido,
        "cursor": cursor,
    }
    return await _day(request, db_session, settings, params, done=feito)


class DayMoveForm(Struct):
    """Check-in or no-show on one appointment; ``voltar`` is the list's URL the form was on."""

    para: str = ""
    voltar: str = ""


def _params_of(url: str) -> dict[str, str | None]:
    """The list parameters of a day URL (``voltar``), to show the same list again after a refused form."""
    target = listing.return_to(url, PATH)
    return {k: v for k, v in parse_qsl(urlsplit(target).query) if k != "feito"}


@post(f"{PATH}/atendimentos/{{entry_id:int}}", opt=allow(*VIEWERS), include_in_schema=False, status_code=303)
async def day_move(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    entry_id: FromPath[int],
    data: Form[DayMoveForm],
) -> Redirect | Template:
    target = forms.field_text(data.para, 32)
    back = forms.field_text(data.voltar, 2000)

    async def rerender(refusal: forms.Refusal) -> Template:
        message = " ".join(refusal.fields.values()) or refusal.message
        return await _day(
            request,
            db_session,
            settings,
            _params_of(back),
            errors={entry_id: message},
            status_code=refusal.status_code,
        )

    return await forms.submit(
        db_session,
        lambda: provider_day.move(db_session, settings, entry_id, target, common.actor(request)),
        redirect=lambda _entry: listing.return_to(back, PATH, f"ag-{entry_id}", feito=target),
        rerender=rerender,
        refusals=(*forms.FIXABLE, PermissionDenied),
    )


ROUTES = [day_page, day_move]
