"""Copy the territory reference into its tables: an idempotent, bulk upsert inside the caller's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Boolean, Table, literal_column, or_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel

from regula.territory.models import HealthRegionRecord, MacroRegionRecord, MunicipalityRecord, UfRecord
from regula.territory.reference import Territory, territory


@dataclass(frozen=True)
class TableLoad:
    table: str
    total: int  # rows in the reference data
    inserted: int
    updated: int  # rows that existed with different values

    @property
    def changed(self) -> bool:
        return bool(self.inserted or self.updated)


@dataclass(frozen=True)
class LoadResult:
    tables: tuple[TableLoad, ...]  # in load order: uf, macro_region, health_region, municipality

    @property
    def changed(self) -> bool:
        return any(t.changed for t in self.tables)

    @property
    def inserted(self) -> int:
        return sum(t.inserted for t in self.tables)

    @property
    def updated(self) -> int:
        return sum(t.updated for t in self.tables)

    def table(self, name: str) -> TableLoad:
        for t in self.tables:
            if t.table == name:
                return t
        raise KeyError(name)

    @property
    def municipalities(self) -> int:
        return self.table("municipality").total

    def describe(self) -> str:
        """One line for a person at the terminal (``regula seed``, ``regula demo``)."""
        regions = self.table("health_region").total
        change = f"{self.inserted} inseridos, {self.updated} atualizados" if self.changed else "nada mudou"
        return f"{self.municipalities} municípios, {regions} regiões de saúde ({change})"


def reference_rows(ref: Territory) -> dict[str, list[dict[str, Any]]]:
    """The rows each table must hold, keyed by table name, in foreign-key order."""
    return {
        "uf": [{"sigla": u.sigla, "code": u.code, "name": u.name} for u in ref.ufs()],
        "macro_region": [{"code": m.code, "name": m.name, "uf": m.uf} for m in ref.macro_regions()],
        "health_region": [
            {"code": r.code, "name": r.name, "uf": r.uf, "macro_code": r.macro_code} for r in ref.health_regions()
        ],
        "municipality": [
            {
                "ibge_code": m.ibge_code,
                "ibge_code6": m.ibge_code6,
                "name": m.name,
                "search_name": m.search_name,
                "uf": m.uf,
                "latitude": m.latitude,
                "longitude": m.longitude,
                "macro_code": m.macro_code,
                "health_region_code": m.health_region_code,
                "population": m.population,
            }
            for m in ref.municipalities
        ],
    }


# Foreign-key order: each table only points at tables before it.
_MODELS: tuple[type[SQLModel], ...] = (UfRecord, MacroRegionRecord, HealthRegionRecord, MunicipalityRecord)
_TABLES: dict[str, Table] = {
    table.name: table
    for table in (cast(Table, model.__table__) for model in _MODELS)  # type: ignore[attr-defined]
}


async def _upsert(session: AsyncSession, table: Table, rows: Sequence[dict[str, Any]]) -> TableLoad:
    keys = [c.name for c in table.primary_key.columns]
    others = [c for c in table.columns if c.name not in keys]
    stmt = insert(table)
    stmt = stmt.on_conflict_do_update(
        index_elements=keys,
        set_={c.name: stmt.excluded[c.name] for c in others},
        # Rewrite only rows that differ, so a second load touches nothing and reports nothing.
        where=or_(*(c.is_distinct_from(stmt.excluded[c.name]) for c in others)),
    )
    # xmax is 0 on a freshly inserted row version and non-zero on one written by the ON CONFLICT update: the
    # usual PostgreSQL idiom to tell inserts from updates in one statement's RETURNING.
    inserted_flag = literal_column("xmax = 0", type_=Boolean).label("inserted")
    # One statement with a list of rows: SQLAlchemy sends it as multi-row INSERTs ("insertmanyvalues"), batched
    # under the driver's bind-parameter limit, compiling the statement once.
    flags = (await session.execute(stmt.returning(inserted_flag), list(rows))).scalars().all() if rows else []
    inserted = sum(1 for f in flags if f)
    return TableLoad(table=table.name, total=len(rows), inserted=inserted, updated=len(flags) - inserted)


async def load_territory(session: AsyncSession, ref: Territory | None = None) -> LoadResult:
    """Make the territory tables equal to the reference (``territory()`` unless given).

    Inserts missing rows and updates changed ones, table by table in foreign-key order, in the session's
    transaction; it never commits (the caller's boundary does). Rows absent from the reference are left alone:
    other tables may point at a municipality that a newer IBGE list dropped, and losing them is worse than a
    stale row. Running it again with the same data changes nothing (``result.changed`` is False).
    """
    rows = reference_rows(ref or territory())
    loads = [await _upsert(session, _TABLES[name], table_rows) for name, table_rows in rows.items()]
    return LoadResult(tables=tuple(loads))
