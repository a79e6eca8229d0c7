"""Every HTTP route of regula, gathered in one place (each domain exports ``ROUTES``)."""

from __future__ import annotations

from litestar.types import ControllerRouterHandler

from regula.access.routes import ROUTES as access_api
from regula.allocation.routes import ROUTES as allocation_api
from regula.audit.routes import ROUTES as audit_api
from regula.catalog.routes import ROUTES as catalog_api
from regula.dashboard.routes import ROUTES as dashboard_api
from regula.jobs.routes import ROUTES as jobs_api
from regula.navigation.routes import ROUTES as navigation_api
from regula.notify.routes import ROUTES as notify_api
from regula.people.routes import ROUTES as people_api
from regula.production.routes import ROUTES as production_api
from regula.programs.routes import ROUTES as programs_api
from regula.programs.routes_2023 import ROUTES as queue_reduction_2023_api
from regula.providers.routes import ROUTES as providers_api
from regula.ressarcimento.routes import ROUTES as ressarcimento_api
from regula.waitlist.import_routes import ROUTES as import_api
from regula.waitlist.routes import ROUTES as waitlist_api
from regula.waitlist.teleconsultation_routes import ROUTES as teleconsultation_api
from regula.web.health import health
from regula.web.login import ROUTES as access_pages
from regula.web.pages import ROUTES as pages
from regula.web.territory_api import ROUTES as territory_api


def all_routes() -> list[ControllerRouterHandler]:
    return [
        health,
        *pages,
        *access_pages,
        *access_api,
        *audit_api,
        *catalog_api,
        *territory_api,
        *import_api,
        *waitlist_api,
        *people_api,
        *teleconsultation_api,
        *providers_api,
        *jobs_api,
        *allocation_api,
        *notify_api,
        *navigation_api,
        *production_api,
        *programs_api,
        *queue_reduction_2023_api,
        *dashboard_api,
        *ressarcimento_api,
    ]
