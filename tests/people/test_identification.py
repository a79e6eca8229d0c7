"""Identification per Portaria SAES (componente complementar) art. 11: CPF for everyone, CNS for indigenous people
(CNS required for them, CPF optional); the federal export uses the CNS for them; records that already break the
rule are reported — by the managers' list and ``regula people check-identification`` — never changed."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import random
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from tests.conftest import Login
from typer.testing import CliRunner

from regula.access.actor import Actor
from regula.audit.service import AuditContext, set_context
from regula.catalog.service import bundled_sigtap_zip, import_sigtap
from regula.config import Settings
from regula.db.base import utcnow
from regula.db.engine import make_database
from regula.exports.waitlist import ExportMeta, check_filter, stream_rows, write_csv
from regula.people import identification, service
from regula.people.cli import app as people_app
from regula.people.documents import generate_cns, generate_cpf
from regula.people.models import Citizen
from regula.territory.service import load_territory
from regula.waitlist import service as wl
from regula.waitlist.importer import import_referrals
from regula.waitlist.schemas import ReferralCreate

MakeUser = Callable[..., Awaitable[Login]]

FLORIANOPOLIS = "4205407"
JOINVILLE = "4209102"
CURITIBA = "4106902"
OCI = "0902010026"
rng = random.Random(11)


# -- the rule (pure) ----------------------------------------------------------------------------------------------


def test_rule_cpf_for_everyone_cns_for_indigenous_people() -> None:
    cpf, cns = generate_cpf(rng), generate_cns(rng)
    errors = identification.identification_errors
    assert errors(cpf, None, "parda") == []
    assert errors(None, cns, "indigena") == []
    assert errors(cpf, cns, "indígena") == []
    assert [(e.field, e.code) for e in errors(cpf, None, "indigena")] == [("cns", "cns_obrigatorio_indigena")]
    assert [(e.field, e.code) for e in errors(None, None, "indigena", "citizen.")] == [
        ("citizen.cns", "cns_obrigatorio_indigena")
    ]
    assert [(e.field, e.code) for e in errors(None, cns, "branca")] == [("cpf", "cpf_obrigatorio_nao_indigena")]
    assert [(e.field, e.code) for e in errors(None, None, "preta")] == [("cpf", "cpf_obrigatorio")]
    assert "art. 11" in errors(cpf, None, "indigena")[0].message

    assert identification.issue_of(cpf, None, "indigena") == "indigena_sem_cns"
    assert identification.issue_of(cpf, None, "parda") is None
    assert identification.issue_of(None, cns, "indigena") is None

    fed = identification.federal_identifiers
    assert fed(cpf, cns, "indigena") == identification.FederalIdentifiers(None, cns)
    assert fed(cpf, cns, "parda") == identification.FederalIdentifiers(cpf, None)
    assert fed(cpf, None, "indigena") == identification.FederalIdentifiers(cpf, None)  # reported, exported as is
    assert fed(None, cns, "parda") == identification.FederalIdentifiers(None, cns)


# -- the API, the page's service and the import refuse new records that break it ----------------------------------


def citizen_body(**over: Any) -> dict[str, Any]:
    body = {
        "cpf": generate_cpf(rng),
        "name": "Araci Guarani",
        "birth_date": "1980-03-02",
        "sex": "F",
        "race_color": "indigena",
        "municipality_ibge": FLORIANOPOLIS,
        "preferred_channel": "nenhum",
    }
    return body | over


@pytest.mark.usefixtures("reference_data")
async def test_api_refuses_an_indigenous_citizen_without_cns(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    """Done when: an indigenous citizen without CNS is refused naming ``cns``."""
    aps = await make_user("solicitante", f"municipality:{FLORIANOPOLIS}")
    refused = await client.post("/api/v1/citizens", json=citizen_body(), headers=aps.headers)
    assert refused.status_code == 422
    assert [(e["field"], e["code"]) for e in refused.json()["errors"]] == [("cns", "cns_obrigatorio_indigena")]

    referral = {
        "citizen": citizen_body(),
        "oci_code": OCI,
        "cid_code": "Z136",
        "risk_class": "verde",
        "risk_justification": "Dor torácica aos esforços há três meses.",
        "requesting_cnes": "2691868",
    }
    through_referral = await client.post("/api/v1/referrals", json=referral, headers=aps.headers)
    assert through_referral.status_code == 422
    assert ("cns", "cns_obrigatorio_indigena") in {(e["field"], e["code"]) for e in through_referral.json()["errors"]}

    no_cpf = await client.post(
        "/api/v1/citizens", json=citizen_body(cpf=None, cns=generate_cns(rng), race_color="parda"), headers=aps.headers
    )
    assert [(e["field"], e["code"]) for e in no_cpf.json()["errors"]] == [("cpf", "cpf_obrigatorio_nao_indigena")]

    with_cns = await client.post("/api/v1/citizens", json=citizen_body(cns=generate_cns(rng)), headers=aps.headers)
    assert with_cns.status_code == 201, with_cns.text
    cns_only = await client.post(
        "/api/v1/citizens", json=citizen_body(cpf=None, cns=generate_cns(rng)), headers=aps.headers
    )
    assert cns_only.status_code == 201, cns_only.text


@pytest.mark.usefixtures("reference_data")
async def test_page_service_refuses_it_too(session: AsyncSession, settings: Settings) -> None:
    set_context(session, AuditContext.system("cli", "teste"))
    from regula.people.schemas import CitizenCreate

    data = ReferralCreate(
        cid_code="Z136",
        risk_class="verde",
        risk_justification="Dor torácica aos esforços há três meses.",
        requesting_cnes="2691868",
        oci_code=OCI,
        citizen=CitizenCreate(
            name="Araci Guarani",
            birth_date=date(1980, 3, 2),
            sex="F",
            race_color="indigena",
            municipality_ibge=FLORIANOPOLIS,
            cpf=generate_cpf(rng),
            preferred_channel="nenhum",
        ),
    )
    with pytest.raises(wl.ValidationFailed) as caught:
        await wl.create_referral(session, data, Actor.system("teste"), settings)
    assert ("cns", "cns_obrigatorio_indigena") in {(e.field, e.code) for e in caught.value.errors}


@pytest.mark.usefixtures("reference_data")
async def test_import_refuses_an_indigenous_row_without_cns(session: AsyncSession, settings: Settings) -> None:
    set_context(session, AuditContext.system("cli", "teste"))
    header = "id_externo;cpf;cns;nome;data_nascimento;sexo;raca_cor;municipio_ibge;canal;oci;cid;classe_risco"
    header += ";justificativa;cnes_solicitante"
    tail = f";{FLORIANOPOLIS};nenhum;{OCI};Z136;verde;Dor torácica aos esforços.;2691868"
    lines = [
        header,
        f"A-1;{generate_cpf(rng)};;Araci Guarani;1980-03-02;F;05" + tail,
        f"A-2;{generate_cpf(rng)};{generate_cns(rng)};Jaci Kaingang;1981-03-02;F;indígena" + tail,
        f"A-3;;{generate_cns(rng)};Ana Souza;1982-03-02;F;parda" + tail,
    ]
    data = ("\n".join(lines) + "\n").encode()
    report = await import_referrals(session, settings, data, actor=Actor.system("teste"), filename="x.csv")
    assert {(e.row, e.field, e.code) for e in report.errors} == {
        (1, "cns", "cns_obrigatorio_indigena"),
        (3, "cpf", "cpf_obrigatorio_nao_indigena"),
    }
    assert report.imported == 1


# -- the export identifies indigenous citizens by the CNS ---------------------------------------------------------


async def _citizen(session: AsyncSession, **values: Any) -> Citizen:
    """A stored record as it may exist from before the rule (written directly, never through the service)."""
    base = {
        "name": "Pessoa Antiga",
        "search_name": "PESSOA ANTIGA",
        "birth_date": date(1970, 1, 1),
        "sex": "F",
        "race_color": "parda",
        "municipality_ibge": FLORIANOPOLIS,
        "uf": "SC",
        "preferred_channel": "nenhum",
    }
    merged = base | values
    merged["search_name"] = str(merged["name"]).upper()
    citizen = Citizen(**merged)
    session.add(citizen)
    await session.flush()
    return citizen


@pytest.mark.usefixtures("reference_data")
async def test_export_uses_the_cns_for_indigenous_citizens(session: AsyncSession, settings: Settings) -> None:
    set_context(session, AuditContext.system("cli", "teste"))
    actor = Actor("aps.teste", "solicitante")
    catalog = await wl.load_catalog(session, settings)
    cpf_i, cns_i = generate_cpf(rng), generate_cns(rng)
    cpf_p, cns_p = generate_cpf(rng), generate_cns(rng)
    indigenous = await _citizen(session, cpf=cpf_i, cns=cns_i, race_color="indigena")
    other = await _citizen(session, cpf=cpf_p, cns=cns_p)
    legacy = await _citizen(session, cpf=generate_cpf(rng), race_color="indigena")  # breaks art. 11: no CNS
    for c in (indigenous, other, legacy):
        data = ReferralCreate(
            cid_code="Z136",
            risk_class="verde",
            risk_justification="Dor torácica aos esforços há três meses.",
            requesting_cnes="2691868",
            oci_code=OCI,
            citizen_id=c.id,
        )
        await wl.create_referral(session, data, actor, settings, catalog)
    sink = io.StringIO()
    await write_csv(stream_rows(session, settings, check_filter("sc")), sink, ExportMeta.new(settings))
    rows = {(r["cpf"], r["cns"]) for r in csv.DictReader(io.StringIO(sink.getvalue()), delimiter=";")}
    assert ("", cns_i) in rows  # indigenous: by the CNS, even with a CPF on record
    assert (cpf_p, "") in rows  # everyone else: by the CPF
    assert (legacy.cpf, "") in rows  # the record that breaks the rule goes as it is (and is reported)


# -- existing records that break the rule are reported, never changed -------------------------------------------


@pytest.mark.usefixtures("reference_data")
async def test_report_lists_them_in_the_jurisdiction(
    session: AsyncSession, client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    set_context(session, AuditContext.system("cli", "teste"))
    no_cns = await _citizen(session, cpf=generate_cpf(rng), race_color="indigena", name="Iara Antiga")
    other_town = await _citizen(
        session, cpf=generate_cpf(rng), race_color="indigena", municipality_ibge=JOINVILLE, name="Bruno Antigo"
    )
    await _citizen(session, cns=generate_cns(rng), race_color="indigena")  # fine
    await _citizen(session, cpf=generate_cpf(rng))  # fine
    await _citizen(session, cpf=generate_cpf(rng), race_color="indigena", municipality_ibge=CURITIBA, uf="PR")
    await session.commit()

    sc = await service.identification_report(session, Actor.system("teste"), order="name")
    sc_ids = [r.citizen_id for r in sc.rows]
    assert no_cns.id in sc_ids and other_town.id in sc_ids
    assert sc.by_issue["indigena_sem_cns"] >= 1 and sc.total == len(sc.rows)
    assert sc_ids.index(other_town.id) < sc_ids.index(no_cns.id)  # by name: Bruno before Iara
    row = next(r for r in sc.rows if r.citizen_id == no_cns.id)
    assert row.issue == "indigena_sem_cns" and row.cpf_masked and row.cpf_masked.startswith("***")
    # A non-indigenous citizen without CPF cannot even be stored (the table's own check, since migration 0001).
    with pytest.raises(IntegrityError):
        async with session.begin_nested():
            await _citizen(session, cns=generate_cns(rng))

    gestor = await make_user("gestor", "uf:SC")
    answer = await client.get(
        "/api/v1/people/identification-issues", params={"pendencia": "indigena_sem_cns"}, headers=gestor.headers
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert {i["citizen_id"] for i in body["items"]} >= {no_cns.id}
    assert all(i["issue"] == "indigena_sem_cns" for i in body["items"])
    assert all(i["uf"] == "SC" for i in body["items"])
    by_town = await client.get(
        "/api/v1/people/identification-issues", params={"municipio": JOINVILLE}, headers=gestor.headers
    )
    assert [i["citizen_id"] for i in by_town.json()["items"]] == [other_town.id]

    pr = await make_user("gestor", "uf:PR")
    theirs = (await client.get("/api/v1/people/identification-issues", headers=pr.headers)).json()
    assert no_cns.id not in {i["citizen_id"] for i in theirs["items"]}
    aps = await make_user("solicitante", f"municipality:{FLORIANOPOLIS}")
    assert (await client.get("/api/v1/people/identification-issues", headers=aps.headers)).status_code == 403

    # The list read is audited; the records are untouched.
    audited = await session.execute(
        text("SELECT count(*) FROM audit_event WHERE entity_type = 'Citizen' AND actor_username = :u"),
        {"u": gestor.username},
    )
    assert audited.scalar_one() >= 1
    again = await session.get(Citizen, no_cns.id)
    assert again is not None and again.cns is None and again.race_color == "indigena"


async def _seed_cli(url: str, settings: Settings) -> int:
    db = make_database(url, pool_size=2)
    try:
        async with db.transaction() as session:
            set_context(session, AuditContext.system("cli", "teste"))
            await load_territory(session)
            await import_sigtap(session, bundled_sigtap_zip(), settings)
            legacy = await _citizen(session, cpf=generate_cpf(rng), race_color="indigena", created_at=utcnow())
            assert legacy.id is not None
            return legacy.id
    finally:
        await db.dispose()


def test_cli_check_identification(fresh_database_url: str, settings: Settings, tmp_path: Path) -> None:
    runner = CliRunner(
        env={
            "REGULA_DATABASE_URL": fresh_database_url,
            "REGULA_HOME": str(tmp_path / "home"),
            "REGULA_LOG_JSON": "false",
            "REGULA_LOG_LEVEL": "WARNING",
            "COLUMNS": "200",
        }
    )
    clean = runner.invoke(people_app, ["check-identification"])
    assert clean.exit_code == 0, clean.output
    assert "Nenhum cadastro fora da regra" in clean.stdout
    legacy_id = asyncio.run(_seed_cli(fresh_database_url, settings))
    found = runner.invoke(people_app, ["check-identification", "--json"])
    assert found.exit_code == 1, found.output
    report = json.loads(found.stdout)
    assert report["total"] == 1 and report["by_issue"]["indigena_sem_cns"] == 1
    assert report["citizens"][0]["citizen_id"] == legacy_id
    assert "name" not in report["citizens"][0]  # no names on a terminal
    table = runner.invoke(people_app, ["check-identification"])
    assert table.exit_code == 1 and "Pessoa indígena sem CNS (deve ser identificada pelo CNS): 1" in table.stdout
