"""The regulator's lists with the listing mechanism (issue 17, decision 23): the analysis list fills position, score
and wait for referrals under review — provisional figures that the authorization then confirms — and shows the
request date; the queue sorts by any whitelisted column and filters by health region; the message log and the
production list page past their old 300-row cut."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from tests.conftest import Login
from tests.waitlist.test_waitlist_api import authorize, citizen_body, refer
from tests.web.conftest import Browser

from regula.config import Settings
from regula.territory.reference import territory
from regula.waitlist import service as wl

MakeUser = Callable[..., Awaitable[Login]]
BrowserFor = Callable[[Login | None], Awaitable[Browser]]
pytestmark = pytest.mark.usefixtures("reference_data")
FLORIANOPOLIS = "4205407"


def _row(html: str, protocol: str) -> str:
    rows = re.findall(r'<tr id="entrada-\d+">.*?\n    </tr>', html, re.S)
    found = [r for r in rows if protocol in r]
    assert len(found) == 1, protocol
    return str(found[0])


def _summary_score(row: str) -> int:
    match = re.search(r'<td class="num pontuacao">.*?<summary>([\d.]+)</summary>', row, re.S)
    assert match, row
    return int(match.group(1).replace(".", ""))


async def test_analysis_list_shows_provisional_standing_that_authorization_confirms(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, make_user: MakeUser, browser_for: BrowserFor
) -> None:
    aps = await make_user("solicitante", f"municipality:{FLORIANOPOLIS}")
    reg_login = await make_user("regulador", "uf:SC")
    red = await refer(client, aps, citizen_body(name="Rita Vermelho"), risk="vermelho")
    blue = await refer(client, aps, citizen_body(name="Beto Azul"), risk="azul")
    for e in (red, blue):
        await authorize(client, reg_login, e["id"])
    yellow = await refer(client, aps, citizen_body(name="Yara Amarelo"), risk="amarelo")
    reg = await browser_for(reg_login)

    review = await reg.get("/regulacao/analise")
    assert review.status_code == 200
    row = _row(review.text, yellow["protocol"])
    # Between the red and the blue already waiting: second of three, if authorized today.
    assert "≈ <strong>2ª</strong> de 3" in row and "se autorizada hoje" in row
    predicted = _summary_score(row)
    assert "prevista" in row
    assert "0 d" in row and "desde a solicitação" in row  # the wait since the request
    today = wl.local_today(settings)
    assert f"{today:%d/%m/%Y}" in row  # the request date
    assert "—" not in row.split('<td class="solicitada">')[0]
    # The referral's own page, where the decision is taken, shows the same provisional figures (the demo walk found
    # "fora da fila de espera" and no score there), and who referred it by the role's name.
    detail = await reg.get(f"/regulacao/entradas/{yellow['id']}")
    assert "≈ <strong>2ª</strong> de 3" in detail.text and "se autorizada hoje" in detail.text
    assert f"Pontuação prevista: {predicted:,}".replace(",", ".") in detail.text
    assert "fora da fila de espera" not in detail.text
    assert "(Solicitante (APS))" in detail.text and "(solicitante)" not in detail.text

    await authorize(client, reg_login, yellow["id"])
    position, score = (
        await session.execute(
            text("SELECT position, score FROM waitlist_standing WHERE entry_id = :e"), {"e": yellow["id"]}
        )
    ).one()
    assert (position, score) == (2, predicted)  # the projection is the rule itself, applied the same day

    queue = await reg.get(f"/regulacao/entradas?oci={red['oci_code']}&ordem=pontuacao&sentido=desc")
    order = [m for m in re.findall(r'class="codigo">(SC\d+)</a>', queue.text)]
    assert order[:3] == [red["protocol"], yellow["protocol"], blue["protocol"]]
    assert 'aria-sort="descending"' in queue.text
    ascending = await reg.get(f"/regulacao/entradas?oci={red['oci_code']}&ordem=pontuacao&sentido=asc")
    assert re.findall(r'class="codigo">(SC\d+)</a>', ascending.text)[:3] == [
        blue["protocol"],
        yellow["protocol"],
        red["protocol"],
    ]

    region = territory().find(FLORIANOPOLIS).health_region_code  # type: ignore[union-attr]
    other = next(r.code for r in territory().health_regions("SC") if r.code != region)
    inside = await reg.get(f"/regulacao/entradas?regiao={region}")
    outside = await reg.get(f"/regulacao/entradas?regiao={other}")
    assert red["protocol"] in inside.text and red["protocol"] not in outside.text
    assert "Nenhum(a) solicitação com estes filtros." in outside.text


async def test_message_log_and_production_list_page_past_the_old_cut(
    client: httpx.AsyncClient, session: AsyncSession, make_user: MakeUser, browser_for: BrowserFor
) -> None:
    aps = await make_user("solicitante", f"municipality:{FLORIANOPOLIS}")
    reg_login = await make_user("regulador", "uf:SC")
    for i in range(3):
        e = await refer(client, aps, citizen_body(name=f"Pessoa {i}"))
        await authorize(client, reg_login, e["id"])  # each authorization writes one message to the outbox
    count = (await session.execute(text("SELECT count(*) FROM message"))).scalar_one()
    assert count >= 3
    reg = await browser_for(reg_login)
    first = await reg.get("/mensagens?ordem=criada&sentido=desc")
    assert first.status_code == 200 and f"{count} mensagens" in first.text
    by_kind = await reg.get("/mensagens?ordem=tipo")
    assert by_kind.status_code == 200 and 'aria-sort="ascending"' in by_kind.text
    narrow = await reg.get(f"/mensagens?municipio={FLORIANOPOLIS}&tipo=fila_entrada")
    assert narrow.status_code == 200 and "3 mensagens" in narrow.text
    # A failure reads as words, never as the provider's bare code.
    await session.execute(
        text("UPDATE message SET status = 'falhou', error_code = '30003' WHERE id = (SELECT min(id) FROM message)")
    )
    await session.commit()
    failed = await reg.get("/mensagens?situacao=falhou")
    assert "erro: celular desligado ou fora de área" in failed.text and "erro 30003" not in failed.text
    production = await reg.get("/producao?ordem=protocolo&sentido=desc")
    assert production.status_code == 200 and "Nenhuma solicitação nesta situação" in production.text


async def test_queue_list_sorts_in_memory_with_the_same_parameters(
    client: httpx.AsyncClient, make_user: MakeUser, browser_for: BrowserFor
) -> None:
    aps = await make_user("solicitante", f"municipality:{FLORIANOPOLIS}")
    reg_login = await make_user("regulador", "uf:SC")
    for oci, n in (("0902010026", 2), ("0901010014", 1)):
        for i in range(n):
            e = await refer(client, aps, citizen_body(name=f"Pessoa {oci} {i}"), oci=oci)
            await authorize(client, reg_login, e["id"])
    reg = await browser_for(reg_login)
    by_size = await reg.get("/regulacao/filas?ordem=tamanho&sentido=desc")
    assert by_size.status_code == 200 and 'aria-sort="descending"' in by_size.text
    sizes = [
        int(n)
        for n in re.findall(r'<td class="num">(\d+)</td>\s*<td class="num">\d+</td>\s*<td class="num">', by_size.text)
    ]
    assert sizes == sorted(sizes, reverse=True) and sizes[0] == 2
    smallest = await reg.get("/regulacao/filas?ordem=tamanho&sentido=asc")
    assert (
        re.findall(r'<td class="num">(\d+)</td>\s*<td class="num">\d+</td>\s*<td class="num">', smallest.text)[0] == "1"
    )
    assert (await reg.get("/regulacao/filas?ordem=cor")).status_code == 400
