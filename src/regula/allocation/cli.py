"""``regula allocate --export FILE (--run ID | --scope J)``: a run's stored instance, or a fresh one from the
database, as the canonical JSON that ``regula allocate --solve`` reads."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from regula.access.policy import Jurisdiction
from regula.allocation import repository as runs
from regula.allocation import service
from regula.audit.service import AuditContext, record_list_read, set_context
from regula.cli_support.context import console, database, fail, load_settings, run_in_transaction


def export_instance(path: Path, *, run_id: int | None, scope: str | None) -> None:
    if (run_id is None) == (scope is None):
        fail("Use --export com --run ID ou com --scope JURISDIÇÃO (um dos dois).", "argumentos_invalidos")
    settings = load_settings()
    with database(settings) as url:

        async def work(session: AsyncSession) -> bytes:
            set_context(session, AuditContext.system("cli", "regula allocate --export"))
            if run_id is not None:
                return await runs.read_instance(session, await service.get_run(session, run_id))
            assert scope is not None
            built = await service.build_instance(session, settings, Jurisdiction.parse(scope, "scope"))
            # Every resident waiting in the scope leaves in this file: audited like a stored run's instance.
            await record_list_read(
                session,
                "AllocationInstance",
                [e.id for e in built.instance.entries],
                detail={"part": "instance", "ids_are": "WaitlistEntry", "scope": scope},
                even_if_empty=True,
            )
            return built.canonical

        data = run_in_transaction(url, work)
    path.write_bytes(data)
    console.print(f"Instância gravada em {path} ({len(data):,} bytes).")
