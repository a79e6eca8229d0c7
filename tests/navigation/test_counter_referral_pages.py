"""The APS team's counter-referral pages (decision 21): the worklist (unread first, filters, paging), one
counter-referral with its findings and conduct, and the acknowledgement of reading; also on the referral page."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from regula.config import Settings
from tests.conftest import Login
from tests.navigation.test_counter_referral import RETURN, conclude_cardiology, delivered
from tests.production.conftest import MakeEntry, make_entry
from tests.web.conftest import Browser, browser_for, field_error, web_app

__all__ = ["browser_for", "make_entry", "web_app"]  # fixtures, used by name
MakeUser = Callable[..., Awaitable[Login]]
BrowserFor = Callable[[Login | None], Awaitable[Browser]]
pytestmark = pytest.mark.usefixtures("reference_data")


async def test_worklist_detail_and_acknowledgement(
    session: AsyncSession, settings: Settings, make_entry: MakeEntry, make_user: MakeUser, browser_for: BrowserFor
) -> None:
    entry_id = await conclude_cardiology(session, settings, make_entry)
    (row,) = await delivered(session, entry_id)
    await session.commit()
    aps_login = await make_user("solicitante", "municipality:4205407")
    aps = await browser_for(aps_login)
    listed = await aps.get("/aps/contrarreferencias", params={"leitura": "nao_lidas"})
    assert listed.status_code == 200
    assert f"/aps/contrarreferencias/{row.id}" in listed.text and "1 contrarreferência não lida" in listed.text
    bad = await aps.get("/aps/contrarreferencias", params={"leitura": "talvez"})
    assert bad.status_code == 422 and field_error(bad.text, "read")
    bad_cnes = await aps.get("/aps/contrarreferencias", params={"cnes": "12"})
    assert bad_cnes.status_code == 422 and field_error(bad_cnes.text, "cnes")
    detail = await aps.get(f"/aps/contrarreferencias/{row.id}")
    assert detail.status_code == 200
    assert RETURN["aps_summary"] in detail.text and RETURN["counter_referral"] in detail.text
    assert "Confirmar a leitura" in detail.text
    acked = await aps.post(f"/aps/contrarreferencias/{row.id}/lida", {})
    assert acked.status_code == 303
    after = await aps.get(acked.headers["location"])
    assert "Leitura confirmada" in after.text and aps_login.username in after.text
    assert "não lida" not in (await aps.get("/aps/contrarreferencias")).text.split("<tbody>")[1]
    referral = await aps.get(f"/aps/encaminhamentos/{entry_id}")
    assert "Contrarreferência (CNES" in referral.text and "lida em" in referral.text
    # A navigator reads but does not acknowledge; another state's APS sees nothing.
    nav = await browser_for(await make_user("navegador", "uf:SC"))
    assert (await nav.get(f"/aps/contrarreferencias/{row.id}")).status_code == 200
    assert (await nav.post(f"/aps/contrarreferencias/{row.id}/lida", {})).status_code == 403
    other = await browser_for(await make_user("solicitante", "uf:PR"))
    assert (await other.get(f"/aps/contrarreferencias/{row.id}")).status_code == 404
