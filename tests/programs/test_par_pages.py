"""The PAR pages for managers: list (filter, sort), detail with charts, ledger and contracts, the CIB downloads and
the print-ready page; auditors read, other roles are kept out."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from regula.access.policy import Jurisdiction
from regula.audit.service import AuditContext, install, set_context
from regula.config import Settings
from regula.programs import service as par
from regula.programs.schemas import ContractIn, LineIn, ParCreate, StepIn
from regula.waitlist import service as wl
from tests.conftest import Login
from tests.production.conftest import PROVIDER_CNES, TODAY, ensure_establishment
from tests.web.conftest import Browser, browser_for, web_app

__all__ = ["browser_for", "web_app"]

OCI = "0902010026"
GESTOR = wl.Actor("gestor.sc", "gestor", jurisdiction=Jurisdiction.parse("uf:SC"))


def _month(back: int) -> str:
    y, m = TODAY.year, TODAY.month - back
    while m < 1:
        y, m = y - 1, m + 12
    return f"{y}-{m:02d}"


@pytest.fixture
async def par_id(session: AsyncSession, settings: Settings, reference_data: None) -> int:
    install()
    set_context(session, AuditContext.system("test", "tests/programs"))
    await ensure_establishment(session)
    data = ParCreate(
        title="PAR Grande Florianópolis",
        scope_kind="region",
        scope_code="42007",
        diagnosis="Fila de cardiologia longa.",
        priorities="Cardiologia.",
        lines=[LineIn("municipality:4205407", OCI, PROVIDER_CNES, _month(b), 12) for b in (2, 1, 0)],
    )
    created = (await par.create_par(session, data, GESTOR)).id or 0
    day = TODAY - timedelta(days=80)
    for kind in ("resolucao_cir", "ciencia_cib", "aprovacao_saes", "portaria_publicada", "resolucao_cib_executores"):
        await par.record_step(session, settings, created, 1, StepIn(kind, "7/2026", day.isoformat()), GESTOR, TODAY)
        day += timedelta(days=1)
    await par.put_contract(
        session, created, ContractIn("CT-3/2026", "municipality:4205407", PROVIDER_CNES, OCI, _month(1), 12), GESTOR
    )
    await session.commit()
    return created


async def test_gestor_sees_list_detail_ledger_contracts_and_reports(
    par_id: int, make_user: Callable[..., Awaitable[Login]], browser_for: Callable[[Login | None], Awaitable[Browser]]
) -> None:
    gestor = await browser_for(await make_user("gestor", "region:42007"))
    home = await gestor.get("/")
    assert 'href="/programas"' in home.text
    r = await gestor.get("/programas?ordem=title&situacao=aprovada&busca=Florian")
    assert r.status_code == 200 and f'href="/programas/{par_id}"' in r.text
    r = await gestor.get("/programas?busca=nada-assim")
    assert f'href="/programas/{par_id}"' not in r.text and "Nenhum PAR encontrado" in r.text
    r = await gestor.get(f"/programas/{par_id}")
    assert r.status_code == 200
    html = r.text
    assert 'id="par-quantidade"' in html and "<svg" in html  # planned vs executed charts
    assert "Razão do financiamento das OCIs" in html and "adiantado (30%)" in html and "em risco" in html
    assert "Entrega abaixo do contratado" in html and "CT-3/2026" in html
    assert "Resolução da CIR aprovando o PAR" in html
    # Places, procedures and quarters as people read them (the demo walk found "Região de saúde 42007", a bare
    # OCI code in the contracts and "2026Q4").
    assert "Região de saúde 42007" not in html and "Região Grande Florianópolis" in html
    assert "º trimestre de " in html and "CIT 20" not in html
    contracts = html.split('id="contratos"')[1].split("</table>")[0]
    assert re.search(r"<td>[^<]+<br><span class=\"codigo\">09\d{8}</span></td>", contracts)
    r = await gestor.get(f"/programas/{par_id}/relatorios/cib?competencia={_month(0).replace('-', '')}&formato=xlsx")
    assert r.status_code == 200 and r.content[:2] == b"PK"
    assert "attachment" in r.headers["content-disposition"]
    r = await gestor.get(f"/programas/{par_id}/relatorios/cib?competencia={_month(0).replace('-', '')}")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    r = await gestor.get(f"/programas/{par_id}/imprimir?competencia={_month(0).replace('-', '')}")
    assert r.status_code == 200 and "Relatório mensal à CIB" in r.text and "@media print" in r.text
    r = await gestor.get(f"/programas/{par_id}/imprimir?competencia=202613")
    assert r.status_code == 422 and "Competência inválida" in r.text
    r = await gestor.get(f"/programas/{par_id}/relatorios/cit?trimestre=2026Q9")
    assert r.status_code == 422


async def test_list_links_the_2023_program_and_print_page_names_its_icon(
    par_id: int, make_user: Callable[..., Awaitable[Login]], browser_for: Callable[[Login | None], Awaitable[Browser]]
) -> None:
    """QA walk: the 2023 program pages were reachable from no menu or page, and the print page (its own <head>)
    named no icon, so the browser asked /favicon.ico and logged a 404 in the console."""
    for role in ("gestor", "auditor"):
        reader = await browser_for(await make_user(role, "uf:SC"))
        r = await reader.get("/programas")
        assert 'href="/programas/reducao-filas-2023"' in r.text
        assert (await reader.get("/programas/reducao-filas-2023")).status_code == 200
    gestor = await browser_for(await make_user("gestor", "region:42007"))
    r = await gestor.get(f"/programas/{par_id}/imprimir?competencia={_month(0).replace('-', '')}")
    assert r.status_code == 200 and 'rel="icon" href="/static/favicon.svg"' in r.text
    assert (await gestor.get("/static/favicon.svg")).status_code == 200


async def test_contract_month_typed_as_people_write_it(
    par_id: int, make_user: Callable[..., Awaitable[Login]], browser_for: Callable[[Login | None], Awaitable[Browser]]
) -> None:
    """QA walk: the contract form asked for AAAA-MM and refused "11/2026", while the page shows months as MM/AAAA."""
    gestor = await browser_for(await make_user("gestor", "region:42007"))
    page = await gestor.get(f"/programas/{par_id}")
    assert 'placeholder="MM/AAAA"' in page.text
    y, m = _month(0).split("-")
    contract = {"contrato": "CT-BR", "gestor": "municipality:4205407", "cnes": PROVIDER_CNES, "oci": OCI}
    r = await gestor.post(f"/programas/{par_id}/contratos", {**contract, "mes": f"{m}/{y}", "quantidade": "3"})
    assert r.status_code == 303
    assert "CT-BR" in (await gestor.get(f"/programas/{par_id}")).text
    r = await gestor.post(f"/programas/{par_id}/contratos", {**contract, "mes": f"13/{y}", "quantidade": "3"})
    assert r.status_code == 422 and 'id="erro-contrato.mes"' in r.text and "MM/AAAA" in r.text
    errors: list[Any] = []
    assert par.parse_month(f"{m}/{y}", "m", errors) == par.parse_month(f"{y}-{m}", "m", errors) and not errors


async def test_auditor_reads_others_do_not(
    par_id: int, make_user: Callable[..., Awaitable[Login]], browser_for: Callable[[Login | None], Awaitable[Browser]]
) -> None:
    auditor = await browser_for(await make_user("auditor", "uf:SC"))
    assert (await auditor.get(f"/programas/{par_id}")).status_code == 200
    joinville = await browser_for(await make_user("gestor", "municipality:4209102"))
    assert (await joinville.get(f"/programas/{par_id}")).status_code == 404
    regulador = await browser_for(await make_user("regulador", "uf:SC"))
    r: Any = await regulador.get("/programas")
    assert r.status_code == 403


async def test_gestor_records_steps_transfers_and_contracts_from_the_page(
    session: AsyncSession,
    settings: Settings,
    reference_data: None,
    make_user: Callable[..., Awaitable[Login]],
    browser_for: Callable[[Login | None], Awaitable[Browser]],
) -> None:
    install()
    set_context(session, AuditContext.system("test", "tests/programs"))
    await ensure_establishment(session)
    data = ParCreate(
        title="PAR em pactuação",
        scope_kind="region",
        scope_code="42007",
        diagnosis="Diagnóstico.",
        priorities="Prioridades.",
        lines=[LineIn("uf:SC", OCI, PROVIDER_CNES, _month(0), 8)],
    )
    par_id = (await par.create_par(session, data, GESTOR)).id or 0
    await session.commit()
    gestor = await browser_for(await make_user("gestor", "region:42007"))
    page = await gestor.get(f"/programas/{par_id}")
    assert f'action="/programas/{par_id}/etapas"' in page.text
    assert f'action="/programas/{par_id}/contratos"' not in page.text  # contracts only once approved
    # A step out of order: 422, the form shows why, nothing recorded
    r = await gestor.post(
        f"/programas/{par_id}/etapas", {"etapa": "aprovacao_saes", "numero": "1", "data": "01/02/2026"}
    )
    assert r.status_code == 422 and "Registre antes" in r.text
    r = await gestor.post(f"/programas/{par_id}/etapas", {"etapa": "resolucao_cir", "numero": "", "data": "amanhã"})
    assert r.status_code == 422 and 'id="erro-etapa.numero"' in r.text and 'id="erro-etapa.data"' in r.text
    day = TODAY - timedelta(days=10)
    for kind in ("resolucao_cir", "ciencia_cib", "aprovacao_saes"):
        r = await gestor.post(
            f"/programas/{par_id}/etapas", {"etapa": kind, "numero": "5/2026", "data": day.strftime("%d/%m/%Y")}
        )
        assert r.status_code == 303 and r.headers["location"].startswith(f"/programas/{par_id}?feito=etapa")
    page = await gestor.get(f"/programas/{par_id}?feito=etapa")
    assert "Etapa de aprovação registrada." in page.text and "Aprovação pela SAES/MS nº 5/2026" in page.text
    r = await gestor.post(
        f"/programas/{par_id}/repasses",
        {"tipo": "incentivo_1", "gestor": "uf:SC", "data": TODAY.isoformat(), "valor": "600.000,00"},
    )
    assert r.status_code == 303
    r = await gestor.post(
        f"/programas/{par_id}/repasses", {"tipo": "incentivo_1", "gestor": "uf:SC", "data": "x", "valor": "abc"}
    )
    assert r.status_code == 422 and 'id="erro-repasse.valor"' in r.text
    r = await gestor.post(
        f"/programas/{par_id}/contratos",
        {"contrato": "CT 1", "gestor": "uf:SC", "cnes": PROVIDER_CNES, "oci": OCI, "mes": _month(0), "quantidade": "8"},
    )
    assert r.status_code == 303
    page = await gestor.get(f"/programas/{par_id}")
    assert "R$ 600.000,00" in page.text and "CT 1" in page.text
    auditor = await browser_for(await make_user("auditor", "uf:SC"))
    r = await auditor.post(f"/programas/{par_id}/contratos", {"contrato": "CT 2"})
    assert r.status_code == 403
