"""The columns of an import file: the API's field names, the order rows are held in memory, the column names
accepted for each (aliases) and which of them a CSV header must have."""

from __future__ import annotations

import unicodedata
from typing import Final

#: Canonical field names (those of the API) in the order rows are held in memory.
FIELDS: Final[tuple[str, ...]] = (
    "external_id",
    "cpf",
    "cns",
    "name",
    "social_name",
    "birth_date",
    "sex",
    "race_color",
    "municipality_ibge",
    "phone",
    "preferred_channel",
    "contact_consent",
    "pregnant",
    "disability",
    "autism",
    "cadunico",
    "vulnerability_index",
    "oci_code",
    "procedure_code",
    "cid_code",
    "risk_class",
    "risk_justification",
    "requesting_cnes",
    "requesting_ine",
    "professional_cns",
    "professional_cbo",
    "checklist",
    "requested_at",
    "status",
    "authorized_at",
    "exams",
)
(
    EXT,
    CPF,
    CNS,
    NAME,
    SOCIAL,
    BIRTH,
    SEX,
    RACE,
    MUNI,
    PHONE,
    CHANNEL,
    CONSENT,
    PREGNANT,
    DISABILITY,
    AUTISM,
    CADUNICO,
    VULN,
    OCI,
    PROC,
    CID,
    RISK,
    JUST,
    CNES,
    INE,
    PCNS,
    CBO,
    CHECK,
    REQ_AT,
    STATUS,
    AUTH_AT,
    EXAMS,
) = range(len(FIELDS))

#: Accepted column names (compared without accents, case or punctuation); the first is the Portuguese name used
#: in messages and in the documentation (docs/import-referrals.md).
ALIASES: Final[dict[str, tuple[str, ...]]] = {
    "external_id": ("id_externo", "external_id", "codigo_solicitacao", "numero_solicitacao", "id_solicitacao"),
    "cpf": ("cpf", "nu_cpf", "cpf_cidadao", "cpf_paciente"),
    "cns": ("cns", "cartao_sus", "nu_cns", "cns_cidadao", "cns_paciente"),
    "name": ("nome", "name", "nome_cidadao", "nome_paciente", "no_cidadao"),
    "social_name": ("nome_social", "social_name"),
    "birth_date": ("data_nascimento", "birth_date", "dt_nascimento", "nascimento"),
    "sex": ("sexo", "sex"),
    "race_color": ("raca_cor", "race_color", "raca", "racacor"),
    "municipality_ibge": ("municipio_ibge", "municipality_ibge", "ibge", "codigo_ibge", "co_municipio_ibge"),
    "phone": ("telefone", "phone", "celular", "fone"),
    "preferred_channel": ("canal", "preferred_channel", "canal_preferido"),
    "contact_consent": ("consentimento", "contact_consent", "consentimento_contato"),
    "pregnant": ("gestante", "pregnant"),
    "disability": ("deficiencia", "disability", "pessoa_com_deficiencia", "pcd"),
    "autism": ("tea", "autism", "autismo"),
    "cadunico": ("cadunico", "cad_unico"),
    "vulnerability_index": ("indice_vulnerabilidade", "vulnerability_index"),
    "oci_code": ("oci", "oci_code", "codigo_oci", "co_oci"),
    "procedure_code": ("procedimento", "procedure_code", "codigo_procedimento", "co_procedimento"),
    "cid_code": ("cid", "cid_code", "cid10", "cid_10"),
    "risk_class": ("classe_risco", "risk_class", "classificacao_risco", "risco"),
    "risk_justification": ("justificativa", "risk_justification", "justificativa_risco"),
    "requesting_cnes": ("cnes_solicitante", "requesting_cnes", "cnes"),
    "requesting_ine": ("ine", "requesting_ine", "ine_equipe"),
    "professional_cns": ("cns_profissional", "professional_cns"),
    "professional_cbo": ("cbo", "professional_cbo", "cbo_profissional"),
    "checklist": ("checklist", "protocolo"),
    "requested_at": ("data_solicitacao", "requested_at", "dt_solicitacao"),
    "status": ("status", "situacao"),
    "authorized_at": ("data_autorizacao", "authorized_at", "dt_autorizacao"),
    "exams": ("exames", "exams", "exames_realizados"),
}
PT_NAMES: Final[dict[str, str]] = {name: aliases[0] for name, aliases in ALIASES.items()}

#: Columns a CSV header must have; a tuple means "one of them".
REQUIRED_COLUMNS: Final[tuple[str | tuple[str, ...], ...]] = (
    "external_id",
    ("cpf", "cns"),
    "name",
    "birth_date",
    "sex",
    "race_color",
    "municipality_ibge",
    ("oci_code", "procedure_code"),
    "cid_code",
    "risk_class",
    "risk_justification",
    "requesting_cnes",
)


def normalize_column(name: str) -> str:
    """``Data de Nascimento`` → ``data_de_nascimento``; accents, case and punctuation do not matter."""
    bare = "".join(ch for ch in unicodedata.normalize("NFKD", name) if not unicodedata.combining(ch))
    out = []
    for ch in bare.strip().lower():
        out.append(ch if ch.isalnum() else "_")
    return "_".join(part for part in "".join(out).split("_") if part)
