"""Territory tables: the in-memory reference (``reference.py``) copied into PostgreSQL so SQL can join by
jurisdiction (``uf:SC``, ``macro:4214``, ``region:42007``, ``municipality:4205407``).

Reference data, loaded and kept current by ``service.load_territory``; codes are the natural keys everywhere
(other tables refer to ``municipality.ibge_code``), so there are no surrogate ids and no ORM relationships.
"""

from __future__ import annotations

from sqlalchemy import CheckConstraint, Column, Double, ForeignKey, Integer, String
from sqlmodel import Field, SQLModel

import regula.db.base  # noqa: F401  # the naming convention must be on the metadata before any table is declared


class UfRecord(SQLModel, table=True):
    __tablename__ = "uf"
    __table_args__ = (
        CheckConstraint("sigla ~ '^[A-Z]{2}$'", name="sigla_format"),
        CheckConstraint("code ~ '^[0-9]{2}$'", name="code_format"),
    )

    # The abbreviation is the key because that is how jurisdictions (``uf:SC``) and every other table name a UF.
    sigla: str = Field(sa_column=Column(String(2), primary_key=True))
    code: str = Field(sa_column=Column(String(2), nullable=False, unique=True))  # IBGE, "42"
    name: str = Field(sa_column=Column(String(40), nullable=False))


class MacroRegionRecord(SQLModel, table=True):
    __tablename__ = "macro_region"
    __table_args__ = (CheckConstraint("code ~ '^[0-9]{4}$'", name="code_format"),)

    code: str = Field(sa_column=Column(String(4), primary_key=True))
    name: str = Field(sa_column=Column(String(120), nullable=False))
    uf: str = Field(sa_column=Column(String(2), ForeignKey("uf.sigla"), nullable=False, index=True))


class HealthRegionRecord(SQLModel, table=True):
    __tablename__ = "health_region"
    __table_args__ = (CheckConstraint("code ~ '^[0-9]{5}$'", name="code_format"),)

    code: str = Field(sa_column=Column(String(5), primary_key=True))
    name: str = Field(sa_column=Column(String(120), nullable=False))
    uf: str = Field(sa_column=Column(String(2), ForeignKey("uf.sigla"), nullable=False, index=True))
    # Derived from the region's municipalities, which all lie in one macro-region.
    macro_code: str = Field(sa_column=Column(String(4), ForeignKey("macro_region.code"), nullable=False, index=True))


class MunicipalityRecord(SQLModel, table=True):
    __tablename__ = "municipality"
    __table_args__ = (
        CheckConstraint("ibge_code ~ '^[0-9]{7}$'", name="ibge_code_format"),
        CheckConstraint("ibge_code6 = left(ibge_code, 6)", name="ibge_code6_prefix"),
    )

    ibge_code: str = Field(sa_column=Column(String(7), primary_key=True))
    # Most SUS files (SIA, SIH, CNES) use the 6-digit form; unique so either can be looked up.
    ibge_code6: str = Field(sa_column=Column(String(6), nullable=False, unique=True))
    name: str = Field(sa_column=Column(String(100), nullable=False))
    # Upper case without accents, computed in Python: the embedded server has no unaccent extension.
    search_name: str = Field(sa_column=Column(String(100), nullable=False, index=True))
    uf: str = Field(sa_column=Column(String(2), ForeignKey("uf.sigla"), nullable=False, index=True))
    latitude: float = Field(sa_column=Column(Double, nullable=False))
    longitude: float = Field(sa_column=Column(Double, nullable=False))
    macro_code: str = Field(sa_column=Column(String(4), ForeignKey("macro_region.code"), nullable=False, index=True))
    # Known only where the shipped data has health regions (Santa Catarina).
    health_region_code: str | None = Field(
        default=None, sa_column=Column(String(5), ForeignKey("health_region.code"), nullable=True, index=True)
    )
    population: int = Field(sa_column=Column(Integer, nullable=False))  # IBGE estimate, 2019
