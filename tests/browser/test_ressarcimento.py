"""The Ressarcimento journey in a real browser, on the demonstration data: the state manager opens the operator that
performed below 90% of its matrix, attests December (the month the demo leaves open), sees the expected COR — with
the value carried from November — and the fine proposed for the sixth month below 90%, notifies it and sees the
15-day challenge window; the sanctions page lists the runs below 90% with their windows."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from regula.demo import ressarcimento as demo
from regula.ressarcimento import rules
from regula.web.ressarcimento import brl
from tests.browser.conftest import LiveServer, Session, needs_chromium
from tests.browser.test_journeys import real_errors

pytestmark = needs_chromium
OpenSession = Callable[..., Session]


def test_manager_attests_a_month_and_sees_the_expected_cor_and_the_fine(
    open_session: OpenSession, live_server: LiveServer
) -> None:
    today = datetime.now(ZoneInfo(live_server.settings.timezone)).date()
    year = today.year - 1
    gestor = open_session("gestor")
    gestor.go("/")
    gestor.page.click("nav >> text=Ressarcimento")
    assert "Ressarcimento ao SUS: operadoras" in gestor.page.inner_text("h1")
    gestor.page.click(f"text={demo.LAGGING.name}")
    gestor.page.wait_for_selector("h1")
    assert gestor.page.inner_text("h1") == demo.LAGGING.name
    field = gestor.page.locator("#competencia")
    assert field.input_value() == f"{year}12"  # the month after the last attested one is suggested
    gestor.shot("30-ressarcimento-operadora")
    gestor.page.click("button:has-text('Atestar competência')")
    gestor.page.wait_for_url(re.compile(rf".*/competencias/{year}12\?feito=atestada$"))
    text = gestor.page.inner_text("main") if gestor.page.locator("main").count() else gestor.page.inner_text("body")
    assert "Competência atestada." in text

    # December: 58 authorized surgeries × R$ 1.157,40 counted, plus November's value carried in: a COR.
    surgery = demo.CATARACT_VALUE * demo.IVR
    done, missing = demo.LAGGING.monthly_done[11], demo.LAGGING.unauthorized[11]
    counted = surgery * (done - missing)
    november = surgery * (demo.LAGGING.monthly_done[10] - demo.LAGGING.unauthorized[10])
    assert gestor.page.inner_text("#cor-esperado") == brl(counted + november)
    planned = surgery * demo.MONTHLY
    fine = Decimal("0.1") * (planned - counted)
    sanction = gestor.page.inner_text("#sancao")
    assert f"Multa (art. 17 I) proposta: {brl(fine)}" in sanction
    assert "6 meses seguidos abaixo de 90%" in sanction
    assert "a operadora tem 15 dias para impugnar" in sanction
    gestor.shot("31-ressarcimento-competencia-atestada")

    gestor.page.click("button:has-text('Registrar notificação')")
    gestor.page.wait_for_url(re.compile(r".*feito=notificada$"))
    deadline = rules.challenge_deadline(today)
    sanction = gestor.page.inner_text("#sancao")
    assert f"prazo de impugnação de 15 dias até {deadline:%d/%m/%Y}" in sanction
    assert "Notificada (prazo de impugnação aberto)" in sanction
    left = (deadline - today).days
    assert f"({left} dia{'s' if left != 1 else ''} restante" in sanction
    gestor.shot("32-ressarcimento-sancao-notificada")

    gestor.go("/ressarcimento/sancoes")
    rows = gestor.page.locator("table tbody tr")
    assert rows.count() == 3  # October (notified by the demo), November (proposed), December (notified now)
    listing = gestor.page.inner_text("table")
    assert f"12/{year}" in listing and f"10/{year}" in listing and "(aberto)" in listing
    gestor.go("/ressarcimento/tetos")
    assert real_errors(gestor) == []
