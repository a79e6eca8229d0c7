"""Loading the territory into PostgreSQL: counts, idempotence, updates, jurisdiction joins."""

from __future__ import annotations

import dataclasses

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel

from regula.territory.models import HealthRegionRecord, MacroRegionRecord, MunicipalityRecord, UfRecord
from regula.territory.reference import Territory, territory
from regula.territory.service import load_territory

M = MunicipalityRecord.__table__  # type: ignore[attr-defined]


async def _count(session: AsyncSession, model: type[SQLModel]) -> int:
    return (await session.execute(select(func.count()).select_from(model))).scalar_one()


async def test_load_fills_the_tables_and_a_second_load_changes_nothing(session: AsyncSession) -> None:
    first = await load_territory(session)
    assert [t.table for t in first.tables] == ["uf", "macro_region", "health_region", "municipality"]
    assert first.municipalities == 5570
    assert first.table("uf").total == 27
    assert first.table("macro_region").total == 118
    assert first.table("health_region").total == 17
    assert await _count(session, UfRecord) == 27
    assert await _count(session, MacroRegionRecord) == 118
    assert await _count(session, HealthRegionRecord) == 17
    assert await _count(session, MunicipalityRecord) == 5570

    second = await load_territory(session)
    assert not second.changed
    assert second.inserted == second.updated == 0
    assert await _count(session, MunicipalityRecord) == 5570


async def test_load_inserts_missing_rows_and_repairs_changed_ones(session: AsyncSession) -> None:
    await load_territory(session)
    await session.execute(update(M).where(M.c.ibge_code == "4205407").values(population=1, name="x"))
    await session.execute(M.delete().where(M.c.ibge_code == "4209102"))

    result = await load_territory(session)
    assert result.changed
    assert (result.table("municipality").inserted, result.table("municipality").updated) == (1, 1)
    assert result.table("uf").changed is False
    row = (await session.execute(select(M).where(M.c.ibge_code == "4205407"))).mappings().one()
    assert (row["name"], row["population"]) == ("Florianópolis", 500_973)
    assert (await session.execute(select(M.c.name).where(M.c.ibge_code6 == "420910"))).scalar_one() == "Joinville"


async def test_load_from_a_newer_reference_updates_in_place(session: AsyncSession) -> None:
    await load_territory(session)
    current = territory()
    renamed = [
        dataclasses.replace(m, population=m.population + 1) if m.ibge_code == "4205407" else m
        for m in current.municipalities
    ]
    result = await load_territory(session, Territory(renamed))
    assert (result.inserted, result.updated) == (0, 1)
    population = (await session.execute(select(M.c.population).where(M.c.ibge_code == "4205407"))).scalar_one()
    assert population == 500_974


async def test_rows_match_the_reference(session: AsyncSession) -> None:
    await load_territory(session)
    row = (await session.execute(select(M).where(M.c.ibge_code == "4205407"))).mappings().one()
    assert dict(row) == {
        "ibge_code": "4205407",
        "ibge_code6": "420540",
        "name": "Florianópolis",
        "search_name": "FLORIANOPOLIS",
        "uf": "SC",
        "latitude": -27.5878,
        "longitude": -48.54764,
        "macro_code": "4214",
        "health_region_code": "42007",
        "population": 500_973,
    }
    region = (await session.execute(text("SELECT name, uf, macro_code FROM health_region WHERE code = '42007'"))).one()
    assert tuple(region) == ("Grande Florianópolis", "SC", "4214")


async def test_sql_joins_by_jurisdiction(session: AsyncSession) -> None:
    await load_territory(session)
    # What a jurisdiction-scoped query looks like: municipalities of region 42007 through the region table.
    rows = (
        await session.execute(
            text(
                "SELECT count(*), sum(m.population) FROM municipality m "
                "JOIN health_region r ON r.code = m.health_region_code "
                "JOIN macro_region mr ON mr.code = r.macro_code "
                "WHERE r.code = '42007' AND mr.uf = 'SC'"
            )
        )
    ).one()
    expected = [m for m in territory().by_uf("SC") if m.health_region_code == "42007"]
    assert rows[0] == len(expected)
    assert rows[1] == sum(m.population for m in expected)
    by_uf = (await session.execute(text("SELECT count(*) FROM municipality WHERE uf = 'SC'"))).scalar_one()
    assert by_uf == 295


async def test_the_seed_tells_a_person_what_it_loaded(session: AsyncSession, settings: object) -> None:
    # Issue 17: `regula demo` printed raw Python objects (LoadResult(...)) to the terminal.
    import io

    from rich.console import Console

    from regula.seed import load_reference_data

    out = io.StringIO()
    await load_reference_data(session, settings, Console(file=out, width=200))  # type: ignore[arg-type]
    await load_reference_data(session, settings, Console(file=out, width=200))  # type: ignore[arg-type]
    lines = out.getvalue().splitlines()
    assert lines[0] == "Territórios: 5570 municípios, 17 regiões de saúde (5732 inseridos, 0 atualizados)"
    assert lines[1].startswith("Catálogo SIGTAP: competência 01/2026 importada: ")
    # Version 1 of each OCI's referral protocol, stored once (decision 0020).
    assert lines[2] == "Protocolos de encaminhamento: versão inicial gravada para 34 OCIs."
    assert lines[3] == "Territórios: 5570 municípios, 17 regiões de saúde (nada mudou)"
    assert lines[4].startswith("Catálogo SIGTAP: competência 01/2026 já importada, nada mudou: ")
    assert len(lines) == 5
    assert "Result(" not in out.getvalue()
