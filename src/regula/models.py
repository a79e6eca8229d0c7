"""Every table model of regula, imported in one place so the metadata is complete."""

import regula.access.models
import regula.allocation.models
import regula.audit.models
import regula.catalog.models
import regula.jobs.models
import regula.navigation.models
import regula.notify.models
import regula.people.models
import regula.production.models
import regula.providers.models
import regula.territory.models
import regula.waitlist.models  # noqa: F401
