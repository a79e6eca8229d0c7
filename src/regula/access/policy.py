"""Roles, jurisdictions and how a route declares who it admits.

Every route handler declares, in its ``opt``, either the roles it admits (``**allow(Role.REGULADOR)``) or that it
is public (``**public()``); the application-wide guard denies anything undeclared. Jurisdiction is checked where a
resource is touched, against the territory: a user scoped to ``region:42001`` reaches only residents of that
health region's municipalities.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Any, Protocol

from regula.core.errors import ValidationFailed


class Role(enum.StrEnum):
    ADMIN = "admin"
    GESTOR = "gestor"  # manager
    REGULADOR = "regulador"  # regulation operator
    NAVEGADOR = "navegador"  # NGC care navigator
    SOLICITANTE = "solicitante"  # APS team
    EXECUTANTE = "executante"  # provider
    AUDITOR = "auditor"
    TELECONSULTOR = "teleconsultor"  # specialist answering APS by teleconsultoria (Portaria 3.492/2024 art. 10 §3 I)


ROLE_LABELS_PT: dict[Role, str] = {
    Role.ADMIN: "Administrador",
    Role.GESTOR: "Gestor",
    Role.REGULADOR: "Regulador",
    Role.NAVEGADOR: "Navegador do cuidado (NGC)",
    Role.SOLICITANTE: "Solicitante (APS)",
    Role.EXECUTANTE: "Executante (prestador)",
    Role.AUDITOR: "Auditor",
    Role.TELECONSULTOR: "Teleconsultor (especialista)",
}

OPT_ROLES = "regula_roles"
OPT_PUBLIC = "regula_public"


def allow(*roles: Role) -> dict[str, Any]:
    """Route ``opt`` admitting these roles (admin is always admitted)."""
    return {OPT_ROLES: frozenset(roles) | {Role.ADMIN}}


def public() -> dict[str, Any]:
    """Route ``opt`` for pages and endpoints that need no login (health, public position look-up)."""
    return {OPT_PUBLIC: True}


class JurisdictionKind(enum.StrEnum):
    NATIONAL = "br"
    UF = "uf"
    MACRO = "macro"
    REGION = "region"
    MUNICIPALITY = "municipality"
    CNES = "cnes"


_PATTERNS: dict[JurisdictionKind, re.Pattern[str]] = {
    JurisdictionKind.UF: re.compile(r"^[A-Z]{2}$"),
    JurisdictionKind.MACRO: re.compile(r"^\d{4}$"),
    JurisdictionKind.REGION: re.compile(r"^\d{5}$"),
    JurisdictionKind.MUNICIPALITY: re.compile(r"^\d{7}$"),
    JurisdictionKind.CNES: re.compile(r"^\d{7}$"),
}


class Place(Protocol):
    """Where something is: what a jurisdiction is checked against (a municipality, an establishment)."""

    @property
    def uf(self) -> str: ...
    @property
    def macro_code(self) -> str | None: ...
    @property
    def health_region_code(self) -> str | None: ...
    @property
    def ibge_code(self) -> str: ...


@dataclass(frozen=True, order=True)
class Jurisdiction:
    kind: JurisdictionKind
    code: str = ""

    @classmethod
    def parse(cls, raw: str, field: str = "jurisdiction") -> Jurisdiction:
        text = raw.strip()
        if text.lower() == "br":
            return cls(JurisdictionKind.NATIONAL)
        kind_text, sep, code = text.partition(":")
        try:
            kind = JurisdictionKind(kind_text.lower())
        except ValueError:
            kind = None
        if not sep or kind is None or kind is JurisdictionKind.NATIONAL:
            raise ValidationFailed.for_field(
                field,
                "jurisdicao_formato",
                "Jurisdição inválida: use br, uf:SC, macro:4201, region:42001, municipality:4205407 ou cnes:1234567",
            )
        code = code.strip().upper() if kind is JurisdictionKind.UF else code.strip()
        if not _PATTERNS[kind].match(code):
            raise ValidationFailed.for_field(
                field, "jurisdicao_codigo", f"Código de jurisdição inválido para {kind.value}: {code!r}"
            )
        return cls(kind, code)

    def __str__(self) -> str:
        return "br" if self.kind is JurisdictionKind.NATIONAL else f"{self.kind.value}:{self.code}"

    def covers_place(self, place: Place, cnes: str | None = None) -> bool:
        """True when a resource located at ``place`` (and, for establishments, ``cnes``) is inside."""
        match self.kind:
            case JurisdictionKind.NATIONAL:
                return True
            case JurisdictionKind.UF:
                return place.uf == self.code
            case JurisdictionKind.MACRO:
                return place.macro_code == self.code
            case JurisdictionKind.REGION:
                return place.health_region_code == self.code
            case JurisdictionKind.MUNICIPALITY:
                return place.ibge_code == self.code
            case JurisdictionKind.CNES:
                return cnes is not None and cnes == self.code
        return False  # pragma: no cover - exhaustive match
