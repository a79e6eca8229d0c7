"""Establishments, offers, agendas and quotas through the API."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, timedelta

import httpx
import pytest
from tests.conftest import Login

MakeUser = Callable[..., Awaitable[Login]]
pytestmark = pytest.mark.usefixtures("reference_data")
CNES = "2691868"
OCI = "0902010026"


async def _hospital(client: httpx.AsyncClient, gestor: Login, **over: object) -> httpx.Response:
    body = {"cnes": CNES, "name": "Hospital Regional de São José", "municipality_ibge": "4216602", "kind": "proprio"}
    return await client.post("/api/v1/establishments", json=body | over, headers=gestor.headers)


async def test_establishment_rules(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    gestor = await make_user("gestor", "uf:SC")
    bad = await _hospital(client, gestor, cnes="12", kind="complementar_2", habilitacoes=[])
    assert bad.status_code == 422
    codes = {e["field"]: e["code"] for e in bad.json()["errors"]}
    assert codes == {"cnes": "cnes_formato", "habilitacoes": "habilitacao_ausente"}
    elsewhere = await _hospital(client, gestor, municipality_ibge="4106902")  # Curitiba, PR
    assert elsewhere.status_code == 403
    ok = await _hospital(client, gestor, kind="complementar_2", habilitacoes=["38.03"])
    assert ok.status_code == 201, ok.text
    assert ok.json()["habilitacoes"] == ["3803"]


async def test_agenda_csv_import_reports_rows(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    gestor = await make_user("gestor", "uf:SC")
    assert (await _hospital(client, gestor)).status_code == 201
    offer = await client.put(f"/api/v1/establishments/{CNES}/offers", json={"oci_code": OCI}, headers=gestor.headers)
    assert offer.status_code == 200, offer.text
    day = (date.today() + timedelta(days=10)).strftime("%d/%m/%Y")
    past = (date.today() - timedelta(days=3)).isoformat()
    csv_text = (
        "cnes;oci;data;hora;modalidade;capacidade;id_externo\n"
        f"{CNES};{OCI};{day};08:00;presencial;4;a1\n"
        f"{CNES};{OCI};{day};09:00;teleconsulta;1;a2\n"
        f"{CNES};0905010019;{day};10:00;presencial;1;a3\n"
        f"{CNES};{OCI};{past};08:00;presencial;1;a4\n"
        f"{CNES};{OCI};{day};11:00;presencial;0;a5\n"
    )
    executante = await make_user("executante", f"cnes:{CNES}")
    response = await client.post(
        "/api/v1/agendas/import", files={"data": ("agenda.csv", csv_text, "text/csv")}, headers=executante.headers
    )
    assert response.status_code == 201, response.text
    report = response.json()
    assert (report["imported"], report["refused"]) == (1, 4)
    assert {(e["row"], e["code"]) for e in report["errors"]} == {
        (2, "teleconsulta_nao_ofertada"),
        (3, "oci_nao_ofertada"),
        (4, "data_no_passado"),
        (5, "capacidade_invalida"),
    }
    again = await client.post(
        "/api/v1/agendas/import", files={"data": ("agenda.csv", csv_text, "text/csv")}, headers=executante.headers
    )
    assert again.json()["unchanged"] == 1
    other = await make_user("executante", "cnes:1234567")
    foreign = await client.post(
        "/api/v1/agendas/import", files={"data": ("agenda.csv", csv_text, "text/csv")}, headers=other.headers
    )
    assert {e["code"] for e in foreign.json()["errors"]} == {"fora_da_jurisdicao"}
    slots = (await client.get(f"/api/v1/slots?cnes={CNES}", headers=gestor.headers)).json()
    assert [(s["capacity"], s["booked"]) for s in slots] == [(4, 0)]


async def test_an_establishment_is_not_taken_over_by_reposting_its_cnes(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    state = await make_user("gestor", "uf:SC")
    chapeco = await make_user("gestor", "region:42002")  # another SC region than São José's
    assert (await _hospital(client, state)).status_code == 201
    # Moving it into one's own region: the establishment as it is lies outside, so no.
    taken = await _hospital(client, chapeco, municipality_ibge="4204202", name="Tomado")
    assert taken.status_code == 403 and taken.json()["code"] == "fora_da_jurisdicao"
    listed = (await client.get("/api/v1/establishments", headers=state.headers)).json()
    assert [(e["municipality_ibge"], e["name"]) for e in listed if e["cnes"] == CNES] == [
        ("4216602", "Hospital Regional de São José")
    ]
    offer = await client.put(f"/api/v1/establishments/{CNES}/offers", json={"oci_code": OCI}, headers=chapeco.headers)
    assert offer.status_code == 403
    # Across UFs only for someone whose jurisdiction holds both places.
    assert (await _hospital(client, state, municipality_ibge="4106902")).status_code == 403
    national = await make_user("gestor", "br")
    moved = await _hospital(client, national, municipality_ibge="4204202")
    assert moved.status_code == 201 and moved.json()["municipality_ibge"] == "4204202"


async def test_a_quota_needs_both_the_municipality_and_the_provider(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    state = await make_user("gestor", "uf:SC")
    assert (await _hospital(client, state)).status_code == 201
    body = {
        "municipality_ibge": "4106902",  # Curitiba, PR
        "cnes": CNES,
        "oci_code": OCI,
        "period_start": "2026-01-01",
        "period_end": "2026-12-31",
        "max_slots": 50,
    }
    parana = await make_user("gestor", "uf:PR")
    refused = await client.put("/api/v1/quotas", json=body, headers=parana.headers)
    assert refused.status_code == 403 and refused.json()["code"] == "fora_da_jurisdicao"
    own = await client.put("/api/v1/quotas", json=body | {"municipality_ibge": "4205407"}, headers=state.headers)
    assert own.status_code == 200, own.text
