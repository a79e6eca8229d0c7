"""Every table model of regula, imported in one place so the metadata is complete."""

import regula.access.models
import regula.audit.models
import regula.catalog.models  # noqa: F401
import regula.territory.models  # noqa: F401
