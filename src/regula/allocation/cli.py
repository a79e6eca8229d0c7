"""``regula allocate --export FILE (--run ID | --scope J)``: a run's stored instance, or a fresh one from the
database, as the canonical JSON that ``regula allocate --solve`` reads."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from regula.access.policy import Jurisdiction
from regula.allocation import service
from regula.cli.context import console, database, fail, load_settings, run_in_transaction


def export_instance(path: Path, *, run_id: int | None, scope: str | None) -> None:
    if (run_id is None) == (scope is None):
        fail("Use --export com --run ID ou com --scope JURISDIÇÃO (um dos dois).", "argumentos_invalidos")
    settings = load_settings()
    with database(settings) as url:

        async def work(session: AsyncSession) -> bytes:
            if run_id is not None:
                return service.instance_bytes(await service.get_run(session, run_id))
            assert scope is not None
            built = await service.build_instance(session, settings, Jurisdiction.parse(scope, "scope"))
            return built.canonical

        data = run_in_transaction(url, work)
    path.write_bytes(data)
    console.print(f"Instância gravada em {path} ({len(data):,} bytes).")
