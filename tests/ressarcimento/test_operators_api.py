"""The Ressarcimento API and pages on the app as it is served: roles (gestor changes, auditor reads), field errors as
problem details, paged/sorted/filtered lists, the attestation with its expected COR and proposed sanction, the COR
issued against it, the caps per region, and the CSV/XLSX reports."""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from regula.config import Settings
from tests.conftest import Login, app_client
from tests.ressarcimento.operators_support import YEAR, establishment, prepare, produce
from tests.web.conftest import HTML, Browser

MakeUser = Callable[..., Awaitable[Login]]
pytestmark = pytest.mark.usefixtures("reference_data")
BASE = "/api/v1/ressarcimento"
UNIT = "7993001"


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
        match = re.search(r'name="_csrf" value="([^"]+)"', (await client.get("/", headers=HTML)).text)
        assert match
        return Browser(client, match.group(1))

    yield _open
    for c in clients:
        await c.aclose()


async def _active_operator(api: httpx.AsyncClient, gestor: Login, ans: str = "419401") -> int:
    r = await api.post(
        f"{BASE}/operators",
        json={
            "ans_registration": ans,
            "name": f"Operadora {ans}",
            "size": "medio",
            "uf": "SC",
            "technical_capacity": True,
            "ans_reports_regular": True,
        },
        headers=gestor.headers,
    )
    assert r.status_code == 201, r.text
    oid = int(r.json()["id"])
    for status in ("aprovada_saes", "consulta_entes", "transacao_parcelamento", "termo_compromisso", "ativa"):
        r = await api.post(f"{BASE}/operators/{oid}/steps", json={"to_status": status}, headers=gestor.headers)
        assert r.status_code == 201, r.text
    assert r.json()["status"] == "ativa" and r.json()["status_label"] == "Ativa"
    r = await api.post(
        f"{BASE}/operators/{oid}/units", json={"cnes": UNIT, "relation": "propria"}, headers=gestor.headers
    )
    assert r.status_code == 201, r.text
    r = await api.put(f"{BASE}/operators/{oid}/annual-max/{YEAR}", json={"value_brl": 1500000}, headers=gestor.headers)
    assert r.status_code == 200, r.text
    r = await api.post(
        f"{BASE}/operators/{oid}/matrix",
        json={
            "cnes": UNIT,
            "component": "cirurgia",
            "procedure_code": "0405050372",
            "name": "Facoemulsificação",
            "unit_value_brl": "771.60",
            "ivr": 1.5,
            "monthly_qty": 90,
            "annual_qty": 1080,
        },
        headers=gestor.headers,
    )
    assert r.status_code == 201, r.text
    assert r.json()["value_brl"] == 1157.40
    return oid


async def test_api_roles_errors_lists_attestation_and_reports(
    api: httpx.AsyncClient, session: AsyncSession, make_user: MakeUser
) -> None:
    prepare(session)
    await establishment(session, UNIT, "4205407")
    await session.commit()
    gestor = await make_user("gestor", "uf:SC")
    auditor = await make_user("auditor", "uf:SC")
    regulador = await make_user("regulador", "uf:SC")
    other_uf = await make_user("gestor", "uf:PR")

    bad = await api.post(
        f"{BASE}/operators",
        json={"ans_registration": "1", "name": "", "size": "x", "uf": "SC"},
        headers=gestor.headers,
    )
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"ans_registration", "name", "size"}
    denied = await api.post(
        f"{BASE}/operators",
        json={"ans_registration": "419499", "name": "X", "size": "medio", "uf": "SC"},
        headers=auditor.headers,
    )
    assert denied.status_code == 403
    assert (await api.get(f"{BASE}/operators", headers=regulador.headers)).status_code == 403

    oid = await _active_operator(api, gestor)
    await _active_operator(api, gestor, "419402")
    listed = (await api.get(f"{BASE}/operators?sort=-ans", headers=auditor.headers)).json()
    assert listed["total"] == 2 and [o["ans_registration"] for o in listed["items"]] == ["419402", "419401"]
    filtered = (await api.get(f"{BASE}/operators?q=419401&status=ativa", headers=auditor.headers)).json()
    assert [o["id"] for o in filtered["items"]] == [oid]
    assert (await api.get(f"{BASE}/operators", headers=other_uf.headers)).json()["total"] == 0
    assert (await api.get(f"{BASE}/operators/{oid}", headers=other_uf.headers)).status_code == 404
    bad_money = await api.put(
        f"{BASE}/operators/{oid}/annual-max/{YEAR}", json={"value_brl": "12.345"}, headers=gestor.headers
    )
    assert bad_money.status_code == 422 and bad_money.json()["errors"][0]["field"] == "value_brl"

    await produce(session, UNIT, 1, authorized=85, unauthorized=1)
    await session.commit()
    attested = await api.post(
        f"{BASE}/operators/{oid}/attestations", json={"competencia": f"01/{YEAR}"}, headers=gestor.headers
    )
    assert attested.status_code == 201, attested.text
    body = attested.json()
    assert body["expected_cor_brl"] == 98379.00 and body["cor_expected"] is True
    assert body["unauthorized_items"] == 1 and body["sanction"] == "nenhuma" and body["proposed_sanction"] is None
    again = await api.post(
        f"{BASE}/operators/{oid}/attestations", json={"competencia": f"{YEAR}01"}, headers=gestor.headers
    )
    assert again.status_code == 409
    bad_comp = await api.post(
        f"{BASE}/operators/{oid}/attestations", json={"competencia": "2025-1"}, headers=gestor.headers
    )
    assert bad_comp.status_code == 422 and bad_comp.json()["errors"][0]["field"] == "competencia"

    comp = f"{YEAR}01"
    r = await api.post(
        f"{BASE}/operators/{oid}/attestations/{comp}/homologation", json={"on": "2026-01-15"}, headers=gestor.headers
    )
    assert r.status_code == 201, r.text
    r = await api.post(
        f"{BASE}/operators/{oid}/attestations/{comp}/cor",
        json={"number": "COR-1", "issued_on": "2026-01-20", "value_brl": 98379},
        headers=gestor.headers,
    )
    assert r.status_code == 201, r.text
    assert r.json()["cor_difference_brl"] == 0 and r.json()["status"] == "cor_emitido"
    one = await api.get(f"{BASE}/operators/{oid}/attestations/{comp}", headers=auditor.headers)
    assert one.status_code == 200 and one.json()["cor_issued_brl"] == 98379.00
    page = (await api.get(f"{BASE}/attestations?operator_id={oid}", headers=auditor.headers)).json()
    assert page["total"] == 1
    caps = (await api.get(f"{BASE}/operators/{oid}/caps?year={YEAR}", headers=auditor.headers)).json()
    assert caps["used_total_brl"] == 98379.00 and caps["national_large"] is False
    sanctions = (await api.get(f"{BASE}/sanctions", headers=auditor.headers)).json()
    assert sanctions["total"] == 0

    csv = await api.get(f"{BASE}/reports/atestados?format=csv", headers=auditor.headers)
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    text = csv.content.decode("utf-8-sig")
    assert "COR esperado (R$)" in text and "98379,00" in text
    xlsx = await api.get(f"{BASE}/reports/tetos?format=xlsx&year={YEAR}", headers=auditor.headers)
    assert xlsx.status_code == 200
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet is not None and sheet["D1"].value == "Teto"
    assert any(row[3] == "Sul" for row in sheet.iter_rows(values_only=True))
    unknown = await api.get(f"{BASE}/reports/outro", headers=auditor.headers)
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "kind"


async def test_pages_register_attest_and_show_the_expected_cor(
    api: httpx.AsyncClient,
    session: AsyncSession,
    make_user: MakeUser,
    browser_for: Callable[[Login], Awaitable[Browser]],
) -> None:
    prepare(session)
    await establishment(session, UNIT, "4205407")
    await session.commit()
    gestor = await make_user("gestor", "uf:SC")
    auditor = await make_user("auditor", "uf:SC")
    web = await browser_for(gestor)

    refused = await web.post(
        "/ressarcimento/operadoras", {"registro_ans": "12", "nome": "", "porte": "medio", "uf": "SC"}
    )
    assert refused.status_code == 422
    assert "O registro ANS tem 6 dígitos." in refused.text
    created = await web.post(
        "/ressarcimento/operadoras",
        {
            "registro_ans": "419501",
            "nome": "Operadora Página",
            "porte": "medio",
            "uf": "SC",
            "capacidade_tecnica": "1",
            "envio_ans_regular": "1",
        },
    )
    assert created.status_code == 303
    location = created.headers["location"]
    oid = int(location.split("/")[-1].split("?")[0])
    shown = await web.get(location)
    assert "Operadora cadastrada" in shown.text and "Manifestação de interesse" in shown.text

    oid = await _active_operator(api, gestor, "419502")
    await produce(session, UNIT, 1, authorized=60)
    await session.commit()
    page = await web.get(f"/ressarcimento/operadoras/{oid}")
    assert "Atestar competência" in page.text
    wrong = await web.post(f"/ressarcimento/operadoras/{oid}/atestar", {"competencia": "13/2025"})
    assert wrong.status_code == 422 and "Competência no formato AAAAMM" in wrong.text
    done = await web.post(f"/ressarcimento/operadoras/{oid}/atestar", {"competencia": f"{YEAR}01"})
    assert done.status_code == 303, done.text
    month = await web.get(done.headers["location"])
    assert "Competência atestada." in month.text
    assert "Sem COR nesta competência; R$ 69.444,00 segue para a próxima" in month.text

    reader = await browser_for(auditor)
    listing = await reader.get("/ressarcimento?ordem=-ans&busca=4195")
    assert listing.status_code == 200 and "Operadora 419502" in listing.text
    assert "Registrar manifestação de interesse" not in listing.text  # auditors read
    assert (
        await reader.post(f"/ressarcimento/operadoras/{oid}/atestar", {"competencia": f"{YEAR}02"})
    ).status_code == 403
    for path in ("/ressarcimento/atestados?abaixo_90=1", "/ressarcimento/sancoes", f"/ressarcimento/tetos?ano={YEAR}"):
        r = await reader.get(path)
        assert r.status_code == 200, (path, r.text[:500])
    assert "R$ 69.444,00" not in (await reader.get("/ressarcimento/atestados?competencia=202502")).text
    download = await reader.get("/ressarcimento/atestados?formato=xlsx")
    assert download.status_code == 200 and download.headers["content-type"].startswith("application/vnd.openxml")


async def test_month_page_forms_refuse_overlong_text_by_label_keeping_what_was_typed(
    api: httpx.AsyncClient,
    session: AsyncSession,
    make_user: MakeUser,
    browser_for: Callable[[Login], Awaitable[Browser]],
) -> None:
    """Issue 17 item 4: the homologation act was cut at 200 characters and the COR number at 64; now each is
    refused by its label, the other values typed stay in the form, and nothing is recorded."""
    from tests.web.test_forms_limits import check_page

    prepare(session)
    await establishment(session, UNIT, "4205407")
    await session.commit()
    gestor = await make_user("gestor", "uf:SC")
    web = await browser_for(gestor)
    oid = await _active_operator(api, gestor, "419503")
    await produce(session, UNIT, 1, authorized=60)
    await session.commit()
    done = await web.post(f"/ressarcimento/operadoras/{oid}/atestar", {"competencia": f"{YEAR}01"})
    assert done.status_code == 303, done.text
    path = done.headers["location"].split("?")[0]
    page = await web.get(path)
    assert "ressarcimento_homologacao" in check_page(page.text, path)
    act = "Portaria SAES/MS de homologação da produção atestada " * 5  # 265 characters
    refused = await web.post(f"{path}/homologacao", {"data": f"{YEAR}-02-10", "ato": act})
    assert refused.status_code == 422
    assert f"Ato: Texto longo demais: no máximo 200 caracteres (foram {len(act.strip())})." in refused.text
    assert f'value="{act.strip()}"' in refused.text and f'value="{YEAR}-02-10"' in refused.text
    acts = (await session.execute(text("SELECT homologation_act FROM ressarcimento_attestation"))).scalars().all()
    assert acts == [None]
