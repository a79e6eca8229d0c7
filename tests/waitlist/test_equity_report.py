"""The equity impact report (Portaria GM/MS 3.492/2024, art. 3 VIII) on the Santa Catarina demo data: the order
"with the weights" is the queue's real order, "without" is the same scoring with the equity term off, the moves add
up, nobody without an equity marker is ever moved up by the weights, a policy without equity moves nobody, and
managers get it as a page, CSV and API while other roles are refused."""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Awaitable, Callable
from datetime import date, timedelta

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from tests.conftest import Login
from tests.web.conftest import Browser, browser_for, web_app  # noqa: F401 - fixtures for the pages

from regula.access.actor import Actor
from regula.config import Settings
from regula.core.clock import local_today
from regula.demo import load_demo_data
from regula.waitlist import equity, priority, service
from regula.waitlist import repository as repo
from regula.waitlist.refresh import refresh_all

MakeUser = Callable[..., Awaitable[Login]]
pytestmark = pytest.mark.usefixtures("reference_data")
NATIONAL = Actor("teste", "gestor")  # national jurisdiction


@pytest.fixture
async def demo(session: AsyncSession, settings: Settings) -> None:
    await load_demo_data(session, settings, citizens=800)
    await session.commit()


def test_without_equity_takes_exactly_the_equity_term_away() -> None:
    rng = random.Random(3)
    policy = priority.DEFAULT_POLICY
    neutral = priority.without_equity(policy)
    assert neutral.equity.max_points == 0 and neutral.aging == policy.aging and neutral.legal == policy.legal
    today = date(2026, 6, 1)
    for _ in range(500):
        facts = priority.PriorityFacts(
            risk_class=rng.choice(priority.RISK_CLASSES),  # type: ignore[arg-type]
            authorized_on=today - timedelta(days=rng.randint(0, 400)),
            today=today,
            suspended_days=rng.randint(0, 20),
            max_days=rng.choice([30, 60]),
            age_years=rng.randint(0, 95),
            pregnant=rng.random() < 0.1,
            disability=rng.random() < 0.1,
            autism=rng.random() < 0.05,
            race_color=rng.choice(priority.RACE_COLORS),  # type: ignore[arg-type]
            sex=rng.choice(priority.SEXES),  # type: ignore[arg-type]
            cadunico=rng.random() < 0.3,
            vulnerability_index=rng.choice([None, rng.random()]),
            oci_sex=None,
        )
        with_weights = priority.compute_score(facts, policy)
        without = priority.compute_score(facts, neutral)
        assert with_weights.value - without.value == with_weights.breakdown["equidade"]
        assert without.breakdown["equidade"] == 0


async def test_with_the_weights_is_the_real_queue_order(session: AsyncSession, settings: Settings, demo: None) -> None:
    today = local_today(settings)
    await refresh_all(session, settings, today=today)  # positions as the nightly refresh writes them
    report = await equity.equity_report(session, settings, NATIONAL, today)
    assert report.queues and sum(q.size for q in report.queues) > 100
    stored = dict(
        (
            await session.execute(
                text(
                    "SELECT id, position FROM waitlist_entry JOIN waitlist_standing ON entry_id = id "
                    "WHERE status = 'autorizada'"
                )
            )
        ).all()
    )
    facts = await repo.waiting_facts(session, NATIONAL, today, settings.timezone)
    latest = await service.latest_policies(session)
    catalog = await service.load_catalog(session, settings)
    served = await repo.served_by_queue(session, NATIONAL, today, settings.timezone)
    by_queue: dict[str, list[repo.WaitingFacts]] = {}
    for f in facts:
        by_queue.setdefault(str(f.queue), []).append(f)
    moved_anywhere = 0
    for q in report.queues:
        rows = by_queue[str(q.queue)]
        policy = priority.policy_from_json(service.resolve_policy(latest, q.queue).params)
        oci = catalog.ocis.get(q.queue.oci_code)
        placed = equity.place(rows, policy, today, oci.sex if oci else None, served.get(q.queue, 0))
        assert all(p.with_position == stored[p.facts.id] for p in placed)
        # the moves add up: as many positions gained as lost, and the report counts them
        shifts = [p.without_position - p.with_position for p in placed]
        assert sum(shifts) == 0
        assert q.moved == sum(1 for s in shifts if s) == q.moved_up + q.moved_down
        assert q.max_shift == max((abs(s) for s in shifts), default=0)
        moved_anywhere += q.moved
        # nobody without an equity marker is moved up by the weights
        for p in placed:
            f = p.facts
            unmarked = (
                policy.equity.race_color.model_dump()[f.race_color] == 0
                and not f.cadunico
                and not f.vulnerability_index
            )
            if unmarked:
                assert p.with_position >= p.without_position
        # the projected wait counts the days waited and the pace of the queue
        if q.served:
            first = min(placed, key=lambda p: p.with_position)
            assert first.with_wait is not None and first.with_wait >= first.facts.days
    assert moved_anywhere > 0  # the demo's weights do move people
    overall = {(g.dimension, g.group): g for g in report.overall}
    assert overall[("raca_cor", "branca")].people + overall[("raca_cor", "parda")].people > 0


async def test_a_policy_without_equity_moves_nobody(session: AsyncSession, settings: Settings, demo: None) -> None:
    today = local_today(settings)
    before = await equity.equity_report(session, settings, NATIONAL, today)
    target = max(before.queues, key=lambda q: q.moved)
    assert target.moved > 0
    params = priority.policy_to_json(priority.without_equity(priority.DEFAULT_POLICY))
    await service.set_policy(session, str(target.queue), params, NATIONAL, settings, note="sem equidade")
    after = await equity.equity_report(session, settings, NATIONAL, today, oci=target.queue.oci_code)
    queue = next(q for q in after.queues if q.queue == target.queue)
    assert queue.moved == 0 and queue.max_shift == 0 and queue.median_shift is None
    assert queue.policy.startswith(str(target.queue))
    for g in queue.groups:
        assert g.median_position_with == g.median_position_without


async def test_managers_get_page_csv_and_api(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    browser_for: Callable[[Login | None], Awaitable[Browser]],  # noqa: F811 - the fixture imported above
    demo: None,
) -> None:
    gestor = await make_user("gestor", "uf:SC")
    api = await client.get("/api/v1/reports/equity", headers=gestor.headers)
    assert api.status_code == 200, api.text[:300]
    body = api.json()
    assert body["filas"] and {g["dimensao"] for g in body["todas_as_filas"]} == {
        "sexo",
        "raca_cor",
        "vulnerabilidade",
        "cadunico",
    }
    paranaense = await make_user("gestor", "uf:PR")
    assert (await client.get("/api/v1/reports/equity", headers=paranaense.headers)).json()["filas"] == []
    solicitante = await make_user("solicitante", "uf:SC")
    assert (await client.get("/api/v1/reports/equity", headers=solicitante.headers)).status_code == 403
    bad = await client.get("/api/v1/reports/equity", params={"oci": "abc"}, headers=gestor.headers)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "oci"

    browser = await browser_for(gestor)
    page = await browser.get("/gestao/equidade")
    assert page.status_code == 200
    assert "Impacto dos pesos de equidade" in page.text and page.text.count("<svg") == 4
    csv_response = await browser.get("/gestao/equidade.csv")
    assert csv_response.headers["content-type"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(csv_response.content.decode("utf-8-sig")), delimiter=";"))
    assert {r["fila"] for r in rows} == {q["fila"] for q in body["filas"]}
    # A bad list parameter on the page: the page itself, without it, saying so (web.listing.list_page).
    unordered = await browser.get("/gestao/equidade", params={"ordem": "x", "oci": "abc"})
    assert unordered.status_code == 400 and 'data-codigo="filtro_ignorado"' in unordered.text
    assert "<strong>Ordenação</strong>:" in unordered.text and "<strong>OCI</strong>:" in unordered.text
    assert "Impacto dos pesos de equidade" in unordered.text
