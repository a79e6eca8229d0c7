"""The equity impact report for managers, ``/gestao/equidade`` (Portaria GM/MS 3.492/2024, art. 3 VIII): per queue,
how many entries the equity weights moved and how far, and the median position and projected wait by sex,
race/colour, vulnerability and CadÚnico with and without the weights; the same as CSV and through
``/api/v1/reports/equity``. The numbers are ``regula.waitlist.equity``'s; this module draws them."""

from __future__ import annotations

from typing import Any, Final

from litestar import Request, Response, get
from litestar.di import NamedDependency
from litestar.params import FromQuery
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from regula.access.policy import Role, allow
from regula.config import Settings
from regula.waitlist import equity
from regula.waitlist import service as wl
from regula.web import charts, common, listing
from regula.web.charts import Bar, Chart
from regula.web.dashboard import CADUNICO_PT, VULNERABILITY_PT

VIEWERS = (Role.GESTOR, Role.AUDITOR)
DIMENSION_PT: Final = {
    "sexo": "Sexo",
    "raca_cor": "Raça/cor",
    "vulnerabilidade": "Vulnerabilidade social",
    "cadunico": "CadÚnico",
}
ORDERS: Final = {"fila": "Fila", "movidas": "Mais entradas movidas", "deslocamento": "Maior deslocamento"}
CSV_HEADER: Final = (
    "fila",
    "oci_codigo",
    "escopo",
    "politica",
    "pessoas_na_fila",
    "agendadas_26_semanas",
    "entradas_movidas",
    "subiram",
    "desceram",
    "maior_deslocamento_posicoes",
    "mediana_deslocamento_posicoes",
    "dimensao",
    "grupo",
    "pessoas",
    "mediana_posicao_com_pesos",
    "mediana_posicao_sem_pesos",
    "mediana_espera_projetada_com_pesos_dias",
    "mediana_espera_projetada_sem_pesos_dias",
)


def group_label(dimension: str, group: str) -> str:
    labels = {
        "sexo": common.SEX_LABELS_PT,
        "raca_cor": common.RACE_LABELS_PT,
        "vulnerabilidade": VULNERABILITY_PT,
        "cadunico": CADUNICO_PT,
    }[dimension]
    return labels.get(group, group)


def _check(oci: str | None, ordem: str | None) -> tuple[str | None, str]:
    oci_value = (oci or "").strip() or None
    if oci_value is not None and not (oci_value.isdigit() and len(oci_value) == 10):
        raise listing.ListingError.of("oci", "oci_invalida", "Código de OCI tem 10 dígitos.")
    order = ordem or "fila"
    if order not in ORDERS:
        raise listing.ListingError.of("ordem", "ordem_invalida", "Ordem deve ser fila, movidas ou deslocamento.")
    return oci_value, order


def _sorted(queues: list[equity.QueueEquity], order: str) -> list[equity.QueueEquity]:
    if order == "movidas":
        return sorted(queues, key=lambda q: (-q.moved, str(q.queue)))
    if order == "deslocamento":
        return sorted(queues, key=lambda q: (-q.max_shift, str(q.queue)))
    return queues


def wait_chart(report: equity.EquityReport, dimension: str) -> Chart:
    bars = []
    for g in report.overall:
        if g.dimension != dimension:
            continue
        label = group_label(dimension, g.group)
        for suffix, value in (("com pesos", g.median_wait_with), ("sem pesos", g.median_wait_without)):
            text = "sem projeção" if value is None else f"{common.fmt_decimal(value, 0)} dias"
            bars.append(Bar(f"{label} · {suffix}", value or 0, value_text=f"{text} (n = {common.fmt_int(g.people)})"))
    return Chart(
        key=f"equidade-{dimension}",
        title=f"Espera projetada (mediana) por {DIMENSION_PT[dimension].lower()}, com e sem os pesos de equidade",
        bars=bars,
        unit=" dias",
        compact=True,
        # room after the longest bar for its "N dias (n = …)" text
        max_value=max((b.value for b in bars), default=0) * 1.8 or None,
    )


def csv_rows(report: equity.EquityReport, oci_names: dict[str, str]) -> list[tuple[object, ...]]:
    rows: list[tuple[object, ...]] = []
    for q in report.queues:
        head = (
            str(q.queue),
            q.queue.oci_code,
            common.scope_label(q.queue.scope_kind, q.queue.scope_code),
            q.policy,
            q.size,
            q.served,
            q.moved,
            q.moved_up,
            q.moved_down,
            q.max_shift,
            q.median_shift,
        )
        for g in q.groups:
            rows.append(
                (
                    *head,
                    g.dimension,
                    group_label(g.dimension, g.group),
                    g.people,
                    g.median_position_with,
                    g.median_position_without,
                    g.median_wait_with,
                    g.median_wait_without,
                )
            )
    return rows


async def _report(
    request: Request[Any, Any, Any], session: AsyncSession, settings: Settings, oci: str | None
) -> tuple[equity.EquityReport, dict[str, str]]:
    report = await equity.equity_report(session, settings, common.actor(request), wl.local_today(settings), oci=oci)
    catalog = await wl.load_catalog(session, settings)
    return report, {code: o.name for code, o in catalog.ocis.items()}


@get("/gestao/equidade", opt=allow(*VIEWERS), include_in_schema=False)
@listing.list_page
async def equity_page(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    oci: FromQuery[str | None] = None,
    ordem: FromQuery[str | None] = None,
    pagina: FromQuery[int | None] = None,
) -> Template:
    oci_value, order = _check(oci, ordem)
    report, names = await _report(request, db_session, settings, oci_value)
    queues = _sorted(report.queues, order)
    page = common.Page(common.page_number(pagina), common.PAGE_SIZE, len(queues))
    shown = queues[page.offset : page.offset + page.size]
    charts_ = [{"chart": c, "svg": charts.render(c)} for c in (wait_chart(report, d) for d in DIMENSION_PT)]
    return Template(
        "gestao/equidade.html",
        context={
            "report": report,
            "queues": shown,
            "page": page,
            "values": {"oci": oci_value or "", "ordem": order},
            "orders": ORDERS,
            "dimensions": DIMENSION_PT,
            "group_label": group_label,
            "oci_name": lambda code: common.readable_oci_name(names.get(code, "")) or code,
            "charts": charts_,
            "ocis": sorted({q.queue.oci_code for q in report.queues}),
            "moved_total": sum(q.moved for q in report.queues),
            "size_total": sum(q.size for q in report.queues),
        },
    )


@get("/gestao/equidade.csv", opt=allow(*VIEWERS), include_in_schema=False)
async def equity_csv(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    oci: FromQuery[str | None] = None,
) -> Response[bytes]:
    oci_value, _ = _check(oci, None)
    report, names = await _report(request, db_session, settings, oci_value)
    return charts.csv_response(f"regula-equidade-{report.today.isoformat()}.csv", CSV_HEADER, csv_rows(report, names))


ROUTES = [equity_page, equity_csv]
