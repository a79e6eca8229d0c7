"""Importing SIGTAP files as catalog versions, and reading OCIs back, against a real PostgreSQL."""

from __future__ import annotations

import os
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from regula.catalog import service
from regula.catalog.models import CatalogVersion
from regula.catalog.repository import count_rows
from regula.config import Settings
from regula.core.errors import Conflict, NotFound, ValidationFailed

CONSULTS = {"0301010072", "0301010307"}


async def _import_events(session: AsyncSession) -> list[tuple[str, str]]:
    rows = await session.execute(
        text("SELECT entity_id, after->>'sha256' FROM audit_event WHERE action = 'import' AND entity_type = :t"),
        {"t": "catalog_version"},
    )
    return [(row[0], row[1]) for row in rows]


async def _versions(session: AsyncSession) -> int:
    return int((await session.execute(select(func.count()).select_from(CatalogVersion))).scalar_one())


async def test_import_reproduces_the_official_reference(
    session: AsyncSession, settings: Settings, sigtap_zip: Path, reference: dict[str, dict[str, Any]]
) -> None:
    started = time.perf_counter()
    result = await service.import_sigtap(session, sigtap_zip, settings)
    elapsed = time.perf_counter() - started
    assert not result.unchanged
    assert (result.competencia, result.current_competencia) == ("202601", "202601")
    assert (result.oci_count, result.procedure_count, result.cid_count) == (34, 292, 933)
    assert result.source_filename == sigtap_zip.name
    assert elapsed < 30, f"a full import took {elapsed:.1f}s"

    ocis = {oci.code: oci for oci in await service.list_ocis(session, settings)}
    assert sorted(ocis) == sorted(reference)
    for code, ref in reference.items():
        oci = ocis[code]
        assert oci.name == ref["name"], code
        assert oci.competencia == "202601"
        assert oci.value_brl == Decimal(str(ref["value_brl"])), code
        assert oci.max_days == ref["max_days"], code
        assert oci.sex == (ref["sigtap"]["sexo"] if ref["sigtap"]["sexo"] in ("M", "F") else None), code
        assert oci.age_min_months == ref["sigtap"]["idade_min_meses"], code
        assert oci.age_max_months == ref["sigtap"]["idade_max_meses"], code
        assert {(m.code, m.qty) for m in oci.mandatory} == {(m["code"], m["qty"]) for m in ref["mandatory"]}, code
        assert {(o.code, o.qty) for o in oci.optional} == {(o["code"], o["qty"]) for o in ref["optional"]}, code
        ref_groups = ref["mandatory_one_of"]
        ref_consults = [c["code"] for g in ref_groups for c in g["codes"] if c["code"] in CONSULTS]
        assert [c.code for c in oci.consultation_one_of] == ref_consults, code
        assert sorted(sorted(c.code for c in g.codes) for g in oci.one_of_groups) == sorted(
            sorted(c["code"] for c in g["codes"]) for g in ref_groups
        ), code
        assert oci.min_secondaries == ref["min_secondaries"], code
        assert sorted(oci.cids) == sorted(ref["sigtap"]["cid_principal_compativel"]), code
        assert oci.attributes == [a.split()[0] for a in ref["sigtap"]["atributos_complementares"]], code
        # Every name shown to people comes with the code.
        assert all(item.name for item in [*oci.mandatory, *oci.optional, *oci.consultation_one_of]), code


async def test_one_oci_with_its_full_composition(
    session: AsyncSession, settings: Settings, sigtap_zip: Path, reference: dict[str, dict[str, Any]]
) -> None:
    await service.import_sigtap(session, sigtap_zip, settings)
    oci = await service.get_oci(session, "0901010120", settings)
    ref = reference["0901010120"]["sigtap"]
    assert oci.name == "OCI AVALIAÇÃO DIAGNÓSTICA E TERAPÊUTICA DE CÂNCER DE COLO DO ÚTERO-II"
    assert oci.sex == "F" and oci.sex_sigtap == "F"
    assert oci.complexity_name == "Média Complexidade"
    assert oci.value_components.sa == Decimal("220.00")
    assert oci.financing.code == "04"
    assert oci.rubrica is not None and oci.rubrica.code == "040086"
    assert [f"{h.code} {h.name}" for h in oci.habilitacoes] == ref["habilitacoes"]
    assert [r.code for r in oci.rules] == [r.split()[0] for r in ref["regras_condicionadas"]]
    assert all(r.description for r in oci.rules)
    # tb_cid's own spelling, kept as DATASUS publishes it.
    assert {c.code: c.name for c in oci.cid_details}["C53"] == "Neoplasia malígna do colo do utero"
    assert oci.description and oci.description.startswith("FINALIDADE DE AVALIAÇÃO DIAGNÓSTICA E TERAPÊUTICA")
    # Only the in-person consultation is compatible with this OCI: no teleconsultation.
    assert [c.code for c in oci.consultation_one_of] == ["0301010072"]
    assert oci.other_compatible == []


async def test_the_same_file_twice_changes_nothing(
    session: AsyncSession, settings: Settings, sigtap_zip: Path, sigtap_bytes: bytes
) -> None:
    first = await service.import_sigtap(session, sigtap_zip, settings)
    counts = await count_rows(session)
    again = await service.import_sigtap(session, sigtap_bytes, settings, source_name="copia.zip")
    assert again.unchanged and not first.unchanged
    assert await count_rows(session) == counts
    assert (again.competencia, again.oci_count, again.sha256) == (first.competencia, 34, first.sha256)
    assert again.source_filename == sigtap_zip.name  # the version keeps the file it was imported from
    # The import is in the audit log once: the unchanged second run wrote nothing, not even an audit row.
    assert await _import_events(session) == [("202601", first.sha256)]


async def test_another_file_for_the_same_competencia_is_refused(
    session: AsyncSession, settings: Settings, sigtap_zip: Path, sigtap_files: Any
) -> None:
    await service.import_sigtap(session, sigtap_zip, settings)
    counts = await count_rows(session)
    # Same month, one value different: a re-export must not silently rewrite the catalog.
    other = sigtap_files.with_competencia("202601", oci_value_cents={"0901010014": 13000})
    with pytest.raises(Conflict) as caught:
        await service.import_sigtap(session, other, settings)
    assert caught.value.code == "sigtap_competencia_divergente"
    assert "202601" in caught.value.message
    assert await count_rows(session) == counts
    assert (await service.get_oci(session, "0901010014", settings)).value_brl == Decimal("125.00")


async def test_a_newer_competencia_becomes_current_and_the_old_one_stays(
    session: AsyncSession, settings: Settings, sigtap_zip: Path, sigtap_files: Any
) -> None:
    await service.import_sigtap(session, sigtap_zip, settings)
    newer = sigtap_files.with_competencia("202602", oci_value_cents={"0901010014": 13750})
    result = await service.import_sigtap(session, newer, settings)
    assert not result.unchanged
    assert (result.competencia, result.current_competencia) == ("202602", "202602")

    versions = await service.list_versions(session)
    assert [(v.competencia, v.current) for v in versions] == [("202602", True), ("202601", False)]
    current = {o.code: o for o in await service.list_ocis(session, settings)}
    old = {o.code: o for o in await service.list_ocis(session, settings, "202601")}
    assert current["0901010014"].competencia == "202602"
    assert current["0901010014"].value_brl == Decimal("137.50")
    assert old["0901010014"].value_brl == Decimal("125.00")
    assert (await service.get_oci(session, "0901010014", settings, "202601")).value_brl == Decimal("125.00")
    counts = await count_rows(session)
    assert counts["catalog_oci"] == 68 and counts["catalog_version"] == 2


async def test_an_older_competencia_is_added_without_becoming_current(
    session: AsyncSession, settings: Settings, sigtap_zip: Path, sigtap_files: Any
) -> None:
    await service.import_sigtap(session, sigtap_zip, settings)
    result = await service.import_sigtap(session, sigtap_files.with_competencia("202512"), settings)
    assert (result.competencia, result.current_competencia) == ("202512", "202601")
    assert (await service.list_ocis(session, settings))[0].competencia == "202601"


@pytest.mark.parametrize("broken", ["random", "no_tb_procedimento", "layout_without_column"])
async def test_a_broken_file_writes_nothing(
    session: AsyncSession, settings: Settings, sigtap_zip: Path, sigtap_files: Any, broken: str
) -> None:
    await service.import_sigtap(session, sigtap_zip, settings)
    before = await count_rows(session)
    source: Path | bytes
    if broken == "random":
        source, code = os.urandom(10_000), "sigtap_zip_invalido"
    elif broken == "no_tb_procedimento":
        source = sigtap_files.build(
            "TabelaUnificada_202602_x.zip", lambda m, d: None if m == "tb_procedimento.txt" else d
        )
        code = "sigtap_tabela_ausente"
    else:

        def drop_column(member: str, data: bytes) -> bytes:
            if member != "rl_procedimento_compativel_layout.txt":
                return data
            return b"\r\n".join(line for line in data.split(b"\r\n") if not line.startswith(b"QT_PERMITIDA,"))

        source, code = sigtap_files.build("TabelaUnificada_202602_y.zip", drop_column), "sigtap_layout_invalido"
    with pytest.raises(ValidationFailed) as caught:
        await service.import_sigtap(session, source, settings)
    assert caught.value.code == code
    assert await count_rows(session) == before
    assert await _versions(session) == 1
    assert [competencia for competencia, _ in await _import_events(session)] == ["202601"]


async def test_queries_say_what_is_missing(session: AsyncSession, settings: Settings, sigtap_zip: Path) -> None:
    with pytest.raises(NotFound) as empty:
        await service.list_ocis(session, settings)
    assert empty.value.code == "catalogo_vazio"
    await service.import_sigtap(session, sigtap_zip, settings)
    with pytest.raises(NotFound) as missing:
        await service.get_oci(session, "0999999999", settings)
    assert missing.value.code == "oci_nao_encontrada"
    with pytest.raises(NotFound) as month:
        await service.list_ocis(session, settings, "203001")
    assert month.value.code == "competencia_nao_encontrada"
    with pytest.raises(ValidationFailed) as invalid:
        await service.list_ocis(session, settings, "2026-1")
    assert invalid.value.code == "competencia_invalida"


async def test_tm_follows_the_settings(session: AsyncSession, settings: Settings, sigtap_zip: Path) -> None:
    await service.import_sigtap(session, sigtap_zip, settings)
    custom = settings.model_copy(update={"oci_max_days_oncology": 21, "oci_max_days_default": 45})
    days = {o.code: o.max_days for o in await service.list_ocis(session, custom)}
    assert days["0901010014"] == 21
    assert days["0902010018"] == 45
