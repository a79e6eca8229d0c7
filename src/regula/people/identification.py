"""How a citizen is identified: CPF for everyone, CNS for indigenous people (pure rules).

Portaria SAES (componente complementar do Programa Agora Tem Especialistas), art. 11: "Fica definida a
obrigatoriedade de identificação do cidadão atendido por meio do Cadastro de Pessoa Física (CPF) para todos os
atendimentos [...]. Parágrafo único. Excetuam-se [...] os cidadãos pertencentes aos povos originários do Brasil,
identificados no campo 'Raça' como 'Indígena', os quais deverão ser identificados, por meio do número do Cartão
Nacional de Saúde (CNS)".

regula reads it as:

* a citizen whose race/colour is ``indigena`` (``people.models.RACE_COLORS``, e-SUS code 05) must have a CNS; the
  CPF is optional;
* every other citizen must have a CPF (a CNS is welcome, never enough);
* the federal lists identify an indigenous citizen by the CNS and everyone else by the CPF
  (:func:`federal_identifiers`).

New records are refused when they break the rule (:func:`identification_errors`, used by
``people.service.validate_citizen`` for the page, the API and the import). Records that already break it are
reported (:func:`issue_of`, ``regula people check-identification`` and the managers' list), never changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from regula.core.errors import FieldError

INDIGENOUS: Final = "indigena"

#: Issue codes of stored records that break art. 11, with what they mean for people. (A non-indigenous citizen
#: without CPF cannot be stored: the table's check ``cpf_or_indigenous`` refuses it since the first migration.)
ISSUES: Final[dict[str, str]] = {
    "indigena_sem_cns": "Pessoa indígena sem CNS (deve ser identificada pelo CNS)",
}


def is_indigenous(race_color: str | None) -> bool:
    return (race_color or "").strip().lower().replace("í", "i") == INDIGENOUS


def identification_errors(
    cpf: str | None, cns: str | None, race_color: str | None, prefix: str = ""
) -> list[FieldError]:
    """The art. 11 errors of a citizen's documents (given = not blank; their check digits are checked elsewhere)."""
    if is_indigenous(race_color):
        if not cns:
            return [
                FieldError(
                    f"{prefix}cns",
                    "cns_obrigatorio_indigena",
                    "Pessoas indígenas são identificadas pelo CNS (Portaria SAES, art. 11): informe o CNS.",
                )
            ]
        return []
    if cpf:
        return []
    if not cns:
        return [FieldError(f"{prefix}cpf", "cpf_obrigatorio", "Informe o CPF (ou o CNS, para pessoas indígenas).")]
    return [
        FieldError(
            f"{prefix}cpf",
            "cpf_obrigatorio_nao_indigena",
            "O CPF é obrigatório; só pessoas indígenas podem ser identificadas apenas pelo CNS.",
        )
    ]


def issue_of(cpf: str | None, cns: str | None, race_color: str | None) -> str | None:
    """The :data:`ISSUES` code of a stored record that breaks art. 11, or None."""
    if is_indigenous(race_color):
        return None if cns else "indigena_sem_cns"
    return None


@dataclass(frozen=True, slots=True)
class FederalIdentifiers:
    cpf: str | None
    cns: str | None


def federal_identifiers(cpf: str | None, cns: str | None, race_color: str | None) -> FederalIdentifiers:
    """The document the federal lists carry: the CNS for an indigenous citizen who has one, else the CPF (the CNS
    only when there is no CPF at all, a record art. 11 reports)."""
    if is_indigenous(race_color) and cns:
        return FederalIdentifiers(cpf=None, cns=cns)
    if cpf:
        return FederalIdentifiers(cpf=cpf, cns=None)
    return FederalIdentifiers(cpf=None, cns=cns)
