"""A list page asked with filters it cannot read shows the list without them, naming every one (web.listing.list_page).

Before, the first unreadable filter turned the whole page into an error card: the form, the other filters and the
list were gone, and a second bad filter was only named after the first was fixed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col
from tests.conftest import Login
from tests.web.conftest import Browser
from tests.web.test_listing import FLORIANOPOLIS, JOINVILLE, _tasks

from regula.audit.models import AuditEvent
from regula.audit.service import record_read
from regula.web.listing import ListingError, list_page

MakeUser = Callable[..., Awaitable[Login]]
BrowserFor = Callable[[Login | None], Awaitable[Browser]]


@pytest.mark.usefixtures("reference_data")
async def test_bad_filters_are_named_together_and_the_good_ones_still_filter_the_list(
    session: AsyncSession, make_user: MakeUser, browser_for: BrowserFor
) -> None:
    await _tasks(session, {FLORIANOPOLIS: 7, JOINVILLE: 5})
    page = await browser_for(await make_user("navegador", "uf:SC"))
    response = await page.get(f"/navegacao?municipio={FLORIANOPOLIS}&vence_ate=31%2F02%2F2026&tipo=qualquer&ordem=x")
    assert response.status_code == 400
    text = response.text
    # The list, filtered by the municipality that could be read; its form is there to correct the rest.
    assert "7 tarefas abertas" in text and 'role="search"' in text
    assert f'value="{FLORIANOPOLIS}" selected' in text
    # Every unreadable filter is named, as people read it, once, above the page; no internal code is shown.
    alert = text.split('data-codigo="filtro_ignorado"')[1].split("</section>")[0]
    assert "Estes filtros não puderam ser usados e foram ignorados" in alert
    for label in ("Prazo até", "Tipo", "Ordenação"):
        assert f"<strong>{label}</strong>:" in alert or f"<li>{label}:" in alert, label
    assert "<strong>Tipo</strong>: “qualquer” não é uma opção de tipo de tarefa." in alert
    assert "Código:" not in text and "data_invalida" not in alert and "vence_ate" not in alert
    assert "Data inválida (“31/02/2026”): use DD/MM/AAAA." in alert
    # One bad filter says so in the singular.
    one = await page.get("/navegacao?regiao=00000")
    assert one.status_code == 400 and "Este filtro não pôde ser usado e foi ignorado" in one.text
    assert "12 tarefas abertas" in one.text
    # A good URL shows no such notice.
    fine = await page.get(f"/navegacao?municipio={JOINVILLE}")
    assert fine.status_code == 200 and "filtro_ignorado" not in fine.text and "5 tarefas abertas" in fine.text


@pytest.mark.usefixtures("reference_data")
async def test_programs_asking_a_page_still_hear_of_every_bad_parameter(
    session: AsyncSession, make_user: MakeUser, browser_for: BrowserFor
) -> None:
    page = await browser_for(await make_user("navegador", "uf:SC"))
    answer = await page.client.get("/navegacao?ordem=x&tipo=y", headers={"Accept": "application/json"})
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["field"] == "tipo"  # the first refusal, as the API lists answer


async def test_a_try_that_wrote_before_it_refused_leaves_nothing_behind(session: AsyncSession) -> None:
    """Each try runs in a savepoint: the audit row a refused try wrote is not kept beside the one the page wrote."""
    calls: list[dict[str, Any]] = []

    async def handler(db_session: AsyncSession, municipio: str | None = None, tipo: str | None = None) -> Any:
        calls.append({"municipio": municipio, "tipo": tipo})
        await record_read(db_session, "Probe", "1", uf="SC", municipality_ibge=FLORIANOPOLIS)
        if tipo is not None:
            raise ListingError.of("tipo", "tipo_desconhecido", "Tipo de tarefa desconhecido.")
        return "the page"

    probes = select(func.count()).select_from(AuditEvent).where(col(AuditEvent.entity_type) == "Probe")
    before = await session.scalar(probes)
    # Not a page (no Template): the refusal stands, naming the parameter, and nothing of the tries is kept.
    with pytest.raises(ListingError) as refused:
        await list_page(handler)(db_session=session, municipio=FLORIANOPOLIS, tipo="qualquer")
    assert [e.field for e in refused.value.errors] == ["tipo"]
    assert calls == [{"municipio": FLORIANOPOLIS, "tipo": "qualquer"}, {"municipio": FLORIANOPOLIS, "tipo": None}]
    after = await session.scalar(probes)
    # The second try drew its page and wrote its row; only the first try's row was rolled back.
    assert (after or 0) - (before or 0) == 1


async def test_a_parameter_the_url_did_not_carry_is_refused_as_before(session: AsyncSession) -> None:
    async def handler(db_session: AsyncSession, situacao: str | None = None) -> Any:
        raise ListingError.of("situacao", "situacao_desconhecida", "Situação desconhecida.")

    with pytest.raises(ListingError) as refused:
        await list_page(handler)(db_session=session, situacao=None)
    assert refused.value.code == "situacao_desconhecida"
