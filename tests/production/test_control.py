"""Production control (amendment to Portaria 3.492/2024, art. 14 §3): import of SIA/BPA-like lines and each
finding, on real SIGTAP compositions."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from regula.config import Settings
from regula.core.errors import ValidationFailed
from regula.people.models import Citizen
from regula.production import authorization as auth
from regula.production import control, numbering
from regula.production.models import ProductionRecord
from tests.production.conftest import GESTOR, PROVIDER_CNES, REGULADOR, TODAY, MakeEntry, cpf, ensure_establishment

HEADER = "cns;cpf;procedimento;data;cnes;competencia;quantidade;autorizacao;instrumento;principal;cbo;cid"
CARDIO = "0902010026"  # mandatory ECG 0211020036; PMAE consultation pair; tM 60
ECG = "0211020036"
CONSULTA = "0301010072"
DAY = TODAY - timedelta(days=20)
COMPETENCIA = f"{DAY:%Y%m}"


def line(
    person: str,
    code: str,
    day: date = DAY,
    *,
    number: str = "",
    principal: str = "",
    quantity: int = 1,
    instrument: str = "",
    cnes: str = PROVIDER_CNES,
) -> str:
    return f";{person};{code};{day:%d/%m/%Y};{cnes};{day:%Y%m};{quantity};{number};{instrument};{principal};225125;I10"


def oci_apac(person: str, number: str, codes: list[str], day: date = DAY, oci: str = CARDIO) -> list[str]:
    lines = [line(person, oci, day, number=number, principal=oci)]
    lines += [line(person, c, day - timedelta(days=i), number=number, principal=oci) for i, c in enumerate(codes)]
    return lines


def csv_of(lines: list[str]) -> str:
    return "\n".join([HEADER, *lines]) + "\n"


async def _authorized(session: AsyncSession, settings: Settings, make_entry: MakeEntry) -> tuple[str, str]:
    """A regulated entry with an APAC number issued by regula: (its citizen's CPF, the number)."""
    care = await make_entry(CARDIO)
    await ensure_establishment(session)
    number = auth.compose_apac_aih("42267", 777)
    await numbering.authorize_entry(session, settings, care.entry.id or 0, REGULADOR, number=number)
    citizen = await session.get(Citizen, care.entry.citizen_id)
    assert citizen is not None and citizen.cpf is not None
    return citizen.cpf, number


async def _check(session: AsyncSession, settings: Settings, lines: list[str]) -> list[control.Finding]:
    report = await control.import_production(session, csv_of(lines), filename="producao.csv", imported_by="t")
    assert report.refused == 0, report.errors
    return await control.check_production(session, settings, GESTOR, competencia=COMPETENCIA, until=f"{TODAY:%Y%m}")


async def test_clean_oci_production_has_no_finding(
    session: AsyncSession, settings: Settings, make_entry: MakeEntry
) -> None:
    person, number = await _authorized(session, settings, make_entry)
    assert await _check(session, settings, oci_apac(person, number, [ECG, CONSULTA])) == []


async def test_duplicate_billing_is_flagged(session: AsyncSession, settings: Settings, make_entry: MakeEntry) -> None:
    person, number = await _authorized(session, settings, make_entry)
    lines = oci_apac(person, number, [ECG, CONSULTA])
    lines.append(line(person, ECG, DAY, instrument="bpa"))  # the same ECG, billed alone
    lines.append(line(cpf(), ECG, DAY, instrument="bpa"))  # someone else's ECG: fine
    findings = await _check(session, settings, lines)
    assert [f.code for f in findings] == ["cobranca_duplicada"]
    f = findings[0]
    assert f.procedure_code == ECG and f.oci_code == CARDIO and f.authorization_number == number
    assert "cobrado isoladamente (BPA" in f.message and "dentro da OCI 0902010026" in f.message
    assert f.person.startswith("CPF ***.")
    assert "art. 14 §3 IV" in f.article
    assert len(f.record_ids) == 2


async def test_outside_composition_and_above_quantity(
    session: AsyncSession, settings: Settings, make_entry: MakeEntry
) -> None:
    person, number = await _authorized(session, settings, make_entry)
    lines = oci_apac(person, number, [ECG, CONSULTA, CONSULTA, CONSULTA, "0204030030"])  # 3 consultations; mammography
    codes = sorted((f.code, f.procedure_code) for f in await _check(session, settings, lines))
    assert codes == [("acima_da_quantidade", CONSULTA), ("fora_da_composicao", "0204030030")]


async def test_span_beyond_tm(session: AsyncSession, settings: Settings, make_entry: MakeEntry) -> None:
    person, number = await _authorized(session, settings, make_entry)
    lines = [
        line(person, CARDIO, DAY, number=number, principal=CARDIO),
        line(person, CONSULTA, DAY, number=number, principal=CARDIO),
        line(person, ECG, DAY - timedelta(days=61), number=number, principal=CARDIO),
    ]
    findings = await _check(session, settings, lines)
    assert [f.code for f in findings] == ["prazo_tm_excedido"]
    assert "levou 61 dias" in findings[0].message and "tM) é de 60 dias" in findings[0].message


async def test_production_without_regulated_authorization(
    session: AsyncSession, settings: Settings, make_entry: MakeEntry
) -> None:
    _person, number = await _authorized(session, settings, make_entry)
    stranger = cpf()
    unknown = auth.compose_apac_aih("42267", 4242)
    lines = oci_apac(stranger, unknown, [ECG, CONSULTA])  # a valid number regula never issued
    lines += [line(stranger, CARDIO, DAY, principal=CARDIO), line(stranger, ECG, DAY, principal=CARDIO)]  # no number
    lines += [line(stranger, CONSULTA, DAY, principal=CARDIO)]
    lines += oci_apac(cpf(), number, [ECG, CONSULTA])  # the regulated number, used for someone else
    findings = await _check(session, settings, lines)
    kinds = sorted(f.code for f in findings)
    assert kinds == ["autorizacao_divergente", "sem_autorizacao_regulada", "sem_autorizacao_regulada"]
    texts = " ".join(f.message for f in findings)
    assert "sem número de autorização" in texts and "não emitiu nem registrou" in texts
    assert "emitida para outra pessoa" in texts


async def test_incomplete_oci_and_unknown_oci(session: AsyncSession, settings: Settings, make_entry: MakeEntry) -> None:
    person, number = await _authorized(session, settings, make_entry)
    other = auth.compose_apac_aih("42267", 778)
    lines = oci_apac(person, number, [CONSULTA, "0202010279"])  # no ECG, the mandatory exam
    lines += oci_apac(person, other, [CONSULTA], oci="0909999999")
    findings = await _check(session, settings, lines)
    assert sorted(f.code for f in findings) == ["oci_desconhecida", "oci_incompleta"]
    incomplete = next(f for f in findings if f.code == "oci_incompleta")
    assert ECG in incomplete.message


async def test_import_validates_each_field_and_is_idempotent(session: AsyncSession, make_entry: MakeEntry) -> None:
    await ensure_establishment(session)
    good = line(cpf(), CONSULTA, instrument="bpa")
    bad_number = auth.compose_apac_aih("42267", 5)[:-1] + "0"
    if auth.check_digit(bad_number[:12]) == "0":
        bad_number = bad_number[:-1] + "1"
    lines = [
        good,
        ";12345678900;0301010072;01/01/2026;7100001;202601;1;;;;;",  # CPF check digit
        f";{cpf()};03010;32/01/2026;71;2026-1;0;;xyz;;12;ZZZ",
        f";{cpf()};{CONSULTA};{DAY:%d/%m/%Y};{PROVIDER_CNES};{DAY:%m/%Y};1;{bad_number};apac;{CARDIO};;",
        ";;0301010072;01/01/2026;7100001;202601;1;;;;;",
    ]
    content = csv_of(lines)
    report = await control.import_production(session, content, filename="lote.csv")
    assert (report.rows, report.imported, report.refused, report.unchanged) == (5, 1, 4, False)
    by_row: dict[int, set[str]] = {}
    for e in report.errors:
        by_row.setdefault(e.row, set()).add(e.code)
    assert by_row[2] == {"cpf_digito_verificador"}
    assert by_row[3] == {
        "procedimento_formato",
        "data_invalida",
        "cnes_formato",
        "competencia_invalida",
        "quantidade_invalida",
        "instrumento_invalido",
        "cbo_formato",
        "cid_formato",
    }
    assert by_row[4] == {"autorizacao_digito_verificador"}
    assert by_row[5] == {"documento_obrigatorio"}
    again = await control.import_production(session, content, filename="lote.csv")
    assert again.unchanged and again.import_id == report.import_id
    restricted = await control.import_production(
        session, csv_of([line(cpf(), CONSULTA, cnes="7999999")]), allowed_cnes={PROVIDER_CNES}
    )
    assert [e.code for e in restricted.errors] == ["fora_da_jurisdicao"]
    assert all(r.cnes == PROVIDER_CNES for r in (await session.execute(select(ProductionRecord))).scalars())


async def test_missing_columns_and_period_errors(session: AsyncSession, settings: Settings) -> None:
    with pytest.raises(ValidationFailed) as exc:
        await control.import_production(session, "procedimento;data\n0301010072;01/01/2026\n")
    assert exc.value.errors[0].code == "colunas_ausentes"
    with pytest.raises(ValidationFailed) as period:
        await control.check_production(session, settings, GESTOR, competencia="202613")
    assert period.value.errors[0].code == "competencia_invalida"
    with pytest.raises(ValidationFailed) as inverted:
        await control.check_production(session, settings, GESTOR, competencia="202602", until="202601")
    assert inverted.value.errors[0].code == "periodo_invertido"
