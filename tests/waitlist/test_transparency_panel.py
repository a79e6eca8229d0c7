"""The public transparency panel on the Santa Catarina demo data: no login, the numbers are the measures', small
counts are protected, nothing personal leaves (not a name, CPF, CNS, phone or protocol of the demo citizens), the
CSV and the JSON say the same, the filter is checked, and the cache serves a filter until it expires."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import date, timedelta

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from regula.config import Settings
from regula.core.clock import local_today
from regula.dashboard import service as transparency
from regula.dashboard.disclosure import MIN_CELL
from regula.demo import load_demo_data
from regula.production.demo import seed_demo_production
from regula.territory.reference import territory
from regula.waitlist import measures

pytestmark = pytest.mark.usefixtures("reference_data")
DEMO_CITIZENS = 600
DEMO_DAY = date(2026, 11, 23)  # pinned: nothing may depend on the day the tests run


@pytest.fixture
async def demo(session: AsyncSession, settings: Settings) -> None:
    await load_demo_data(session, settings, citizens=DEMO_CITIZENS, today=DEMO_DAY)
    await seed_demo_production(session, settings, today=DEMO_DAY)
    await session.commit()


async def _personal(session: AsyncSession) -> list[str]:
    """Every identifying string of the demo citizens and their entries."""
    rows = (await session.execute(text("SELECT name, social_name, cpf, cns, phone FROM citizen"))).all()
    found: list[str] = []
    for name, social, cpf, cns, phone in rows:
        found += [name]
        if social:
            found.append(social)
        if cpf:
            found += [cpf, f"{cpf[:3]}.{cpf[3:6]}.{cpf[6:9]}-{cpf[9:]}"]
        if cns:
            found.append(cns)
        if phone:
            found.append(re.sub(r"\D", "", phone))
    protocols = (await session.execute(text("SELECT protocol FROM waitlist_entry"))).scalars().all()
    return [s for s in found + list(protocols) if s and len(s) >= 6]


def _csv(response: httpx.Response) -> list[dict[str, str]]:
    assert response.headers["content-type"] == "text/csv; charset=utf-8"  # the charset once
    assert response.content.startswith(b"\xef\xbb\xbf")
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig")), delimiter=";"))


async def test_public_panel_has_numbers_and_no_personal_data(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, demo: None
) -> None:
    personal = await _personal(session)
    assert len(personal) > DEMO_CITIZENS  # the scan really has something to look for
    today = local_today(settings)

    page = await client.get("/transparencia")
    assert page.status_code == 200, page.text[:500]
    assert "Transparência das filas · Santa Catarina" in page.text
    assert page.text.count("<svg") == 3
    api_response = await client.get("/api/v1/public/transparency")
    assert api_response.status_code == 200, api_response.text[:500]
    api = api_response.json()
    assert api["uf"] == "SC" and api["linhas"]

    # The UF row of the largest OCI: its count and median are the measures' over the waiting entries.
    top = max((r for r in api["linhas"] if r["pessoas_esperando"]), key=lambda r: r["pessoas_esperando"])
    days_sql = measures.as_text(measures.EntrySql.alias("e").days(measures.date_param("today"), settings.timezone))
    waits = (
        (
            await session.execute(
                text(
                    f"SELECT {days_sql} FROM waitlist_entry e "
                    "WHERE e.status = 'autorizada' AND e.authorized_at IS NOT NULL"
                    " AND e.oci_code = :oci AND e.uf = 'SC'"
                ),
                {"oci": top["oci_codigo"], "today": today},
            )
        )
        .scalars()
        .all()
    )
    assert top["pessoas_esperando"] == len(waits) >= MIN_CELL
    assert top["mediana_espera_dias"] == round(measures.percentile(list(waits), 0.5) or 0, 1)
    assert top["p90_espera_dias"] == round(measures.percentile(list(waits), 0.9) or 0, 1)

    bodies = [page.text, json.dumps(api, ensure_ascii=False)]
    by_region = (await client.get("/api/v1/public/transparency", params={"oci": top["oci_codigo"]})).json()
    by_municipality = (
        await client.get("/api/v1/public/transparency", params={"oci": top["oci_codigo"], "nivel": "municipio"})
    ).json()
    levels = {r["nivel"] for r in by_municipality["linhas"]}
    assert {"uf", "municipio"} <= levels
    # every level is a partition of the UF's total where it is shown
    visible = [r for r in by_region["linhas"] if r["nivel"] == "regiao"]
    if all(r["pessoas_esperando"] is not None for r in visible):
        assert sum(r["pessoas_esperando"] for r in visible) == top["pessoas_esperando"]
    small = [r for r in by_municipality["linhas"] if r["protecao"] == "menos_de_5"]
    assert small, "the demo has municipalities with fewer than 5 people waiting for its largest OCI"
    assert all(r["pessoas_esperando"] is None and r["mediana_espera_dias"] is None for r in small)
    bodies += [json.dumps(by_region, ensure_ascii=False), json.dumps(by_municipality, ensure_ascii=False)]
    # A municipality of a region with fewer than 5 people for the OCI: asked for directly, the answer is the
    # region's folded "<5", whether the municipality has anyone or not (no one-by-one disclosure under a small total).
    folded = [r for r in by_municipality["linhas"] if r["nivel"] == "demais"]
    assert folded, "the demo has small regions for its largest OCI"
    region = folded[0]["area_codigo"]
    for m in [m for m in territory().by_uf("SC") if m.health_region_code == region][:3]:
        answer = await client.get(
            "/api/v1/public/transparency",
            params={"oci": top["oci_codigo"], "nivel": "municipio", "area": m.ibge_code},
        )
        [line] = answer.json()["linhas"]
        assert (line["nivel"], line["pessoas_esperando_texto"], line["area_codigo"]) == ("demais", "<5", region)
    for params in (
        {},
        {"oci": top["oci_codigo"], "nivel": "municipio"},
        {"oci": top["oci_codigo"], "tabela": "tendencia"},
        {"nivel": "municipio", "area": "4205407"},
    ):
        response = await client.get("/transparencia.csv", params=params)
        rows = _csv(response)
        assert rows
        bodies.append(response.content.decode("utf-8-sig"))
        page = await client.get("/transparencia", params={k: v for k, v in params.items() if k != "tabela"})
        assert page.status_code == 200
        bodies.append(page.text)
    for body in bodies:
        leaked = [s for s in personal if s in body]
        assert not leaked, leaked[:5]


async def test_csv_matches_the_page_and_keeps_small_cells_hidden(client: httpx.AsyncClient, demo: None) -> None:
    api = (await client.get("/api/v1/public/transparency", params={"nivel": "municipio", "area": "4205407"})).json()
    rows = _csv(await client.get("/transparencia.csv", params={"nivel": "municipio", "area": "4205407"}))
    assert [r["oci_codigo"] for r in rows] == [r["oci_codigo"] for r in api["linhas"]]
    for row, line in zip(rows, api["linhas"], strict=True):
        shown = (
            str(line["pessoas_esperando"]) if line["pessoas_esperando"] is not None else line["pessoas_esperando_texto"]
        )
        assert row["pessoas_esperando"] == shown
        # Florianópolis itself, or the folded total above it when that is under 5 (nothing one by one there)
        assert row["area_nome"] == "Florianópolis/SC" or (
            row["nivel"] in ("municípios agrupados", "estado") and row["pessoas_esperando"] == "<5"
        )
        if shown == f"<{MIN_CELL}":
            assert row["mediana_espera_dias"] == "" and row["espera_estimada_novo_encaminhamento_dias"] == ""


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"uf": "XX"}, "uf"),
        ({"nivel": "bairro"}, "nivel"),
        ({"oci": "12"}, "oci"),
        ({"area": "99999"}, "area"),
        ({"nivel": "municipio", "area": "4106902"}, "area"),  # Curitiba is not in SC
    ],
)
async def test_a_bad_filter_names_the_field(
    client: httpx.AsyncClient, demo: None, params: dict[str, str], field: str
) -> None:
    response = await client.get("/api/v1/public/transparency", params={"uf": "SC", **params})
    assert response.status_code == 422
    assert field in [e["field"] for e in response.json()["errors"]]
    page = await client.get("/transparencia", params={"uf": "SC", **params})
    assert page.status_code == 422 and 'role="alert"' in page.text


async def test_the_cache_serves_a_filter_until_it_expires(
    session: AsyncSession, settings: Settings, demo: None
) -> None:
    now = [1000.0]
    cache = transparency.PanelCache(ttl=60, clock=lambda: now[0])
    first = await transparency.public_panel(session, settings, cache)
    again = await transparency.public_panel(session, settings, cache)
    assert again is first and cache.builds == 1
    other = await transparency.public_panel(session, settings, cache, level="municipio")
    assert other is not first and cache.builds == 2
    assert cache.tree_builds == 1  # every filter of the UF reads the same protected figures
    # a new entry authorized meanwhile shows only after the cache expires
    await session.execute(
        text("UPDATE waitlist_entry SET status = 'cancelada' WHERE id = (SELECT min(id) FROM waitlist_entry "
             "WHERE status = 'autorizada')")
    )  # fmt: skip
    now[0] += 59
    assert await transparency.public_panel(session, settings, cache) is first
    now[0] += 2
    fresh = await transparency.public_panel(session, settings, cache)
    assert fresh is not first and cache.builds == 3 and cache.tree_builds == 2
    total = sum(r.waiting or 0 for r in first.rows)
    assert sum(r.waiting or 0 for r in fresh.rows) in (total - 1, total)  # one fewer (unless it was in a "<5")
    # a new day builds a new panel even within the time to live
    tomorrow = await transparency.public_panel(session, settings, cache, today=local_today(settings) + timedelta(1))
    assert tomorrow is not fresh and tomorrow.today == local_today(settings) + timedelta(1)


def test_expected_wait_is_littles_law() -> None:
    # 120 people waiting, 60 served in the last 182 days: two "windows" of wait → 364 days
    assert measures.expected_wait_days(120, 60, 182) == 364
    assert measures.expected_wait_days(1, 3, 182) == 61  # rounded up
    assert measures.expected_wait_days(10, 0, 182) is None  # no pace, no estimate
    assert measures.expected_wait_days(0, 5) == 0


def test_percentile_is_postgresql_percentile_cont() -> None:
    assert measures.percentile([], 0.5) is None
    assert measures.percentile([4], 0.9) == 4
    assert measures.percentile([1, 2, 3, 4], 0.5) == 2.5
    assert measures.percentile([10, 0, 20, 30, 40, 50, 60, 70, 80, 90], 0.9) == pytest.approx(81.0)
