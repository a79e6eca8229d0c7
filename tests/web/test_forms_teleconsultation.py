"""The teleconsultor's answer form carries the rule's limit (issue 17 item 4): the guidance's ``maxlength`` is
``teleconsultation.MAX_GUIDANCE``, the limit the service refuses beyond, and a longer text is shown again whole."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession
from tests.waitlist.test_teleconsultation import make_gated
from tests.web.conftest import field_error
from tests.web.test_forms_limits import check_page
from tests.web.test_requester_pages import BrowserFor, MakeUser

from regula.config import Settings

pytestmark = pytest.mark.usefixtures("reference_data")


async def test_the_teleconsultors_answer_carries_the_rules_limit(
    session: AsyncSession, settings: Settings, make_user: MakeUser, browser_for: BrowserFor
) -> None:
    entry = await make_gated(session, settings, name="Iolanda Limite")
    await session.commit()
    tele = await browser_for(await make_user("teleconsultor", "uf:SC"))
    page = f"/teleconsultoria/{entry.id}"
    assert "teleconsulta_resposta" in check_page((await tele.get(page)).text, page)
    guidance = "Manter na APS com seguimento. " * 140  # 4,200 characters
    refused = await tele.post(f"{page}/resposta", {"resposta": "resolvido_na_aps", "orientacao": guidance})
    assert refused.status_code == 422
    assert field_error(refused.text, "orientacao") == "A orientação pode ter no máximo 4000 caracteres."
    assert guidance.strip() in refused.text  # shown again whole (it was cut at 5,000 characters)


async def test_a_nul_in_the_answer_keeps_the_form_and_names_the_field(
    session: AsyncSession, settings: Settings, make_user: MakeUser, browser_for: BrowserFor
) -> None:
    """PostgreSQL stores no NUL in text: the input guard's rule refuses it, here on the answer form itself (a 422
    with the typed text kept and the field named by its label), not on the generic error page that named the field
    by its key ("Orientacao"); the rule's other objections come in the same answer; nothing is recorded."""
    entry = await make_gated(session, settings, name="Iolanda Nulo")
    await session.commit()
    tele = await browser_for(await make_user("teleconsultor", "uf:SC"))
    page = f"/teleconsultoria/{entry.id}"
    refused = await tele.post(f"{page}/resposta", {"resposta": "", "orientacao": "Manter na APS\x00 com seguimento."})
    assert refused.status_code == 422, refused.text
    assert 'data-form="teleconsulta_resposta"' in refused.text  # the form, not the error page
    assert field_error(refused.text, "orientacao") == "O texto contém o caractere nulo (\\0), que não é aceito."
    assert field_error(refused.text, "resposta") is not None  # the missing answer, in the same round
    assert "Verifique: Resposta, Orientação à equipe da APS." in refused.text
    assert "Manter na APS com seguimento." in refused.text  # kept, without the NUL
    assert "Orientacao" not in refused.text and "\x00" not in refused.text
    again = await tele.get(page)
    assert 'data-form="teleconsulta_resposta"' in again.text  # still waiting for an answer
    done = await tele.post(f"{page}/resposta", {"resposta": "resolvido_na_aps", "orientacao": "Manter na APS."})
    assert done.status_code == 303, done.text


async def test_the_api_refuses_a_nul_in_the_guidance_by_name(
    session: AsyncSession, settings: Settings, make_user: MakeUser, client: httpx.AsyncClient
) -> None:
    """The same answer through the API: a 422 naming ``guidance`` (the input guard's rule), never a 500."""
    entry = await make_gated(session, settings, name="Iolanda Nula")
    await session.commit()
    tele = await make_user("teleconsultor", "uf:SC")
    refused = await client.post(
        f"/api/v1/teleconsultations/{entry.id}/answer",
        headers=tele.headers,
        json={"outcome": "resolvido_na_aps", "guidance": "Manter na APS\x00 com seguimento."},
    )
    assert refused.status_code == 422, refused.text
    assert [(e["field"], e["code"]) for e in refused.json()["errors"]] == [("guidance", "caractere_nulo")]
