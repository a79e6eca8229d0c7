"""The actor of a domain change: who (username, role, user id) and over which territory (jurisdiction). Every
service takes one, checks the place it acts on against it and writes its name into the history. It lives in
``access`` (not in a domain service) so that every domain can name it without importing another domain."""

from __future__ import annotations

from dataclasses import dataclass, field

from regula.access.labels import jurisdiction_label
from regula.access.policy import Jurisdiction, JurisdictionKind
from regula.access.service import Principal
from regula.core.actor import SYSTEM_ROLE
from regula.core.errors import PermissionDenied
from regula.territory.reference import territory


@dataclass(frozen=True)
class Actor:
    username: str
    role: str
    user_id: int | None = None
    jurisdiction: Jurisdiction = field(default_factory=lambda: Jurisdiction(JurisdictionKind.NATIONAL))

    @classmethod
    def of(cls, p: Principal) -> Actor:
        return cls(p.username, p.role.value, p.user_id, p.jurisdiction)

    @classmethod
    def system(cls, name: str) -> Actor:
        return cls(name, SYSTEM_ROLE)

    def covers(self, municipality_ibge: str) -> bool:
        m = territory().find(municipality_ibge)
        return m is not None and self.jurisdiction.covers_place(m)

    def require(self, municipality_ibge: str) -> None:
        if not self.covers(municipality_ibge):
            raise PermissionDenied(
                f"Cidadão de município fora da sua jurisdição ({jurisdiction_label(self.jurisdiction)}).",
                code="fora_da_jurisdicao",
            )

    def municipality_filter(self) -> list[str] | None:
        """IBGE codes this actor may see, or None for no restriction (national)."""
        if self.jurisdiction.kind is JurisdictionKind.NATIONAL:
            return None
        return [m.ibge_code for m in territory().all() if self.jurisdiction.covers_place(m)]
