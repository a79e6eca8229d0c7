"""Authorization ranges and issuance: validated on entry, issued on authorization, never twice — also under
concurrency (committed database of its own)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from regula.config import Settings
from regula.core.errors import Conflict, PermissionDenied, ValidationFailed
from regula.db.engine import make_sessionmaker
from regula.production import authorization as auth
from regula.production import execution, numbering
from regula.territory.service import load_territory
from tests.production.conftest import (
    EXECUTANTE,
    GESTOR,
    NAVEGADOR,
    PROVIDER_CNES,
    REGULADOR,
    MakeEntry,
    ensure_establishment,
    procedure,
)


def _range(first: int, last: int, *, cnes: str = PROVIDER_CNES, digit: str = "7") -> numbering.RangeInput:
    program = {"7": "pmae", "9": "complementar"}[digit]
    return numbering.RangeInput(cnes, "apac", program, f"4226{digit}{first:07d}", f"4226{digit}{last:07d}")


async def test_ranges_are_validated_and_never_overlap(session: AsyncSession, make_entry: MakeEntry) -> None:
    await ensure_establishment(session)
    row = await numbering.create_range(session, _range(1, 500), GESTOR)
    assert (row.prefix, row.first_seq, row.last_seq, row.next_seq) == ("42267", 1, 500, 1)
    with pytest.raises(Conflict) as exc:
        await numbering.create_range(session, _range(400, 900), GESTOR)
    assert exc.value.code == "faixa_sobreposta"
    nine = numbering.RangeInput(PROVIDER_CNES, "apac", "pmae", "422690001000", "422690001100")
    with pytest.raises(ValidationFailed) as invalid:
        await numbering.create_range(session, nine, GESTOR)  # 9 is not PMAE's digit
    assert {e.code for e in invalid.value.errors} == {"autorizacao_programa_divergente"}
    far = numbering.RangeInput(PROVIDER_CNES, "apac", "pmae", "412670000001", "412670000100")
    with pytest.raises(ValidationFailed) as other_uf:
        await numbering.create_range(session, far, GESTOR)
    assert {e.code for e in other_uf.value.errors} == {"faixa_uf_divergente"}
    oeste = GESTOR.jurisdiction.parse("region:42001")
    with pytest.raises(PermissionDenied):
        await numbering.create_range(session, _range(2000, 2100), type(GESTOR)("g", "gestor", jurisdiction=oeste))
    assert [r.id for r in await numbering.list_ranges(session, GESTOR)] == [row.id]


async def test_first_procedure_issues_the_apac_number(
    session: AsyncSession, settings: Settings, make_entry: MakeEntry
) -> None:
    care = await make_entry("0902010026")
    await numbering.create_range(session, _range(1, 50), GESTOR)
    v = await execution.record_procedure(
        session, settings, care.entry.id or 0, procedure("0211020036", 2, cbo="225120"), NAVEGADOR
    )
    assert v.execution is not None
    number = v.execution.authorization_number
    assert number is not None
    parsed = auth.parse_authorization(number, instrument="apac", program="pmae")
    assert parsed.number[:5] == "42267"
    issued = (
        await session.execute(
            text("SELECT source, entry_id FROM authorization_number WHERE number = :n"), {"n": number}
        )
    ).one()
    assert tuple(issued) == ("emitida", care.entry.id)


async def test_complementary_component_establishment_gets_digit_9(
    session: AsyncSession, settings: Settings, make_entry: MakeEntry
) -> None:
    care = await make_entry("0902010026", cnes="7200002", kind="complementar_1")
    await numbering.create_range(session, _range(1, 50, cnes="7200002", digit="9"), GESTOR)
    number = await numbering.authorize_entry(session, settings, care.entry.id or 0, REGULADOR)
    assert number.number[4] == "9" and number.program == "complementar"
    with pytest.raises(Conflict) as again:
        await numbering.authorize_entry(session, settings, care.entry.id or 0, REGULADOR)
    assert again.value.code == "autorizacao_existente"


async def test_typed_in_number_is_validated(session: AsyncSession, settings: Settings, make_entry: MakeEntry) -> None:
    care = await make_entry("0902010026")
    entry_id = care.entry.id or 0
    with pytest.raises(ValidationFailed) as bad:
        await numbering.authorize_entry(session, settings, entry_id, REGULADOR, number="4226700000015")
    assert [(e.field, e.code) for e in bad.value.errors] == [("number", "autorizacao_digito_verificador")]
    with pytest.raises(ValidationFailed) as wrong_program:
        await numbering.authorize_entry(
            session, settings, entry_id, REGULADOR, number=auth.compose_apac_aih("42266", 15)
        )
    assert wrong_program.value.errors[0].code == "autorizacao_programa_divergente"
    typed = auth.compose_apac_aih("42267", 1234)
    row = await numbering.authorize_entry(session, settings, entry_id, REGULADOR, number=typed)
    assert (row.source, row.number) == ("informada", typed)
    other = await make_entry("0902010026")
    with pytest.raises(Conflict) as duplicate:
        await numbering.authorize_entry(session, settings, other.entry.id or 0, REGULADOR, number=typed)
    assert duplicate.value.code == "autorizacao_duplicada"
    # A range that contains the typed-in number skips it when issuing.
    await numbering.create_range(session, _range(1233, 1236), GESTOR)
    issued = await numbering.authorize_entry(session, settings, other.entry.id or 0, REGULADOR)
    assert issued.number != typed
    assert issued.number[5:12] in {"0001233", "0001235", "0001236"}


async def test_without_a_range_the_authorization_is_refused(
    session: AsyncSession, settings: Settings, make_entry: MakeEntry
) -> None:
    care = await make_entry("0902010026")
    with pytest.raises(Conflict) as exc:
        await numbering.authorize_entry(session, settings, care.entry.id or 0, REGULADOR)
    assert exc.value.code == "faixa_inexistente"
    with pytest.raises(PermissionDenied):  # executante may not authorize (route roles), but the service checks place
        await numbering.authorize_entry(
            session,
            settings,
            care.entry.id or 0,
            type(EXECUTANTE)("x", "executante", jurisdiction=EXECUTANTE.jurisdiction.parse("cnes:7999999")),
        )


@pytest.fixture
async def own_engine(fresh_database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(fresh_database_url, pool_size=12, max_overflow=12)
    yield engine
    await engine.dispose()


async def test_concurrent_issuance_never_duplicates(own_engine: AsyncEngine) -> None:
    sessionmaker = make_sessionmaker(own_engine)
    async with sessionmaker() as s, s.begin():
        await load_territory(s)
        await ensure_establishment(s)
        row = await numbering.create_range(s, _range(1, 60), GESTOR)
        range_id = row.id or 0
    issuable = [seq for seq in range(1, 61) if auth.issuable("apac", "42267", seq)]

    async def issue() -> str | None:
        async with sessionmaker() as s, s.begin():
            try:
                n = await numbering.issue_number(s, range_id, GESTOR)
            except Conflict:
                return None
            await asyncio.sleep(0.005)  # hold the row lock a moment, as a real transaction would
            return n.number

    results = await asyncio.gather(*(issue() for _ in range(len(issuable) + 15)))
    numbers = [n for n in results if n is not None]
    assert len(numbers) == len(set(numbers)) == len(issuable)
    assert sorted(int(n[5:12]) for n in numbers) == issuable  # every issuable sequence, none with remainder 10
    assert all(auth.parse_authorization(n).program == "pmae" for n in numbers)
    async with own_engine.connect() as conn:
        next_seq = (
            await conn.execute(text("SELECT next_seq FROM authorization_range WHERE id = :id"), {"id": range_id})
        ).scalar()
        stored = (await conn.execute(text("SELECT count(DISTINCT number) FROM authorization_number"))).scalar()
    assert (next_seq, stored) == (61, len(issuable))
