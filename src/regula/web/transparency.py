"""The public transparency panel, ``/transparencia``: no login, no personal data, Portuguese, usable on a phone
(Portaria GM/MS 3.492/2024, art. 10 §2 VI). The filter lives in the URL (``uf``, ``nivel``, ``oci``, ``area``), so a
view can be shared as a link; the same figures go out as CSV (``/transparencia.csv``) and as JSON
(``/api/v1/public/transparency``, ``regula.dashboard.routes``). Everything is decided in ``regula.dashboard.service``
(figures, small-cell protection, cache); this module draws it."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from litestar.di import NamedDependency
from litestar.params import FromQuery
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from regula.access.policy import public
from regula.config import Settings
from regula.core.errors import ValidationFailed
from regula.dashboard import service as transparency
from regula.dashboard.disclosure import MIN_CELL, Mark
from regula.territory.reference import UF_NAMES, territory
from regula.web import charts, common
from regula.web.charts import Bar, Chart

CACHE_CONTROL = f"public, max-age={transparency.CACHE_SECONDS}"
MAX_BARS = 40

AREAS_HEADER = (
    "uf",
    "oci_codigo",
    "oci_nome",
    "nivel",
    "area_codigo",
    "area_nome",
    "pessoas_esperando",
    "mediana_espera_dias",
    "p90_espera_dias",
    "espera_estimada_novo_encaminhamento_dias",
    "percentual_concluidas_no_tm_12_meses",
)
TREND_HEADER = ("uf", "oci_codigo", "nivel", "area_codigo", "mes", "mediana_dias_ate_agendamento", "p90_dias")
LEVEL_PT = {"uf": "estado", "regiao": "região de saúde", "municipio": "município", "demais": "municípios agrupados"}


def _label(row: transparency.Row, by_area: bool) -> str:
    if by_area:
        return row.area_name if row.level != "uf" else f"Todo o estado ({row.area_name})"
    return common.readable_oci_name(row.oci_name) or row.oci_code


def _by_area(panel: transparency.Panel) -> bool:
    return panel.filter.oci is not None and panel.filter.area is None


def _days(x: float | int | None) -> str:
    return "—" if x is None else f"{common.fmt_decimal(float(x), 0)} d"


def waiting_chart(panel: transparency.Panel) -> Chart:
    by_area = _by_area(panel)
    rows = panel.rows[:MAX_BARS]
    bars = [
        Bar(_label(r, by_area), r.waiting or 0, value_text=f"{r.waiting_text} pessoas" if r.waiting else r.waiting_text)
        for r in rows
    ]
    return Chart(
        key="pessoas-esperando",
        title="Pessoas esperando" + (" por área" if by_area else " por OCI"),
        bars=bars,
        compact=True,
        description=f"Contagens de 1 a 4 pessoas aparecem como <{MIN_CELL}; — indica número ocultado para proteger "
        "as contagens pequenas.",
    )


def wait_chart(panel: transparency.Panel) -> Chart:
    by_area = _by_area(panel)
    rows = [r for r in panel.rows if r.median_days is not None][:MAX_BARS]
    bars = [
        Bar(_label(r, by_area), r.median_days or 0, value_text=f"{_days(r.median_days)} · p90 {_days(r.p90_days)}")
        for r in rows
    ]
    return Chart(
        key="tempo-de-espera",
        title="Tempo de espera: mediana e p90 (dias)",
        bars=bars,
        compact=True,
        max_value=_room(bars),
    )


def trend_chart(panel: transparency.Panel) -> Chart:
    bars = [
        Bar(
            _month(x.month),
            x.median_days or 0,
            value_text=f"{_days(x.median_days)} · p90 {_days(x.p90_days)}" if x.enough else f"<{MIN_CELL} pessoas",
        )
        for x in panel.trend
    ]
    return Chart(
        key="tendencia",
        title="Tendência mensal: espera até o agendamento (mediana, dias)",
        bars=bars,
        compact=True,
        max_value=_room(bars),
    )


def _room(bars: list[Bar]) -> float | None:
    """A scale whose longest bar leaves room after it for its "mediana · p90" text (on a phone the chart shrinks,
    and the text would run past the edge)."""
    top = max((b.value for b in bars), default=0)
    return top * 1.6 if top > 0 else None


MONTHS_PT = ("jan", "fev", "mar", "abr", "mai", "jun", "jul", "ago", "set", "out", "nov", "dez")


def _month(yyyy_mm: str) -> str:
    year, month = yyyy_mm.split("-")
    return f"{MONTHS_PT[int(month) - 1]}/{year}"


def area_rows(panel: transparency.Panel) -> list[tuple[object, ...]]:
    return [
        (
            panel.filter.uf,
            r.oci_code,
            r.oci_name,
            LEVEL_PT[r.level],
            r.area_code,
            r.area_name,
            r.waiting if r.waiting is not None else r.waiting_text,
            r.median_days,
            r.p90_days,
            r.expected_wait_days,
            r.within_tm_percent,
        )
        for r in panel.rows
    ]


def trend_rows(panel: transparency.Panel) -> list[tuple[object, ...]]:
    f = panel.filter
    return [
        (f.uf, f.oci or "todas", f.level, f.area or "todas", x.month, x.median_days if x.enough else f"<{MIN_CELL}",
         x.p90_days)
        for x in panel.trend
    ]  # fmt: skip


async def _panel(
    request: Request[Any, Any, Any],
    session: AsyncSession,
    settings: Settings,
    uf: str | None,
    nivel: str | None,
    oci: str | None,
    area: str | None,
) -> transparency.Panel:
    cache = transparency.cache_of(request.app.state)
    return await transparency.public_panel(session, settings, cache, uf=uf, level=nivel, oci=oci, area=area)


@get("/transparencia", opt=public(), include_in_schema=False)
async def transparency_page(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    uf: FromQuery[str | None] = None,
    nivel: FromQuery[str | None] = None,
    oci: FromQuery[str | None] = None,
    area: FromQuery[str | None] = None,
) -> Template:
    alert = None
    status = 200
    try:
        panel = await _panel(request, db_session, settings, uf, nivel, oci, area)
    except ValidationFailed as exc:
        alert = " ".join(e.message for e in exc.errors) or exc.message
        status = 422
        panel = await _panel(request, db_session, settings, None, None, None, None)
    f = panel.filter
    values = {"uf": f.uf, "nivel": f.level, "oci": f.oci or "", "area": f.area or ""}
    items = []
    for chart in (waiting_chart(panel), wait_chart(panel), trend_chart(panel)):
        items.append({"chart": chart, "svg": charts.render(chart)})
    return Template(
        "publico/transparencia.html",
        context={
            "panel": panel,
            "values": values,
            "charts": items,
            "alert": alert,
            "by_area": _by_area(panel),
            "uf_name": UF_NAMES.get(f.uf, f.uf),
            "municipalities": sorted(((m.ibge_code, m.name) for m in territory().by_uf(f.uf)), key=lambda cn: cn[1]),
            "oci_label": common.readable_oci_name,
            "min_cell": MIN_CELL,
            "hidden": Mark.HIDDEN,
            "small": Mark.SMALL,
        },
        status_code=status,
        headers={"Cache-Control": CACHE_CONTROL},
    )


@get("/transparencia.csv", opt=public(), include_in_schema=False)
async def transparency_csv(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    uf: FromQuery[str | None] = None,
    nivel: FromQuery[str | None] = None,
    oci: FromQuery[str | None] = None,
    area: FromQuery[str | None] = None,
    tabela: FromQuery[str | None] = None,
) -> Response[bytes]:
    if tabela not in (None, "", "areas", "tendencia"):
        raise ValidationFailed.for_field("tabela", "tabela_invalida", "Tabela deve ser 'areas' ou 'tendencia'.")
    panel = await _panel(request, db_session, settings, uf, nivel, oci, area)
    name = f"regula-transparencia-{panel.filter.uf.lower()}-{panel.today.isoformat()}"
    if tabela == "tendencia":
        response = charts.csv_response(f"{name}-tendencia.csv", TREND_HEADER, trend_rows(panel))
    else:
        response = charts.csv_response(f"{name}.csv", AREAS_HEADER, area_rows(panel))
    response.headers["Cache-Control"] = CACHE_CONTROL
    return response


ROUTES = [transparency_page, transparency_csv]
