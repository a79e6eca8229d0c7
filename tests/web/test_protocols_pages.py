"""The managers' pages for referral protocols and identification (decision 0020): the list of OCIs with their
protocol in force (filter, sort, pages), one OCI's versions and the new-version form (errors named in place, nothing
half-saved), the referral form reading the protocol in force, and the list of records that break SAES art. 11."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from tests.conftest import Login
from tests.web.conftest import Browser, field_error

from regula.audit.service import AuditContext, set_context
from regula.config import Settings
from regula.core.clock import local_today
from regula.people.documents import generate_cpf
from regula.people.models import Citizen

MakeUser = Callable[..., Awaitable[Login]]
BrowserFor = Callable[[Login | None], Awaitable[Browser]]
pytestmark = pytest.mark.usefixtures("reference_data")

OCI = "0902010026"
FLORIANOPOLIS = "4205407"
rng = random.Random(2020)


def new_version_form(today: date, **over: Any) -> dict[str, Any]:
    form: dict[str, Any] = {
        "vigencia": today.isoformat(),
        "motivo": "Revisão pela câmara técnica de cardiologia",
        "item_chave": ["ecg_anexado", "dor_descrita", ""],
        "item_rotulo": ["ECG recente anexado", "Dor torácica descrita", ""],
        "item_tipo": ["obrigatorio", "opcional", "obrigatorio"],
        "exames": "Eletrocardiograma\n",
        "cids": "Z136, Z848",
        "orientacoes": "Vermelho: dor típica aos mínimos esforços",
        "teleconsulta": "1",
        "tr_dias": "",
        "tm_dias": "40",
    }
    return form | over


async def count(session: AsyncSession) -> int:
    return int((await session.execute(text("SELECT count(*) FROM referral_protocol"))).scalar_one())


async def test_manager_writes_a_version_from_the_page(
    session: AsyncSession, settings: Settings, make_user: MakeUser, browser_for: BrowserFor
) -> None:
    today = local_today(settings)
    gestor = await browser_for(await make_user("gestor", "uf:SC"))
    listing = await gestor.get("/gestao/protocolos", params={"busca": "cardio"})
    assert listing.status_code == 200 and OCI in listing.text and "0905010035" not in listing.text
    assert "sem protocolo gravado" in listing.text
    page = await gestor.get(f"/gestao/protocolos/{OCI}")
    assert page.status_code == 200 and "Nova versão" in page.text and "Nenhuma versão gravada" in page.text

    bad = await gestor.post(
        f"/gestao/protocolos/{OCI}",
        new_version_form(today, vigencia=(today - timedelta(days=1)).isoformat(), motivo="curto", tm_dias="x"),
    )
    assert bad.status_code == 422
    assert field_error(bad.text, "tm_dias")
    assert await count(session) == 0
    bad_key = await gestor.post(f"/gestao/protocolos/{OCI}", new_version_form(today, item_chave=["ECG!", "d", ""]))
    assert bad_key.status_code == 422 and (field_error(bad_key.text, "checklist") or "").startswith("Item 1")
    assert 'value="ECG!"' in bad_key.text  # what was typed stays
    assert await count(session) == 0

    done = await gestor.post(f"/gestao/protocolos/{OCI}", new_version_form(today))
    assert done.status_code == 303 and done.headers["location"] == f"/gestao/protocolos/{OCI}?feito=criada"
    after = await gestor.get(done.headers["location"])
    assert "Nova versão do protocolo gravada." in after.text and "Versão 1, vigente desde" in after.text
    assert "Dor torácica descrita" in after.text and "40 dias" in after.text
    row = (await session.execute(text("SELECT version, content, reason FROM referral_protocol"))).one()
    assert row.version == 1 and row.reason.startswith("Revisão")
    assert row.content["checklist"][1] == {"key": "dor_descrita", "label": "Dor torácica descrita", "required": False}
    assert row.content["accepted_cids"] == ["Z136", "Z848"] and row.content["teleconsultation_required"] is True

    gated = await gestor.get("/gestao/protocolos", params={"teleconsulta": "sim"})
    assert OCI in gated.text and "0901010014" not in gated.text

    # The APS referral form reads the protocol in force.
    aps = await browser_for(await make_user("solicitante", f"municipality:{FLORIANOPOLIS}"))
    form = await aps.get("/aps/encaminhar", params={"oci": OCI})
    assert "ECG recente anexado" in form.text and "Dor torácica descrita (opcional)" in form.text
    assert 'name="exames"' in form.text and "Vermelho: dor típica aos mínimos esforços" in form.text
    assert "Eletrocardiograma recente anexado" not in form.text  # the starting checklist is gone


async def test_who_sees_and_who_writes(make_user: MakeUser, browser_for: BrowserFor, settings: Settings) -> None:
    auditor = await browser_for(await make_user("auditor", "uf:SC"))
    page = await auditor.get(f"/gestao/protocolos/{OCI}")
    assert page.status_code == 200 and "Gravar nova versão" not in page.text
    refused = await auditor.post(f"/gestao/protocolos/{OCI}", new_version_form(local_today(settings)))
    assert refused.status_code == 403
    municipal = await browser_for(await make_user("gestor", f"municipality:{FLORIANOPOLIS}"))
    assert "Gravar nova versão" not in (await municipal.get(f"/gestao/protocolos/{OCI}")).text
    assert (
        await municipal.post(f"/gestao/protocolos/{OCI}", new_version_form(local_today(settings)))
    ).status_code == 403
    aps = await browser_for(await make_user("solicitante", f"municipality:{FLORIANOPOLIS}"))
    assert (await aps.get("/gestao/protocolos")).status_code == 403
    unknown = await (await browser_for(await make_user("gestor", "uf:SC"))).get("/gestao/protocolos/0999999999")
    assert unknown.status_code == 404


async def test_identification_list(session: AsyncSession, make_user: MakeUser, browser_for: BrowserFor) -> None:
    set_context(session, AuditContext.system("cli", "teste"))
    legacy = Citizen(
        cpf=generate_cpf(rng),
        name="Iara Antiga",
        search_name="IARA ANTIGA",
        birth_date=date(1970, 1, 1),
        sex="F",
        race_color="indigena",
        municipality_ibge=FLORIANOPOLIS,
        uf="SC",
        preferred_channel="nenhum",
    )
    session.add(legacy)
    await session.commit()
    gestor = await browser_for(await make_user("gestor", "uf:SC"))
    page = await gestor.get("/gestao/identificacao", params={"municipio": FLORIANOPOLIS, "ordem": "name"})
    assert page.status_code == 200
    assert "Iara Antiga" in page.text and "Pessoa indígena sem CNS" in page.text
    assert legacy.cpf is not None and legacy.cpf not in page.text  # masked
    pr = await browser_for(await make_user("gestor", "uf:PR"))
    assert "Iara Antiga" not in (await pr.get("/gestao/identificacao")).text
    aps = await browser_for(await make_user("solicitante", f"municipality:{FLORIANOPOLIS}"))
    assert (await aps.get("/gestao/identificacao")).status_code == 403


async def test_overlong_fields_are_refused_by_label_in_form_order_keeping_what_was_typed(
    session: AsyncSession, settings: Settings, make_user: MakeUser, browser_for: BrowserFor
) -> None:
    """Issue 17 item 4: the reason was cut at 2,000 characters and a checklist label at 300, silently; now both are
    refused by label, in the form's order, with the rules' refusals of the other fields, and nothing typed is lost."""
    from tests.web.test_forms_limits import check_page

    today = local_today(settings)
    gestor = await browser_for(await make_user("gestor", "uf:SC"))
    page = await gestor.get(f"/gestao/protocolos/{OCI}")
    assert "protocolo_versao" in check_page(page.text, f"/gestao/protocolos/{OCI}")
    listing = await gestor.get("/gestao/protocolos")
    assert "protocolos_filtro" in check_page(listing.text, "/gestao/protocolos")
    searched = await gestor.get("/gestao/protocolos", params={"busca": "cardio" * 40})
    assert searched.status_code == 422
    assert field_error(searched.text, "busca") == "Texto longo demais: no máximo 200 caracteres (foram 240)."
    reason = "Revisão da câmara técnica. " * 80  # 2,160 characters
    label = "ECG recente com laudo " * 15  # 330 characters
    answer = await gestor.post(
        f"/gestao/protocolos/{OCI}",
        new_version_form(
            today,
            motivo=reason,
            item_rotulo=["ECG recente anexado", label, ""],
            vigencia=(today - timedelta(days=1)).isoformat(),
        ),
    )
    assert answer.status_code == 422
    summary = answer.text.split('<div class="aviso-erro" role="alert">')[1].split("</div>")[0]
    lines = [
        "Vigente a partir de: A nova versão vale a partir de hoje ou de data futura.",
        f"Motivo da mudança: Texto longo demais: no máximo 2000 caracteres (foram {len(reason.strip())}).",
        "Checklist que a APS confirma: Item 2: O que a APS confirma: Texto longo demais: no máximo 300 caracteres",
    ]
    positions = [summary.find(line) for line in lines]
    assert -1 not in positions and positions == sorted(positions), (positions, summary)
    assert reason.strip() in answer.text and f'value="{label.strip()}"' in answer.text
    assert 'value="Z136, Z848"' in answer.text and 'value="40"' in answer.text
    assert await count(session) == 0
