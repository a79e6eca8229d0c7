"""The home page, and every server-rendered page of regula gathered in ``ROUTES`` (``regula.routes`` includes it).

Pages live in modules by who uses them: ``regulation`` (operators: queues, entries, decisions), ``allocation_runs``
(allocation runs), ``agendas`` (provider agendas), ``requester`` (APS teams), ``dashboard`` (managers) and
``public`` (citizens, no login), ``navigation`` (navigators' worklist and the message log)."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.response import Redirect, Template
from litestar.types import ControllerRouterHandler

from regula.access.policy import ROLE_LABELS_PT, public
from regula.access.service import Principal
from regula.web.agendas import ROUTES as agenda_pages
from regula.web.allocation_runs import ROUTES as allocation_pages
from regula.web.audit import ROUTES as audit_pages
from regula.web.care_loop import ROUTES as care_loop_pages
from regula.web.dashboard import ROUTES as dashboard_pages
from regula.web.equity import ROUTES as equity_pages
from regula.web.nav import nav_items
from regula.web.navigation import ROUTES as navigation_pages
from regula.web.production import ROUTES as production_pages
from regula.web.programs import ROUTES as program_pages
from regula.web.provider import ROUTES as provider_pages
from regula.web.public import ROUTES as public_pages
from regula.web.queue_reduction_2023 import ROUTES as queue_reduction_2023_pages
from regula.web.referral_import import ROUTES as referral_import_pages
from regula.web.referral_protocols import ROUTES as referral_protocol_pages
from regula.web.regulation import ROUTES as regulation_pages
from regula.web.requester import ROUTES as requester_pages
from regula.web.ressarcimento import ROUTES as ressarcimento_pages
from regula.web.simulation import ROUTES as simulation_pages
from regula.web.transparency import ROUTES as transparency_pages
from regula.web.users import ROUTES as user_pages


@get("/", opt=public(), include_in_schema=False)
async def home(request: Request[Any, Any, Any]) -> Template | Redirect:
    user = request.scope.get("user")
    if not isinstance(user, Principal):
        return Redirect(path="/login")
    return Template("home.html", context={"role_name": ROLE_LABELS_PT[user.role], "shortcuts": nav_items(user)})


ROUTES: list[ControllerRouterHandler] = [
    home,
    *regulation_pages,
    *allocation_pages,
    *audit_pages,
    *user_pages,
    *agenda_pages,
    *requester_pages,
    *referral_import_pages,
    *dashboard_pages,
    *public_pages,
    *navigation_pages,
    *production_pages,
    *provider_pages,
    *program_pages,
    *queue_reduction_2023_pages,
    *care_loop_pages,
    *transparency_pages,
    *equity_pages,
    *referral_protocol_pages,
    *ressarcimento_pages,
    *simulation_pages,
]
