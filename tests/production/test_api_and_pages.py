"""The production API (roles, field errors as problem details, CSV in and out) and the pages a navigator, a provider
and a manager use, on the app as it is served."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from regula.config import Settings
from regula.people.models import Citizen
from regula.production import authorization as auth
from regula.production import control
from tests.conftest import Login, app_client
from tests.production.conftest import PROVIDER_CNES, TODAY, MakeEntry
from tests.web.conftest import HTML, Browser, field_error

MakeUser = Callable[..., Awaitable[Login]]
ECG = "0211020036"
CONSULTA = "0301010072"


@pytest.fixture
def app(settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]) -> Any:
    from regula.web.app import create_app

    return create_app(settings, sessionmaker)


@pytest.fixture
async def api(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(app) as client:
        yield client


@pytest.fixture
async def browser_for(app: Any) -> AsyncIterator[Callable[[Login], Awaitable[Browser]]]:
    clients: list[httpx.AsyncClient] = []

    async def _open(login: Login) -> Browser:
        client = app_client(app)
        clients.append(client)
        response = await client.post(
            "/login", data={"username": login.username, "password": login.password, "next": "/"}, headers=HTML
        )
        assert response.status_code == 303, response.text
        home = await client.get("/", headers=HTML)
        match = re.search(r'name="_csrf" value="([^"]+)"', home.text)
        assert match, home.text
        return Browser(client, match.group(1))

    yield _open
    for c in clients:
        await c.aclose()


def _day(days_ago: int) -> str:
    return (TODAY - timedelta(days=days_ago)).isoformat()


async def test_api_records_concludes_and_closes(
    api: httpx.AsyncClient, session: AsyncSession, make_entry: MakeEntry, make_user: MakeUser
) -> None:
    care = await make_entry("0902010026")
    await session.commit()
    entry_id = care.entry.id
    nav = await make_user("navegador", "uf:SC")
    prov = await make_user("executante", "uf:SC")
    auditor = await make_user("auditor", "uf:SC")
    base = f"/api/v1/production/entries/{entry_id}"

    r = await api.get(base, headers=nav.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["oci_code"] == "0902010026"
    assert [i["code"] for i in body["mandatory"]] == [ECG]
    assert body["complete"] is False and body["clock"]["level"] == "nao_iniciado"

    bad = await api.post(
        f"{base}/procedures",
        json={"procedure_code": "0204030030", "performed_on": _day(1), "cbo": "225125"},
        headers=nav.headers,
    )
    assert bad.status_code == 422
    problem = bad.json()
    assert problem["errors"][0] == {
        "field": "procedure_code",
        "code": "procedimento_fora_da_oci",
        "message": problem["errors"][0]["message"],
    }
    assert "composição da OCI 0902010026" in problem["errors"][0]["message"]
    denied = await api.post(
        f"{base}/procedures",
        json={"procedure_code": ECG, "performed_on": _day(3), "cbo": "225120"},
        headers=auditor.headers,
    )
    assert denied.status_code == 403

    for code, day, who in ((ECG, 3, nav), (CONSULTA, 1, prov)):
        r = await api.post(
            f"{base}/procedures",
            json={"procedure_code": code, "performed_on": _day(day), "cbo": "225125"},
            headers=who.headers,
        )
        assert r.status_code == 201, r.text
    body = r.json()
    assert body["complete"] is True and body["pmae_ok"] is True
    assert body["clock"]["first_on"] == _day(3) and body["clock"]["last_on"] == _day(1)
    assert body["cnes"] == PROVIDER_CNES

    conclusion = {
        "aps_summary": "ECG normal; consulta cardiológica sem alterações.",
        "counter_referral": "Seguir na UBS.",
    }
    r = await api.post(f"{base}/conclusion", json=conclusion, headers=nav.headers)
    assert r.status_code == 403 and r.json()["code"] == "transicao_nao_permitida_ao_papel"
    r = await api.post(f"{base}/conclusion", json=conclusion | {"counter_referral": ""}, headers=prov.headers)
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "contrarreferencia_obrigatoria"
    r = await api.post(f"{base}/conclusion", json=conclusion, headers=prov.headers)
    assert r.status_code == 201, r.text
    assert r.json()["entry_status"] == "concluida" and r.json()["clock"]["within_tm"] is True
    r = await api.post(
        f"{base}/navigator-closing", json={"note": "UBS avisada do retorno do paciente."}, headers=nav.headers
    )
    assert r.status_code == 201 and r.json()["navigator_closed_at"]


async def test_api_numbers_import_findings_indicators_and_apac(
    api: httpx.AsyncClient, session: AsyncSession, settings: Settings, make_entry: MakeEntry, make_user: MakeUser
) -> None:
    care = await make_entry("0902010026")
    await session.commit()
    gestor = await make_user("gestor", "uf:SC")
    reg = await make_user("regulador", "uf:SC")
    nav = await make_user("navegador", "uf:SC")
    prov = await make_user("executante", f"cnes:{PROVIDER_CNES}")

    r = await api.get(
        "/api/v1/production/authorizations/validate", params={"number": "3326702390979"}, headers=nav.headers
    )
    assert r.status_code == 200 and r.json()["program"] == "pmae"
    r = await api.get(
        "/api/v1/production/authorizations/validate", params={"number": "3326702390978"}, headers=nav.headers
    )
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "autorizacao_digito_verificador"

    rng = {
        "cnes": PROVIDER_CNES,
        "instrument": "apac",
        "program": "pmae",
        "first": "422670000001",
        "last": "422670000100",
    }
    assert (await api.post("/api/v1/production/ranges", json=rng, headers=reg.headers)).status_code == 403
    r = await api.post("/api/v1/production/ranges", json=rng, headers=gestor.headers)
    assert r.status_code == 201, r.text
    assert r.json()["remaining"] == 100
    r = await api.post(f"/api/v1/production/entries/{care.entry.id}/authorization", json={}, headers=reg.headers)
    assert r.status_code == 201, r.text
    number = r.json()["number"]
    assert auth.parse_authorization(number).program == "pmae"

    # The provider (CNES jurisdiction) records and concludes the OCI it performs.
    base = f"/api/v1/production/entries/{care.entry.id}"
    for code, day in ((ECG, 3), (CONSULTA, 2)):
        r = await api.post(
            f"{base}/procedures",
            json={"procedure_code": code, "performed_on": _day(day), "cbo": "225125"},
            headers=prov.headers,
        )
        assert r.status_code == 201, r.text
    assert r.json()["authorization_number"] == number

    citizen = await session.get(Citizen, care.entry.citizen_id)
    assert citizen is not None
    competencia = f"{TODAY - timedelta(days=3):%Y%m}"
    lines = [
        "cns;cpf;procedimento;data;cnes;competencia;quantidade;autorizacao;instrumento;principal;cbo;cid",
        f";{citizen.cpf};0902010026;{_day(2)};{PROVIDER_CNES};{competencia};1;{number};apac;0902010026;225125;",
        f";{citizen.cpf};{ECG};{_day(3)};{PROVIDER_CNES};{competencia};1;{number};apac;0902010026;225125;",
        f";{citizen.cpf};{CONSULTA};{_day(2)};{PROVIDER_CNES};{competencia};1;{number};apac;0902010026;225125;",
        f";{citizen.cpf};{ECG};{_day(3)};{PROVIDER_CNES};{competencia};1;;bpa;;225125;",
        ";123;0301010072;01/01/2026;7100001;202601;1;;bpa;;;",
    ]
    files = {"file": ("producao.csv", "\n".join(lines).encode(), "text/csv")}
    r = await api.post("/api/v1/production/imports", files=files, headers=gestor.headers)
    assert r.status_code == 200, r.text
    report = r.json()
    assert (report["imported"], report["refused"]) == (4, 1)
    assert report["errors"][0]["row"] == 5 and report["errors"][0]["field"] == "cpf"

    r = await api.get("/api/v1/production/findings", params={"competencia": competencia}, headers=gestor.headers)
    assert r.status_code == 200, r.text
    assert [f["code"] for f in r.json()] == ["cobranca_duplicada"]
    assert (
        await api.get("/api/v1/production/findings", params={"competencia": competencia}, headers=nav.headers)
    ).status_code == 403
    r = await api.get("/api/v1/production/findings", params={"competencia": "2026-1"}, headers=gestor.headers)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "competencia"
    r = await api.get("/api/v1/production/indicators", params={"competencia": competencia}, headers=nav.headers)
    assert r.status_code == 200, r.text
    [row] = r.json()  # the consultation inside the OCI's APAC is this person's first at the provider
    assert (row["cnes"], row["persons"], row["first"], row["returns"]) == (PROVIDER_CNES, 1, 1, 0)

    r = await api.post(
        f"{base}/conclusion",
        json={"aps_summary": "ECG e consulta realizados sem alterações.", "counter_referral": "Seguimento na UBS."},
        headers=prov.headers,
    )
    assert r.status_code == 201, r.text
    r = await api.get(
        "/api/v1/production/apac",
        params={"competencia": f"{TODAY - timedelta(days=2):%Y%m}", "cnes": PROVIDER_CNES},
        headers=prov.headers,
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/csv; charset=utf-8"  # the charset once
    assert r.headers["x-regula-apacs"] == "1"
    assert f"apac_oci_{PROVIDER_CNES}_" in r.headers["content-disposition"]
    rows = r.text.splitlines()
    assert rows[0].startswith("competencia;cnes_executante;numero_apac;registro")
    assert len(rows) == 4 and all(number in row for row in rows[1:])
    other = await make_user("executante", "cnes:7999999")
    r = await api.get(
        "/api/v1/production/apac", params={"competencia": competencia, "cnes": PROVIDER_CNES}, headers=other.headers
    )
    assert r.status_code == 403


async def test_pages_record_conclude_and_control(
    browser_for: Callable[[Login], Awaitable[Browser]],
    session: AsyncSession,
    make_entry: MakeEntry,
    make_user: MakeUser,
) -> None:
    care = await make_entry("0901010014")  # mammography + consultation/teleconsultation
    await session.commit()
    nav = await browser_for(await make_user("navegador", "uf:SC"))
    page = f"/producao/entradas/{care.entry.id}"

    listing = await nav.get("/producao")
    assert listing.status_code == 200 and care.entry.protocol in listing.text
    r = await nav.get(page)
    assert r.status_code == 200
    assert "Procedimentos obrigatórios" in r.text and "0204030030" in r.text and "Regra PMAE" in r.text
    assert 'name="_csrf"' in r.text

    r = await nav.post(f"{page}/procedimentos", {"procedimento": "0204030030", "data": _day(4), "cbo": "12"})
    assert r.status_code == 422
    assert field_error(r.text, "cbo") == "CBO tem 6 dígitos (por exemplo, 225125)."
    r = await nav.post(f"{page}/procedimentos", {"procedimento": "0204030030", "data": _day(4), "cbo": "225320"})
    assert r.status_code == 303 and r.headers["location"] == f"{page}?feito=registrado"
    r = await nav.post(f"{page}/procedimentos", {"procedimento": "0301010307", "data": _day(1), "cbo": "225125"})
    assert r.status_code == 303
    r = await nav.get(r.headers["location"])
    assert "Procedimento registrado." in r.text and "Conjunto completo" in r.text
    assert "A conclusão é registrada pelo executante" in r.text  # the state table: em_atendimento → concluida

    prov = await browser_for(await make_user("executante", "uf:SC"))
    r = await prov.post(f"{page}/concluir", {"resumo": "curto", "contrarreferencia": ""})
    assert r.status_code == 422 and field_error(r.text, "contrarreferencia")
    r = await prov.post(
        f"{page}/concluir",
        {"resumo": "Mamografia e teleconsulta: achado benigno.", "contrarreferencia": "Rastreamento de rotina na UBS."},
    )
    assert r.status_code == 303
    r = await nav.get(page)
    assert "Retorno à APS" in r.text and "dentro do tM" in r.text
    r = await nav.post(f"{page}/encerrar-navegacao", {"encerramento": "UBS avisada por telefone; retorno agendado."})
    assert r.status_code == 303

    listing = await nav.get("/producao?situacao=concluida")
    assert listing.status_code == 200 and care.entry.protocol in listing.text

    # Production the SIA returned: an OCI APAC the regulation never issued, and its consultation billed alone too.
    day = TODAY - timedelta(days=3)
    person = "52998224725"
    number = auth.compose_apac_aih("42267", 31)
    lines = [
        "cns;cpf;procedimento;data;cnes;competencia;quantidade;autorizacao;instrumento;principal;cbo;cid",
        *(
            f";{person};{code};{day:%d/%m/%Y};{PROVIDER_CNES};{day:%Y%m};1;{number};apac;0902010026;225125;"
            for code in ("0902010026", ECG, CONSULTA)
        ),
        f";{person};{CONSULTA};{day:%d/%m/%Y};{PROVIDER_CNES};{day:%Y%m};1;;bpa;;225125;",
    ]
    await control.import_production(session, "\n".join(lines), filename="sia.csv")
    await session.commit()
    manager = await browser_for(await make_user("gestor", "uf:SC"))
    r = await manager.get(f"/producao/controle?competencia={day:%Y%m}")
    assert r.status_code == 200 and "Controle da produção" in r.text and "efeito velcro" in r.text
    findings = r.text.split("Achados do controle da produção", 1)[1]
    assert "<strong>Procedimento cobrado isoladamente e dentro da OCI</strong>" in findings
    assert "<strong>Produção sem autorização regulada</strong>" in findings
    # The finding is named in Portuguese, with its article; its internal code is not on the screen.
    assert "cobranca_duplicada<" not in findings and "sem_autorizacao_regulada<" not in findings
    assert "Policlínica 7100001" in r.text  # the indicators table
    r = await manager.get(f"/producao/controle?competencia={day:%Y%m}&codigo=cobranca_duplicada")
    assert "<strong>Produção sem autorização regulada</strong>" not in r.text.split("Achados do controle", 1)[1]
    r = await manager.get("/producao/controle?competencia=202613")
    assert r.status_code == 422 and field_error(r.text, "competencia")
    r = await nav.get("/producao/controle")
    assert r.status_code == 403
