"""A channel for tests: keeps what it sent in memory and can be scripted to answer 429s, lost answers or
refusals. Lives with the tests (the product ships no test double)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

from regula.notify.channels import Envelope, Outcome, SendResult


@dataclass
class MemoryChannel:
    """For tests: keeps what it sent; can be told to fail."""

    name: str = "memoria"
    sent: list[Envelope] = field(default_factory=list)
    script: list[Outcome] = field(default_factory=list)  # outcomes to return before succeeding
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def senders(self) -> Sequence[str]:
        return ["memoria"]

    async def send(self, envelope: Envelope) -> SendResult:
        if self.script:
            outcome = self.script.pop(0)
            if outcome == "unknown":
                self.sent.append(envelope)  # taken, but the answer was lost
            if outcome != "sent":
                return SendResult(outcome, error_code="teste", error=f"scripted {outcome}")
        self.sent.append(envelope)
        return SendResult("sent", sid=f"MM{next(self._ids):032d}", provider_status="queued")

    async def lookup(self, envelope: Envelope) -> SendResult | None:
        for e in self.sent:
            if e.to == envelope.to and e.body == envelope.body:
                return SendResult("sent", sid=f"MM-found-{e.id}", provider_status="queued")
        return None

    async def close(self) -> None:
        return None
