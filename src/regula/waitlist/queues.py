"""What names a waitlist queue: one OCI within one scope (a health region, a macro-region or a UF), as the
region's PAR defines (art. 9). A value type shared by the service, the repository and the nightly refresh."""

from __future__ import annotations

from dataclasses import dataclass

from regula.core.errors import ValidationFailed

SCOPE_KINDS = ("region", "macro", "uf")


@dataclass(frozen=True)
class QueueKey:
    oci_code: str
    scope_kind: str
    scope_code: str

    def __str__(self) -> str:
        return f"{self.oci_code}:{self.scope_kind}:{self.scope_code}"

    @classmethod
    def parse(cls, raw: str) -> QueueKey:
        parts = raw.split(":")
        if len(parts) != 3 or parts[1] not in SCOPE_KINDS:
            raise ValidationFailed.for_field(
                "queue", "fila_formato", "Fila no formato OCI:escopo:código, por exemplo 0901010014:region:42007."
            )
        return cls(*parts)
