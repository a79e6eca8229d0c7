"""The manager's dashboard: charts as SVG with their numbers on the page and as CSV, limited to the jurisdiction."""

from __future__ import annotations

import csv
import io
import random
import re
from collections.abc import Awaitable, Callable

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from tests.conftest import Login
from tests.waitlist.test_waitlist_api import FLORIANOPOLIS, JOINVILLE, authorize, citizen_body, refer
from tests.web.conftest import Browser

from regula.people.documents import generate_cpf

MakeUser = Callable[..., Awaitable[Login]]
BrowserFor = Callable[[Login | None], Awaitable[Browser]]
pytestmark = pytest.mark.usefixtures("reference_data")
rng = random.Random(64)
CHARTS = (
    "fila-oci",
    "fila-municipio",
    "fila-uf",
    "concluidas-no-prazo",
    "faltas",
    "equidade-raca-cor",
    "equidade-sexo",
    "equidade-vulnerabilidade",
    "equidade-cadunico",
)


def rows_of(response: httpx.Response) -> list[dict[str, str]]:
    assert response.headers["content-type"] == "text/csv; charset=utf-8"  # the charset once
    assert response.content.startswith(b"\xef\xbb\xbf")  # BOM: spreadsheets read it as UTF-8
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig")), delimiter=";"))


async def _waiting(client: httpx.AsyncClient, aps: Login, admin: Login, municipality: str, n: int) -> list[int]:
    ids = []
    for i in range(n):
        body = citizen_body(name=f"Pessoa {i} da Fila", municipality_ibge=municipality, race_color="parda")
        entry = await refer(client, aps, body | {"cpf": generate_cpf(rng)})
        await authorize(client, admin, entry["id"])
        ids.append(entry["id"])
    return ids


async def test_dashboard_charts_and_csv_numbers(
    client: httpx.AsyncClient, session: AsyncSession, make_user: MakeUser, browser_for: BrowserFor
) -> None:
    admin = await make_user("admin", "br")
    floripa = await _waiting(
        client, await make_user("solicitante", f"municipality:{FLORIANOPOLIS}"), admin, FLORIANOPOLIS, 2
    )
    await _waiting(client, await make_user("solicitante", f"municipality:{JOINVILLE}"), admin, JOINVILLE, 1)
    # One of them waited 40 days (the clock counts from the authorization).
    await session.execute(
        text("UPDATE waitlist_entry SET authorized_at = authorized_at - interval '40 days' WHERE id = :i"),
        {"i": floripa[0]},
    )
    await session.commit()
    gestor = await browser_for(await make_user("gestor", "uf:SC"))

    page = await gestor.get("/gestao")
    assert page.status_code == 200
    assert page.text.count("<svg") == len(CHARTS)
    for key in CHARTS:
        assert f'href="/gestao/csv/{key}.csv"' in page.text
    assert (
        "Fila e tempo de espera por OCI" in page.text
        and "Mediana de espera até o agendamento por raça/cor" in page.text
    )

    by_oci = rows_of(await gestor.get("/gestao/csv/fila-oci.csv"))
    cardiology = next(r for r in by_oci if r["codigo"] == "0902010026")
    assert cardiology["na_fila"] == "3"
    assert cardiology["espera_ate_30"] == "2" and cardiology["espera_31_60"] == "1"
    by_municipality = {r["codigo"]: r for r in rows_of(await gestor.get("/gestao/csv/fila-municipio.csv"))}
    assert by_municipality[FLORIANOPOLIS]["na_fila"] == "2" and by_municipality[JOINVILLE]["na_fila"] == "1"
    assert by_municipality[FLORIANOPOLIS]["nome"] == "Florianópolis/SC"
    race = {r["grupo"]: r for r in rows_of(await gestor.get("/gestao/csv/equidade-raca-cor.csv"))}
    assert race["parda"]["na_fila_agora"] == "3"
    # On the page, the numbers under each chart are titled in Portuguese and carry no machine key (the demo walk
    # found "sem_indice", "sem_informacao" and "mediana dias ate agendamento" there); the CSV keeps its keys.
    equity = page.text.split('id="equidade-raca-cor"')[1].split("</section>")[0]
    assert '<th scope="col">Mediana de dias até o agendamento</th>' in equity
    assert "<td>parda</td>" not in equity and "<td>Parda</td>" in equity
    numbers = re.findall(r"<details><summary>Ver os números</summary>(.*?)</details>", page.text, re.S)
    assert numbers and not any(re.search(r"<t[hd][^>]*>[a-z0-9]+_[a-z0-9_]+</t[hd]>", n) for n in numbers)
    for key in CHARTS:
        response = await gestor.get(f"/gestao/csv/{key}.csv")
        assert response.status_code == 200, key
        assert "attachment" in response.headers["content-disposition"]
    assert (await gestor.get("/gestao/csv/nada.csv")).status_code == 404

    regional = await browser_for(await make_user("gestor", "region:42007"))
    mine = {r["codigo"] for r in rows_of(await regional.get("/gestao/csv/fila-municipio.csv"))}
    assert mine == {FLORIANOPOLIS}


async def test_dashboard_with_no_data_says_so(make_user: MakeUser, browser_for: BrowserFor) -> None:
    gestor = await browser_for(await make_user("gestor", "municipality:4200051"))  # Abdon Batista: nobody waits
    page = await gestor.get("/gestao")
    assert page.status_code == 200
    assert "Sem dados no período." in page.text
    only_header = (await gestor.get("/gestao/csv/faltas.csv")).content.decode("utf-8-sig").splitlines()
    assert only_header[0].startswith("codigo;nome;")
