"""The SIGTAP catalog of OCIs, one version per competência (AAAAMM).

Each import of a monthly SIGTAP file adds one ``catalog_version`` and its children; older versions are kept, so
an OCI authorized under one competência can always be read back as it was then. Every child row is keyed by the
competência and the OCI code (plus the related code), which makes an import idempotent: the same rows cannot be
inserted twice. These tables are written only by the importer (catalog.service) and read through its queries;
nothing outside the domain sees these models.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Identity,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

# Importing regula.db.base gives the shared metadata its naming convention before these tables are declared.
from regula.db.base import utcnow


def _oci_fk() -> ForeignKeyConstraint:
    # Children belong to an OCI of a version; deleting a version (or an OCI) removes them with it.
    return ForeignKeyConstraint(
        ["competencia", "oci_code"],
        ["catalog_oci.competencia", "catalog_oci.code"],
        ondelete="CASCADE",
    )


class CatalogVersion(SQLModel, table=True):
    """One imported SIGTAP file (one competência)."""

    __tablename__ = "catalog_version"
    __table_args__ = (CheckConstraint("competencia ~ '^[0-9]{4}(0[1-9]|1[0-2])$'", name="competencia_aaaamm"),)

    competencia: str = Field(sa_column=Column(String(6), primary_key=True))
    source_filename: str = Field(sa_column=Column(String(255), nullable=False))
    # One file, one version: the digest finds an already imported file without parsing it again.
    sha256: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    imported_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))
    oci_count: int = Field(sa_column=Column(Integer, nullable=False))
    procedure_count: int = Field(sa_column=Column(Integer, nullable=False))  # OCI → secondary rows
    cid_count: int = Field(sa_column=Column(Integer, nullable=False))  # OCI → CID rows
    attribute_count: int = Field(sa_column=Column(Integer, nullable=False))
    habilitacao_count: int = Field(sa_column=Column(Integer, nullable=False))
    rule_count: int = Field(sa_column=Column(Integer, nullable=False))


class CatalogOci(SQLModel, table=True):
    """An OCI (SIGTAP group 09 procedure) as a given competência defines it."""

    __tablename__ = "catalog_oci"

    competencia: str = Field(
        sa_column=Column(String(6), ForeignKey("catalog_version.competencia", ondelete="CASCADE"), primary_key=True)
    )
    code: str = Field(sa_column=Column(String(10), primary_key=True))
    name: str = Field(sa_column=Column(Text, nullable=False))
    group_code: str = Field(sa_column=Column(String(2), nullable=False))
    group_name: str = Field(sa_column=Column(Text, nullable=False))
    subgroup_code: str = Field(sa_column=Column(String(4), nullable=False))
    subgroup_name: str = Field(sa_column=Column(Text, nullable=False))
    forma_code: str = Field(sa_column=Column(String(6), nullable=False))
    forma_name: str = Field(sa_column=Column(Text, nullable=False))
    complexity: str = Field(sa_column=Column(String(1), nullable=False))  # TP_COMPLEXIDADE
    sex_sigtap: str = Field(sa_column=Column(String(1), nullable=False))  # TP_SEXO: M, F, I, N
    age_min_months: int | None = Field(default=None, sa_column=Column(Integer))  # NULL = no limit
    age_max_months: int | None = Field(default=None, sa_column=Column(Integer))
    max_executions: int | None = Field(default=None, sa_column=Column(Integer))  # QT_MAXIMA_EXECUCAO
    value_sa: Decimal = Field(sa_column=Column(Numeric(12, 2), nullable=False))
    value_sh: Decimal = Field(sa_column=Column(Numeric(12, 2), nullable=False))
    value_sp: Decimal = Field(sa_column=Column(Numeric(12, 2), nullable=False))
    value_total: Decimal = Field(sa_column=Column(Numeric(12, 2), nullable=False))
    financing_code: str = Field(sa_column=Column(String(2), nullable=False))
    financing_name: str = Field(sa_column=Column(Text, nullable=False))
    rubrica_code: str | None = Field(default=None, sa_column=Column(String(6)))
    rubrica_name: str | None = Field(default=None, sa_column=Column(Text))
    description: str | None = Field(default=None, sa_column=Column(Text))


class CatalogOciProcedure(SQLModel, table=True):
    """A secondary procedure of an OCI (``rl_procedimento_compativel``)."""

    __tablename__ = "catalog_oci_procedure"
    __table_args__ = (_oci_fk(),)

    competencia: str = Field(sa_column=Column(String(6), primary_key=True))
    oci_code: str = Field(sa_column=Column(String(10), primary_key=True))
    procedure_code: str = Field(sa_column=Column(String(10), primary_key=True))
    name: str = Field(sa_column=Column(Text, nullable=False))
    # TP_COMPATIBILIDADE: "5" mandatory, "1" optional (compatible).
    compatibility_type: str = Field(sa_column=Column(String(1), nullable=False))
    qty_allowed: int = Field(sa_column=Column(Integer, nullable=False))  # QT_PERMITIDA, 0 = not set


class CatalogOciCid(SQLModel, table=True):
    """A CID-10 code the OCI accepts (``rl_procedimento_cid``)."""

    __tablename__ = "catalog_oci_cid"
    __table_args__ = (_oci_fk(),)

    competencia: str = Field(sa_column=Column(String(6), primary_key=True))
    oci_code: str = Field(sa_column=Column(String(10), primary_key=True))
    cid_code: str = Field(sa_column=Column(String(4), primary_key=True))
    name: str = Field(sa_column=Column(Text, nullable=False))
    principal: bool | None = Field(default=None, sa_column=Column(Boolean))  # ST_PRINCIPAL = "S"


class CatalogOciAttribute(SQLModel, table=True):
    """A complementary attribute of the OCI (``rl_procedimento_detalhe``), e.g. 053 PMAE."""

    __tablename__ = "catalog_oci_attribute"
    __table_args__ = (_oci_fk(),)

    competencia: str = Field(sa_column=Column(String(6), primary_key=True))
    oci_code: str = Field(sa_column=Column(String(10), primary_key=True))
    attribute_code: str = Field(sa_column=Column(String(3), primary_key=True))
    name: str = Field(sa_column=Column(Text, nullable=False))


class CatalogOciHabilitacao(SQLModel, table=True):
    """A CNES habilitação that allows an establishment to perform the OCI (``rl_procedimento_habilitacao``)."""

    __tablename__ = "catalog_oci_habilitacao"
    __table_args__ = (_oci_fk(),)

    competencia: str = Field(sa_column=Column(String(6), primary_key=True))
    oci_code: str = Field(sa_column=Column(String(10), primary_key=True))
    habilitacao_code: str = Field(sa_column=Column(String(4), primary_key=True))
    # NU_GRUPO_HABILITACAO; "" when SIGTAP leaves it blank (part of the key, so never NULL).
    habilitacao_group: str = Field(sa_column=Column(String(4), primary_key=True))
    name: str = Field(sa_column=Column(Text, nullable=False))


class CatalogOciRule(SQLModel, table=True):
    """A conditioned rule applied to the OCI (``rl_procedimento_regra_cond``)."""

    __tablename__ = "catalog_oci_rule"
    __table_args__ = (_oci_fk(),)

    competencia: str = Field(sa_column=Column(String(6), primary_key=True))
    oci_code: str = Field(sa_column=Column(String(10), primary_key=True))
    rule_code: str = Field(sa_column=Column(String(4), primary_key=True))
    name: str = Field(sa_column=Column(Text, nullable=False))
    description: str | None = Field(default=None, sa_column=Column(Text))


CHILD_TABLES: tuple[type[SQLModel], ...] = (
    CatalogOciProcedure,
    CatalogOciCid,
    CatalogOciAttribute,
    CatalogOciHabilitacao,
    CatalogOciRule,
)


class ReferralProtocol(SQLModel, table=True):
    """One version of an OCI's referral protocol (Portaria GM/MS 3.492/2024 art. 10 §1 III: the managers define
    the access protocols of the OCIs), effective from a date.

    A version is never changed: a manager's edit is a new version (``version`` + 1) effective from a date not in
    the past, with a reason; the database refuses UPDATE and DELETE (append-only trigger, migration 0016). The
    version in force on a day is the one with the latest ``effective_from`` on or before it (the highest
    ``version`` among equal dates). ``content`` is :func:`regula.catalog.protocols.content_of` of a
    :class:`regula.catalog.protocols.Protocol`: checklist, required exams, accepted CIDs, priority hints, the
    teleconsultation gate and tR/tM (null = the global default). Not keyed to a SIGTAP competência: a protocol
    outlives catalog versions. Decision 0020.
    """

    __tablename__ = "referral_protocol"
    __audited__ = True
    __table_args__ = (
        UniqueConstraint("oci_code", "version"),
        CheckConstraint("version >= 1", name="version_positive"),
        Index("ix_referral_protocol_oci_effective", "oci_code", "effective_from"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    oci_code: str = Field(sa_column=Column(String(10), nullable=False))
    version: int = Field(sa_column=Column(Integer, nullable=False))
    effective_from: date = Field(sa_column=Column(Date, nullable=False))
    content: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False))
    created_by: str = Field(sa_column=Column(String(64), nullable=False))
    reason: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))
