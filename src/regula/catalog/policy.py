"""Program rules about OCIs that are not SIGTAP data.

An OCI is "o conjunto de procedimentos, tais como consultas e exames, [...] integrados para concluir uma etapa na
linha de cuidado" (Portaria GM/MS 3.492/2024, art. 5 §1). Its rol must state, per OCI, the procedures and whether
they are mandatory or eventual, the time limit and the value (art. 6 §2 I–V). SIGTAP carries the codes,
procedures and value; two rules regula needs are published elsewhere and are kept here, driven by
:class:`regula.config.Settings` or by the SIA critique, so they can change without touching the importer:

* **tM**, the maximum time between the first and the last procedure of an OCI (Portaria GM/MS 3.492/2024 as
  amended, art. 14 §3 III; art. 6 §2 IV). No SIGTAP table has it; the program's published general rule is 30 days
  for oncology OCIs (subgroup 0901) and 60 days for the others (regula's reference-data notes,
  shared/data/README.md, "max_days"; sources listed in the reference catalog).
* **PMAE minimum composition**: every OCI with complementary attribute 053 (PMAE) must register at least 2
  secondary procedures, one of them the specialist consultation 0301010072 or the teleconsultation 0301010307,
  whichever of them the OCI accepts. The SIA rejects the APAC otherwise (SIA critique 000013, "PMAE EXIGE PELO
  MENOS 2 PROC.SEC. SENDO UM OBRIG.(030101007 OU 030101030)"). The rule is in no SIGTAP table: in SIGTAP both
  consultation codes are plain compatible (TP_COMPATIBILIDADE 1) secondaries (shared/data/README.md).
  Remote care (teleconsultation) is part of an OCI where the rol includes it (art. 6 §4).
* Attributes 056 and 057 ("Exige procedimento de tomografia computadorizada" / "de ressonância magnética") do
  come from SIGTAP, but not which secondaries satisfy them: regula reads them as "at least one of the OCI's
  compatible procedures of SIGTAP subgroup 0206 (Diagnóstico por tomografia) / 0207 (Diagnóstico por
  ressonância magnética)", the reading of the reference catalog (shared/data/oci/oci_catalog_reference.json,
  copied to tests/catalog/data/).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from regula.config import Settings

ONCOLOGY_SUBGROUP: Final = "0901"
PMAE_ATTRIBUTE: Final = "053"
CONSULTATION: Final = "0301010072"  # CONSULTA MEDICA EM ATENÇÃO ESPECIALIZADA
TELECONSULTATION: Final = "0301010307"  # TELECONSULTA MÉDICA NA ATENÇÃO ESPECIALIZADA
CONSULTATION_CODES: Final = (CONSULTATION, TELECONSULTATION)
PMAE_MIN_SECONDARIES: Final = 2  # SIA critique 000013

# Complementary attribute → SIGTAP subgroup whose compatible procedures satisfy it (see the module docstring).
_REQUIRES_SUBGROUP: Final = {
    "056": ("0206", "Exige procedimento de tomografia computadorizada (ao menos um)"),
    "057": ("0207", "Exige procedimento de ressonância magnética (ao menos um)"),
}
PMAE_RULE_PT: Final = (
    "PMAE (atributo 053): ao menos 2 procedimentos secundários, um deles consulta (0301010072) ou teleconsulta"
    " (0301010307), conforme a OCI aceite"
)


@dataclass(frozen=True, slots=True)
class OneOfGroup:
    """At least one of ``codes`` must be registered in the OCI's APAC."""

    source: str  # the complementary attribute that asks for it, e.g. "053"
    rule: str  # Portuguese, for people
    codes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CompositionPolicy:
    max_days: int  # tM
    consultation_one_of: tuple[str, ...]  # empty when the OCI is not PMAE or accepts neither code
    min_secondaries: int | None  # None: no program minimum beyond the mandatory procedures
    one_of_groups: tuple[OneOfGroup, ...]  # the consultation group first, then attribute-driven groups


def max_days(subgroup_code: str, settings: Settings) -> int:
    """tM of an OCI of ``subgroup_code`` (4 digits, e.g. "0901"; a full OCI code works too).

    Portaria GM/MS 3.492/2024, art. 14 §3 III (as amended): the time between the first and the last procedure
    of an OCI must respect its maximum time. Values: Settings.oci_max_days_oncology / oci_max_days_default.
    """
    if subgroup_code[:4] == ONCOLOGY_SUBGROUP:
        return settings.oci_max_days_oncology
    return settings.oci_max_days_default


@dataclass(frozen=True, slots=True)
class PmaeRequirement:
    consultation_one_of: tuple[str, ...]
    min_secondaries: int | None


def pmae_requirement(attribute_codes: Iterable[str], secondary_codes: Iterable[str]) -> PmaeRequirement:
    """The consultation one-of set and the minimum number of secondaries of an OCI.

    ``attribute_codes``: its complementary attributes (rl_procedimento_detalhe); ``secondary_codes``: every
    procedure compatible with it (rl_procedimento_compativel, any type). Only OCIs with attribute 053 carry the
    rule (SIA critique 000013, see the module docstring). The one-of set holds the consultation codes the OCI
    accepts: 0901010120 and the ENT/ophthalmology OCIs accept no teleconsultation, so only 0301010072 counts.
    """
    if PMAE_ATTRIBUTE not in set(attribute_codes):
        return PmaeRequirement(consultation_one_of=(), min_secondaries=None)
    accepted = set(secondary_codes)
    return PmaeRequirement(
        consultation_one_of=tuple(code for code in CONSULTATION_CODES if code in accepted),
        min_secondaries=PMAE_MIN_SECONDARIES,
    )


def composition_policy(
    *,
    subgroup_code: str,
    attribute_codes: Iterable[str],
    secondary_codes: Iterable[str],
    settings: Settings,
) -> CompositionPolicy:
    """Everything regula adds to an OCI's SIGTAP composition: tM, the PMAE rule and the attribute groups."""
    attributes = sorted(set(attribute_codes))
    secondaries = sorted(set(secondary_codes))
    pmae = pmae_requirement(attributes, secondaries)
    groups: list[OneOfGroup] = []
    if pmae.consultation_one_of:
        groups.append(OneOfGroup(PMAE_ATTRIBUTE, PMAE_RULE_PT, pmae.consultation_one_of))
    for attribute in attributes:
        if attribute in _REQUIRES_SUBGROUP:
            prefix, rule = _REQUIRES_SUBGROUP[attribute]
            codes = tuple(code for code in secondaries if code.startswith(prefix))
            if codes:
                groups.append(OneOfGroup(attribute, f"Atributo {attribute}: {rule}", codes))
    return CompositionPolicy(
        max_days=max_days(subgroup_code, settings),
        consultation_one_of=pmae.consultation_one_of,
        min_secondaries=pmae.min_secondaries,
        one_of_groups=tuple(groups),
    )
