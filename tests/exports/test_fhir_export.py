"""The waitlist as FHIR R4 Bundles: Patient (CPF or CNS), ServiceRequest, Appointment; each file parses back and
validates with ``fhir.resources`` (R4B models)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from regula.config import Settings
from regula.exports import fhir
from regula.exports.service import Staging, export_waitlist
from regula.exports.waitlist import ExportMeta, check_filter, stream_rows
from regula.waitlist.priority import RISK_CLASSES
from regula.waitlist.states import EntryStatus
from tests.exports.scenario import FLORIANOPOLIS, JOINVILLE, NAMES, OCI, OTHER_OCI, PROVIDER_CNES, Scenario

# FHIR R4 value sets of the coded elements written here (required bindings the models do not check).
REQUEST_STATUS = {"draft", "active", "on-hold", "revoked", "completed", "entered-in-error", "unknown"}
REQUEST_PRIORITY = {"routine", "urgent", "asap", "stat"}
APPOINTMENT_STATUS = {
    "proposed",
    "pending",
    "booked",
    "arrived",
    "fulfilled",
    "cancelled",
    "noshow",
    "entered-in-error",
    "checked-in",
    "waitlist",
}
PARTICIPATION_STATUS = {"accepted", "declined", "tentative", "needs-action"}


async def _export(
    session: AsyncSession, settings: Settings, tmp_path: Path, bundle_size: int = 5000, jobs: int = 1, **flt: Any
) -> tuple[list[Path], list[dict[str, Any]]]:
    staging = Staging()
    target = tmp_path / "lista.fhir.json"
    await export_waitlist(
        session, settings, check_filter("SC", **flt), "fhir", target, staging, bundle_size=bundle_size, jobs=jobs
    )
    paths = staging.publish()
    bundles = []
    for path in paths:
        text = path.read_text(encoding="utf-8")
        Bundle.model_validate_json(text)  # raises when the file is not a valid FHIR R4(B) Bundle
        bundles.append(json.loads(text))
    return paths, bundles


def _resources(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def _identifier(resource: dict[str, Any], system: str) -> str | None:
    return next((i["value"] for i in resource.get("identifier", []) if i["system"] == system), None)


async def test_bundle_validates_and_maps_the_waitlist(
    session: AsyncSession, settings: Settings, scenario: Scenario, tmp_path: Path
) -> None:
    paths, [bundle] = await _export(session, settings, tmp_path)
    assert [p.name for p in paths] == ["lista.fhir.json"]
    assert bundle["type"] == "collection" and bundle["meta"]["security"][0]["code"] == "R"
    patients = _resources(bundle, "Patient")
    requests = _resources(bundle, "ServiceRequest")
    appointments = _resources(bundle, "Appointment")
    assert len(patients) == 4  # Maria, João, Jaci, Ana: once each, though Maria waits for two OCIs
    assert len(requests) == 5 and len(appointments) == 1

    # Every reference inside the collection resolves to an entry of it.
    full_urls = {e["fullUrl"] for e in bundle["entry"]}
    references = [r["subject"]["reference"] for r in requests] + [
        p["actor"]["reference"] for a in appointments for p in a["participant"] if "reference" in p["actor"]
    ]
    references += [b["reference"] for a in appointments for b in a["basedOn"]]
    assert set(references) <= full_urls

    maria = next(p for p in patients if _identifier(p, fhir.CPF_SYSTEM) == scenario.cpf["maria"])
    assert _identifier(maria, fhir.CNS_SYSTEM) is None
    assert maria["identifier"][0]["type"]["coding"][0]["code"] == "TAX"
    assert (maria["gender"], maria["birthDate"]) == ("female", "1960-05-17")
    assert maria["address"][0]["city"] == FLORIANOPOLIS and maria["address"][0]["state"] == "SC"
    assert "name" not in maria and "telecom" not in maria
    jaci = next(p for p in patients if _identifier(p, fhir.CNS_SYSTEM) == scenario.cns["jaci"])
    assert _identifier(jaci, fhir.CPF_SYSTEM) is None and jaci["identifier"][0]["type"]["coding"][0]["code"] == "HC"
    assert jaci["address"][0]["city"] == JOINVILLE

    by_protocol = {_identifier(r, fhir.FhirIds(settings).protocol_system): r for r in requests}
    cardio = by_protocol[scenario.protocols[f"maria:{OCI}"]]
    assert (cardio["status"], cardio["intent"], cardio["priority"]) == ("active", "order", "asap")
    assert cardio["code"]["coding"][0] == {
        "system": fhir.SIGTAP_SYSTEM,
        "code": OCI,
        "display": "OCI AVALIAÇÃO CARDIOLÓGICA",
    }
    assert cardio["reasonCode"][0]["coding"][0]["system"] == fhir.CID10_SYSTEM
    assert cardio["subject"]["reference"] == f"urn:uuid:{maria['id']}"
    assert cardio["requester"]["identifier"] == {"system": fhir.CNES_SYSTEM, "value": "2691868"}
    assert "end" in cardio["occurrencePeriod"]  # the tM deadline
    extensions = {e["url"].rsplit("/", 1)[1]: e for e in cardio["extension"]}
    assert extensions["situacao-regulacao"]["valueCode"] == "autorizada"
    assert extensions["posicao-fila"]["valueInteger"] == 1 and extensions["tamanho-fila"]["valueInteger"] == 2
    assert extensions["municipio-origem"]["valueCode"] == FLORIANOPOLIS
    assert by_protocol[scenario.protocols[f"maria:{OTHER_OCI}"]]["subject"] == cardio["subject"]
    assert by_protocol[scenario.protocols[f"ana:{OCI}"]]["status"] == "active"
    assert "occurrencePeriod" not in by_protocol[scenario.protocols[f"ana:{OCI}"]]

    [booked] = appointments
    jaci_request = by_protocol[scenario.protocols[f"jaci:{OCI}"]]
    assert booked["status"] == "booked"
    assert booked["basedOn"] == [{"reference": f"urn:uuid:{jaci_request['id']}", "type": "ServiceRequest"}]
    assert booked["start"] == f"{scenario.booking_starts_at:%Y-%m-%d}T09:00:00-03:00"
    patient_part, place = booked["participant"]
    assert patient_part == {
        "actor": {"reference": f"urn:uuid:{jaci['id']}", "type": "Patient"},
        "status": "needs-action",
    }
    assert place["actor"]["type"] == "Location"
    assert place["actor"]["identifier"] == {"system": fhir.CNES_SYSTEM, "value": PROVIDER_CNES}

    for r in requests:
        assert r["status"] in REQUEST_STATUS and r["priority"] in REQUEST_PRIORITY
    for a in appointments:
        assert a["status"] in APPOINTMENT_STATUS and {p["status"] for p in a["participant"]} <= PARTICIPATION_STATUS
    text = json.dumps(bundle, ensure_ascii=False)
    for name in NAMES:
        assert name.split()[0] not in text


async def test_ids_are_stable_across_exports(
    session: AsyncSession, settings: Settings, scenario: Scenario, tmp_path: Path
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    _, [first] = await _export(session, settings, tmp_path / "a")
    _, [second] = await _export(session, settings, tmp_path / "b")
    assert first["id"] != second["id"]  # a new export
    assert [e["fullUrl"] for e in first["entry"]] == [e["fullUrl"] for e in second["entry"]]


async def test_large_exports_split_into_valid_bundles(
    session: AsyncSession, settings: Settings, scenario: Scenario, tmp_path: Path
) -> None:
    paths, bundles = await _export(session, settings, tmp_path, bundle_size=2, include_terminal=True)
    assert [p.name for p in paths] == ["lista.fhir-0001.json", "lista.fhir-0002.json", "lista.fhir-0003.json"]
    assert sum(len(_resources(b, "ServiceRequest")) for b in bundles) == 6
    for b in bundles:  # each Bundle stands alone: its references resolve inside it
        urls = {e["fullUrl"] for e in b["entry"]}
        assert {r["subject"]["reference"] for r in _resources(b, "ServiceRequest")} <= urls
    cancelled = [r for b in bundles for r in _resources(b, "ServiceRequest") if r["status"] == "revoked"]
    assert len(cancelled) == 1


async def test_validation_in_worker_processes_keeps_the_order(
    session: AsyncSession, settings: Settings, scenario: Scenario, tmp_path: Path
) -> None:
    paths, bundles = await _export(session, settings, tmp_path, bundle_size=1, jobs=2, include_terminal=True)
    assert [p.name for p in paths] == [f"lista.fhir-{n:04d}.json" for n in range(1, 7)]
    assert [b["id"].rsplit("-", 1)[1] for b in bundles] == [f"{n:04d}" for n in range(1, 7)]


async def test_an_invalid_resource_stops_the_export(
    session: AsyncSession, settings: Settings, scenario: Scenario, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = fhir.patient
    monkeypatch.setattr(fhir, "patient", lambda row, ids: original(row, ids) | {"nome": "Maria"})
    staging = Staging()
    with pytest.raises(ValidationError, match="nome"):
        await export_waitlist(session, settings, check_filter("SC"), "fhir", tmp_path / "x.fhir.json", staging)
    staging.discard()


async def test_empty_export_is_an_empty_valid_bundle(
    session: AsyncSession, settings: Settings, reference_data: None, tmp_path: Path
) -> None:
    paths, [bundle] = await _export(session, settings, tmp_path, oci_code=OCI)
    assert len(paths) == 1 and bundle["entry"] == []


async def test_build_bundle_in_memory(session: AsyncSession, settings: Settings, scenario: Scenario) -> None:
    rows = [r async for r in stream_rows(session, settings, check_filter("SC"), order="citizen")]
    bundle = fhir.build_bundle(rows, settings, ExportMeta.new(settings))
    assert isinstance(bundle, Bundle) and bundle.entry is not None
    assert len(bundle.entry) == 4 + 5 + 1


def test_mappings_cover_every_status_and_risk_class() -> None:
    assert set(fhir.SERVICE_REQUEST_STATUS) == set(EntryStatus)
    assert set(fhir.SERVICE_REQUEST_STATUS.values()) <= REQUEST_STATUS
    assert set(fhir.PRIORITY) == set(RISK_CLASSES) and set(fhir.PRIORITY.values()) <= REQUEST_PRIORITY
    assert {fhir.appointment_status(s) for s in EntryStatus} <= APPOINTMENT_STATUS
    assert fhir.SERVICE_REQUEST_STATUS[EntryStatus.CONCLUIDA] == "completed"
    assert fhir.SERVICE_REQUEST_STATUS[EntryStatus.SUSPENSA] == "on-hold"
