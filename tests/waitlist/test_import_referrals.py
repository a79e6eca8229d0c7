"""Bulk import of referrals (``regula.waitlist.importer``): CSV and JSON, row-level report, idempotence, one active
entry per citizen per OCI, waiting time kept for authorized entries, the import's audit event, the CLI and the API."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
import random
import uuid
from array import array
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from tests.conftest import Login, app_client
from typer.testing import CliRunner

from regula.access.policy import Jurisdiction
from regula.audit import repository as audit_repository
from regula.audit.service import AuditContext, id_ranges, install, set_context
from regula.config import Settings
from regula.db import migrate
from regula.people.documents import generate_cns, generate_cpf
from regula.people.schemas import CitizenCreate
from regula.waitlist import service
from regula.waitlist.importer import (
    FIELDS,
    ImportFileError,
    ImportReport,
    RawRow,
    Validator,
    import_referrals,
    writing,
)
from regula.waitlist.schemas import ReferralCreate

MakeUser = Callable[..., Awaitable[Login]]

FLORIANOPOLIS = "4205407"
SAO_JOSE = "4216602"
JOINVILLE = "4209102"
CARDIO = "0902010026"  # OCI AVALIAÇÃO CARDIOLÓGICA (60 days)
BREAST = "0901010014"  # breast cancer OCI (30 days)
TZ = ZoneInfo("America/Sao_Paulo")
rng = random.Random(20261124)

HEADER = (
    "id_externo",
    "cpf",
    "nome",
    "data_nascimento",
    "sexo",
    "raca_cor",
    "municipio_ibge",
    "telefone",
    "oci",
    "cid",
    "classe_risco",
    "justificativa",
    "cnes_solicitante",
    "status",
    "data_solicitacao",
    "data_autorizacao",
)


def cpf() -> str:
    return generate_cpf(rng)


def row(**over: str) -> dict[str, str]:
    base = {
        "id_externo": f"SISREG-{uuid.uuid4().hex[:10]}",
        "cpf": cpf(),
        "nome": "Maria das Dores Silva",
        "data_nascimento": "1960-05-17",
        "sexo": "F",
        "raca_cor": "parda",
        "municipio_ibge": FLORIANOPOLIS,
        "telefone": "(48) 99988-7766",
        "oci": CARDIO,
        "cid": "",
        "classe_risco": "amarelo",
        "justificativa": "Dor torácica aos esforços há três meses.",
        "cnes_solicitante": "2691868",
        "status": "",
        "data_solicitacao": "",
        "data_autorizacao": "",
    }
    return base | over


def csv_bytes(rows: list[dict[str, str]], delimiter: str = ";", header: tuple[str, ...] = HEADER) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(header), delimiter=delimiter, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def errors_of(report: ImportReport) -> set[tuple[int, str, str]]:
    return {(e.row, e.field, e.code) for e in report.errors}


@pytest.fixture
async def catalog(session: AsyncSession, settings: Settings, reference_data: None) -> service.Catalog:
    set_context(session, AuditContext.system("cli", "teste de importação"))
    return await service.load_catalog(session, settings)


def accepted_cid(catalog: service.Catalog, oci: str = CARDIO) -> str:
    return catalog.ocis[oci].cids[0]


def refused_cid(catalog: service.Catalog, oci: str = CARDIO) -> str:
    cids = catalog.ocis[oci].cids
    return next(c for c in ("Z000", "A009", "J459", "S829") if not any(c.startswith(a) for a in cids))


async def run_import(
    session: AsyncSession, settings: Settings, data: bytes, *, actor: service.Actor | None = None, **kw: Any
) -> ImportReport:
    return await import_referrals(
        session, settings, data, actor=actor or service.Actor.system("teste"), filename=kw.pop("filename", None), **kw
    )


async def count(session: AsyncSession, sql: str, **params: Any) -> int:
    return int((await session.execute(text(sql), params)).scalar_one())


# -- CSV: good and bad rows -------------------------------------------------------------------------------------


async def test_good_rows_imported_bad_rows_reported_and_left_no_trace(
    session: AsyncSession, settings: Settings, catalog: service.Catalog
) -> None:
    cid = accepted_cid(catalog)
    first = row(cid=cid)
    bad_cpf = cpf()
    bad_cpf = bad_cpf[:10] + str((int(bad_cpf[10]) + 1) % 10)
    rows = [
        first,  # 1: good
        row(cid=cid, data_nascimento="17/05/1970", nome="José Data Brasileira", sexo="M"),  # 2: good, DD/MM/YYYY
        row(cid=cid, cpf=bad_cpf, nome="Cpf Errado"),  # 3
        row(cid=cid, municipio_ibge="4299999", nome="Município Inexistente"),  # 4
        row(cid=refused_cid(catalog), nome="Cid Recusado"),  # 5
        row(cid=cid, id_externo="", nome="Sem Identificador"),  # 6
        row(cid=cid, cpf=first["cpf"], nome="Maria das Dores Silva"),  # 7: same citizen and OCI as row 1
        row(cid=cid, data_nascimento="31/02/1980", nome="Data Impossível"),  # 8
        row(cpf=first["cpf"], oci=BREAST, cid=accepted_cid(catalog, BREAST)),  # 9: same citizen, other OCI
    ]
    data = csv_bytes(rows)
    report = await run_import(session, settings, data, filename="sisreg.csv")

    assert (report.rows, report.imported, report.unchanged, report.refused) == (9, 3, 0, 6)
    assert (report.citizens_created, report.entries_created) == (2, 3)
    assert errors_of(report) == {
        (3, "cpf", "cpf_digito_verificador"),
        (4, "municipality_ibge", "municipio_desconhecido"),
        (5, "cid_code", "cid_nao_aceito"),
        (6, "external_id", "obrigatorio"),
        (7, "oci_code", "entrada_ativa_existente"),
        (8, "birth_date", "data_formato"),
    }
    by_row = {e.row: e for e in report.errors}
    assert by_row[3].column == "cpf" and by_row[5].column == "cid"
    assert "linha 1" in by_row[7].message
    assert all(e.message for e in report.errors)

    # Nothing of the refused rows was written: neither the citizen nor the entry.
    for name in ("Cpf Errado", "Município Inexistente", "Cid Recusado", "Sem Identificador", "Data Impossível"):
        assert await count(session, "SELECT count(*) FROM citizen WHERE name = :n", n=name) == 0
    bad_ids = [r["id_externo"] for r in rows[2:8] if r["id_externo"]]
    assert await count(session, "SELECT count(*) FROM waitlist_entry WHERE external_id = ANY(:ids)", ids=bad_ids) == 0
    assert await count(session, "SELECT count(*) FROM citizen WHERE cpf = :c", c=bad_cpf) == 0

    entries = (
        await session.execute(
            text(
                "SELECT e.external_id, e.status, e.external_source, e.scope_kind, e.protocol, c.birth_date, c.cpf "
                "FROM waitlist_entry e JOIN citizen c ON c.id = e.citizen_id WHERE e.external_id = ANY(:ids) "
                "ORDER BY e.id"
            ),
            {"ids": [rows[0]["id_externo"], rows[1]["id_externo"], rows[8]["id_externo"]]},
        )
    ).all()
    assert [e.external_id for e in entries] == [rows[0]["id_externo"], rows[1]["id_externo"], rows[8]["id_externo"]]
    assert {e.status for e in entries} == {"solicitada"} and {e.external_source for e in entries} == {"importacao"}
    assert entries[1].birth_date == date(1970, 5, 17)
    assert entries[0].cpf == entries[2].cpf == first["cpf"]  # one record per person
    assert all(e.protocol.startswith("SC") and len(e.protocol) == 12 for e in entries)
    history = await count(
        session,
        "SELECT count(*) FROM waitlist_entry_event ev JOIN waitlist_entry e ON e.id = ev.entry_id "
        "WHERE e.external_id = ANY(:ids) AND ev.kind = 'created'",
        ids=[r["id_externo"] for r in rows],
    )
    assert history == 3

    # Importing the same file again changes nothing.
    before = await count(session, "SELECT count(*) FROM waitlist_entry") + await count(
        session, "SELECT count(*) FROM citizen"
    )
    again = await run_import(session, settings, data, filename="sisreg.csv")
    assert (again.rows, again.imported, again.unchanged, again.refused) == (9, 0, 3, 6)
    assert errors_of(again) == errors_of(report)
    after = await count(session, "SELECT count(*) FROM waitlist_entry") + await count(
        session, "SELECT count(*) FROM citizen"
    )
    assert after == before


async def test_comma_delimiter_aliases_and_existing_citizen(
    session: AsyncSession, settings: Settings, catalog: service.Catalog
) -> None:
    header = ("external_id", "cpf", "name", "birth_date", "sex", "race_color", "municipality_ibge", "phone")
    header += ("procedure_code", "cid_code", "risk_class", "risk_justification", "requesting_cnes", "gestante")
    # A secondary procedure compatible with exactly one OCI stands for that OCI (amendment, art. 14 §2).
    oci, procedure = next(
        (o, p.code)
        for o in catalog.ocis.values()
        if o.sex is None and (o.age_min_months or 0) <= 60 * 12 <= (o.age_max_months or 1571)
        for p in (*o.mandatory, *o.optional)
        if [x.code for x in catalog.ocis_with_procedure(p.code)] == [o.code]
    )
    existing = await service.citizen_from_data(
        session,
        service.CitizenCreate(
            name="Já Cadastrada",
            birth_date=date(1950, 1, 2),
            sex="F",
            race_color="preta",
            municipality_ibge=SAO_JOSE,
            cpf=cpf(),
            phone="48999887766",
        ),
        date.today(),
    )
    existing_id = existing.id
    rows = [
        {
            "external_id": "ESUS-1",
            "cpf": existing.cpf or "",
            "name": "Nome Diferente No Arquivo",
            "birth_date": "1950-01-02",
            "sex": "feminino",
            "race_color": "Preta",
            "municipality_ibge": FLORIANOPOLIS[:6],
            "phone": "",
            "procedure_code": procedure,
            "cid_code": accepted_cid(catalog, oci.code),
            "risk_class": "Verde",
            "risk_justification": "Avaliação eletiva de sopro cardíaco.",
            "requesting_cnes": "2691868",
            "gestante": "não",
        }
    ]
    # The same row for someone not registered: now the citizen's data count, and a phone is missing for SMS.
    rows.append(rows[0] | {"external_id": "ESUS-2", "cpf": cpf()})
    data = csv_bytes(rows, delimiter=",", header=header)
    report = await run_import(session, settings, data, source="esus")
    assert (report.imported, report.citizens_created, report.refused) == (1, 0, 1), report.errors
    assert errors_of(report) == {(2, "phone", "telefone_obrigatorio")}
    entry = (
        await session.execute(
            text(
                "SELECT citizen_id, municipality_ibge, requested_procedure_code, risk_class FROM waitlist_entry "
                "WHERE external_source = 'esus' AND external_id = 'ESUS-1'"
            )
        )
    ).one()
    # The registered citizen is used as registered: municipality of origin from the record, not from the file.
    assert entry.citizen_id == existing_id and entry.municipality_ibge == SAO_JOSE
    assert entry.requested_procedure_code == procedure and entry.risk_class == "verde"
    assert (
        await count(
            session, "SELECT count(*) FROM waitlist_entry WHERE oci_code = :o AND external_id = 'ESUS-1'", o=oci.code
        )
        == 1
    )


async def test_one_active_entry_per_citizen_and_oci_across_chunks(
    session: AsyncSession, settings: Settings, catalog: service.Catalog
) -> None:
    cid = accepted_cid(catalog)
    person = cpf()
    rows = [
        row(cid=cid, cpf=person),  # chunk 1
        row(cid=cid),
        row(cid=cid, cpf=person),  # chunk 2: same citizen and OCI as row 1
        row(cpf=person, oci=BREAST, cid=accepted_cid(catalog, BREAST)),
        row(cid=accepted_cid(catalog, BREAST), cpf=person, oci=BREAST),  # chunk 3: same as row 4
    ]
    report = await run_import(session, settings, csv_bytes(rows), chunk_size=2)
    assert (report.imported, report.refused, report.citizens_created) == (3, 2, 2)
    assert errors_of(report) == {(3, "oci_code", "entrada_ativa_existente"), (5, "oci_code", "entrada_ativa_existente")}
    assert await count(session, "SELECT count(*) FROM citizen WHERE cpf = :c", c=person) == 1


async def test_duplicate_external_id_in_the_file_is_refused(
    session: AsyncSession, settings: Settings, catalog: service.Catalog
) -> None:
    cid = accepted_cid(catalog)
    rows = [row(cid=cid, id_externo="X-1"), row(cid=cid, id_externo="X-1")]
    report = await run_import(session, settings, csv_bytes(rows))
    assert report.imported == 1
    assert errors_of(report) == {(2, "external_id", "id_externo_repetido")}
    again = await run_import(session, settings, csv_bytes(rows))
    assert (again.unchanged, again.refused) == (1, 1) and errors_of(again) == errors_of(report)


async def test_database_refusal_isolates_the_row(
    session: AsyncSession, settings: Settings, catalog: service.Catalog
) -> None:
    """A CPF held by a merged record is invisible to the look-up, so the database refuses the new citizen: the chunk
    is retried row by row and only that row is refused."""
    cid = accepted_cid(catalog)
    merged = await service.citizen_from_data(
        session,
        service.CitizenCreate(
            name="Registro Antigo", birth_date=date(1980, 1, 1), sex="M", race_color="branca",
            municipality_ibge=FLORIANOPOLIS, cpf=cpf(), preferred_channel="nenhum",
        ),
        date.today(),
    )  # fmt: skip
    survivor = await service.citizen_from_data(
        session,
        service.CitizenCreate(
            name="Registro Atual", birth_date=date(1980, 1, 1), sex="M", race_color="branca",
            municipality_ibge=FLORIANOPOLIS, cpf=cpf(), preferred_channel="nenhum",
        ),
        date.today(),
    )  # fmt: skip
    await session.execute(
        text("UPDATE citizen SET merged_into_id = :s WHERE id = :m"), {"s": survivor.id, "m": merged.id}
    )
    merged_cpf = merged.cpf or ""
    rows = [row(cid=cid), row(cid=cid, cpf=merged_cpf, sexo="M", nome="Registro Antigo"), row(cid=cid)]
    report = await run_import(session, settings, csv_bytes(rows))
    assert (report.imported, report.refused, report.citizens_created) == (2, 1, 2)
    assert errors_of(report) == {(2, "cpf", "cidadao_conflito")}
    assert await count(session, "SELECT count(*) FROM citizen WHERE cpf = :c", c=merged_cpf) == 1


# -- JSON ---------------------------------------------------------------------------------------------------------


def json_row(catalog: service.Catalog, **over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "external_id": f"J-{uuid.uuid4().hex[:8]}",
        "cpf": cpf(),
        "cns": None,
        "name": "Ana Json Souza",
        "birth_date": "1985-03-04",
        "sex": "F",
        "race_color": "branca",
        "municipality_ibge": FLORIANOPOLIS,
        "phone": "+5548999887766",
        "preferred_channel": "whatsapp",
        "contact_consent": True,
        "pregnant": True,
        "cadunico": True,
        "oci_code": CARDIO,
        "cid_code": accepted_cid(catalog),
        "risk_class": "vermelho",
        "risk_justification": "Síncope aos esforços, investigar.",
        "requesting_cnes": "2691868",
        "requesting_ine": "0001234567",
        "checklist": {"ecg_anexado": True},
    }
    return base | over


async def test_json_array_and_json_lines(session: AsyncSession, settings: Settings, catalog: service.Catalog) -> None:
    indigenous = json_row(catalog, cpf=None, cns=generate_cns(rng), race_color="indigena", name="Iracema Cns")
    incomplete = json_row(catalog, checklist={"ecg_anexado": False})
    array = json.dumps([json_row(catalog), indigenous, incomplete, "not an object"]).encode()
    report = await run_import(session, settings, array, fmt="json")
    assert (report.rows, report.imported, report.refused) == (4, 2, 2)
    assert errors_of(report) == {(3, "checklist", "protocolo_incompleto"), (4, "linha", "linha_nao_objeto")}
    flags = (
        await session.execute(
            text(
                "SELECT pregnant, cadunico, contact_consent, preferred_channel FROM citizen "
                "WHERE name = 'Ana Json Souza'"
            )
        )
    ).one()
    assert tuple(flags) == (True, True, True, "whatsapp")

    lines = "\n".join([json.dumps(json_row(catalog, name="Linha Um")), "", "{broken", json.dumps(json_row(catalog))])
    report = await run_import(session, settings, lines.encode(), filename="export.jsonl")
    assert (report.rows, report.imported, report.refused) == (3, 2, 1)
    assert errors_of(report) == {(3, "linha", "json_invalido")}


# -- authorized entries keep their waiting time -------------------------------------------------------------------


async def test_authorized_row_keeps_its_waiting_time_and_gets_a_position(
    session: AsyncSession, settings: Settings, catalog: service.Catalog
) -> None:
    today = service.local_today(settings)
    authorized_on = today - timedelta(days=100)
    rows = [
        row(
            cid=accepted_cid(catalog),
            status="autorizada",
            data_solicitacao=(authorized_on - timedelta(days=20)).strftime("%d/%m/%Y"),
            data_autorizacao=authorized_on.isoformat(),
            municipio_ibge=JOINVILLE,
        ),
        row(cid=accepted_cid(catalog), status="autorizada", municipio_ibge=JOINVILLE),  # no authorization date
        row(cid=accepted_cid(catalog), status="agendada", municipio_ibge=JOINVILLE),
    ]
    report = await run_import(session, settings, csv_bytes(rows))
    assert report.imported == 1 and report.scores == "calculados"
    assert errors_of(report) == {
        (2, "authorized_at", "data_autorizacao_obrigatoria"),
        (3, "status", "status_nao_importavel"),
    }
    entry = (
        await session.execute(
            text("SELECT * FROM waitlist_entry JOIN waitlist_standing ON entry_id = id WHERE external_id = :e"),
            {"e": rows[0]["id_externo"]},
        )
    ).one()
    assert entry.status == "autorizada"
    assert entry.authorized_at.astimezone(TZ) == datetime(
        authorized_on.year, authorized_on.month, authorized_on.day, tzinfo=TZ
    )
    assert entry.requested_at.astimezone(TZ).date() == authorized_on - timedelta(days=20)
    assert entry.position == 1 and entry.queue_size >= 1 and entry.score is not None
    model = await service.get_entry(session, entry.id)
    assert service.tm_deadline(model, today, settings.timezone) == authorized_on + timedelta(days=entry.max_days)
    assert service.days_waiting(model, today, settings.timezone) == 100


async def test_solicitante_cannot_import_authorized_entries(
    session: AsyncSession, settings: Settings, catalog: service.Catalog
) -> None:
    aps = service.Actor("ubs", "solicitante", None, Jurisdiction.parse(f"municipality:{FLORIANOPOLIS}"))
    rows = [row(cid=accepted_cid(catalog), status="autorizada", data_autorizacao="2025-01-10")]
    report = await run_import(session, settings, csv_bytes(rows), actor=aps)
    assert errors_of(report) == {(1, "status", "status_nao_permitido")}


# -- audit --------------------------------------------------------------------------------------------------------


async def test_import_is_audited_as_one_event_naming_file_counts_and_ids(
    session: AsyncSession, settings: Settings, catalog: service.Catalog
) -> None:
    """Decision 0025: no ``create`` row per citizen and entry; one ``import`` event with who, the file's SHA-256, the
    counts and the ids created as runs, answering "who created this record?"."""
    set_context(session, AuditContext(actor_username="operador.sc", actor_role="regulador", source="cli"))
    rows = [row(cid=accepted_cid(catalog)), row(cid=accepted_cid(catalog)), row(cid=accepted_cid(catalog), cpf="1")]
    data = csv_bytes(rows) + b"\r\n\r\n"  # trailing blank lines are part of the file's hash
    report = await run_import(session, settings, data, filename="sisreg.csv")
    assert (report.imported, report.refused) == (2, 1)
    entries = (
        await session.execute(
            text("SELECT id, citizen_id FROM waitlist_entry WHERE external_id = ANY(:e) ORDER BY id"),
            {"e": [r["id_externo"] for r in rows]},
        )
    ).all()
    entry_ids, citizen_ids = [e.id for e in entries], sorted(e.citizen_id for e in entries)
    per_row = await count(
        session,
        "SELECT count(*) FROM audit_event WHERE action = 'create' AND ((entity_type = 'WaitlistEntry' "
        "AND entity_id = ANY(:e)) OR (entity_type = 'Citizen' AND entity_id = ANY(:c)))",
        e=[str(i) for i in entry_ids],
        c=[str(i) for i in citizen_ids],
    )
    assert per_row == 0
    event = (
        await session.execute(
            text(
                "SELECT id, actor_username, source, after, uf, municipality_ibge, entity_type FROM audit_event "
                "WHERE action = 'import' ORDER BY id DESC LIMIT 1"
            )
        )
    ).one()
    assert (event.actor_username, event.source, event.entity_type) == ("operador.sc", "cli", "WaitlistEntry")
    assert (event.uf, event.municipality_ibge) == ("SC", FLORIANOPOLIS)  # every entry in one place
    after = event.after
    assert after["sha256"] == hashlib.sha256(data).hexdigest()
    assert after["filename"] == "sisreg.csv" and after["source"] == "importacao"
    assert (after["rows"], after["imported"], after["unchanged"], after["refused"]) == (3, 2, 0, 1)
    assert (after["citizens_created"], after["entries_created"]) == (2, 2)
    assert "errors" not in after  # the rows' errors go to the report, not to the log

    def covered(runs: list[list[int]]) -> list[int]:
        return [i for first, last in runs for i in range(first, last + 1)]

    assert covered(after["created"]["WaitlistEntry"]) == entry_ids
    assert covered(after["created"]["Citizen"]) == citizen_ids
    # "Who created entry …?": the import's event, for each entry and citizen it wrote.
    auditor = service.Actor("auditor", "auditor")
    for kind, ids in (("WaitlistEntry", entry_ids), ("Citizen", citizen_ids)):
        for i in ids:
            found = await audit_repository.created_by(session, auditor, kind, i)
            assert found is not None and found["id"] == event.id and found["actor_username"] == "operador.sc"
    assert await audit_repository.created_by(session, auditor, "WaitlistEntry", max(entry_ids) + 10_000) is None
    # The auditor's search by entry finds it too.
    search = audit_repository.AuditSearch(entry_id=entry_ids[0], action="create")
    listed = await audit_repository.search_all(session, auditor, search, limit=10)
    assert [r["id"] for r in listed] == [event.id]


async def test_who_created_answers_the_listener_row_and_respects_jurisdiction(
    session: AsyncSession, settings: Settings, catalog: service.Catalog
) -> None:
    """A record created through the API keeps its ``create`` row (the flush listener); an auditor outside the
    import's place does not see its event."""
    install()  # the audit listener (the app installs it; this test calls the service directly)
    referral = ReferralCreate(
        cid_code=accepted_cid(catalog),
        risk_class="amarelo",
        risk_justification="Dor torácica aos esforços há três meses.",
        requesting_cnes="2691868",
        oci_code=CARDIO,
        citizen=CitizenCreate(
            name="Maria das Dores Silva",
            birth_date=date(1960, 5, 17),
            sex="F",
            race_color="parda",
            municipality_ibge=FLORIANOPOLIS,
            cpf=cpf(),
            phone="(48) 99988-7766",
        ),
    )
    aps = service.Actor("ubs", "solicitante", None, Jurisdiction.parse(f"municipality:{FLORIANOPOLIS}"))
    entry = await service.create_referral(session, referral, aps, settings)
    assert entry.id is not None
    national = service.Actor("auditor", "auditor")
    found = await audit_repository.created_by(session, national, "WaitlistEntry", entry.id)
    assert found is not None and (found["action"], found["entity_id"]) == ("create", str(entry.id))
    report = await run_import(session, settings, csv_bytes([row(cid=accepted_cid(catalog))]))
    assert report.imported == 1
    imported = await count(session, "SELECT max(id) FROM waitlist_entry")
    elsewhere = service.Actor("auditor", "auditor", None, Jurisdiction.parse(f"municipality:{JOINVILLE}"))
    here = service.Actor("auditor", "auditor", None, Jurisdiction.parse(f"municipality:{FLORIANOPOLIS}"))
    assert await audit_repository.created_by(session, elsewhere, "WaitlistEntry", imported) is None
    found = await audit_repository.created_by(session, here, "WaitlistEntry", imported)
    assert found is not None and found["action"] == "import"


def test_id_ranges_are_runs_of_consecutive_ids() -> None:
    assert id_ranges([]) == []
    assert id_ranges(array("q", [7, 3, 4, 5, 9, 10, 4])) == [[3, 5], [7, 7], [9, 10]]
    assert id_ranges(range(1, 1_000_001)) == [[1, 1_000_000]]


async def test_protocol_already_taken_is_drawn_again(
    session: AsyncSession, settings: Settings, catalog: service.Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A chunk's protocols are not looked up before the insert: a row whose protocol the database holds is skipped
    by the insert and written with a new one."""
    assert (await run_import(session, settings, csv_bytes([row(cid=accepted_cid(catalog))]))).imported == 1
    taken = (await session.execute(text("SELECT protocol FROM waitlist_entry ORDER BY id DESC LIMIT 1"))).scalar_one()
    draw = writing._random_numbers
    first = [True]

    def numbers(n: int) -> list[int]:
        if first[0]:
            first[0] = False
            return [int(taken[4:]), *draw(n - 1)]  # the first row draws the protocol already taken
        return draw(n)

    monkeypatch.setattr(writing, "_random_numbers", numbers)
    rows = [row(cid=accepted_cid(catalog)), row(cid=accepted_cid(catalog))]
    report = await run_import(session, settings, csv_bytes(rows))
    assert (report.imported, report.refused) == (2, 0)
    protocols = (
        await session.execute(
            text("SELECT protocol FROM waitlist_entry WHERE external_id = ANY(:e)"),
            {"e": [r["id_externo"] for r in rows]},
        )
    ).scalars()
    assert taken not in set(protocols) and not first[0]


async def test_row_imported_meanwhile_is_unchanged(
    session: AsyncSession, settings: Settings, catalog: service.Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A row whose external id another import wrote after this one looked it up: the insert meets the unique
    external id, the chunk is written row by row, and that row is ``unchanged``; the others are imported."""
    earlier = row(cid=accepted_cid(catalog))
    assert (await run_import(session, settings, csv_bytes([earlier]))).imported == 1
    monkeypatch.setattr(writing, "_EXTERNAL_SQL", "SELECT v FROM unnest($2::text[]) AS u(v) WHERE $1 = ''")
    again = row(cid=accepted_cid(catalog), id_externo=earlier["id_externo"])  # another person: planned as new
    report = await run_import(session, settings, csv_bytes([again, row(cid=accepted_cid(catalog))]))
    assert (report.imported, report.unchanged, report.refused) == (1, 1, 0)
    assert report.citizens_created == 1  # the row left unchanged left no citizen behind


# -- file-level errors --------------------------------------------------------------------------------------------


async def test_file_level_errors(session: AsyncSession, settings: Settings, catalog: service.Catalog) -> None:
    with pytest.raises(ImportFileError) as missing:
        await run_import(session, settings, b"cpf;nome\n52998224725;Fulano\n")
    assert missing.value.code == "colunas_obrigatorias_ausentes"
    assert "id_externo" in missing.value.message and "data_nascimento" in missing.value.message
    with pytest.raises(ImportFileError) as latin1:
        await run_import(session, settings, csv_bytes([row(nome="Conceição")]).decode().encode("latin-1"))
    assert latin1.value.code == "arquivo_nao_utf8"
    with pytest.raises(ImportFileError):
        await run_import(session, settings, b"")


# -- the fast path agrees with the official validators -----------------------------------------------------------


def _raw(values: dict[str, str], n: int = 1) -> RawRow:
    return RawRow(n, tuple(values.get(f, "") for f in FIELDS))


async def test_fast_path_never_accepts_what_the_official_rules_refuse(
    session: AsyncSession, settings: Settings, catalog: service.Catalog
) -> None:
    validator = Validator(catalog, settings, service.Actor.system("teste"), service.utcnow())
    r = random.Random(7)
    mutations: list[Callable[[dict[str, str]], None]] = [
        lambda v: v.update(cpf=v["cpf"][:3] + "." + v["cpf"][3:6] + "." + v["cpf"][6:9] + "-" + v["cpf"][9:]),
        lambda v: v.update(cpf=" " + v["cpf"]),
        lambda v: v.update(cpf=v["cpf"][:10] + str((int(v["cpf"][10]) + 1) % 10)),
        lambda v: v.update(cpf="11111111111"),
        lambda v: v.update(cpf="", cns=generate_cns(r)),
        lambda v: v.update(cpf="", cns=generate_cns(r, "provisorio"), race_color="indígena"),
        lambda v: v.update(cns=generate_cns(r)[:14] + "0"),
        lambda v: v.update(race_color="indígena"),  # SAES art. 11: CNS required for indigenous people
        lambda v: v.update(race_color="05", cns=generate_cns(r)),
        lambda v: v.update(name="  Ana   de  Souza "),
        lambda v: v.update(name="Zé"),
        lambda v: v.update(name="Conceição Müller"),
        lambda v: v.update(birth_date="01/13/1990"),
        lambda v: v.update(birth_date="1890-01-01"),
        lambda v: v.update(birth_date=(date.today() + timedelta(days=2)).isoformat()),
        lambda v: v.update(birth_date="2020-01-01", oci_code=BREAST),
        lambda v: v.update(sex="m", oci_code=BREAST, cid_code=accepted_cid(catalog, BREAST)),
        lambda v: v.update(sex="X"),
        lambda v: v.update(race_color="03"),
        lambda v: v.update(race_color="Sem informação"),
        lambda v: v.update(race_color="roxa"),
        lambda v: v.update(municipality_ibge="420540"),
        lambda v: v.update(municipality_ibge=" 4205407"),
        lambda v: v.update(municipality_ibge="4205408"),
        lambda v: v.update(phone=""),
        lambda v: v.update(phone="", preferred_channel="nenhum"),
        lambda v: v.update(phone="12"),
        lambda v: v.update(preferred_channel="SMS "),
        lambda v: v.update(pregnant="sim", sex="M"),
        lambda v: v.update(pregnant="talvez"),
        lambda v: v.update(vulnerability_index="0,25"),
        lambda v: v.update(vulnerability_index="1.5"),
        lambda v: v.update(oci_code=" " + CARDIO),
        lambda v: v.update(oci_code="0000000000"),
        lambda v: v.update(oci_code="", procedure_code="0301010072"),
        lambda v: v.update(cid_code=v["cid_code"].lower() + " "),
        lambda v: v.update(cid_code=refused_cid(catalog)),
        lambda v: v.update(cid_code=accepted_cid(catalog) + "99"),
        lambda v: v.update(risk_class=" Azul"),
        lambda v: v.update(risk_justification="curta"),
        lambda v: v.update(requesting_cnes="269186"),
        lambda v: v.update(requesting_cnes=" 2691868"),
        lambda v: v.update(requesting_ine="123"),
        lambda v: v.update(professional_cns=generate_cns(r)),
        lambda v: v.update(professional_cns="123"),
        lambda v: v.update(professional_cbo=" 225125"),
        lambda v: v.update(professional_cbo="22512 "),
        lambda v: v.update(checklist='{"ecg": true}'),
        lambda v: v.update(checklist='{"ecg": false}'),
        lambda v: v.update(checklist="[1]"),
        lambda v: v.update(external_id=" E-1 "),
        lambda v: v.update(external_id="x" * 65),
        lambda v: v.update(status="autorizada", authorized_at="2025-01-01"),
        lambda v: v.update(status="autorizada", authorized_at="2025-01-01", requested_at="2025-02-01"),
        lambda v: v.update(requested_at="2025-01-01 10:00"),
        lambda v: v.update(requested_at="01/02/2025 10:30"),
        lambda v: v.update(requested_at="2025-01-01T10:00:00-03:00"),
        lambda v: v.update(authorized_at="2025-01-01"),
        lambda v: v.update(social_name="  Nome  Social "),
    ]
    accepted_fast = 0
    for i in range(600):
        values = {
            "external_id": f"E-{i}",
            "cpf": generate_cpf(r),
            "name": "Maria da Silva",
            "birth_date": r.choice(["1960-05-17", "17/05/1960", "1999-12-31"]),
            "sex": r.choice(["F", "M", "feminino"]),
            "race_color": r.choice(["parda", "branca", "preta"]),
            "municipality_ibge": r.choice([FLORIANOPOLIS, JOINVILLE, SAO_JOSE]),
            "phone": "(48) 99988-7766",
            "oci_code": CARDIO,
            "cid_code": accepted_cid(catalog),
            "risk_class": r.choice(["amarelo", "Verde"]),
            "risk_justification": "Justificativa clínica suficiente.",
            "requesting_cnes": "2691868",
        }
        for mutate in r.sample(mutations, r.choice([0, 1, 1, 2, 3])):
            mutate(values)
        raw = _raw(values, i + 1)
        fast, full = validator.fast(raw), validator.full(raw)
        if fast is not None:
            accepted_fast += 1
            assert fast == full, values
    assert accepted_fast > 100


# -- CLI ----------------------------------------------------------------------------------------------------------


async def _admin(url: str, *statements: str) -> None:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        for statement in statements:
            await conn.execute(text(statement))
    await engine.dispose()


async def _seed(url: str, home: Path) -> str:
    """Reference data into the CLI's database; returns a CID the cardiology OCI accepts."""
    from regula.catalog.service import bundled_sigtap_zip, import_sigtap
    from regula.db.engine import make_database
    from regula.territory.service import load_territory

    db = make_database(url, pool_size=1)
    try:
        settings = Settings(home=home, database_url=SecretStr(url))
        async with db.transaction() as s:
            await load_territory(s)
            await import_sigtap(s, bundled_sigtap_zip(), settings)
        async with db.transaction() as s:
            return accepted_cid(await service.load_catalog(s, settings))
    finally:
        await db.dispose()


@pytest.fixture(scope="module")
def cli_database(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    name = f"regula_import_cli_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin(database_url, f'CREATE DATABASE "{name}"'))
    url = make_url(database_url).set(database=name).render_as_string(hide_password=False)
    try:
        migrate.upgrade(url)
        cid = asyncio.run(_seed(url, tmp_path_factory.mktemp("seed-home")))
        yield url, cid
    finally:
        asyncio.run(
            _admin(
                database_url,
                f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'",
                f'DROP DATABASE IF EXISTS "{name}"',
            )
        )


@pytest.fixture(scope="module")
def cli(cli_database: tuple[str, str], tmp_path_factory: pytest.TempPathFactory) -> CliRunner:
    env = {
        "REGULA_DATABASE_URL": cli_database[0],
        "REGULA_HOME": str(tmp_path_factory.mktemp("cli-home")),
        "REGULA_LOG_JSON": "false",
        "REGULA_LOG_LEVEL": "WARNING",
        "COLUMNS": "200",
    }
    return CliRunner(env=env)


def _cli_rows(n: int, cid: str) -> list[dict[str, str]]:
    return [row(cid=cid, nome=f"Pessoa Cli {i}") for i in range(n)]


def test_cli_exit_codes_and_report(cli: CliRunner, cli_database: tuple[str, str], tmp_path: Path) -> None:
    from regula.waitlist.cli import import_app

    url, cid = cli_database
    good = tmp_path / "bons.csv"
    good.write_bytes(csv_bytes(_cli_rows(3, cid)))
    report_path = tmp_path / "relatorio.json"
    result = cli.invoke(import_app, ["referrals", str(good), "--report", str(report_path)])
    assert result.exit_code == 0, result.output
    saved = json.loads(report_path.read_text())
    assert (saved["rows"], saved["imported"], saved["unchanged"], saved["refused"], saved["errors"]) == (3, 3, 0, 0, [])
    assert "3 importadas" in result.stdout

    again = cli.invoke(import_app, ["referrals", str(good), "--report", str(report_path)])
    assert again.exit_code == 0, again.output
    assert json.loads(report_path.read_text())["unchanged"] == 3

    mixed = tmp_path / "mistos.json"
    rows = _cli_rows(2, cid)
    rows[1]["municipio_ibge"] = "4299999"
    mixed.write_text(json.dumps(rows))
    result = cli.invoke(import_app, ["referrals", str(mixed), "--report", str(report_path), "--source", "sisreg"])
    assert result.exit_code == 1, result.output
    saved = json.loads(report_path.read_text())
    assert (saved["imported"], saved["refused"]) == (1, 1)
    assert [(e["row"], e["field"], e["code"]) for e in saved["errors"]] == [
        (2, "municipality_ibge", "municipio_desconhecido")
    ]

    columns = tmp_path / "colunas.csv"
    columns.write_text("cpf;nome\n52998224725;Fulano\n")
    result = cli.invoke(import_app, ["referrals", str(columns), "--report", str(report_path)])
    assert result.exit_code == 2
    assert "id_externo" in result.stderr and "colunas_obrigatorias_ausentes" in result.stderr
    assert json.loads(report_path.read_text())["error"]["code"] == "colunas_obrigatorias_ausentes"

    assert cli.invoke(import_app, ["referrals", str(tmp_path / "nao-existe.csv")]).exit_code == 2

    async def committed() -> int:
        engine = create_async_engine(url)
        async with engine.connect() as conn:
            n = (await conn.execute(text("SELECT count(*) FROM waitlist_entry"))).scalar_one()
        await engine.dispose()
        return int(n)

    assert asyncio.run(committed()) == 4


# -- API ----------------------------------------------------------------------------------------------------------


@pytest.fixture
async def api(settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[httpx.AsyncClient]:
    from regula import routes
    from regula.waitlist.import_routes import ROUTES
    from regula.web.app import create_app

    wired = any(handler in routes.all_routes() for handler in ROUTES)
    async with app_client(create_app(settings, sessionmaker, extra_routes=None if wired else list(ROUTES))) as c:
        yield c


async def test_api_upload_and_jurisdiction(
    api: httpx.AsyncClient, make_user: MakeUser, catalog: service.Catalog, session: AsyncSession
) -> None:
    aps = await make_user("solicitante", f"municipality:{FLORIANOPOLIS}")
    cid = accepted_cid(catalog)
    rows = [row(cid=cid), row(cid=cid, municipio_ibge=JOINVILLE), row(cid=cid, cpf="123")]
    response = await api.post(
        "/api/v1/referrals/import",
        files={"file": ("encaminhamentos.csv", csv_bytes(rows), "text/csv")},
        headers=aps.headers,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["rows"], body["imported"], body["refused"]) == (3, 1, 2)
    assert {(e["row"], e["field"], e["code"]) for e in body["errors"]} == {
        (2, "municipality_ibge", "fora_da_jurisdicao"),
        (3, "cpf", "cpf_formato"),
    }
    audited = await count(
        session,
        "SELECT count(*) FROM audit_event WHERE action = 'import' AND entity_type = 'WaitlistEntry' "
        "AND actor_username = :u AND source = 'api' AND (after ->> 'entries_created')::int = 1",
        u=aps.username,
    )
    assert audited == 1  # one event for the import (decision 0025), by the uploader, through the API

    as_json = [json_row(catalog, pregnant=False), json_row(catalog, municipality_ibge=SAO_JOSE)]
    response = await api.post("/api/v1/referrals/import", json=as_json, headers=aps.headers)
    assert response.status_code == 200, response.text
    assert [(e["row"], e["code"]) for e in response.json()["errors"]] == [(2, "fora_da_jurisdicao")]

    again = await api.post("/api/v1/referrals/import", json=as_json, headers=aps.headers)
    assert (again.json()["unchanged"], again.json()["imported"]) == (1, 0)

    bad = await api.post("/api/v1/referrals/import", content=b"cpf;nome\n1;2\n", headers=aps.headers)
    assert bad.status_code == 422
    assert bad.json()["code"] == "colunas_obrigatorias_ausentes"


async def test_api_roles(api: httpx.AsyncClient, make_user: MakeUser, catalog: service.Catalog) -> None:
    navigator = await make_user("navegador", "uf:SC")
    denied = await api.post("/api/v1/referrals/import", json=[], headers=navigator.headers)
    assert denied.status_code == 403
    regulator = await make_user("regulador", "uf:SC")
    rows = [json_row(catalog, status="autorizada", authorized_at="2025-06-01", municipality_ibge=JOINVILLE)]
    ok = await api.post("/api/v1/referrals/import", json=rows, headers=regulator.headers)
    assert ok.status_code == 200 and ok.json()["imported"] == 1, ok.text
    assert (await api.post("/api/v1/referrals/import", json=[], headers=regulator.headers)).json()["rows"] == 0
