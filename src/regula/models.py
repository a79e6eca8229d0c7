"""Every table model of regula, imported in one place so the metadata is complete. Only the composition roots
(the app factory, Alembic's env, the drift test) import this module: it depends on every domain."""

from sqlalchemy import MetaData

import regula.access.models
import regula.allocation.models
import regula.audit.models
import regula.catalog.models
import regula.jobs.models
import regula.navigation.models
import regula.notify.models
import regula.people.models
import regula.production.models
import regula.programs.models
import regula.programs.models_2023
import regula.providers.models
import regula.ressarcimento.models
import regula.simulation.models
import regula.territory.models
import regula.waitlist.models
import regula.waitlist.teleconsultation_models  # noqa: F401
from regula.db.base import metadata


def load_all_models() -> MetaData:
    """The metadata of every table (Alembic, the drift test, the app factory: a flush sorts tables by their
    foreign keys, so every referenced table must be known)."""
    return metadata
