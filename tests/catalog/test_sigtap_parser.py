"""The SIGTAP parser reads the official DATASUS zip as the reference catalog describes it, follows the layout
files wherever they put the columns, and rejects broken files with a clear, coded Portuguese message."""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from regula.catalog.sigtap import SigtapCatalog, SigtapOci, parse_sigtap_zip
from regula.core.errors import ValidationFailed

CONSULTS = {"0301010072", "0301010307"}


@pytest.fixture(scope="module")
def catalog(sigtap_zip: Path) -> SigtapCatalog:
    return parse_sigtap_zip(sigtap_zip)


def _by_code(catalog: SigtapCatalog) -> dict[str, SigtapOci]:
    return {oci.code: oci for oci in catalog.ocis}


def test_reads_the_34_official_ocis_of_competencia_202601(
    catalog: SigtapCatalog, reference: dict[str, dict[str, Any]]
) -> None:
    assert catalog.competencia == "202601"
    assert sorted(_by_code(catalog)) == sorted(reference)
    assert catalog.sha256 == "13d96ba47602232bc39b2ec043bd8d811cbe8a1c592c5e24548b22be353942a5"


def test_each_oci_matches_the_reference(catalog: SigtapCatalog, reference: dict[str, dict[str, Any]]) -> None:
    ocis = _by_code(catalog)
    for code, ref in reference.items():
        oci, sig = ocis[code], ref["sigtap"]
        assert oci.name == ref["name"], code
        assert (oci.subgroup_code, oci.subgroup_name) == (ref["subgroup"], ref["subgroup_name_sigtap"]), code
        assert (oci.forma_code, oci.forma_name) == (ref["forma_organizacao"], ref["forma_organizacao_name"]), code
        # Values are stored in cents: 000000012500 is R$ 125,00.
        assert oci.value_total == Decimal(str(ref["value_brl"])), code
        components = ref["value_components"]
        assert (oci.value_sa, oci.value_sh, oci.value_sp) == tuple(
            Decimal(str(components[k])) for k in ("vl_sa", "vl_sh", "vl_sp")
        ), code
        assert oci.sex_sigtap == sig["sexo"], code
        assert (oci.age_min_months, oci.age_max_months) == (sig["idade_min_meses"], sig["idade_max_meses"]), code
        assert oci.max_executions == sig["qt_max"], code
        assert sorted(c.code for c in oci.cids) == sorted(sig["cid_principal_compativel"]), code
        assert all(c.principal for c in oci.cids), code
        assert [f"{a.code} {a.name}" for a in oci.attributes] == sig["atributos_complementares"], code
        assert [f"{h.code} {h.name}" for h in oci.habilitacoes] == sig["habilitacoes"], code
        assert [r.code for r in oci.rules] == [r.split()[0] for r in sig["regras_condicionadas"]], code
        # SIGTAP marks line breaks with "||"; the reference flattened them to spaces.
        assert oci.description is not None and "||" not in oci.description, code
        assert " ".join(oci.description.split()) == " ".join(sig["descricao"].split()), code
        assert oci.financing_code == "04" and "FAEC" in oci.financing_name, code
        assert oci.rubrica_code == sig["subtipo_financiamento"].split()[0], code

        # SIGTAP's own split: TP 5 = mandatory, TP 1 = compatible. The reference moves the consultation pair
        # (TP 1) to its PMAE one-of group, so TP 1 = its optional set plus the consultation codes it lists.
        mandatory = {(s.code, s.qty_allowed or None) for s in oci.secondaries if s.compatibility_type == "5"}
        compatible = {(s.code, s.qty_allowed or None) for s in oci.secondaries if s.compatibility_type == "1"}
        assert mandatory == {(m["code"], m["qty"]) for m in ref["mandatory"]}, code
        consults = {
            (c["code"], c["qty"]) for group in ref["mandatory_one_of"] for c in group["codes"] if c["code"] in CONSULTS
        }
        assert compatible == {(o["code"], o["qty"]) for o in ref["optional"]} | consults, code
        names = {m["code"]: m["name"] for m in [*ref["mandatory"], *ref["optional"]]}
        assert all(s.name == names[s.code] for s in oci.secondaries if s.code in names), code


def test_sex_restricted_ocis_and_age_limits(catalog: SigtapCatalog) -> None:
    ocis = _by_code(catalog)
    assert ocis["0901010049"].sex == "M"  # prostate
    assert ocis["0901010057"].sex == "F"  # cervix
    assert ocis["0901010014"].sex is None  # breast: SIGTAP "I", anyone
    # Ophthalmology "0 a 8 anos": up to 107 months (8 years and 11 months).
    assert (ocis["0905010019"].age_min_months, ocis["0905010019"].age_max_months) == (0, 107)


def test_positions_come_from_the_layout_files(sigtap_files: Any, catalog: SigtapCatalog) -> None:
    """DATASUS inserting a column at the start of tb_procedimento (and saying so in its layout) changes nothing."""
    layout_name = "tb_procedimento_layout.txt"
    header, *rows = sigtap_files.members[layout_name].decode("iso-8859-1").split("\r\n")
    shifted = [header, "CO_NOVA,3,1,3,VARCHAR2"]
    for row in rows:
        if row.strip():
            name, size, start, end, kind = row.split(",")
            shifted.append(f"{name},{size},{int(start) + 3},{int(end) + 3},{kind}")

    def transform(member: str, data: bytes) -> bytes | None:
        if member == layout_name:
            return "\r\n".join(shifted).encode("iso-8859-1")
        if member == "tb_procedimento.txt":
            return b"\r\n".join(b"XYZ" + line if line else line for line in data.split(b"\r\n"))
        return data

    moved = parse_sigtap_zip(sigtap_files.build("TabelaUnificada_202601_moved.zip", transform))
    assert moved.ocis == catalog.ocis


def test_progress_is_reported_for_every_table(sigtap_zip: Path) -> None:
    seen: dict[str, tuple[int, int]] = {}
    parse_sigtap_zip(sigtap_zip, progress=lambda table, done, total: seen.__setitem__(table, (done, total)))
    assert {"tb_procedimento", "rl_procedimento_compativel", "rl_procedimento_cid", "tb_descricao"} <= set(seen)
    assert all(done == total > 0 for done, total in seen.values())


def test_reads_bytes_as_well_as_a_path(sigtap_zip: Path, catalog: SigtapCatalog) -> None:
    from_bytes = parse_sigtap_zip(sigtap_zip.read_bytes(), source_name=sigtap_zip.name)
    assert from_bytes.ocis == catalog.ocis
    assert from_bytes.sha256 == catalog.sha256


# ---------------------------------------------------------------------------------------------------------------
# Broken files
# ---------------------------------------------------------------------------------------------------------------


def _error(source: Path | bytes, **kwargs: Any) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as caught:
        parse_sigtap_zip(source, **kwargs)
    return caught.value


def test_random_bytes_are_not_a_sigtap_zip() -> None:
    error = _error(os.urandom(4096), source_name="TabelaUnificada_202601_x.zip")
    assert error.code == "sigtap_zip_invalido"
    assert "não é um zip SIGTAP" in error.message


def test_a_missing_file_is_reported(tmp_path: Path) -> None:
    assert _error(tmp_path / "nada.zip").code == "sigtap_arquivo_ausente"


def test_a_zip_without_tb_procedimento(sigtap_files: Any) -> None:
    broken = sigtap_files.build("sem_procedimento.zip", lambda m, d: None if m == "tb_procedimento.txt" else d)
    error = _error(broken)
    assert error.code == "sigtap_tabela_ausente"
    assert error.errors[0].field == "tb_procedimento.txt"
    assert "tb_procedimento" in error.message


def test_a_zip_without_a_layout(sigtap_files: Any) -> None:
    broken = sigtap_files.build("sem_layout.zip", lambda m, d: None if m == "rl_procedimento_cid_layout.txt" else d)
    error = _error(broken)
    assert error.code == "sigtap_layout_ausente"
    assert "rl_procedimento_cid" in error.message


def test_a_layout_without_a_needed_column(sigtap_files: Any) -> None:
    def transform(member: str, data: bytes) -> bytes:
        if member != "tb_procedimento_layout.txt":
            return data
        return b"\r\n".join(line for line in data.split(b"\r\n") if not line.startswith(b"VL_SA,"))

    error = _error(sigtap_files.build("layout_sem_vl_sa.zip", transform))
    assert error.code == "sigtap_layout_invalido"
    assert error.errors[0].field == "tb_procedimento.VL_SA"
    assert "VL_SA" in error.message


def test_a_layout_that_is_not_csv(sigtap_files: Any) -> None:
    broken = sigtap_files.build("layout_quebrado.zip", lambda m, d: b"lixo" if m == "tb_cid_layout.txt" else d)
    error = _error(broken)
    assert error.code == "sigtap_layout_invalido"
    assert "tb_cid" in error.message


def test_a_non_numeric_value_names_table_column_and_line(sigtap_files: Any) -> None:
    start, end = sigtap_files.layout("tb_procedimento")["VL_SA"]

    def edit(line: bytes) -> bytes:
        if line.startswith(b"0901010014"):
            return line[: start - 1] + b"ABC".rjust(end - start + 1, b"0") + line[end:]
        return line

    error = _error(sigtap_files.build("valor_invalido.zip", sigtap_files.edit_lines("tb_procedimento", edit)))
    assert error.code == "sigtap_linha_invalida"
    assert error.errors[0].field == "tb_procedimento.VL_SA"
    assert error.extra["line"] > 0
    assert "não é um número" in error.message


def test_a_truncated_line(sigtap_files: Any) -> None:
    edit = sigtap_files.edit_lines("rl_procedimento_compativel", lambda line: line[:15])
    error = _error(sigtap_files.build("linha_curta.zip", edit))
    assert error.code == "sigtap_linha_invalida"
    assert error.extra["table"] == "rl_procedimento_compativel"


def test_mixed_competencias_are_refused(sigtap_files: Any) -> None:
    start, end = sigtap_files.layout("tb_procedimento")["DT_COMPETENCIA"]

    def edit(line: bytes) -> bytes:
        return line[: start - 1] + b"202512" + line[end:] if line.startswith(b"0902") else line

    error = _error(sigtap_files.build("misturado.zip", sigtap_files.edit_lines("tb_procedimento", edit)))
    assert error.code == "sigtap_competencia_inconsistente"


def test_a_file_name_that_contradicts_the_data(sigtap_zip: Path) -> None:
    error = _error(sigtap_zip.read_bytes(), source_name="TabelaUnificada_202603_v2603011200.zip")
    assert error.code == "sigtap_competencia_inconsistente"
    assert "202603" in error.message and "202601" in error.message


def test_competencia_follows_the_data(sigtap_files: Any) -> None:
    newer = parse_sigtap_zip(sigtap_files.with_competencia("202602"))
    assert newer.competencia == "202602"
    assert len(newer.ocis) == 34
