"""The import enforces the OCI's referral protocol in force like the API and the page (decision 0020): the first
missing required item named ``checklist.<key>``, a CID outside the protocol's list, a required exam not declared;
the fast path never accepts what the full rules refuse, and the imported entry records the version and exams."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from regula.access.actor import Actor
from regula.audit.service import AuditContext, set_context
from regula.catalog import protocols
from regula.catalog.protocols import ChecklistItem, ProtocolDraft
from regula.config import Settings
from regula.core.clock import local_today
from regula.db.base import utcnow
from regula.people.documents import generate_cpf
from regula.waitlist import service
from regula.waitlist.importer import import_referrals
from regula.waitlist.importer.validation import Validator

pytestmark = pytest.mark.usefixtures("reference_data")

FLORIANOPOLIS = "4205407"
OCI = "0902010026"
rng = random.Random(16_4)


def row(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id_externo": f"P-{rng.randrange(10**9)}",
        "cpf": generate_cpf(rng),
        "nome": "Maria das Dores Silva",
        "data_nascimento": "1960-05-17",
        "sexo": "F",
        "raca_cor": "parda",
        "municipio_ibge": FLORIANOPOLIS,
        "canal": "nenhum",
        "oci": OCI,
        "cid": "Z136",
        "classe_risco": "amarelo",
        "justificativa": "Dor torácica aos esforços há três meses.",
        "cnes_solicitante": "2691868",
    }
    return base | over


async def _protocol(session: AsyncSession, settings: Settings) -> None:
    await protocols.new_version(
        session,
        OCI,
        ProtocolDraft(
            effective_from=local_today(settings),
            reason="Protocolo revisto pela câmara técnica",
            checklist=(
                ChecklistItem("ecg_anexado", "ECG anexado", True),
                ChecklistItem("dor_descrita", "Dor descrita", True),
                ChecklistItem("mapa", "MAPA", False),
            ),
            required_exams=("Eletrocardiograma",),
            accepted_cids=("Z136",),
        ),
        username="gestora",
        today=local_today(settings),
    )


async def test_import_refuses_what_the_protocol_refuses(session: AsyncSession, settings: Settings) -> None:
    set_context(session, AuditContext.system("cli", "teste"))
    await _protocol(session, settings)
    full = {"ecg_anexado": True, "dor_descrita": True}
    rows = [
        row(),  # 1: nothing answered
        row(checklist={"ecg_anexado": True, "dor_descrita": False}, exames=["Eletrocardiograma"]),  # 2
        row(checklist=full, exames=["Eletrocardiograma"], cid="Z848"),  # 3
        row(checklist=full),  # 4: exam not declared
        row(checklist=full | {"mapa": False}, exames="eletrocardiograma|Raio X"),  # 5: fine
        row(checklist=json.dumps(full), exames='["Eletrocardiograma"]'),  # 6: fine, JSON text in cells
    ]
    data = "\n".join(json.dumps(r, ensure_ascii=False) for r in rows).encode()
    report = await import_referrals(session, settings, data, actor=Actor.system("teste"), filename="x.jsonl")
    assert {(e.row, e.field, e.code) for e in report.errors} == {
        (1, "checklist.ecg_anexado", "protocolo_item_obrigatorio"),
        (1, "exams", "exame_obrigatorio"),
        (2, "checklist.dor_descrita", "protocolo_item_obrigatorio"),
        (3, "cid_code", "cid_fora_do_protocolo"),
        (4, "exams", "exame_obrigatorio"),
    }
    assert report.imported == 2
    stored = (
        await session.execute(
            text("SELECT protocol_version, exams FROM waitlist_entry WHERE oci_code = :oci ORDER BY id"), {"oci": OCI}
        )
    ).all()
    assert [(v, e) for v, e in stored] == [(1, ["eletrocardiograma", "Raio X"]), (1, ["Eletrocardiograma"])]


async def test_fast_path_agrees_with_the_full_rules_on_protocols(session: AsyncSession, settings: Settings) -> None:
    set_context(session, AuditContext.system("cli", "teste"))
    await _protocol(session, settings)
    catalog = await service.load_catalog(session, settings)
    validator = Validator(catalog, settings, Actor.system("teste"), utcnow())
    from regula.waitlist.importer.columns import FIELDS
    from regula.waitlist.importer.reading import RawRow

    choices: list[dict[str, str]] = [
        {},
        {"checklist": '{"ecg_anexado": true}'},
        {"checklist": '{"ecg_anexado": true, "dor_descrita": true}'},
        {"checklist": '{"ecg_anexado": true, "dor_descrita": true, "mapa": false}', "exams": "Eletrocardiograma"},
        {"checklist": '{"ecg_anexado": true, "dor_descrita": true}', "exams": "Eletrocardiograma", "cid_code": "Z848"},
        {"checklist": '{"ecg_anexado": true, "dor_descrita": true}', "exams": "Eletrocardiograma"},
        {"checklist": '{"ecg_anexado": true, "dor_descrita": true, "outro": false}', "exams": "Eletrocardiograma"},
    ]
    accepted = 0
    for i, extra in enumerate(choices):
        values = {
            "external_id": f"F-{i}",
            "cpf": generate_cpf(rng),
            "name": "Maria da Silva",
            "birth_date": "1960-05-17",
            "sex": "F",
            "race_color": "parda",
            "municipality_ibge": FLORIANOPOLIS,
            "preferred_channel": "nenhum",
            "oci_code": OCI,
            "cid_code": "Z136",
            "risk_class": "verde",
            "risk_justification": "Justificativa clínica suficiente.",
            "requesting_cnes": "2691868",
        } | extra
        raw = RawRow(i + 1, tuple(values.get(f, "") for f in FIELDS))
        fast, full = validator.fast(raw), validator.full(raw)
        if fast is not None:
            accepted += 1
            assert fast == full
    assert accepted == 2  # the two complete rows (an optional item may be answered "não")
