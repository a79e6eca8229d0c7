"""A state manager filters the dashboard of the demo data by one health region and one OCI, in a real browser: the
filters land in the URL, the indicators and every chart follow, and the CSV downloaded from the filtered page
holds exactly the subset (issue 17 item 6)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from regula.territory.reference import territory
from tests.browser.conftest import CARDIOLOGY, Session, needs_chromium
from tests.browser.test_journeys import OpenSession, real_errors

pytestmark = needs_chromium
GRANDE_FLORIANOPOLIS = "42007"


def _download(session: Session, chart: str, tmp_path: Path) -> list[dict[str, str]]:
    """Click the chart's 'Baixar CSV' link as the page shows it, and read the file."""
    with session.page.expect_download() as info:
        session.page.click(f"#{chart} a.botao[download]")
    target = tmp_path / f"{chart}.csv"
    info.value.save_as(target)
    return list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8-sig")), delimiter=";"))


def _in_queue(session: Session) -> int:
    text = session.page.locator("ul.indicadores li").first.locator(".numero").inner_text()
    return int(text.replace(".", ""))


def test_manager_filters_by_region_and_oci(open_session: OpenSession, tmp_path: Path) -> None:
    region = {m.ibge_code for m in territory().all() if m.health_region_code == GRANDE_FLORIANOPOLIS}
    gestor = open_session("gestor")
    gestor.go("/gestao")
    everyone = _in_queue(gestor)
    all_places = {r["codigo"]: r for r in _download(gestor, "fila-municipio", tmp_path)}

    # One health region: the URL keeps it, the municipalities charted are the region's, as the whole state has them.
    gestor.page.select_option("#f-regiao", GRANDE_FLORIANOPOLIS)
    gestor.page.click("form.filtros button[type=submit]")
    gestor.page.wait_for_url("**/gestao?*regiao=42007*")
    in_region = _in_queue(gestor)
    assert 0 < in_region < everyone
    places = {r["codigo"]: r for r in _download(gestor, "fila-municipio", tmp_path)}
    assert places and set(places) <= region
    assert places == {k: v for k, v in all_places.items() if k in region}
    assert in_region == sum(int(r["na_fila"]) for r in places.values())
    by_oci = {r["codigo"]: r for r in _download(gestor, "fila-oci", tmp_path)}

    # And one OCI: the filters combine; every chart and CSV follows.
    gestor.page.select_option("#f-oci", CARDIOLOGY)
    gestor.page.click("form.filtros button[type=submit]")
    gestor.page.wait_for_url(f"**/gestao?*oci={CARDIOLOGY}*")
    query = parse_qs(urlsplit(gestor.page.url).query)
    assert query["regiao"] == [GRANDE_FLORIANOPOLIS] and query["oci"] == [CARDIOLOGY]
    assert gestor.page.locator("svg.grafico").count() == 9
    cardiology = _in_queue(gestor)
    assert cardiology == int(by_oci[CARDIOLOGY]["na_fila"])  # what the region's chart said of this OCI
    only = _download(gestor, "fila-oci", tmp_path)
    assert [r["codigo"] for r in only] == [CARDIOLOGY] and only[0] == by_oci[CARDIOLOGY]
    places = {r["codigo"]: r for r in _download(gestor, "fila-municipio", tmp_path)}
    assert set(places) <= region and sum(int(r["na_fila"]) for r in places.values()) == cardiology
    for link in gestor.page.locator("a.botao[download]").all():
        href = link.get_attribute("href") or ""
        assert f"regiao={GRANDE_FLORIANOPOLIS}" in href and f"oci={CARDIOLOGY}" in href, href
    gestor.shot("17-gestao-painel-filtrado")
    assert real_errors(gestor) == []
