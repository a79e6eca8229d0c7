"""The manager's dashboard filtered by health region, municipality, OCI and period (issue 17 item 6): every chart
and every CSV narrowed the same way, the numbers of a subset equal to what the unfiltered data says of it, the
filters kept in the URL and carried by the CSV links, and nothing outside the reader's jurisdiction."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession
from tests.conftest import Login
from tests.production.conftest import MakeEntry, make_entry  # noqa: F401 - the fixture
from tests.waitlist.test_waitlist_api import FLORIANOPOLIS, JOINVILLE, SAO_JOSE, authorize, citizen_body, refer
from tests.web.conftest import Browser
from tests.web.test_dashboard import CHARTS, rows_of

from regula.config import Settings
from regula.core.clock import local_today
from regula.people.documents import generate_cpf
from regula.waitlist.models import EntryEvent

MakeUser = Callable[..., Awaitable[Login]]
BrowserFor = Callable[[Login | None], Awaitable[Browser]]
pytestmark = pytest.mark.usefixtures("reference_data")
rng = random.Random(1706)

CARDIO = "0902010026"
OTHER = "0902010018"
GRANDE_FLORIANOPOLIS = "42007"  # Florianópolis and São José
NORDESTE = "42011"  # Joinville


async def _waiting(
    client: httpx.AsyncClient, make_user: MakeUser, admin: Login, municipality: str, oci: str, sex: str = "F"
) -> int:
    aps = await make_user("solicitante", f"municipality:{municipality}")
    body = citizen_body(name="Pessoa da Fila", municipality_ibge=municipality, sex=sex, cpf=generate_cpf(rng))
    entry = await refer(client, aps, body, oci=oci)
    await authorize(client, admin, entry["id"])
    return int(entry["id"])


async def _csv(browser: Browser, chart: str, **filters: str) -> list[dict[str, str]]:
    response = await browser.get(f"/gestao/csv/{chart}.csv", params=filters)
    assert response.status_code == 200, (chart, filters, response.text[:300])
    return rows_of(response)


def _by_code(rows: list[dict[str, str]]) -> dict[str, dict[str, str]]:
    return {r["codigo"]: r for r in rows}


async def test_every_chart_follows_region_municipality_and_oci(
    client: httpx.AsyncClient, make_user: MakeUser, browser_for: BrowserFor
) -> None:
    admin = await make_user("admin", "br")
    for municipality, oci, sex in (
        (FLORIANOPOLIS, CARDIO, "F"),
        (FLORIANOPOLIS, CARDIO, "M"),
        (FLORIANOPOLIS, OTHER, "F"),
        (SAO_JOSE, CARDIO, "M"),
        (JOINVILLE, CARDIO, "F"),
        (JOINVILLE, OTHER, "F"),
    ):
        await _waiting(client, make_user, admin, municipality, oci, sex)
    gestor = await browser_for(await make_user("gestor", "uf:SC"))

    everything = _by_code(await _csv(gestor, "fila-municipio"))
    assert {k: v["na_fila"] for k, v in everything.items()} == {FLORIANOPOLIS: "3", SAO_JOSE: "1", JOINVILLE: "2"}

    # One health region: its municipalities' rows, exactly as the unfiltered chart has them.
    region = _by_code(await _csv(gestor, "fila-municipio", regiao=GRANDE_FLORIANOPOLIS))
    assert region == {k: everything[k] for k in (FLORIANOPOLIS, SAO_JOSE)}
    assert {k: v["na_fila"] for k, v in _by_code(await _csv(gestor, "fila-oci", regiao=NORDESTE)).items()} == {
        CARDIO: "1",
        OTHER: "1",
    }
    # One municipality.
    assert set(_by_code(await _csv(gestor, "fila-municipio", municipio=SAO_JOSE))) == {SAO_JOSE}
    # One OCI: the OCI chart's row for it is the unfiltered one; the other charts count only its people.
    by_oci = _by_code(await _csv(gestor, "fila-oci"))
    assert _by_code(await _csv(gestor, "fila-oci", oci=CARDIO)) == {CARDIO: by_oci[CARDIO]}
    cardio_places = _by_code(await _csv(gestor, "fila-municipio", oci=CARDIO))
    assert {k: v["na_fila"] for k, v in cardio_places.items()} == {FLORIANOPOLIS: "2", SAO_JOSE: "1", JOINVILLE: "1"}
    # Combined: one region and one OCI.
    both = {"regiao": GRANDE_FLORIANOPOLIS, "oci": CARDIO}
    assert {k: v["na_fila"] for k, v in _by_code(await _csv(gestor, "fila-municipio", **both)).items()} == {
        FLORIANOPOLIS: "2",
        SAO_JOSE: "1",
    }
    assert {k: v["na_fila"] for k, v in _by_code(await _csv(gestor, "fila-uf", **both)).items()} == {"SC": "3"}
    sexes = {r["grupo"]: r["na_fila_agora"] for r in await _csv(gestor, "equidade-sexo", **both)}
    assert sexes == {"F": "1", "M": "2"}
    for chart in CHARTS:  # every chart takes the filter
        await _csv(gestor, chart, **both)

    # The page: the filter in the form, the indicators of the subset, every CSV link carrying the filter.
    page = await gestor.get("/gestao", params=both)
    assert page.status_code == 200
    assert '<span class="numero">3</span> pessoas na fila' in page.text
    query = urlencode(both).replace("&", "&amp;")
    for chart in CHARTS:
        assert f'href="/gestao/csv/{chart}.csv?{query}"' in page.text, chart
    assert f'<option value="{GRANDE_FLORIANOPOLIS}" selected>' in page.text
    assert f'<option value="{CARDIO}" selected>' in page.text
    # With a region chosen, the municipalities offered are the region's.
    assert f'<option value="{SAO_JOSE}"' in page.text and f'<option value="{JOINVILLE}"' not in page.text
    unfiltered = await gestor.get("/gestao")
    assert '<span class="numero">6</span> pessoas na fila' in unfiltered.text
    assert 'href="/gestao/csv/fila-oci.csv"' in unfiltered.text  # no filter: the plain address


async def test_filters_stay_inside_the_jurisdiction(
    client: httpx.AsyncClient, make_user: MakeUser, browser_for: BrowserFor
) -> None:
    admin = await make_user("admin", "br")
    await _waiting(client, make_user, admin, FLORIANOPOLIS, CARDIO)
    await _waiting(client, make_user, admin, JOINVILLE, CARDIO)
    regional = await browser_for(await make_user("gestor", f"region:{GRANDE_FLORIANOPOLIS}"))

    page = (await regional.get("/gestao")).text
    assert f'<option value="{FLORIANOPOLIS}"' in page and f'<option value="{JOINVILLE}"' not in page
    assert f'<option value="{NORDESTE}"' not in page  # one region only: no region choice offered
    for params, name, code in (
        ({"municipio": JOINVILLE}, "municipio", "fora_da_jurisdicao"),
        ({"regiao": NORDESTE}, "regiao", "fora_da_jurisdicao"),
        ({"regiao": "99999"}, "regiao", "regiao_desconhecida"),
        ({"municipio": "123"}, "municipio", "municipio_desconhecido"),
        ({"oci": "0000000000"}, "oci", "oci_desconhecido"),
        ({"de": "31/02/2026"}, "de", "data_invalida"),
        ({"de": "2026-03-10", "ate": "2026-03-01"}, "de", "periodo_invalido"),
    ):
        for path in ("/gestao", "/gestao/csv/fila-oci.csv"):
            response = await regional.client.get(path, params=params)  # as a program asks: the problem's fields
            assert response.status_code == 400, (path, params, response.status_code)
            problem = response.json()
            assert [(e["field"], e["code"]) for e in problem["errors"]] == [(name, code)], response.text
    # A municipality of another region than the one chosen (both inside a state manager's jurisdiction).
    state = await browser_for(await make_user("gestor", "uf:SC"))
    mixed = await state.client.get("/gestao", params={"regiao": GRANDE_FLORIANOPOLIS, "municipio": JOINVILLE})
    assert mixed.status_code == 400
    assert [(e["field"], e["code"]) for e in mixed.json()["errors"]] == [("municipio", "municipio_fora_da_regiao")]
    # Refused on the page too, in Portuguese, naming what was asked.
    refused = await regional.get("/gestao", params={"municipio": JOINVILLE})
    assert refused.status_code == 400 and "Joinville/SC" in refused.text and "fora da sua jurisdição" in refused.text
    # Inside it, the regional manager's numbers are the region's.
    mine = _by_code(await _csv(regional, "fila-municipio", municipio=FLORIANOPOLIS, oci=CARDIO))
    assert {k: v["na_fila"] for k, v in mine.items()} == {FLORIANOPOLIS: "1"}


async def test_the_period_narrows_the_measures_over_a_period(
    session: AsyncSession,
    settings: Settings,
    make_entry: MakeEntry,  # noqa: F811 - the fixture
    make_user: MakeUser,
    browser_for: BrowserFor,
) -> None:
    # Three people booked (Florianópolis, cardiology): first booked today, 100 and 200 days ago (the history is
    # append-only: an earlier booking is written as the demo writes its history, an event at its own time).
    entries = [(await make_entry(CARDIO)).entry.id for _ in range(3)]
    for entry_id, days in zip(entries[1:], (100, 200), strict=True):
        assert entry_id is not None
        session.add(
            EntryEvent(
                entry_id=entry_id,
                occurred_at=datetime.now(UTC) - timedelta(days=days),
                kind="transition",
                from_status="autorizada",
                to_status="agendada",
            )
        )
    await session.commit()
    today = local_today(settings)
    gestor = await browser_for(await make_user("gestor", "uf:SC"))

    def booked(rows: list[dict[str, str]]) -> str:
        return next(r["agendadas_no_periodo"] for r in rows if r["grupo"] == "F")

    assert booked(await _csv(gestor, "equidade-sexo")) == "3"  # the default period: the last 12 months
    assert booked(await _csv(gestor, "equidade-sexo", de=(today - timedelta(days=150)).isoformat())) == "2"
    assert booked(await _csv(gestor, "equidade-sexo", de=(today - timedelta(days=50)).isoformat())) == "1"
    window = {"de": (today - timedelta(days=250)).isoformat(), "ate": (today - timedelta(days=150)).isoformat()}
    assert booked(await _csv(gestor, "equidade-sexo", **window)) == "1"
    # Another OCI: nobody booked; the OCI filter and the period combine.
    assert [r for r in await _csv(gestor, "equidade-sexo", **window, oci=OTHER) if r["grupo"] == "F"] == []
    page = await gestor.get("/gestao", params=window)
    assert page.status_code == 200
    since, until = today - timedelta(days=250), today - timedelta(days=150)
    assert f"de {since:%d/%m/%Y} a {until:%d/%m/%Y}" in page.text
    assert f'value="{window["de"]}"' in page.text and f'value="{window["ate"]}"' in page.text
