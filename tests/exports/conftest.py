from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from regula.audit.service import AuditContext, set_context
from regula.config import Settings
from tests.exports.scenario import Scenario, build


@pytest.fixture
async def scenario(session: AsyncSession, settings: Settings, reference_data: None) -> Scenario:
    set_context(session, AuditContext.system("cli", "teste exportação"))
    return await build(session, settings)
