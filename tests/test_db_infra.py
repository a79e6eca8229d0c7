from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


async def test_schema_is_built_by_migrations(session: AsyncSession) -> None:
    version = (await session.execute(text("SELECT version_num FROM alembic_version"))).scalars().all()
    assert version == ["0001"] or len(version) >= 1
