"""The execution page's forms carry the server's limits (issue 17 item 4): every typed field's maxlength, pattern
and minlength come from the FormSpecs the server checks, and a value beyond them is refused by label with what was
typed kept."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import Login
from tests.production.conftest import MakeEntry
from tests.production.test_api_and_pages import MakeUser, _day, api, app, browser_for  # noqa: F401
from tests.web.conftest import Browser, field_error
from tests.web.test_forms_limits import check_page


async def test_the_execution_forms_carry_and_enforce_their_limits(
    browser_for: Callable[[Login], Awaitable[Browser]],  # noqa: F811
    session: AsyncSession,
    make_entry: MakeEntry,
    make_user: MakeUser,
) -> None:
    care = await make_entry("0901010014")
    await session.commit()
    nav = await browser_for(await make_user("navegador", "uf:SC"))
    page = f"/producao/entradas/{care.entry.id}"
    seen = check_page((await nav.get(page)).text, page)
    assert "producao_procedimento" in seen

    typed = {"procedimento": "0204030030", "data": _day(4), "cbo": "2253-20", "cnes": "12345678", "cid": "C50.9"}
    refused = await nav.post(f"{page}/procedimentos", typed)
    assert refused.status_code == 422
    assert field_error(refused.text, "cnes") == "Texto longo demais: no máximo 7 caracteres (foram 8)."
    assert 'value="2253-20"' in refused.text and 'value="12345678"' in refused.text
    recorded = await nav.post(f"{page}/procedimentos", typed | {"cnes": ""})
    assert recorded.status_code == 303, recorded.text
    second = {"procedimento": "0301010307", "data": _day(1), "cbo": "225125"}
    assert (await nav.post(f"{page}/procedimentos", second)).status_code == 303

    prov = await browser_for(await make_user("executante", "uf:SC"))
    summary = "Achado benigno. " * 260  # 4,160 characters
    refused = await prov.post(f"{page}/concluir", {"resumo": summary, "contrarreferencia": "Rotina na UBS."})
    assert refused.status_code == 422
    assert field_error(refused.text, "resumo") == "Texto longo demais: no máximo 4000 caracteres (foram 4159)."
    assert summary.strip() in refused.text and "Rotina na UBS." in refused.text
