"""The manager's dashboard: the queue's size and waiting-time distribution by OCI, municipality and UF; the share of
OCIs concluded within their maximum time (tM); the no-show rate; and equity — the median wait by race/colour, sex
and social vulnerability (Portaria GM/MS 3.492/2024 art. 3 VIII). Each chart is server-rendered SVG with its
numbers on the page and as CSV. Everything is limited to the user's jurisdiction.

Definitions (the same on the page, in the CSV and here; each measure is ``regula.waitlist.measures``', in local
days of ``settings.timezone``, and docs/measures.md states them):

* waiting days: days waited since authorization, without the days the clock was paused (as the queue counts them);
  "past 75% of tM" as the escalation sweep and the queue pages count it;
* concluded within tM: OCIs concluded in the last 12 months whose last procedure came at most tM days after their
  first (amendment to Portaria GM/MS 3.492/2024, art. 14 §3 III) — production control's verdict; the median is of
  those first-to-last days;
* no-show rate: of the appointments that came due in the last 12 months (the person was attended or missed it),
  the share missed;
* equity: the median of days from authorization to the first appointment booked, for people booked in the last
  12 months, and the median of the current waiting days of the people still in the queue.

Filters (issue 17 item 6), kept in the URL and carried by every CSV link: ``regiao`` (health region), ``municipio``
(IBGE code of residence), ``oci`` and the period ``de``/``ate`` (local days; by default the last 12 months up to
today). They narrow every chart and every CSV the same way, through ``dashboard.repository.DashboardFilter``; the
period applies to the measures over a period (concluded, no-shows, first bookings), the queue being today's. Only
places inside the reader's jurisdiction are offered; one outside it asked for in the URL is a 400 naming the
parameter (``fora_da_jurisdicao``), never a silent widening — the repository intersects with the jurisdiction too.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from urllib.parse import urlencode

from litestar import Request, Response, get
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from regula.access.policy import Role, allow
from regula.config import Settings
from regula.dashboard.repository import DashboardData, DashboardFilter, Dimension, default_since
from regula.territory.filters import municipality_filter, region_filter
from regula.territory.reference import UF_NAMES, territory
from regula.waitlist import measures as m
from regula.waitlist import service as wl
from regula.web import charts, common, listing
from regula.web.charts import Bar, Chart

VIEWERS = (Role.GESTOR, Role.AUDITOR)
TOP_MUNICIPALITIES = 20
BUCKETS = ("até 30 dias", "31 a 60", "61 a 90", "91 a 180", "mais de 180")

VULNERABILITY_PT = {
    "v1": "Índice de vulnerabilidade abaixo de 0,25",
    "v2": "Índice de 0,25 a 0,49",
    "v3": "Índice de 0,50 a 0,74",
    "v4": "Índice de 0,75 ou mais",
    "sem_indice": "Sem índice informado",
}
CADUNICO_PT = {"sim": "Inscritas no CadÚnico", "nao": "Não inscritas no CadÚnico"}


@dataclass
class Context:
    data: DashboardData
    oci_names: dict[str, str]

    @property
    def today(self) -> date:
        return self.data.today

    @property
    def period(self) -> str:
        """The period of the measures over a period, as the titles say it."""
        return f"de {common.fmt_date(self.data.since)} a {common.fmt_date(self.data.until)}"

    def oci(self, code: str) -> str:
        return f"{code} · {common.readable_oci_name(self.oci_names.get(code, ''))}".rstrip(" ·")


def _pct(part: int, whole: int) -> float | None:
    return m.Share(part, whole).percent


def _median(x: float | None) -> float | None:
    return round(float(x), 1) if x is not None else None


async def _distribution(
    ctx: Context, dim: Dimension, key: str, title: str, label: Callable[[str], str], top: int
) -> Chart:
    rows = await ctx.data.queue_distribution(dim)
    bars = [
        Bar(label(r.k), r.n, (r.b0, r.b1, r.b2, r.b3, r.b4), f"{common.fmt_int(r.n)} · mediana {r.median:.0f} d")
        for r in rows[:top]
    ]
    return Chart(
        key=key,
        title=title,
        bars=bars,
        segment_labels=BUCKETS,
        csv_header=(
            "codigo",
            "nome",
            "na_fila",
            *(f"espera_{b}" for b in ("ate_30", "31_60", "61_90", "91_180", "mais_180")),
            "mediana_dias",
            "acima_75_tm",
        ),
        csv_rows=[(r.k, label(r.k), r.n, r.b0, r.b1, r.b2, r.b3, r.b4, _median(r.median), r.past_75) for r in rows],
    )


async def queue_by_oci(ctx: Context) -> Chart:
    return await _distribution(ctx, "e.oci_code", "fila-oci", "Fila e tempo de espera por OCI", ctx.oci, 100)


async def queue_by_municipality(ctx: Context) -> Chart:
    return await _distribution(
        ctx,
        "e.municipality_ibge",
        "fila-municipio",
        f"Fila e tempo de espera por município de residência ({TOP_MUNICIPALITIES} maiores filas)",
        common.municipality_label,
        TOP_MUNICIPALITIES,
    )


async def queue_by_uf(ctx: Context) -> Chart:
    return await _distribution(
        ctx, "e.uf", "fila-uf", "Fila e tempo de espera por UF", lambda uf: UF_NAMES.get(uf, uf), 27
    )


async def concluded_within_tm(ctx: Context) -> Chart:
    rows = await ctx.data.concluded()
    total, within = sum(r.n for r in rows), sum(r.within for r in rows)
    bars = [Bar("Todas as OCIs", _pct(within, total) or 0, value_text=_pct_text(within, total))]
    bars += [Bar(ctx.oci(r.k), _pct(r.within, r.n) or 0, value_text=_pct_text(r.within, r.n)) for r in rows]
    return Chart(
        key="concluidas-no-prazo",
        title=f"OCIs concluídas dentro do tempo máximo (tM), {ctx.period}",
        bars=bars,
        max_value=100,
        csv_header=("codigo", "nome", "concluidas", "no_prazo", "percentual_no_prazo", "mediana_dias"),
        csv_rows=[("todas", "Todas as OCIs", total, within, _pct(within, total), None)]
        + [(r.k, ctx.oci_names.get(r.k, ""), r.n, r.within, _pct(r.within, r.n), _median(r.median)) for r in rows],
    )


def _pct_text(part: int, whole: int) -> str:
    pct = _pct(part, whole)
    return "sem dados" if pct is None else f"{common.fmt_decimal(pct)}% de {common.fmt_int(whole)}"


async def no_shows(ctx: Context) -> Chart:
    rows = await ctx.data.no_shows()
    due, missed = sum(r.due for r in rows), sum(r.missed for r in rows)
    top = max([_pct(r.missed, r.due) or 0 for r in rows] + [_pct(missed, due) or 0, 1])
    bars = [Bar("Todas as OCIs", _pct(missed, due) or 0, value_text=_pct_text(missed, due))]
    bars += [Bar(ctx.oci(r.k), _pct(r.missed, r.due) or 0, value_text=_pct_text(r.missed, r.due)) for r in rows]
    return Chart(
        key="faltas",
        title=f"Taxa de faltas (não comparecimento), {ctx.period}",
        bars=bars,
        max_value=top,
        csv_header=("codigo", "nome", "atendimentos_previstos", "faltas", "percentual_faltas"),
        csv_rows=[("todas", "Todas as OCIs", due, missed, _pct(missed, due))]
        + [(r.k, ctx.oci_names.get(r.k, ""), r.due, r.missed, _pct(r.missed, r.due)) for r in rows],
    )


async def _equity(ctx: Context, column: str, key: str, title: str, labels: dict[str, str]) -> Chart:
    rows = [r for r in await ctx.data.equity() if getattr(r, column) is not None]
    groups: dict[str, dict[str, Any]] = {}
    for r in rows:
        g = groups.setdefault(getattr(r, column), {})
        g[r.measure] = (r.n, _median(r.median))
    order = [k for k in labels if k in groups] + sorted(k for k in groups if k not in labels)
    bars = []
    csv_rows = []
    for k in order:
        booked_n, booked_median = groups[k].get("agendamento", (0, None))
        waiting_n, waiting_median = groups[k].get("fila", (0, None))
        if booked_median is not None:
            text_ = f"{common.fmt_decimal(booked_median, 0)} dias (n = {common.fmt_int(booked_n)})"
            bars.append(Bar(labels.get(k, k), booked_median, value_text=text_))
        csv_rows.append((k, labels.get(k, k), booked_n, booked_median, waiting_n, waiting_median))
    return Chart(
        key=key,
        title=f"{title}, {ctx.period}",
        bars=bars,
        unit=" dias",
        csv_header=(
            "grupo",
            "nome",
            "agendadas_no_periodo",
            "mediana_dias_ate_agendamento",
            "na_fila_agora",
            "mediana_dias_na_fila",
        ),
        csv_rows=csv_rows,
    )


async def equity_race(ctx: Context) -> Chart:
    return await _equity(
        ctx,
        "race_color",
        "equidade-raca-cor",
        "Mediana de espera até o agendamento por raça/cor",
        common.RACE_LABELS_PT,
    )


async def equity_sex(ctx: Context) -> Chart:
    return await _equity(
        ctx, "sex", "equidade-sexo", "Mediana de espera até o agendamento por sexo", common.SEX_LABELS_PT
    )


async def equity_vulnerability(ctx: Context) -> Chart:
    return await _equity(
        ctx,
        "vulnerability",
        "equidade-vulnerabilidade",
        "Mediana de espera até o agendamento por índice de vulnerabilidade social",
        VULNERABILITY_PT,
    )


async def equity_cadunico(ctx: Context) -> Chart:
    return await _equity(
        ctx, "cadunico", "equidade-cadunico", "Mediana de espera até o agendamento: CadÚnico", CADUNICO_PT
    )


Builder = Callable[[Context], Awaitable[Chart]]
SECTIONS: tuple[tuple[str, tuple[Builder, ...]], ...] = (
    ("Fila e espera", (queue_by_oci, queue_by_municipality, queue_by_uf)),
    ("Resultados", (concluded_within_tm, no_shows)),
    ("Equidade", (equity_race, equity_sex, equity_vulnerability, equity_cadunico)),
)
BUILDERS: dict[str, Builder] = {
    "fila-oci": queue_by_oci,
    "fila-municipio": queue_by_municipality,
    "fila-uf": queue_by_uf,
    "concluidas-no-prazo": concluded_within_tm,
    "faltas": no_shows,
    "equidade-raca-cor": equity_race,
    "equidade-sexo": equity_sex,
    "equidade-vulnerabilidade": equity_vulnerability,
    "equidade-cadunico": equity_cadunico,
}


@dataclass(frozen=True)
class Filters:
    """The dashboard's filters as read from the URL: what the form shows and the CSV links carry."""

    regiao: str = ""
    municipio: str = ""
    oci: str = ""
    de: str = ""  # AAAA-MM-DD, as given (normalized)
    ate: str = ""
    narrowed: DashboardFilter = field(default_factory=DashboardFilter)

    def query(self) -> str:
        """The filters asked for, as a query string ("" when none: the plain addresses)."""
        pairs = [(k, v) for k in ("regiao", "municipio", "oci", "de", "ate") if (v := getattr(self, k))]
        return f"?{urlencode(pairs)}" if pairs else ""


def _outside(parameter: str, what: str) -> listing.ListingError:
    return listing.ListingError.of(parameter, "fora_da_jurisdicao", f"{what} está fora da sua jurisdição.")


def read_filters(
    request: Request[Any, Any, Any],
    oci_codes: Any,
    today: date,
    regiao: str | None,
    municipio: str | None,
    oci: str | None,
    de: str | None,
    ate: str | None,
) -> Filters:
    """The filters of the URL, checked: known places inside the reader's jurisdiction, a known OCI, a period whose
    end does not come before its start. Anything else is a 400 naming the parameter."""
    jurisdiction = common.principal(request).jurisdiction
    t = territory()
    municipalities: tuple[str, ...] | None = None
    region_codes = region_filter(regiao, "regiao")
    if region_codes is not None:
        region = t.health_region(regiao or "")
        name = region.name if region is not None else regiao
        municipalities = tuple(c for c in region_codes if jurisdiction.covers_place(t.municipality(c)))
        if not municipalities:
            raise _outside("regiao", f"A região de saúde “{name}”")
    code = municipality_filter(municipio, "municipio")
    if code is not None:
        place = t.municipality(code)
        if not jurisdiction.covers_place(place):
            raise _outside("municipio", f"O município “{place.label}”")
        if region_codes is not None and code not in region_codes:
            raise listing.ListingError.of(
                "municipio",
                "municipio_fora_da_regiao",
                f"O município “{place.label}” não é da região de saúde escolhida.",
            )
        municipalities = (code,)
    chosen_oci = listing.choice_param(oci, "oci", oci_codes, "OCI")
    until = listing.date_param(ate, "ate")
    since = listing.date_param(de, "de")
    if since is not None and since > (until or today):
        raise listing.ListingError.of("de", "periodo_invalido", "A data inicial vem depois da final.")
    return Filters(
        regiao=(regiao or "") if region_codes is not None else "",
        municipio=code or "",
        oci=chosen_oci or "",
        de=since.isoformat() if since else "",
        ate=until.isoformat() if until else "",
        narrowed=DashboardFilter(municipalities, chosen_oci, since, until),
    )


async def _context(
    request: Request[Any, Any, Any],
    session: AsyncSession,
    settings: Settings,
    params: tuple[str | None, str | None, str | None, str | None, str | None],
) -> tuple[Context, Filters]:
    today = wl.local_today(settings)
    catalog = await wl.load_catalog(session, settings)
    filters = read_filters(request, catalog.ocis, today, *params)
    allowed = common.actor(request).municipality_filter()
    return await make_context(session, settings, allowed, today, filters.narrowed), filters


async def make_context(
    session: AsyncSession,
    settings: Settings,
    allowed: list[str] | None,
    today: date,
    filters: DashboardFilter | None = None,
) -> Context:
    """The dashboard's data on ``today`` for the municipalities ``allowed`` (None: all), narrowed by ``filters``."""
    catalog = await wl.load_catalog(session, settings)
    data = DashboardData(session, settings.timezone, today, allowed, filters or DashboardFilter())
    return Context(data, {c: o.name for c, o in catalog.ocis.items()})


def _options(request: Request[Any, Any, Any], ctx: Context, filters: Filters) -> dict[str, Any]:
    """What the filter form offers: only the places inside the reader's jurisdiction (with a region chosen, its
    municipalities), and the catalog's OCIs."""
    municipalities = common.visible_municipalities(common.principal(request))
    regions = sorted(
        {(m.health_region_code, m.health_region_name) for m in municipalities if m.health_region_code},
        key=lambda r: r[1] or "",
    )
    if filters.regiao:
        municipalities = [m for m in municipalities if m.health_region_code == filters.regiao]
    return {
        "regions": regions if len(regions) > 1 else [],
        "municipalities": municipalities if len(municipalities) <= 600 else [],
        "ocis": sorted((code, ctx.oci(code)) for code in ctx.oci_names),
    }


@get("/gestao", opt=allow(*VIEWERS), include_in_schema=False)
@listing.list_page
async def dashboard_page(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    regiao: FromQuery[str | None] = None,
    municipio: FromQuery[str | None] = None,
    oci: FromQuery[str | None] = None,
    de: FromQuery[str | None] = None,
    ate: FromQuery[str | None] = None,
) -> Template:
    ctx, filters = await _context(request, db_session, settings, (regiao, municipio, oci, de, ate))
    sections = []
    for title, builders in SECTIONS:
        items = []
        for build in builders:
            chart = await build(ctx)
            items.append(
                {
                    "chart": chart,
                    "svg": charts.render(chart),
                    "rows": charts.table_rows(chart),
                    "header": charts.table_header(chart),
                }
            )
        sections.append({"title": title, "charts": items})
    queue = await ctx.data.queue_distribution("e.uf")
    concluded = await ctx.data.concluded()
    shows = await ctx.data.no_shows()
    in_queue = sum(r.n for r in queue)
    summary = {
        "in_queue": in_queue,
        "past_75": sum(r.past_75 for r in queue),
        "concluded_pct": _pct(sum(r.within for r in concluded), sum(r.n for r in concluded)),
        "no_show_pct": _pct(sum(r.missed for r in shows), sum(r.due for r in shows)),
    }
    return Template(
        "gestao/painel.html",
        context={
            "sections": sections,
            "summary": summary,
            "since": ctx.data.since,
            "until": ctx.data.until,
            "today": ctx.today,
            "q": filters,
            "query": filters.query(),
            "default_since": default_since(ctx.data.until),
            **_options(request, ctx, filters),
        },
    )


@get("/gestao/csv/{chart:str}", opt=allow(*VIEWERS), include_in_schema=False)
async def dashboard_csv(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    chart: FromPath[str],
    regiao: FromQuery[str | None] = None,
    municipio: FromQuery[str | None] = None,
    oci: FromQuery[str | None] = None,
    de: FromQuery[str | None] = None,
    ate: FromQuery[str | None] = None,
) -> Response[bytes]:
    name = chart.removesuffix(".csv")
    build = BUILDERS.get(name)
    if build is None:
        raise NotFoundException()
    ctx, _ = await _context(request, db_session, settings, (regiao, municipio, oci, de, ate))
    result = await build(ctx)
    return charts.csv_response(f"regula-{name}-{ctx.today.isoformat()}.csv", result.csv_header, result.csv_rows)


ROUTES = [dashboard_page, dashboard_csv]
