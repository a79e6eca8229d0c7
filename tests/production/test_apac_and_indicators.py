"""The APAC export (documented CSV: the OCI as principal, its secondaries, the APAC body on every line), its round
trip through production control, and the indicators per provider (first vs return consultations, efeito velcro)."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from regula.config import Settings
from regula.core.errors import PermissionDenied
from regula.people.models import Citizen
from regula.production import apac, control, execution, indicators, numbering
from regula.production.apac import EXPORT_COLUMNS
from tests.production.conftest import (
    EXECUTANTE,
    GESTOR,
    NAVEGADOR,
    PROVIDER_CNES,
    TODAY,
    MakeEntry,
    cpf,
    procedure,
)
from tests.production.test_execution import RETURN

ECG = "0211020036"
CONSULTA = "0301010072"


async def _concluded(
    session: AsyncSession, settings: Settings, make_entry: MakeEntry, *, numbered: bool = True
) -> execution.ExecutionView:
    care = await make_entry("0902010026")
    if numbered:
        await numbering.create_range(
            session, numbering.RangeInput(PROVIDER_CNES, "apac", "pmae", "422670000001", "422670000099"), GESTOR
        )
    entry_id = care.entry.id or 0
    await execution.record_procedure(session, settings, entry_id, procedure(ECG, 2, cbo="225120"), NAVEGADOR)
    await execution.record_procedure(session, settings, entry_id, procedure(CONSULTA, 1), NAVEGADOR)
    return await execution.conclude(session, settings, entry_id, EXECUTANTE, **RETURN)


async def test_apac_export_content(session: AsyncSession, settings: Settings, make_entry: MakeEntry) -> None:
    done = await _concluded(session, settings, make_entry)
    assert done.execution is not None and done.execution.last_on is not None
    competencia = f"{done.execution.last_on:%Y%m}"
    export = await apac.apac_export(session, settings, GESTOR, competencia=competencia, cnes=PROVIDER_CNES)
    assert export.apacs == 1 and export.pending == []
    rows = list(csv.DictReader(io.StringIO(export.csv()), delimiter=";"))
    assert tuple(rows[0]) == EXPORT_COLUMNS
    assert [(r["registro"], r["procedimento_codigo"]) for r in rows] == [
        ("principal", "0902010026"),
        ("secundario", ECG),
        ("secundario", CONSULTA),
    ]
    number = done.execution.authorization_number
    assert number is not None and {r["numero_apac"] for r in rows} == {number}
    citizen = await session.get(Citizen, done.entry.citizen_id)
    assert citizen is not None
    first = rows[0]
    assert first["cpf_paciente"] == citizen.cpf
    assert first["data_nascimento"] == f"{citizen.birth_date:%Y%m%d}"
    assert first["cid_principal"] == done.entry.cid_code
    assert first["data_inicio"] == f"{TODAY - timedelta(days=2):%Y%m%d}"
    assert first["data_fim"] == f"{TODAY - timedelta(days=1):%Y%m%d}"
    assert (first["dias_primeiro_ultimo"], first["tm_dias"], first["dentro_do_tm"]) == ("1", "60", "S")
    assert first["cnes_solicitante"] == done.entry.requesting_cnes
    assert rows[1]["cbo"] == "225120" and rows[2]["cbo"] == "225125"
    assert export.filename == f"apac_oci_{PROVIDER_CNES}_{competencia}.csv"

    # What the SIA would give back, imported and checked: clean; plus the ECG billed alone: a duplicate.
    clean = await control.import_production(session, export.production_csv(), filename="retorno.csv")
    assert clean.refused == 0
    assert await control.check_production(session, settings, GESTOR, competencia=competencia) == []
    alone = (
        "cns;cpf;procedimento;data;cnes;competencia;quantidade;autorizacao;instrumento;principal;cbo;cid\n"
        f";{citizen.cpf};{ECG};{TODAY - timedelta(days=2):%d/%m/%Y};{PROVIDER_CNES};{competencia};1;;bpa;;225120;\n"
    )
    await control.import_production(session, alone, filename="bpa.csv")
    found = await control.check_production(session, settings, GESTOR, competencia=competencia)
    assert [f.code for f in found] == ["cobranca_duplicada"]


async def test_apac_export_lists_what_is_pending_and_checks_jurisdiction(
    session: AsyncSession, settings: Settings, make_entry: MakeEntry
) -> None:
    done = await _concluded(session, settings, make_entry, numbered=False)
    assert done.execution is not None and done.execution.last_on is not None
    competencia = f"{done.execution.last_on:%Y%m}"
    export = await apac.apac_export(session, settings, GESTOR, competencia=competencia, cnes=PROVIDER_CNES)
    assert export.apacs == 0 and len(export.pending) == 1
    assert "sem número de APAC" in export.pending[0]
    other = type(GESTOR)("g", "gestor", jurisdiction=GESTOR.jurisdiction.parse("region:42001"))
    with pytest.raises(PermissionDenied):
        await apac.apac_export(session, settings, other, competencia=competencia, cnes=PROVIDER_CNES)


async def test_first_and_return_consultations_and_velcro(
    session: AsyncSession, settings: Settings, make_entry: MakeEntry
) -> None:
    done = await _concluded(session, settings, make_entry)  # the OCI's citizen went back to APS yesterday
    citizen = await session.get(Citizen, done.entry.citizen_id)
    assert citizen is not None and citizen.cpf is not None
    kept, once = cpf(), cpf()
    month = TODAY.replace(day=1)
    competencia = f"{month:%Y%m}"
    lines = ["cns;cpf;procedimento;data;cnes;competencia;quantidade;autorizacao;instrumento;principal;cbo;cid"]

    def consult(person: str, day: object, quantity: int = 1) -> str:
        return f";{person};{CONSULTA};{day:%d/%m/%Y};{PROVIDER_CNES};{day:%Y%m};{quantity};;bpa;;225125;"

    # "kept": seen every ~2 months for a year at the same provider, once more this month → velcro.
    for months_ago in (10, 8, 6, 4):
        lines.append(consult(kept, month - timedelta(days=30 * months_ago)))
    lines.append(consult(kept, month))
    lines.append(consult(once, month))  # a first consultation
    lines.append(consult(citizen.cpf, TODAY))  # after the OCI concluded and went back to APS
    await control.import_production(session, "\n".join(lines) + "\n", filename="consultas.csv")
    [row] = await indicators.provider_indicators(session, GESTOR, competencia=competencia)
    assert row.cnes == PROVIDER_CNES
    assert (row.persons, row.consultations) == (3, 3)
    assert (row.first, row.returns) == (2, 1)  # the OCI citizen's and "once"'s are first; "kept"'s is a return
    assert row.returns_per_first == 0.5
    assert row.velcro_persons == 1 and row.velcro_share == round(1 / 3, 3)
    assert row.returns_after_conclusion == 1  # the OCI's last procedure was yesterday
