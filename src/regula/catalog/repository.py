"""Queries of the catalog domain. Writes only ``flush``; the command/request boundary commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import func, insert, text
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel, col, select

from regula.catalog.models import (
    CatalogOci,
    CatalogOciAttribute,
    CatalogOciCid,
    CatalogOciHabilitacao,
    CatalogOciProcedure,
    CatalogOciRule,
    CatalogVersion,
    ReferralProtocol,
)

CATALOG_TABLES = (
    "catalog_version",
    "catalog_oci",
    "catalog_oci_procedure",
    "catalog_oci_cid",
    "catalog_oci_attribute",
    "catalog_oci_habilitacao",
    "catalog_oci_rule",
)


async def version_by_sha256(session: AsyncSession, sha256: str) -> CatalogVersion | None:
    result = await session.execute(select(CatalogVersion).where(col(CatalogVersion.sha256) == sha256))
    return result.scalars().first()


async def get_version(session: AsyncSession, competencia: str) -> CatalogVersion | None:
    result = await session.execute(select(CatalogVersion).where(col(CatalogVersion.competencia) == competencia))
    return result.scalars().first()


async def list_versions(session: AsyncSession) -> Sequence[CatalogVersion]:
    result = await session.execute(select(CatalogVersion).order_by(col(CatalogVersion.competencia).desc()))
    return result.scalars().all()


async def current_competencia(session: AsyncSession) -> str | None:
    """The newest competência imported (AAAAMM sorts as text)."""
    result = await session.execute(select(func.max(col(CatalogVersion.competencia))))
    value: str | None = result.scalar_one_or_none()
    return value


async def insert_version(session: AsyncSession, values: dict[str, Any]) -> bool:
    """Insert a version row unless its competência (or its file) is already there: a concurrent import may have
    won the race, and the unique keys decide. True when this call inserted it."""
    statement = (
        pg_insert(CatalogVersion).values(**values).on_conflict_do_nothing().returning(col(CatalogVersion.competencia))
    )
    inserted = (await session.execute(statement)).scalar_one_or_none()
    return inserted is not None


async def bulk_insert(session: AsyncSession, model: type[SQLModel], rows: list[dict[str, Any]]) -> None:
    """One executemany per table (SQLAlchemy batches it into multi-row INSERTs), not one ORM object per row."""
    if rows:
        await session.execute(insert(model), rows)


async def flush(session: AsyncSession) -> None:
    await session.flush()


async def ocis(session: AsyncSession, competencia: str, code: str | None = None) -> Sequence[CatalogOci]:
    statement = select(CatalogOci).where(col(CatalogOci.competencia) == competencia)
    if code is not None:
        statement = statement.where(col(CatalogOci.code) == code)
    result = await session.execute(statement.order_by(col(CatalogOci.code)))
    return result.scalars().all()


async def oci_sexes(session: AsyncSession) -> dict[str, str]:
    """Each OCI of the current (newest) competência with its SIGTAP sex letter (TP_SEXO: M, F, I or N)."""
    current = select(func.max(col(CatalogVersion.competencia))).scalar_subquery()
    statement = select(col(CatalogOci.code), col(CatalogOci.sex_sigtap)).where(col(CatalogOci.competencia) == current)
    return {code: sex for code, sex in (await session.execute(statement)).all()}


async def procedures(session: AsyncSession, competencia: str, code: str | None = None) -> Sequence[CatalogOciProcedure]:
    statement = select(CatalogOciProcedure).where(col(CatalogOciProcedure.competencia) == competencia)
    if code is not None:
        statement = statement.where(col(CatalogOciProcedure.oci_code) == code)
    statement = statement.order_by(col(CatalogOciProcedure.oci_code), col(CatalogOciProcedure.procedure_code))
    return (await session.execute(statement)).scalars().all()


async def cids(session: AsyncSession, competencia: str, code: str | None = None) -> Sequence[CatalogOciCid]:
    statement = select(CatalogOciCid).where(col(CatalogOciCid.competencia) == competencia)
    if code is not None:
        statement = statement.where(col(CatalogOciCid.oci_code) == code)
    statement = statement.order_by(col(CatalogOciCid.oci_code), col(CatalogOciCid.cid_code))
    return (await session.execute(statement)).scalars().all()


async def attributes(session: AsyncSession, competencia: str, code: str | None = None) -> Sequence[CatalogOciAttribute]:
    statement = select(CatalogOciAttribute).where(col(CatalogOciAttribute.competencia) == competencia)
    if code is not None:
        statement = statement.where(col(CatalogOciAttribute.oci_code) == code)
    statement = statement.order_by(col(CatalogOciAttribute.oci_code), col(CatalogOciAttribute.attribute_code))
    return (await session.execute(statement)).scalars().all()


async def habilitacoes(
    session: AsyncSession, competencia: str, code: str | None = None
) -> Sequence[CatalogOciHabilitacao]:
    statement = select(CatalogOciHabilitacao).where(col(CatalogOciHabilitacao.competencia) == competencia)
    if code is not None:
        statement = statement.where(col(CatalogOciHabilitacao.oci_code) == code)
    statement = statement.order_by(
        col(CatalogOciHabilitacao.oci_code),
        col(CatalogOciHabilitacao.habilitacao_code),
        col(CatalogOciHabilitacao.habilitacao_group),
    )
    return (await session.execute(statement)).scalars().all()


async def rules(session: AsyncSession, competencia: str, code: str | None = None) -> Sequence[CatalogOciRule]:
    statement = select(CatalogOciRule).where(col(CatalogOciRule.competencia) == competencia)
    if code is not None:
        statement = statement.where(col(CatalogOciRule.oci_code) == code)
    statement = statement.order_by(col(CatalogOciRule.oci_code), col(CatalogOciRule.rule_code))
    return (await session.execute(statement)).scalars().all()


async def count_rows(session: AsyncSession, competencia: str | None = None) -> dict[str, int]:
    """Rows per catalog table (of one competência, or of all): for import summaries and checks."""
    counts: dict[str, int] = {}
    for name in CATALOG_TABLES:
        table = SQLModel.metadata.tables[name]
        statement = select(func.count()).select_from(table)
        if competencia is not None:
            statement = statement.where(table.c.competencia == competencia)
        counts[name] = int((await session.execute(statement)).scalar_one())
    return counts


# -- referral protocols (decision 0020) --------------------------------------------------------------------------


def _in_force(on: date) -> Any:
    return (
        select(ReferralProtocol)
        .where(col(ReferralProtocol.effective_from) <= on)
        .order_by(
            col(ReferralProtocol.oci_code),
            col(ReferralProtocol.effective_from).desc(),
            col(ReferralProtocol.version).desc(),
        )
    )


async def protocol_in_force(session: AsyncSession, oci_code: str, on: date) -> ReferralProtocol | None:
    """The stored version of ``oci_code`` in force on ``on``: latest start on or before it, then highest number."""
    result = await session.execute(_in_force(on).where(col(ReferralProtocol.oci_code) == oci_code).limit(1))
    return result.scalars().first()


async def protocol_by_version(session: AsyncSession, oci_code: str, version: int) -> ReferralProtocol | None:
    result = await session.execute(
        select(ReferralProtocol).where(
            col(ReferralProtocol.oci_code) == oci_code, col(ReferralProtocol.version) == version
        )
    )
    return result.scalars().first()


async def protocols_in_force(session: AsyncSession, on: date) -> list[ReferralProtocol]:
    """Every OCI's stored version in force on ``on``, in one query (DISTINCT ON the OCI)."""
    result = await session.execute(_in_force(on).ext(distinct_on(col(ReferralProtocol.oci_code))))
    return list(result.scalars().all())


async def protocol_versions(
    session: AsyncSession,
    *,
    oci_code: str | None = None,
    oci_codes: Sequence[str] | None = None,
    offset: int = 0,
    limit: int = 50,
    newest_first: bool = True,
) -> tuple[list[ReferralProtocol], int]:
    """Stored versions, filtered by OCI (one code, or any of ``oci_codes``), paged; and how many match."""
    query = select(ReferralProtocol)
    count = select(func.count()).select_from(ReferralProtocol)
    if oci_code is not None:
        query = query.where(col(ReferralProtocol.oci_code) == oci_code)
        count = count.where(col(ReferralProtocol.oci_code) == oci_code)
    if oci_codes is not None:
        query = query.where(col(ReferralProtocol.oci_code).in_(list(oci_codes)))
        count = count.where(col(ReferralProtocol.oci_code).in_(list(oci_codes)))
    order = col(ReferralProtocol.version).desc() if newest_first else col(ReferralProtocol.version)
    query = query.order_by(col(ReferralProtocol.oci_code), order).offset(offset).limit(limit)
    rows = list((await session.execute(query)).scalars().all())
    total = int((await session.execute(count)).scalar_one())
    return rows, total


async def latest_protocol_version(session: AsyncSession, oci_code: str, *, for_update: bool = False) -> int:
    """The highest version number of ``oci_code`` (0 when none). ``for_update`` serializes writers of the OCI's
    next version until the transaction ends (an advisory lock: there may be no row to lock yet)."""
    if for_update:
        await session.execute(
            text("SELECT pg_advisory_xact_lock(hashtext('referral_protocol:' || :oci))"), {"oci": oci_code}
        )
    result = await session.execute(
        select(func.coalesce(func.max(ReferralProtocol.version), 0)).where(col(ReferralProtocol.oci_code) == oci_code)
    )
    return int(result.scalar_one())


async def all_oci_codes(session: AsyncSession) -> list[str]:
    """Every OCI code of any imported competência."""
    result = await session.execute(select(CatalogOci.code).distinct().order_by(CatalogOci.code))
    return list(result.scalars().all())


async def ocis_with_protocol(session: AsyncSession) -> set[str]:
    result = await session.execute(select(ReferralProtocol.oci_code).distinct())
    return set(result.scalars().all())


async def add_protocol_version(session: AsyncSession, row: ReferralProtocol) -> None:
    session.add(row)
    await session.flush()
