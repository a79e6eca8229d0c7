"""What the waitlist asks about the PAR (Plano de Ação Regional) covering a municipality, answered by program
management (``regula.programs``) without the waitlist importing it: the answer is connected in ``regula.wiring``
(decision 0011: dependencies point one way; programs reads the waitlist, never the reverse).

Until something is connected (a process that never called ``wire()``), there is no PAR to ask about and the
waitlist falls back to what it configures itself (``RegulationScope.par_approved_on``); decision 0016.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

ParApprovalLookup = Callable[[AsyncSession, str], Awaitable[date | None]]


class ParApprovalSource:
    """The approval date of the PAR in force covering a municipality (IBGE code), if any."""

    def __init__(self) -> None:
        self._lookup: ParApprovalLookup | None = None

    def connect(self, lookup: ParApprovalLookup | None) -> None:
        """Set the lookup; connecting again replaces it (wiring twice is harmless)."""
        self._lookup = lookup

    @property
    def lookup(self) -> ParApprovalLookup | None:
        return self._lookup

    async def approval_for(self, session: AsyncSession, municipality_ibge: str) -> date | None:
        if self._lookup is None:
            return None
        return await self._lookup(session, municipality_ibge)


PAR_APPROVAL = ParApprovalSource()
