"""The record read of ``GET /api/v1/entries/{id}`` runs on the driver's own connection (decision 0030): what it
reads must be what the ORM reads of the same row, field by field, and ``DriverStatement`` must bind as SQLAlchemy
would."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
import pytest
from sqlalchemy import bindparam, column, insert, literal_column, select, table
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from tests.conftest import Login
from tests.waitlist.test_waitlist_api import FLORIANOPOLIS, authorize, citizen_body, refer

from regula.catalog import repository as catalog_repo
from regula.db.driver import DriverStatement
from regula.people.models import Citizen
from regula.waitlist import priority
from regula.waitlist import repository as repo
from regula.waitlist.models import EntryEvent, WaitlistEntry

MakeUser = Callable[..., Awaitable[Login]]


@pytest.mark.usefixtures("reference_data")
async def test_the_driver_reads_what_the_orm_reads(
    client: httpx.AsyncClient, make_user: MakeUser, session: AsyncSession, connection: AsyncConnection
) -> None:
    aps = await make_user("solicitante", f"municipality:{FLORIANOPOLIS}")
    reg = await make_user("regulador", "uf:SC")
    referred = await refer(client, aps, citizen_body(name="Joana d'Arc Sant’Anna"))
    await authorize(client, reg, referred["id"])  # a score, a breakdown, a position, estimates, three events

    driver = (await connection.get_raw_connection()).driver_connection
    found = await repo.entry_for_reading(driver, referred["id"])

    assert found is not None
    entity = await session.get(WaitlistEntry, referred["id"], populate_existing=True)
    assert entity is not None
    citizen = await session.get(Citizen, entity.citizen_id)
    assert citizen is not None
    for name in repo.EntryReadout.__dataclass_fields__:
        assert getattr(found.entry, name) == getattr(entity, name), name
    assert entity.score is not None and entity.position is not None and entity.policy_id  # not all None
    assert found.citizen_name == citizen.name == "Joana d'Arc Sant’Anna"
    # What the shown score is computed from, as the session path reads it (standing.shown_scores).
    for name in repo.CitizenFacts.__dataclass_fields__:
        assert getattr(found.citizen, name) == getattr(citizen, name), name
    policies = await repo.policies_by_id(session, [entity.policy_id])
    assert found.policy is not None and entity.policy_id in policies
    stored = policies[entity.policy_id]
    assert (found.policy.queue_key, found.policy.version) == (stored.queue_key, stored.version)
    assert priority.policy_from_json(found.policy.params_json) == priority.policy_from_json(stored.params)
    assert found.oci_sex_sigtap == (await catalog_repo.oci_sexes(session))[entity.oci_code]
    events = (
        (await session.execute(select(EntryEvent).where(EntryEvent.entry_id == entity.id).order_by(EntryEvent.id)))  # type: ignore[arg-type]
        .scalars()
        .all()
    )
    assert len(found.history) == len(events) >= 3
    for read, event in zip(found.history, events, strict=True):
        for key in ("id", "kind", "from_status", "to_status", "reason_code", "data", "actor_username", "occurred_at"):
            assert read[key] == getattr(event, key), key

    assert await repo.entry_for_reading(driver, 987654321) is None


_T = table("t", column("id"), column("doc", JSONB), column("kind"))


def test_a_driver_statement_binds_in_order_with_sqlalchemys_processors_and_its_own_values() -> None:
    statement = DriverStatement.of(
        insert(_T).values(id=bindparam("id"), doc=bindparam("doc", type_=JSONB), kind=literal_column("'x'"))
    )
    assert statement.sql.startswith("INSERT INTO t (id, doc, kind) VALUES ($1")
    assert statement.names == ("id", "doc")
    assert statement.args({"doc": {"a": [1, "é"]}, "id": 7}) == [7, '{"a": [1, "\\u00e9"]}']  # as SQLAlchemy sends it
    assert statement.args({"doc": None, "id": 7}) == [7, None]
    limited = DriverStatement.of(select(_T.c.id).where(_T.c.kind == bindparam("kind")).limit(1))
    assert limited.args({"kind": "y"}) == ["y", 1]  # the statement's own LIMIT travels with it
    with pytest.raises(KeyError):
        limited.args({})


def test_a_driver_statement_refuses_an_expanding_parameter() -> None:
    with pytest.raises(ValueError, match="expanding"):
        DriverStatement.of(select(_T.c.id).where(_T.c.kind.in_(bindparam("kinds", expanding=True))))
