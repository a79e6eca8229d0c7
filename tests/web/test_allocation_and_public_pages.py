"""An operator launches an allocation run from its page, reviews it (explanations, summary by municipality and
provider), approves and commits it; the citizen then sees "Agendada" and the date on the public page, which shows
nothing personal beyond a masked name and is limited per address. Provider agendas show booked/capacity."""

from __future__ import annotations

import random
import re
from collections.abc import Awaitable, Callable
from datetime import date, timedelta

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession
from tests.allocation.test_allocation_runs import _provider_with_agenda
from tests.conftest import Login
from tests.waitlist.test_waitlist_api import FLORIANOPOLIS, authorize, citizen_body, refer
from tests.web.conftest import Browser, field_error

from regula.allocation.service import solve_queued_now
from regula.config import Settings
from regula.people.documents import generate_cpf

MakeUser = Callable[..., Awaitable[Login]]
BrowserFor = Callable[[Login | None], Awaitable[Browser]]
pytestmark = pytest.mark.usefixtures("reference_data")
rng = random.Random(63)


async def test_run_launched_reviewed_approved_and_committed(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, make_user: MakeUser, browser_for: BrowserFor
) -> None:
    gestor = await make_user("gestor", "uf:SC")
    aps = await make_user("solicitante", f"municipality:{FLORIANOPOLIS}")
    admin = await make_user("admin", "br")
    await _provider_with_agenda(client, gestor, "7100001", "4216602", places=2)  # São José
    urgent = await refer(client, aps, citizen_body(name="Maria Urgente Souza") | {"cpf": generate_cpf(rng)}, "vermelho")
    calm = await refer(client, aps, citizen_body(name="Nair Eletiva") | {"cpf": generate_cpf(rng)}, "azul")
    other = await refer(client, aps, citizen_body(name="Olga Terceira") | {"cpf": generate_cpf(rng)}, "azul")
    for e in (urgent, calm, other):
        await authorize(client, admin, e["id"])
    reg = await browser_for(await make_user("regulador", "uf:SC"))

    page = await reg.get("/regulacao/alocacoes")
    assert "Nova rodada" in page.text and 'value="region:42007"' in page.text
    bad = await reg.post("/regulacao/alocacoes", {"escopo": "region:42007", "horizonte": "0"})
    assert bad.status_code == 422
    assert field_error(bad.text, "horizon") == "Informe um horizonte de 1 a 180 dias."
    launched = await reg.post("/regulacao/alocacoes", {"escopo": "region:42007", "horizonte": "30"})
    assert launched.status_code == 303, launched.text
    run_url = launched.headers["location"].split("?")[0]
    # Queued, not solved in the request: the page says so, shows the progress and reloads itself.
    queued = await reg.get(launched.headers["location"])
    assert "Rodada na fila" in queued.text and "Na fila: aguarda o cálculo" in queued.text
    assert '<meta http-equiv="refresh" content="3">' in queued.text
    assert '<progress max="100" value="0">' in queued.text
    assert "Na fila: aguardando o processo de tarefas." in queued.text
    again = await reg.post("/regulacao/alocacoes", {"escopo": "region:42007", "horizonte": "30"})
    assert again.status_code == 409 and "já está na fila ou sendo calculada" in again.text
    await solve_queued_now(session, settings)  # what the jobs process does
    run = await reg.get(run_url)
    assert "Proposta: aguarda revisão" in run.text
    # QA walk: the self-reloading page keeps ?feito=na_fila; once solved it no longer says the run is queued.
    reloaded = await reg.get(launched.headers["location"])
    assert "Proposta: aguarda revisão" in reloaded.text and "Rodada na fila" not in reloaded.text
    assert 'http-equiv="refresh"' not in run.text
    assert "Policlínica 7100001" in run.text  # by provider
    assert "Florianópolis/SC" in run.text  # by municipality
    assert urgent["protocol"] in run.text and "Na região de saúde" in run.text and " km</td>" in run.text
    assert "<svg" in run.text
    early = await reg.post(f"{run_url}/efetivar", {})
    assert early.status_code == 409 and "Só uma rodada aprovada pode ser efetivada." in early.text

    assert (await reg.post(f"{run_url}/aprovar", {})).status_code == 303
    committed = await reg.post(f"{run_url}/efetivar", {})
    assert committed.status_code == 303
    done = await reg.get(committed.headers["location"])
    assert "Efetivada: vagas reservadas e pessoas agendadas" in done.text
    listing = await reg.get("/regulacao/alocacoes")
    assert f'href="{run_url}"' in listing.text

    public = await browser_for(None)
    shown = await public.client.post(
        "/posicao", data={"protocolo": urgent["protocol"].lower(), "nascimento": "17/05/1960"}
    )
    assert shown.status_code == 200
    assert "Agendada" in shown.text and "Data marcada" in shown.text
    assert "Maria U. S." in shown.text and "Maria Urgente Souza" not in shown.text
    assert "***" not in shown.text and "99988-7766" not in shown.text  # no document, no phone
    agendas = await reg.get("/regulacao/agendas", params={"cnes": "7100001"})
    assert "Policlínica 7100001" in agendas.text
    assert re.search(r"1/1\s*<span class=\"dica\">\(100%\)", agendas.text)


async def test_public_lookup_masks_the_name_and_is_rate_limited(
    client: httpx.AsyncClient, make_user: MakeUser, browser_for: BrowserFor
) -> None:
    aps = await make_user("solicitante", f"municipality:{FLORIANOPOLIS}")
    admin = await make_user("admin", "br")
    entry = await refer(client, aps, citizen_body(name="Paula de Souza Lima") | {"cpf": generate_cpf(rng)})
    await authorize(client, admin, entry["id"])
    public = await browser_for(None)
    form = await public.client.get(f"/posicao?protocolo={entry['protocol']}")
    assert form.status_code == 200 and f'value="{entry["protocol"]}"' in form.text
    assert (await public.client.get("/consulta", follow_redirects=False)).headers["location"] == "/posicao"

    found = await public.client.post("/posicao", data={"protocolo": entry["protocol"], "nascimento": "1960-05-17"})
    assert found.status_code == 200
    assert "Paula S. L." in found.text and "Paula de Souza Lima" not in found.text
    assert "Autorizada (na fila)" in found.text and "1ª</strong> de 1" in found.text
    wrong = await public.client.post("/posicao", data={"protocolo": entry["protocol"], "nascimento": "1961-05-17"})
    assert wrong.status_code == 404 and "não conferem" in wrong.text
    missing = await public.client.post("/posicao", data={"protocolo": "", "nascimento": "ontem"})
    assert missing.status_code == 422
    assert field_error(missing.text, "protocolo") == "Informe o número do protocolo."
    assert field_error(missing.text, "nascimento") == "Informe a data de nascimento (DD/MM/AAAA)."
    statuses = []
    for _ in range(10):
        r = await public.client.post("/posicao", data={"protocolo": "SC2600000000", "nascimento": "1960-05-17"})
        statuses.append(r.status_code)
    assert statuses[-1] == 429
    assert "Muitas consultas a partir deste endereço" in r.text
    assert int(r.headers["retry-after"]) >= 1


async def test_agendas_show_each_provider_only_its_own(
    client: httpx.AsyncClient, make_user: MakeUser, browser_for: BrowserFor
) -> None:
    gestor = await make_user("gestor", "uf:SC")
    await _provider_with_agenda(client, gestor, "7100002", "4216602", places=1)
    await _provider_with_agenda(client, gestor, "7100003", "4209102", places=1)  # Joinville
    provider = await browser_for(await make_user("executante", "cnes:7100002"))
    page = await provider.get("/regulacao/agendas", params={"ate": (date.today() + timedelta(days=20)).isoformat()})
    assert page.status_code == 200
    assert "Policlínica 7100002" in page.text and "Policlínica 7100003" not in page.text
    assert "0/1" in page.text
    bad = await provider.get("/regulacao/agendas", params={"de": "2026-13-40"})
    assert bad.status_code == 422 and field_error(bad.text, "de") == "Data inválida (use DD/MM/AAAA)."
    region = await browser_for(await make_user("regulador", "region:42007"))
    seen = await region.get("/regulacao/agendas", params={"ate": (date.today() + timedelta(days=20)).isoformat()})
    assert "Policlínica 7100002" in seen.text and "Policlínica 7100003" not in seen.text


async def test_a_region_sees_only_its_residents_in_a_state_run_and_cannot_decide_it(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, make_user: MakeUser, browser_for: BrowserFor
) -> None:
    gestor = await make_user("gestor", "uf:SC")
    admin = await make_user("admin", "br")
    await _provider_with_agenda(client, gestor, "7100021", "4216602", places=1)  # São José, region 42007
    await _provider_with_agenda(client, gestor, "7100022", "4209102", places=1)  # Joinville, region 42011
    floripa = await make_user("solicitante", f"municipality:{FLORIANOPOLIS}")
    joinville = await make_user("solicitante", "municipality:4209102")
    near = await refer(client, floripa, citizen_body(name="Rosa Ilhoa") | {"cpf": generate_cpf(rng)}, "vermelho")
    far = await refer(
        client,
        joinville,
        citizen_body(name="Tereza Nortista", municipality_ibge="4209102") | {"cpf": generate_cpf(rng)},
        "vermelho",
    )
    for e in (near, far):
        await authorize(client, admin, e["id"])
    state = await browser_for(await make_user("regulador", "uf:SC"))
    launched = await state.post("/regulacao/alocacoes", {"escopo": "uf:SC", "horizonte": "30"})
    assert launched.status_code == 303, launched.text
    run_url = launched.headers["location"].split("?")[0]
    await solve_queued_now(session, settings)  # what the jobs process does
    assert far["protocol"] in (await state.get(run_url)).text

    regional = await browser_for(await make_user("regulador", "region:42007"))
    assert f'href="{run_url}"' in (await regional.get("/regulacao/alocacoes")).text
    seen = await regional.get(run_url)
    assert seen.status_code == 200
    assert near["protocol"] in seen.text and "Rosa Ilhoa" in seen.text
    assert far["protocol"] not in seen.text and "Tereza Nortista" not in seen.text and "Joinville" not in seen.text
    assert f'action="{run_url}/aprovar"' not in seen.text
    refused = await regional.post(f"{run_url}/aprovar", {})
    assert refused.status_code == 403

    parana = await browser_for(await make_user("regulador", "uf:PR"))
    assert f'href="{run_url}"' not in (await parana.get("/regulacao/alocacoes")).text
    assert (await parana.get(run_url)).status_code == 404
    assert (await parana.post(f"{run_url}/aprovar", {})).status_code == 404
