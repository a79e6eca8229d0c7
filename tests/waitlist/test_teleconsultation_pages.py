"""The teleconsultor's pages (decision 21): the worklist (filters, order, paging) and the answer form, with errors
named next to their fields; the APS team reads the answer on its referral page."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from sqlalchemy.ext.asyncio import AsyncSession
from tests.conftest import Login
from tests.waitlist.test_teleconsultation import FLORIANOPOLIS, make_gated
from tests.web.conftest import Browser, browser_for, field_error, web_app

from regula.config import Settings
from regula.waitlist import service as wl

__all__ = ["browser_for", "web_app"]  # fixtures, used by name
MakeUser = Callable[..., Awaitable[Login]]
BrowserFor = Callable[[Login | None], Awaitable[Browser]]
pytestmark = pytest.mark.usefixtures("reference_data")


async def test_worklist_and_answer_form(
    session: AsyncSession, settings: Settings, make_user: MakeUser, browser_for: BrowserFor
) -> None:
    entry = await make_gated(session, settings, name="Iolanda Página")
    await session.commit()
    tele = await browser_for(await make_user("teleconsultor", "uf:SC"))
    listed = await tele.get("/teleconsultoria")
    assert listed.status_code == 200
    assert entry.protocol in listed.text and "Iolanda Página" in listed.text
    assert "1 encaminhamento aguardando" in listed.text
    filtered = await tele.get("/teleconsultoria", params={"idade_min": "90"})
    assert entry.protocol not in filtered.text
    bad_age = await tele.get("/teleconsultoria", params={"idade_min": "abc"})
    assert bad_age.status_code == 422 and field_error(bad_age.text, "idade_min")
    bad_order = await tele.get("/teleconsultoria", params={"ordem": "sorte"})
    assert bad_order.status_code == 422 and field_error(bad_order.text, "order")
    form = await tele.get(f"/teleconsultoria/{entry.id}")
    assert form.status_code == 200 and 'name="resposta"' in form.text
    refused = await tele.post(f"/teleconsultoria/{entry.id}/resposta", {"resposta": "resolvido_na_aps"})
    assert refused.status_code == 422
    assert "orientação" in (field_error(refused.text, "orientacao") or "")
    assert (await wl.get_entry(session, entry.id or 0)).status == "aguardando_teleconsulta"
    done = await tele.post(
        f"/teleconsultoria/{entry.id}/resposta", {"resposta": "seguir_com_classe", "classe_sugerida": "amarelo"}
    )
    assert done.status_code == 303 and done.headers["location"] == "/teleconsultoria?feito=1"
    session.expunge_all()
    moved = await wl.get_entry(session, entry.id or 0)
    assert (moved.status, moved.risk_class) == ("solicitada", "amarelo")
    # The APS team sees the answer on its referral; it cannot open the teleconsultor's pages.
    aps = await browser_for(await make_user("solicitante", f"municipality:{FLORIANOPOLIS}"))
    page = await aps.get(f"/aps/encaminhamentos/{entry.id}")
    assert page.status_code == 200
    assert "Resposta da teleconsultoria" in page.text and "Seguir para a regulação com a classe" in page.text
    assert (await aps.get("/teleconsultoria")).status_code == 403
    forward = await aps.post(f"/teleconsultoria/{entry.id}/resposta", {"resposta": "seguir_para_fila"})
    assert forward.status_code == 403


async def test_answer_form_names_the_checklist_items_by_label(
    session: AsyncSession, settings: Settings, make_user: MakeUser, browser_for: BrowserFor
) -> None:
    """QA walk: the answer form listed the APS checklist by key (``✔ ecg_anexado``); it names each item by the
    label of the protocol version the referral was checked against, as the regulator's page does."""
    entry = await make_gated(session, settings, name="Otília Checklist")
    entry.checklist = {"ecg_anexado": True, "exames_laboratoriais_recentes": False}
    session.add(entry)
    await session.commit()
    tele = await browser_for(await make_user("teleconsultor", "uf:SC"))
    form = await tele.get(f"/teleconsultoria/{entry.id}")
    assert form.status_code == 200
    assert "✔ Eletrocardiograma recente anexado" in form.text
    assert "✘ Exames laboratoriais dos últimos seis meses anexados" in form.text
    assert "ecg_anexado" not in form.text and "exames_laboratoriais_recentes" not in form.text
