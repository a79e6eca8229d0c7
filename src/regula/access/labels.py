"""A jurisdiction as people read it ("Região Grande Florianópolis", "Santa Catarina", "Florianópolis/SC"), for
pages and for the refusals the services write (``fora_da_jurisdicao``)."""

from __future__ import annotations

from regula.access.policy import Jurisdiction, JurisdictionKind
from regula.core.errors import DomainError
from regula.territory.labels import municipality_label, scope_label
from regula.territory.reference import UF_NAMES


def jurisdiction_label(raw: Jurisdiction | str) -> str:
    if isinstance(raw, str):
        try:
            j = Jurisdiction.parse(raw)
        except DomainError:
            return raw
    else:
        j = raw
    match j.kind:
        case JurisdictionKind.NATIONAL:
            return "Brasil"
        case JurisdictionKind.UF:
            return UF_NAMES.get(j.code, j.code)
        case JurisdictionKind.MACRO | JurisdictionKind.REGION:
            return scope_label(j.kind.value, j.code)
        case JurisdictionKind.MUNICIPALITY:
            return municipality_label(j.code)
        case JurisdictionKind.CNES:
            return f"Estabelecimento CNES {j.code}"
    return str(j)  # pragma: no cover - exhaustive match
