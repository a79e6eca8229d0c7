"""Shared metadata with a naming convention, so constraint names are stable across migrations."""

from __future__ import annotations

from sqlalchemy import MetaData
from sqlmodel import SQLModel

# The one clock (regula.core.clock); re-exported because every model's default_factory names it here.
from regula.core.clock import utcnow as utcnow

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLModel keeps one metadata for every table model; give it the convention before any table is declared.
SQLModel.metadata.naming_convention = NAMING_CONVENTION
metadata: MetaData = SQLModel.metadata
