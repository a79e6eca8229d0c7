"""A safe request whose only writes are read-audit rows is committed without waiting for the disk (decision 0024);
anything else that writes keeps the synchronous commit. The audit row of every read is written either way."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
import pytest
from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncSession
from tests.conftest import Login
from tests.waitlist.test_waitlist_api import FLORIANOPOLIS, authorize, citizen_body, refer

from regula.access.models import ApiToken
from regula.audit.service import only_reads_recorded, record, record_list_read, record_read

MakeUser = Callable[..., Awaitable[Login]]
NO_FSYNC = "SET LOCAL synchronous_commit TO OFF"


@pytest.mark.usefixtures("reference_data")
async def test_an_audited_read_commits_without_fsync_and_a_change_with_it(
    client: httpx.AsyncClient, make_user: MakeUser, session: AsyncSession, driver_statements: list[str]
) -> None:
    statements = driver_statements
    aps = await make_user("solicitante", f"municipality:{FLORIANOPOLIS}")
    reg = await make_user("regulador", "uf:SC")
    entry = await refer(client, aps, citizen_body())
    statements.clear()
    await authorize(client, reg, entry["id"])  # two POSTs that change the entry
    assert NO_FSYNC not in statements
    statements.clear()
    detail = await client.get(f"/api/v1/entries/{entry['id']}", headers=reg.headers)
    assert detail.status_code == 200
    inserts = [i for i, s in enumerate(statements) if s.startswith("INSERT INTO audit_event")]
    # The read's own audit INSERT turns the flush wait off (decision 0024); no statement of its own does.
    assert len(inserts) == 1 and "set_config('synchronous_commit', 'off', true)" in statements[inserts[0]]
    assert NO_FSYNC not in statements
    reads = await session.execute(
        text("SELECT count(*) FROM audit_event WHERE action = 'read' AND entity_id = :id"), {"id": str(entry["id"])}
    )
    assert reads.scalar_one() == 1


async def test_only_reads_recorded_tells_reads_from_every_other_write(
    session: AsyncSession, make_user: MakeUser
) -> None:
    login = await make_user("regulador", "uf:SC")
    assert not only_reads_recorded(session)  # nothing written: nothing to decide
    await record_read(session, "Citizen", "1", uf="SC", municipality_ibge=FLORIANOPOLIS)
    await record_list_read(session, "WaitlistEntry", [1, 2])
    assert only_reads_recorded(session)
    await session.execute(update(ApiToken).where(ApiToken.user_id == login.user_id).values(name="outro"))
    assert not only_reads_recorded(session)  # a Core write through the session
    await session.commit()  # a new transaction starts with a clean slate

    await record_read(session, "Citizen", "1", uf="SC", municipality_ibge=FLORIANOPOLIS)
    await record(session, "export", entity_type="WaitlistEntry")
    assert not only_reads_recorded(session)  # an export keeps the synchronous commit
    await session.rollback()

    await record_read(session, "Citizen", "1", uf="SC", municipality_ibge=FLORIANOPOLIS)
    token = await session.get(ApiToken, (await session.execute(text("SELECT min(id) FROM api_token"))).scalar_one())
    assert token is not None
    token.name = "renomeado"
    assert not only_reads_recorded(session)  # an ORM change not yet flushed
    await session.flush()
    assert not only_reads_recorded(session)  # and once flushed
    await session.rollback()


@pytest.mark.usefixtures("reference_data")
async def test_a_client_request_id_longer_than_the_column_is_cut_not_a_500(
    client: httpx.AsyncClient, make_user: MakeUser, session: AsyncSession
) -> None:
    aps = await make_user("solicitante", f"municipality:{FLORIANOPOLIS}")
    reg = await make_user("regulador", "uf:SC")
    long_id = "r" * 63 + "x" * 137
    entry = await refer(client, aps, citizen_body())
    moved = await client.post(
        f"/api/v1/entries/{entry['id']}/transitions",
        json={"to": "em_analise"},
        headers=reg.headers | {"x-request-id": long_id},
    )
    detail = await client.get(f"/api/v1/entries/{entry['id']}", headers=reg.headers | {"x-request-id": long_id})

    assert moved.status_code == 201, moved.text  # a change and its audit row
    assert detail.status_code == 200, detail.text  # a read and its read event
    assert detail.headers["x-request-id"] == long_id  # echoed as sent
    rows = await session.execute(
        text("SELECT action, request_id FROM audit_event WHERE entity_id = :id AND request_id IS NOT NULL"),
        {"id": str(entry["id"])},
    )
    found = {(action, request_id) for action, request_id in rows}
    assert ("read", long_id[:64]) in found and ("update", long_id[:64]) in found
