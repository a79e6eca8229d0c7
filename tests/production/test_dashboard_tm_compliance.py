"""The manager's dashboard counts "concluded within tM" as production control does: from the first to the last
procedure of the OCI (amendment to Portaria GM/MS 3.492/2024, art. 14 §3 III), not from the authorization."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from regula.config import Settings
from regula.production import execution
from regula.web import dashboard
from tests.production.conftest import EXECUTANTE, NAVEGADOR, TODAY, MakeEntry, procedure
from tests.production.test_execution import CONSULTA, ECG, RETURN


async def test_dashboard_tm_compliance_equals_production_control(
    session: AsyncSession, settings: Settings, make_entry: MakeEntry
) -> None:
    verdicts: list[bool] = []
    # (first procedure, last procedure, authorization), in days before today; cardiology OCI, tM 60.
    for first, last, authorized in ((10, 2, 15), (75, 1, 100), (61, 1, 70), (5, 1, 200)):
        care = await make_entry("0902010026", authorized_days_ago=authorized)
        entry_id = care.entry.id or 0
        await execution.record_procedure(session, settings, entry_id, procedure(ECG, first, cbo="225120"), NAVEGADOR)
        await execution.record_procedure(session, settings, entry_id, procedure(CONSULTA, last), NAVEGADOR)
        done = await execution.conclude(session, settings, entry_id, EXECUTANTE, **RETURN)
        assert done.execution is not None and done.execution.within_tm is not None
        verdicts.append(done.execution.within_tm)
    # Spans 8, 74, 60 and 4 days: the last one waited 200 days since its authorization, yet its OCI took 4.
    assert verdicts == [True, False, True, True]

    chart = await dashboard.concluded_within_tm(await dashboard.make_context(session, settings, None, TODAY))
    everything, cardiology = chart.csv_rows
    assert everything[:5] == ("todas", "Todas as OCIs", len(verdicts), sum(verdicts), 75.0)
    assert cardiology[0] == "0902010026" and cardiology[2:5] == (4, 3, 75.0)
    assert cardiology[5] == 34.0  # the median of 4, 8, 60 and 74 days from first to last procedure

    # Limited to the jurisdiction like every chart: nobody of Joinville concluded anything.
    elsewhere = await dashboard.concluded_within_tm(await dashboard.make_context(session, settings, ["4209102"], TODAY))
    assert elsewhere.csv_rows[0][2:4] == (0, 0)
