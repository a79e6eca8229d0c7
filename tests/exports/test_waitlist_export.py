"""The federal waitlist as CSV and JSON: individualized by CPF or CNS, by municipality of origin, consolidated by UF,
by OCI (Portaria GM/MS 3.492/2024 as amended, art. 14 §1–2), no names, every export audited."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from regula.config import Settings
from regula.core.errors import ValidationFailed
from regula.exports.service import Staging, default_filename, export_waitlist, fhir_part_path, resolve_destination
from regula.exports.waitlist import (
    COLUMN_NAMES,
    ExportMeta,
    WaitlistFilter,
    check_filter,
    check_format,
    stream_rows,
    write_csv,
    write_json,
)
from tests.exports import schema_check
from tests.exports.scenario import FLORIANOPOLIS, JOINVILLE, NAMES, OCI, OTHER_OCI, PROVIDER_CNES, SAO_JOSE, Scenario

DOCS = Path(__file__).resolve().parents[2] / "docs" / "exports"
SCHEMA: dict[str, Any] = json.loads((DOCS / "waitlist.schema.json").read_text(encoding="utf-8"))


async def _csv(session: AsyncSession, settings: Settings, flt: WaitlistFilter) -> list[dict[str, str]]:
    sink = io.StringIO()
    await write_csv(stream_rows(session, settings, flt), sink, ExportMeta.new(settings))
    content = sink.getvalue()
    assert content.startswith(";".join(COLUMN_NAMES) + "\r\n")
    return list(csv.DictReader(io.StringIO(content), delimiter=";"))


async def _json(session: AsyncSession, settings: Settings, flt: WaitlistFilter) -> dict[str, Any]:
    sink = io.StringIO()
    await write_json(stream_rows(session, settings, flt), sink, flt, ExportMeta.new(settings))
    document: dict[str, Any] = json.loads(sink.getvalue())
    return document


async def test_csv_one_row_per_citizen_per_oci_of_the_uf(
    session: AsyncSession, settings: Settings, scenario: Scenario
) -> None:
    rows = await _csv(session, settings, check_filter("sc"))
    by_protocol = {r["protocolo"]: r for r in rows}
    # Active SC entries only: Pedro (PR) and Rui (cancelled) are not in the list.
    expected = {k for k in scenario.protocols if not k.startswith(("pedro:", "rui:"))}
    assert set(by_protocol) == {scenario.protocols[k] for k in expected}
    assert {r["uf"] for r in rows} == {"SC"} and {r["uf_ibge"] for r in rows} == {"42"}
    documents = [(r["cpf"] or r["cns"], r["oci"]) for r in rows]
    assert len(documents) == len(set(documents))  # individualized: one row per citizen per OCI

    maria = [r for r in rows if r["cpf"] == scenario.cpf["maria"]]
    assert sorted(r["oci"] for r in maria) == sorted([OCI, OTHER_OCI])
    cardio = by_protocol[scenario.protocols[f"maria:{OCI}"]]
    assert cardio["cns"] == ""  # CPF known: the CNS is not needed (SAES art. 11)
    assert cardio["municipio_ibge"] == FLORIANOPOLIS and cardio["municipio_ibge6"] == FLORIANOPOLIS[:6]
    assert cardio["municipio_nome"] == "Florianópolis"
    assert cardio["oci_nome"] == "OCI AVALIAÇÃO CARDIOLÓGICA"
    assert (cardio["situacao"], cardio["ativa"], cardio["classificacao_risco"]) == ("autorizada", "S", "vermelho")
    assert (cardio["posicao"], cardio["tamanho_fila"]) == ("1", "2")
    assert (cardio["fila_escopo"], cardio["fila_codigo"]) == ("region", "42007")
    assert cardio["tm_dias"] == "60" and cardio["dias_espera"] == "0"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", cardio["data_limite"]) and cardio["data_autorizacao"]
    assert cardio["agendamento_cnes"] == "" and cardio["competencia"] == ExportMeta.new(settings).competencia
    assert by_protocol[scenario.protocols[f"joao:{OCI}"]]["municipio_ibge"] == SAO_JOSE

    # The indigenous citizen without CPF is individualized by the CNS.
    jaci = by_protocol[scenario.protocols[f"jaci:{OCI}"]]
    assert (jaci["cpf"], jaci["cns"]) == ("", scenario.cns["jaci"])
    assert (jaci["municipio_ibge"], jaci["situacao"]) == (JOINVILLE, "agendada")
    assert jaci["posicao"] == ""  # no longer waiting in the queue
    assert jaci["agendamento_cnes"] == PROVIDER_CNES and jaci["agendamento_modalidade"] == "presencial"
    assert jaci["agendamento_data_hora"] == f"{scenario.booking_starts_at:%Y-%m-%d}T09:00:00-03:00"

    requested = by_protocol[scenario.protocols[f"ana:{OCI}"]]
    assert (requested["situacao"], requested["data_autorizacao"], requested["dias_espera"]) == ("solicitada", "", "")

    # Ordered by OCI, then queue, then position.
    keys = [(r["oci"], r["fila_escopo"], r["fila_codigo"], int(r["posicao"] or 10**9)) for r in rows]
    assert keys == sorted(keys)


async def test_no_names_or_diagnosis_leave(session: AsyncSession, settings: Settings, scenario: Scenario) -> None:
    flt = check_filter("SC", include_terminal=True)
    sink = io.StringIO()
    await write_csv(stream_rows(session, settings, flt), sink, ExportMeta.new(settings))
    document = json.dumps(await _json(session, settings, flt), ensure_ascii=False)
    for content in (sink.getvalue(), document):
        for name in NAMES:
            assert name.split()[0] not in content
        assert "(48) 99988" not in content and "1960-05-17" not in content


async def test_filters_by_oci_and_municipality(session: AsyncSession, settings: Settings, scenario: Scenario) -> None:
    only_other = await _csv(session, settings, check_filter("SC", OTHER_OCI))
    assert [r["protocolo"] for r in only_other] == [scenario.protocols[f"maria:{OTHER_OCI}"]]
    joinville = await _csv(session, settings, check_filter("SC", municipality_ibge=JOINVILLE))
    assert [r["protocolo"] for r in joinville] == [scenario.protocols[f"jaci:{OCI}"]]
    pr = await _csv(session, settings, check_filter("PR"))
    assert [r["protocolo"] for r in pr] == [scenario.protocols[f"pedro:{OCI}"]]
    assert await _csv(session, settings, check_filter("AC")) == []


async def test_closed_entries_only_on_request(session: AsyncSession, settings: Settings, scenario: Scenario) -> None:
    rows = await _csv(session, settings, check_filter("SC", include_terminal=True))
    closed = [r for r in rows if r["ativa"] == "N"]
    assert [(r["protocolo"], r["situacao"]) for r in closed] == [(scenario.protocols[f"rui:{OCI}"], "cancelada")]


async def test_json_matches_the_schema_and_totals(
    session: AsyncSession, settings: Settings, scenario: Scenario
) -> None:
    document = await _json(session, settings, check_filter("SC", include_terminal=True))
    assert schema_check.errors(document, SCHEMA) == []
    entries = document["entradas"]
    assert list(entries[0]) == list(COLUMN_NAMES)
    assert document["uf"] == "SC" and document["filtros"]["incluir_encerradas"] is True
    totals = document["totais"]
    assert totals["entradas"] == len(entries) == 6
    assert totals["ativas"] == sum(e["ativa"] for e in entries) == 5
    assert totals["agendadas"] == 1
    assert {t["oci"]: t["entradas"] for t in totals["por_oci"]} == {OCI: 5, OTHER_OCI: 1}
    assert {t["municipio_ibge"]: t["ativas"] for t in totals["por_municipio"]} == {
        FLORIANOPOLIS: 3,
        SAO_JOSE: 1,
        JOINVILLE: 1,
    }
    jaci = next(e for e in entries if e["cns"] == scenario.cns["jaci"])
    assert jaci["cpf"] is None and jaci["posicao"] is None and jaci["ativa"] is True


async def test_the_schema_check_rejects_what_the_schema_forbids(
    session: AsyncSession, settings: Settings, scenario: Scenario
) -> None:
    document = await _json(session, settings, check_filter("SC"))
    entry = document["entradas"][0]
    broken = [
        entry | {"cpf": None, "cns": None},  # neither document
        entry | {"cpf": "123"},
        entry | {"nome": "Maria"},  # names are not part of the layout
        entry | {"situacao": "perdida"},
        {k: v for k, v in entry.items() if k != "municipio_ibge"},
    ]
    for bad in broken:
        assert schema_check.errors(document | {"entradas": [bad]}, SCHEMA), bad


def test_columns_schema_and_doc_describe_the_same_fields() -> None:
    entry = SCHEMA["$defs"]["entrada"]
    assert list(entry["properties"]) == list(COLUMN_NAMES)
    assert entry["required"] == list(COLUMN_NAMES)
    doc = (DOCS / "waitlist.md").read_text(encoding="utf-8")
    documented = re.findall(r"^\| \d+ \| `([a-z_0-9]+)` \|", doc, flags=re.MULTILINE)
    assert documented == list(COLUMN_NAMES)


async def test_export_is_audited_and_files_appear_after_publish(
    session: AsyncSession, settings: Settings, scenario: Scenario, tmp_path: Path
) -> None:
    flt = check_filter("SC")
    target = tmp_path / "lista.csv"
    staging = Staging()
    report = await export_waitlist(session, settings, flt, "csv", target, staging)
    assert not target.exists()  # staged until the transaction commits
    assert os.listdir(tmp_path) == [".lista.csv.part"]
    staging.publish()
    content = target.read_bytes()
    assert (target.stat().st_mode & 0o777) == 0o600  # CPFs inside
    assert report.files[0].sha256 == hashlib.sha256(content).hexdigest()
    assert report.rows == len(content.decode().splitlines()) - 1 == 5

    audit = (
        await session.execute(
            text("SELECT * FROM audit_event WHERE action = 'export' AND entity_id = :id"), {"id": report.export_id}
        )
    ).one()
    assert audit.entity_type == "waitlist_export" and audit.uf == "SC" and audit.source == "cli"
    assert audit.after["rows"] == 5 and audit.after["format"] == "csv"
    assert audit.after["files"] == [{"name": "lista.csv", "bytes": len(content), "sha256": report.files[0].sha256}]


async def test_discarded_export_leaves_no_file(
    session: AsyncSession, settings: Settings, scenario: Scenario, tmp_path: Path
) -> None:
    staging = Staging()
    await export_waitlist(session, settings, check_filter("SC"), "json", tmp_path / "x.json", staging)
    staging.discard()
    assert os.listdir(tmp_path) == []


async def test_unknown_oci_is_refused(session: AsyncSession, settings: Settings, reference_data: None) -> None:
    with pytest.raises(ValidationFailed) as raised:
        await export_waitlist(
            session, settings, check_filter("SC", "0999999999"), "csv", Path("/nowhere.csv"), Staging()
        )
    assert raised.value.code == "oci_desconhecida"


@pytest.mark.parametrize(
    ("args", "code"),
    [
        ({"uf": None}, "uf_obrigatoria"),
        ({"uf": "XX"}, "uf_invalida"),
        ({"uf": "SC", "oci_code": "12345"}, "oci_invalida"),
        ({"uf": "SC", "oci_code": "0301010072"}, "oci_invalida"),  # a procedure, not an OCI (group 09)
        ({"uf": "SC", "municipality_ibge": "4299999"}, "municipio_desconhecido"),
        ({"uf": "SC", "municipality_ibge": "4106902"}, "municipio_fora_da_uf"),  # Curitiba/PR
    ],
)
def test_filter_errors_have_stable_codes(args: dict[str, Any], code: str) -> None:
    with pytest.raises(ValidationFailed) as raised:
        check_filter(**args)
    assert raised.value.code == code


def test_filter_and_format_normalization() -> None:
    flt = check_filter(" sc ", "09.02.01.002-6", "420540")
    assert (flt.uf, flt.oci_code, flt.municipality_ibge) == ("SC", "0902010026", FLORIANOPOLIS)
    assert check_format("FHIR") == "fhir"
    with pytest.raises(ValidationFailed) as raised:
        check_format("xml")
    assert raised.value.code == "formato_invalido"


def test_file_names(tmp_path: Path) -> None:
    flt = check_filter("SC", OCI, FLORIANOPOLIS, include_terminal=True)
    name = default_filename(flt, "fhir", "202611")
    assert name == f"lista-espera-SC-202611-oci{OCI}-mun{FLORIANOPOLIS}-todas.fhir.json"
    assert resolve_destination(tmp_path, name) == tmp_path / name
    assert resolve_destination(tmp_path / "f.csv", name) == tmp_path / "f.csv"
    with pytest.raises(ValidationFailed) as raised:
        resolve_destination(tmp_path / "no" / "f.csv", name)
    assert raised.value.code == "destino_invalido"
    assert (
        fhir_part_path(tmp_path / name, 2).name
        == f"lista-espera-SC-202611-oci{OCI}-mun{FLORIANOPOLIS}-todas.fhir-0002.json"
    )
