"""The teleconsultor's answer form carries the rule's limit (issue 17 item 4): the guidance's ``maxlength`` is
``teleconsultation.MAX_GUIDANCE``, the limit the service refuses beyond, and a longer text is shown again whole."""

from __future__ import annotations

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
