"""The provider's day on the web (issue 17 item 2): an establishment's appointments with the patients' names — its
own patients only —, check-in and no-show as the state table allows, and the entry's page opened by the executante
for its own establishment's entries and refused for another's. Days are fixed (nothing depends on the day the
tests run)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from regula.audit.models import AuditEvent
from regula.audit.service import LIST_READ, AuditContext, install, set_context
from regula.catalog.service import get_oci
from regula.config import Settings
from regula.people.schemas import CitizenCreate
from regula.providers.models import AgendaSlot, SlotBooking
from regula.providers.service import book
from regula.waitlist import service as wl
from regula.waitlist.models import EntryEvent, WaitlistEntry
from regula.waitlist.schemas import ReferralCreate
from tests.conftest import Login, app_client
from tests.production.conftest import APS, APS_CNES, FLORIANOPOLIS, NAVEGADOR, REGULADOR, cpf, ensure_establishment
from tests.web.conftest import HTML, Browser

MakeUser = Callable[..., Awaitable[Login]]
OpenBrowser = Callable[[Login], Awaitable[Browser]]
OCI = "0902010026"  # OCI AVALIAÇÃO CARDIOLÓGICA
HERE, THERE = "7200001", "7200002"  # two establishments
DAY = date(2031, 3, 4)  # a Tuesday
ZONE = ZoneInfo("America/Sao_Paulo")


async def _booked(
    session: AsyncSession, settings: Settings, name: str, cnes: str, when: datetime, *, confirm: bool = True
) -> int:
    """An entry of ``name`` booked at ``cnes`` for ``when``, through the real workflow (agendada, confirmada)."""
    detail = await get_oci(session, OCI, settings)
    await ensure_establishment(session, cnes)
    data = ReferralCreate(
        cid_code=detail.cids[0],
        risk_class="amarelo",
        risk_justification="Quadro clínico descrito pela equipe da APS.",
        requesting_cnes=APS_CNES,
        oci_code=OCI,
        citizen=CitizenCreate(
            name=name,
            birth_date=date(1961, 4, 2),
            sex="F",
            race_color="parda",
            municipality_ibge=FLORIANOPOLIS,
            cpf=cpf(),
            phone="(48) 99988-7766",
            contact_consent=True,
        ),
    )
    entry = await wl.create_referral(session, data, APS, settings)
    assert entry.id is not None
    for target in ("em_analise", "autorizada"):
        await wl.transition(session, entry.id, target, REGULADOR, settings)
    slot = AgendaSlot(cnes=cnes, oci_code=OCI, starts_at=when, capacity=1)
    session.add(slot)
    await session.flush()
    await book(session, slot.id or 0, entry.id)
    await wl.transition(session, entry.id, "agendada", REGULADOR, settings)
    if confirm:
        await wl.transition(session, entry.id, "confirmada", NAVEGADOR, settings)
    return entry.id


@pytest.fixture
def app(settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]) -> Any:
    from regula.web.app import create_app

    return create_app(settings, sessionmaker)


@pytest.fixture
async def browser_for(app: Any) -> AsyncIterator[OpenBrowser]:
    clients: list[httpx.AsyncClient] = []

    async def _open(login: Login) -> Browser:
        client = app_client(app)
        clients.append(client)
        response = await client.post(
            "/login", data={"username": login.username, "password": login.password, "next": "/"}, headers=HTML
        )
        assert response.status_code == 303, response.text
        home = await client.get("/", headers=HTML)
        match = re.search(r'name="_csrf" value="([^"]+)"', home.text)
        assert match, home.text
        return Browser(client, match.group(1))

    yield _open
    for c in clients:
        await c.aclose()


@pytest.fixture
async def day(session: AsyncSession, settings: Settings, reference_data: None) -> dict[str, int]:
    install()
    set_context(session, AuditContext.system("test", "tests/production/provider_day"))
    at = lambda h: datetime(DAY.year, DAY.month, DAY.day, h, 0, tzinfo=ZONE)  # noqa: E731
    ids = {
        "ana": await _booked(session, settings, "Ana Beatriz Aquino", HERE, at(9)),
        "carla": await _booked(session, settings, "Carla Cunha Cardoso", HERE, at(10), confirm=False),
        "bruno": await _booked(session, settings, "Bruno Barbosa Borges", THERE, at(9)),
        "dora": await _booked(session, settings, "Dora Dantas Duarte", HERE, datetime(2031, 3, 7, 14, 30, tzinfo=ZONE)),
    }
    await session.commit()
    return ids


async def _status(session: AsyncSession, entry_id: int) -> str:
    session.expire_all()
    entry = await session.get(WaitlistEntry, entry_id)
    assert entry is not None
    return entry.status


def _row(html: str, entry_id: int) -> str:
    match = re.search(rf'<tr id="ag-{entry_id}">(.*?)</tr>', html, re.S)
    assert match, html
    return match.group(1)


async def test_the_day_shows_own_patients_with_names_only(
    session: AsyncSession, day: dict[str, int], make_user: MakeUser, browser_for: OpenBrowser
) -> None:
    provider = await browser_for(await make_user("executante", f"cnes:{HERE}"))
    page = await provider.get(f"/prestador?dia={DAY.isoformat()}")
    assert page.status_code == 200, page.text
    html = page.text
    assert "Ana Beatriz Aquino" in html and "Carla Cunha Cardoso" in html
    assert "Bruno Barbosa Borges" not in html  # another establishment's patient
    assert "Dora Dantas Duarte" not in html  # later in the week
    assert "Iniciar atendimento" in _row(html, day["ana"])  # confirmada: the state table lets the provider start
    assert "Iniciar atendimento" not in _row(html, day["carla"])  # agendada: not confirmed yet
    assert "Registrar falta" in _row(html, day["carla"])
    assert html.index("Ana Beatriz Aquino") < html.index("Carla Cunha Cardoso")  # by time
    # The week, and asking for another establishment changes nothing for a provider's user.
    week = (await provider.get(f"/prestador?dia={DAY.isoformat()}&periodo=semana&cnes={THERE}")).text
    assert "Dora Dantas Duarte" in week and "Bruno Barbosa Borges" not in week
    assert "2 atendimentos agendados" in html and "3 atendimentos agendados" in week
    # Sorted by patient, descending: Carla first.
    by_name = (await provider.get(f"/prestador?dia={DAY.isoformat()}&ordem=paciente&sentido=desc")).text
    assert by_name.index("Carla Cunha Cardoso") < by_name.index("Ana Beatriz Aquino")
    # The names shown were recorded as read: one event per list, naming every entry it showed.
    session.expire_all()
    reads = (await session.execute(select(AuditEvent).where(col(AuditEvent.action) == LIST_READ))).scalars().all()
    shown = [set(r.after["ids"]) for r in reads if r.after and r.after.get("list") == "provider_day"]
    assert {str(day["ana"]), str(day["carla"])} in shown
    assert all(str(day["bruno"]) not in ids for ids in shown)


async def test_bad_list_parameters_are_400_naming_them(
    day: dict[str, int], make_user: MakeUser, browser_for: OpenBrowser
) -> None:
    provider = await browser_for(await make_user("executante", f"cnes:{HERE}"))
    for query, word in (("dia=31/02/2031", "dia"), ("periodo=mes", "Período"), ("situacao=xyz", "Situação")):
        page = await provider.get(f"/prestador?{query}")
        assert page.status_code == 400, (query, page.status_code)
        assert word in page.text


async def test_check_in_and_no_show_return_to_the_same_place(
    session: AsyncSession, day: dict[str, int], make_user: MakeUser, browser_for: OpenBrowser
) -> None:
    login = await make_user("executante", f"cnes:{HERE}")
    provider = await browser_for(login)
    back = f"/prestador?dia={DAY.isoformat()}&ordem=paciente&sentido=asc"
    started = await provider.post(f"/prestador/atendimentos/{day['ana']}", {"para": "em_atendimento", "voltar": back})
    assert started.status_code == 303, started.text
    assert started.headers["location"] == f"{back}&feito=em_atendimento#ag-{day['ana']}"
    assert await _status(session, day["ana"]) == "em_atendimento"
    event = (
        (
            await session.execute(
                select(EntryEvent).where(col(EntryEvent.entry_id) == day["ana"]).order_by(col(EntryEvent.id))
            )
        )
        .scalars()
        .all()[-1]
    )
    assert (event.actor_username, event.actor_role, event.to_status) == (login.username, "executante", "em_atendimento")
    page = (await provider.get(started.headers["location"].split("#")[0])).text
    assert "Atendimento iniciado" in page
    assert f'href="/producao/entradas/{day["ana"]}"' in _row(page, day["ana"])  # on to the OCI's procedures
    # The no-show of the one who did not come: the place is released as a no-show, the row stays on the day.
    missed = await provider.post(f"/prestador/atendimentos/{day['carla']}", {"para": "faltou", "voltar": back})
    assert missed.status_code == 303, missed.text
    assert await _status(session, day["carla"]) == "faltou"
    booking = (await session.execute(select(SlotBooking).where(col(SlotBooking.entry_id) == day["carla"]))).scalar_one()
    assert booking.status == "faltou"
    page = (await provider.get(missed.headers["location"].split("#")[0])).text
    assert "Carla Cunha Cardoso" in page and "Falta registrada" in page


async def test_the_state_table_decides_and_errors_stay_next_to_the_row(
    session: AsyncSession, day: dict[str, int], make_user: MakeUser, browser_for: OpenBrowser
) -> None:
    provider = await browser_for(await make_user("executante", f"cnes:{HERE}"))
    back = f"/prestador?dia={DAY.isoformat()}"
    # agendada → em_atendimento is not in the table: 409, said in Portuguese next to the row, nothing changed.
    refused = await provider.post(f"/prestador/atendimentos/{day['carla']}", {"para": "em_atendimento", "voltar": back})
    assert refused.status_code == 409, refused.text
    assert "Não é possível passar de agendada para em atendimento" in _row(refused.text, day["carla"])
    assert await _status(session, day["carla"]) == "agendada"
    unknown = await provider.post(f"/prestador/atendimentos/{day['ana']}", {"para": "concluida", "voltar": back})
    assert unknown.status_code == 422 and "Ação desconhecida" in _row(unknown.text, day["ana"])
    # A navigator may not start an attendance (the table says so); the entry's page offers it the no-show only.
    navigator = await browser_for(await make_user("navegador", "uf:SC"))
    entry_page = (await navigator.get(f"/regulacao/entradas/{day['ana']}")).text
    assert "Iniciar atendimento" not in entry_page and "Registrar falta" in entry_page
    assert (await navigator.get("/prestador")).status_code == 403


async def test_a_provider_cannot_see_or_act_on_another_establishments_entry(
    session: AsyncSession, day: dict[str, int], make_user: MakeUser, browser_for: OpenBrowser
) -> None:
    provider = await browser_for(await make_user("executante", f"cnes:{HERE}"))
    other = day["bruno"]
    for path in (f"/regulacao/entradas/{other}", f"/producao/entradas/{other}"):
        page = await provider.get(path)
        assert page.status_code == 403, (path, page.status_code)
        assert "Bruno Barbosa Borges" not in page.text
    for path, data in (
        (f"/prestador/atendimentos/{other}", {"para": "em_atendimento", "voltar": "/prestador"}),
        (f"/regulacao/entradas/{other}/transicao", {"para": "em_atendimento"}),
        (f"/prestador/atendimentos/{other}", {"para": "faltou", "voltar": "/prestador"}),
    ):
        refused = await provider.post(path, data)
        assert refused.status_code == 403, (path, refused.status_code)
        assert "Bruno Barbosa Borges" not in refused.text
    assert await _status(session, other) == "confirmada"
    # Its own patient's entry opens, with "Iniciar atendimento" offered, and the button works from there too.
    own = await provider.get(f"/regulacao/entradas/{day['ana']}")
    assert own.status_code == 200, own.text
    assert "Ana Beatriz Aquino" in own.text and "Iniciar atendimento" in own.text
    started = await provider.post(f"/regulacao/entradas/{day['ana']}/transicao", {"para": "em_atendimento"})
    assert started.status_code == 303, started.text
    assert await _status(session, day["ana"]) == "em_atendimento"
    # A provider's user of the other establishment does not see this one's patients either.
    there = await browser_for(await make_user("executante", f"cnes:{THERE}"))
    page = (await there.get(f"/prestador?dia={DAY.isoformat()}")).text
    assert "Bruno Barbosa Borges" in page and "Ana Beatriz Aquino" not in page


async def test_api_attendance_is_scoped_to_the_establishment_and_the_state_table(
    session: AsyncSession, day: dict[str, int], make_user: MakeUser, app: Any
) -> None:
    here = await make_user("executante", f"cnes:{HERE}")
    navigator = await make_user("navegador", "uf:SC")
    async with app_client(app) as api:
        url = "/api/v1/production/entries/{}/attendance"
        other = await api.post(url.format(day["bruno"]), json={"to": "em_atendimento"}, headers=here.headers)
        assert other.status_code == 403 and other.json()["code"] == "fora_da_jurisdicao"
        assert "Bruno" not in other.text
        assert await _status(session, day["bruno"]) == "confirmada"
        # The navigator may not start an attendance (the state table), but may record a no-show.
        refused = await api.post(url.format(day["ana"]), json={"to": "em_atendimento"}, headers=navigator.headers)
        assert refused.status_code == 403 and refused.json()["code"] == "transicao_nao_permitida_ao_papel"
        unknown = await api.post(url.format(day["ana"]), json={"to": "concluida"}, headers=here.headers)
        assert unknown.status_code == 422
        assert [e["field"] for e in unknown.json()["errors"]] == ["to"]
        started = await api.post(url.format(day["ana"]), json={"to": "em_atendimento"}, headers=here.headers)
        assert started.status_code == 201, started.text
        assert started.json() == {
            "entry_id": day["ana"],
            "protocol": started.json()["protocol"],
            "status": "em_atendimento",
        }
        missed = await api.post(url.format(day["carla"]), json={"to": "faltou"}, headers=navigator.headers)
        assert missed.status_code == 201 and missed.json()["status"] == "faltou"


async def test_the_entry_page_leads_the_provider_back_to_its_day_and_on_to_the_oci(
    day: dict[str, int], make_user: MakeUser, browser_for: OpenBrowser
) -> None:
    provider = await browser_for(await make_user("executante", f"cnes:{HERE}"))
    page = (await provider.get(f"/regulacao/entradas/{day['ana']}")).text
    assert '<a href="/prestador">Agenda do dia</a>' in page and 'href="/regulacao/entradas"' not in page
    started = await provider.post(f"/regulacao/entradas/{day['ana']}/transicao", {"para": "em_atendimento"})
    assert started.status_code == 303
    page = (await provider.get(started.headers["location"])).text
    assert "Atendimento iniciado" in page and f'href="/producao/entradas/{day["ana"]}"' in page
    oci = await provider.get(f"/producao/entradas/{day['ana']}")
    assert oci.status_code == 200 and 'id="procedimento"' in oci.text  # the procedures' form is there


async def test_the_entry_page_offers_the_queue_only_to_who_may_list_it(
    day: dict[str, int], make_user: MakeUser, browser_for: OpenBrowser
) -> None:
    """QA walk: the executante's entry page linked "ver a fila" to /regulacao/entradas?fila=…, a list the
    executante may not open (403); the link is there only for the roles that can follow it."""
    provider = await browser_for(await make_user("executante", f"cnes:{HERE}"))
    page = (await provider.get(f"/regulacao/entradas/{day['ana']}")).text
    assert "/regulacao/entradas?fila=" not in page and "ver a fila" not in page
    assert (await provider.get("/regulacao/entradas")).status_code == 403  # why the link must not be offered
    navigator = await browser_for(await make_user("navegador", "uf:SC"))
    seen = (await navigator.get(f"/regulacao/entradas/{day['ana']}")).text
    assert "/regulacao/entradas?fila=" in seen and "ver a fila" in seen


async def test_the_agenda_leads_the_provider_to_the_days_patients(
    day: dict[str, int], make_user: MakeUser, browser_for: OpenBrowser
) -> None:
    provider = await browser_for(await make_user("executante", f"cnes:{HERE}"))
    agenda = await provider.get(f"/regulacao/agendas?de={DAY:%d/%m/%Y}&ate={DAY:%d/%m/%Y}")
    assert agenda.status_code == 200, agenda.text
    assert f'href="/prestador?dia={DAY.isoformat()}"' in agenda.text
    assert "Ana Beatriz Aquino" in (await provider.get(f"/prestador?dia={DAY.isoformat()}")).text
