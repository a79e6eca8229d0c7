"""Migration 0016 stores version 1 of the referral protocol of every OCI already in the catalog: the checklist regula
asked by subgroup until then, every item required, the deployment's teleconsultation list, tR/tM null."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine
from tests.conftest import _admin

from regula.audit.service import AuditContext, set_context
from regula.catalog.protocols import STARTING_REASON, starting_checklist
from regula.catalog.service import bundled_sigtap_zip, import_sigtap
from regula.config import Settings
from regula.db import migrate
from regula.db.engine import make_database
from regula.territory.service import load_territory

CARDIO = "0902010026"
ONCO = "0901010014"


async def _load_catalog(url: str, settings: Settings) -> None:
    db = make_database(url, pool_size=1)
    try:
        async with db.transaction() as session:
            set_context(session, AuditContext.system("cli", "teste"))
            await load_territory(session)
            await import_sigtap(session, bundled_sigtap_zip(), settings)
    finally:
        await db.dispose()


async def _rows(url: str) -> list[tuple[str, int, dict[str, object], str, str]]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            result = await conn.execute(
                text("SELECT oci_code, version, content, created_by, reason FROM referral_protocol ORDER BY oci_code")
            )
            return [tuple(r) for r in result]  # type: ignore[misc]
    finally:
        await engine.dispose()


def test_migration_stores_version_1_for_the_ocis_present(
    database_url: str, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"regula_mig16_{uuid.uuid4().hex[:10]}"
    server = make_url(database_url).set(database="postgres").render_as_string(hide_password=False)
    url = make_url(database_url).set(database=name).render_as_string(hide_password=False)
    asyncio.run(_admin(server, f'CREATE DATABASE "{name}"'))
    try:
        migrate.upgrade(url, "0015_ressarcimento")
        asyncio.run(_load_catalog(url, settings))
        monkeypatch.setenv("REGULA_TELECONSULT_FIRST_OCIS", f'["{CARDIO}"]')
        migrate.upgrade(url)
        rows = asyncio.run(_rows(url))
    finally:
        asyncio.run(_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    assert len(rows) == 34  # the OCIs of the shipped SIGTAP 2026-01 catalog
    by_code = {r[0]: r for r in rows}
    _code, version, content, created_by, reason = by_code[CARDIO]
    assert (version, created_by, reason) == (1, "regula", STARTING_REASON)
    assert content["checklist"] == [
        {"key": i.key, "label": i.label, "required": True} for i in starting_checklist(CARDIO)
    ]
    assert content["teleconsultation_required"] is True
    assert (content["tr_days"], content["tm_days"], content["accepted_cids"]) == (None, None, [])
    assert by_code[ONCO][2]["teleconsultation_required"] is False
    assert [i["key"] for i in by_code[ONCO][2]["checklist"]] == [i.key for i in starting_checklist(ONCO)]
