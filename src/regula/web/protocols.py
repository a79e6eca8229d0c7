"""The access-protocol checklists the referral form asks, by OCI subgroup (SIGTAP 0901 oncology … 0906 women's
health), with what each item means on screen.

The referral service refuses a checklist with an item not met (``protocolo_incompleto``); these are the items the
APS team is asked to confirm. The keys are the ones regula's imports and demonstration data use, so a referral
read back shows the same sentences. A regulation center with its own protocols changes them here.
"""

from __future__ import annotations

from typing import Final

ChecklistItem = tuple[str, str]  # (key, what the APS team confirms)

CHECKLIST_BY_SUBGROUP: Final[dict[str, tuple[ChecklistItem, ...]]] = {
    "0901": (
        ("exame_de_imagem_anexado", "Exame de imagem ou laudo que motivou a suspeita anexado"),
        ("historico_clinico_registrado", "História clínica e exame físico registrados"),
    ),
    "0902": (
        ("ecg_anexado", "Eletrocardiograma recente anexado"),
        ("exames_laboratoriais_recentes", "Exames laboratoriais dos últimos seis meses anexados"),
    ),
    "0903": (
        ("exame_fisico_registrado", "Exame físico ortopédico registrado"),
        ("tratamento_conservador_realizado", "Tratamento conservador na APS já realizado (medicação, fisioterapia)"),
    ),
    "0904": (
        ("otoscopia_registrada", "Otoscopia registrada"),
        ("queixa_descrita", "Queixa e tempo de evolução descritos"),
    ),
    "0905": (("acuidade_visual_registrada", "Acuidade visual registrada"),),
    "0906": (
        ("ultrassonografia_previa", "Ultrassonografia pélvica ou transvaginal prévia anexada"),
        ("exame_ginecologico_registrado", "Exame ginecológico registrado"),
    ),
}
DEFAULT_CHECKLIST: Final[tuple[ChecklistItem, ...]] = (
    ("protocolo_de_acesso_atendido", "Critérios do protocolo de acesso da OCI atendidos"),
)
_LABELS: Final[dict[str, str]] = {
    key: label for items in (*CHECKLIST_BY_SUBGROUP.values(), DEFAULT_CHECKLIST) for key, label in items
}


def checklist_for(oci_code: str) -> tuple[ChecklistItem, ...]:
    return CHECKLIST_BY_SUBGROUP.get(oci_code[:4], DEFAULT_CHECKLIST)


def item_label(key: str) -> str:
    return _LABELS.get(key, key.replace("_", " ").capitalize())
