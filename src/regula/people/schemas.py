"""API types for citizens (never table models)."""

from __future__ import annotations

from datetime import date, datetime

from msgspec import Struct


class CitizenCreate(Struct, forbid_unknown_fields=True):
    name: str
    birth_date: date
    sex: str
    race_color: str
    municipality_ibge: str
    cpf: str | None = None
    cns: str | None = None
    social_name: str | None = None
    phone: str | None = None
    preferred_channel: str = "sms"
    contact_consent: bool = False
    pregnant: bool = False
    disability: bool = False
    autism: bool = False
    cadunico: bool = False
    vulnerability_index: float | None = None


class CitizenUpdate(Struct, forbid_unknown_fields=True):
    """Contact and situation data that change; identity (CPF/CNS, birth date) changes only by merge."""

    social_name: str | None = None
    phone: str | None = None
    preferred_channel: str | None = None
    contact_consent: bool | None = None
    municipality_ibge: str | None = None
    pregnant: bool | None = None
    disability: bool | None = None
    autism: bool | None = None
    cadunico: bool | None = None
    vulnerability_index: float | None = None


class CitizenPublic(Struct):
    id: int
    cpf_masked: str | None
    cns_masked: str | None
    name: str
    social_name: str | None
    birth_date: date
    age_years: int
    sex: str
    race_color: str
    municipality_ibge: str
    municipality_name: str
    uf: str
    phone: str | None
    preferred_channel: str
    contact_consent: bool
    contact_consent_at: datetime | None
    legal_priorities: list[str]
    cadunico: bool
    vulnerability_index: float | None
    created_at: datetime


class IdentificationIssueOut(Struct):
    """A citizen's record that breaks Portaria SAES art. 11 (CPF for everyone, CNS for indigenous people)."""

    citizen_id: int
    issue: str  # people.identification.ISSUES: indigena_sem_cns
    issue_label: str
    name: str
    race_color: str
    municipality_ibge: str
    uf: str
    cpf_masked: str | None
    cns_masked: str | None


class IdentificationIssuePage(Struct):
    items: list[IdentificationIssueOut]
    total: int
    by_issue: dict[str, int]
    offset: int
    limit: int
