"""The audit log records every write of audited records and cannot be rewritten, not even by SQL."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from regula.access import service
from regula.audit.models import AuditEvent
from regula.audit.service import AuditContext, install, set_context
from regula.core.errors import Conflict

install()


async def _events(session: AsyncSession, entity_type: str) -> list[AuditEvent]:
    stmt = select(AuditEvent).where(AuditEvent.entity_type == entity_type).order_by(AuditEvent.id)  # type: ignore[arg-type]
    return list((await session.execute(stmt)).scalars())


async def test_create_and_update_are_audited_with_actor_and_before_after(session: AsyncSession) -> None:
    set_context(session, AuditContext(actor_username="tester", actor_role="admin", source="cli", ip="10.0.0.1"))
    user = await service.create_user(
        session,
        username="ana.souza",
        full_name="Ana Souza",
        role="regulador",
        jurisdiction="br",
        password="uma-senha-boa",
    )
    user.full_name = "Ana Souza Lima"
    await session.flush()
    events = [e for e in await _events(session, "User") if e.entity_id == str(user.id)]
    assert [e.action for e in events] == ["create", "update"]
    created, updated = events
    assert created.actor_username == "tester" and created.ip == "10.0.0.1" and created.source == "cli"
    assert created.after is not None and created.after["username"] == "ana.souza"
    assert "password_hash" not in created.after  # secrets never reach the log
    assert updated.before == {"full_name": "Ana Souza"}
    assert updated.after == {"full_name": "Ana Souza Lima"}


async def test_password_change_is_audited_without_the_hash(session: AsyncSession) -> None:
    user = await service.create_user(
        session, username="bia", full_name="Bia", role="auditor", jurisdiction="br", password="senha-antiga-1"
    )
    assert user.id is not None
    await service.change_password(session, user.id, "senha-antiga-1", "senha-nova-123")
    update = [e for e in await _events(session, "User") if e.action == "update"][-1]
    assert update.after is not None and update.after["password_hash"] == "*** (alterado)"
    assert "$argon2" not in str(update.before) + str(update.after)


async def test_hard_delete_is_refused(session: AsyncSession) -> None:
    user = await service.create_user(
        session,
        username="carlos",
        full_name="Carlos",
        role="auditor",
        jurisdiction="br",
        password="senha-boa-123",
    )
    await session.delete(user)
    with pytest.raises(Conflict) as err:
        await session.flush()
    assert err.value.code == "exclusao_proibida"


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_event SET action = 'forged'",
        "DELETE FROM audit_event",
        "TRUNCATE audit_event",
    ],
)
async def test_database_refuses_update_delete_truncate_of_audit_rows(session: AsyncSession, statement: str) -> None:
    await service.create_user(
        session,
        username="dora",
        full_name="Dora",
        role="auditor",
        jurisdiction="br",
        password="senha-boa-123",
    )
    await session.flush()
    with pytest.raises(DBAPIError, match="append-only"):
        async with session.begin_nested():
            await session.execute(text(statement))
    count = (await session.execute(text("SELECT count(*) FROM audit_event WHERE action <> 'forged'"))).scalar_one()
    assert count >= 1


async def test_rolled_back_change_leaves_no_audit_row(session: AsyncSession) -> None:
    before = (await session.execute(text("SELECT count(*) FROM audit_event"))).scalar_one()
    async with session.begin_nested() as nested:
        await service.create_user(
            session,
            username="ernesto",
            full_name="Ernesto",
            role="auditor",
            jurisdiction="br",
            password="senha-boa-123",
        )
        await nested.rollback()
    after = (await session.execute(text("SELECT count(*) FROM audit_event"))).scalar_one()
    assert after == before
