"""Provider agendas: the slots of each establishment by date, with how many places are booked out of the
capacity. Operators and managers see the establishments of their territory; a provider sees its own."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from litestar import Request, get
from litestar.di import NamedDependency
from litestar.params import FromQuery
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from regula.access.policy import Role, allow
from regula.config import Settings
from regula.providers import repository as providers
from regula.providers.models import AgendaSlot
from regula.waitlist import service as wl
from regula.web import common, forms

VIEWERS = (Role.REGULADOR, Role.GESTOR, Role.EXECUTANTE, Role.AUDITOR, Role.NAVEGADOR)
DEFAULT_DAYS = 14
MAX_DAYS = 62
GROUPS_PER_PAGE = 40
#: The period filter's fields: dates (AAAA-MM-DD from the date input, or DD/MM/AAAA typed), the browser's and the
#: server's limits alike.
FILTER_FORM = forms.register(
    forms.FormSpec(
        "agendas_filtro",
        (
            forms.FieldSpec("cnes", "Estabelecimento", kind="choice"),
            forms.FieldSpec("oci", "OCI", kind="choice"),
            forms.FieldSpec("de", "De", max_length=10, type="date"),
            forms.FieldSpec("ate", "Até", max_length=10, type="date"),
        ),
    )
)


@get("/regulacao/agendas", opt=allow(*VIEWERS), include_in_schema=False)
async def agendas_page(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    cnes: FromQuery[str | None] = None,
    oci: FromQuery[str | None] = None,
    de: FromQuery[str | None] = None,
    ate: FromQuery[str | None] = None,
    pagina: FromQuery[int | None] = None,
) -> Template:
    p = common.principal(request)
    establishments = await providers.readable_establishments(db_session, p)
    errors: dict[str, str] = FILTER_FORM.field_messages(FILTER_FORM.check({"de": de or "", "ate": ate or ""}))
    if errors:  # beyond the fields' limits: shown next to them, the default period used
        de, ate = (None if "de" in errors else de), (None if "ate" in errors else ate)
    today = wl.local_today(settings)
    start = common.parse_date_br(de) if de else today
    if start is None:
        errors["de"] = "Data inválida (use DD/MM/AAAA)."
        start = today
    end = common.parse_date_br(ate) if ate else start + timedelta(days=DEFAULT_DAYS - 1)
    if end is None:
        errors["ate"] = "Data inválida (use DD/MM/AAAA)."
        end = start + timedelta(days=DEFAULT_DAYS - 1)
    if end < start:
        errors["ate"] = "A data final vem antes da inicial."
        end = start
    if (end - start).days >= MAX_DAYS:
        errors["ate"] = f"Consulte no máximo {MAX_DAYS} dias de cada vez."
        end = start + timedelta(days=MAX_DAYS - 1)
    allowed = {est.cnes: est for est in establishments}
    chosen = [cnes] if cnes and cnes in allowed else list(allowed)
    tz = ZoneInfo(settings.timezone)
    slots = await providers.slots_between(
        db_session,
        chosen,
        datetime.combine(start, datetime.min.time(), tz),
        datetime.combine(end + timedelta(days=1), datetime.min.time(), tz),
        oci=oci or None,
    )
    catalog = await wl.load_catalog(db_session, settings)
    groups: dict[tuple[str, date], list[AgendaSlot]] = defaultdict(list)
    for s in slots:
        groups[(s.cnes, s.starts_at.astimezone(tz).date())].append(s)
    ordered = sorted(groups.items(), key=lambda kv: (allowed[kv[0][0]].name, kv[0][1]))
    pg = common.Page(common.page_number(pagina), GROUPS_PER_PAGE, len(ordered))
    days = []
    for (code, day), items in ordered[pg.offset : pg.offset + pg.size]:
        open_items = [s for s in items if s.status == "aberta"]
        capacity = sum(s.capacity for s in open_items)
        booked = sum(s.booked for s in open_items)
        days.append(
            {
                "establishment": allowed[code],
                "municipality": common.municipality_label(allowed[code].municipality_ibge),
                "day": day,
                "capacity": capacity,
                "booked": booked,
                "percent": round(100 * booked / capacity) if capacity else 0,
                "slots": [
                    {
                        "time": f"{s.starts_at.astimezone(tz):%H:%M}",
                        "oci": s.oci_code,
                        "oci_name": catalog.ocis[s.oci_code].name if s.oci_code in catalog.ocis else "",
                        "modality": s.modality,
                        "capacity": s.capacity,
                        "booked": s.booked,
                        "status": s.status,
                    }
                    for s in items
                ],
            }
        )
    open_slots = [s for s in slots if s.status == "aberta"]
    return Template(
        "regulacao/agendas.html",
        context={
            "days": days,
            "page": pg,
            "establishments": establishments,
            "ocis": sorted(catalog.ocis.values(), key=lambda o: o.code),
            "q": {"cnes": cnes or "", "oci": oci or "", "de": start.isoformat(), "ate": end.isoformat()},
            "errors": errors,
            "totals": {
                "capacity": sum(s.capacity for s in open_slots),
                "booked": sum(s.booked for s in open_slots),
                "slots": len(slots),
            },
        },
        status_code=422 if errors else 200,
    )


ROUTES = [agendas_page]
