"""What messages say and when they may go: templates, GSM-7, reply parsing, quiet hours. No database."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from regula.config import Settings
from regula.notify import content
from regula.notify.replies import parse_reply
from regula.notify.respect import next_allowed, timezone_for

VARIABLES = {
    "protocol": "SC2600012345",
    "url": "https://regula.saude.sc.gov.br/posicao",
    "day": "quarta, 14/01",
    "time": "09h30",
    "place": "Policlínica Municipal Continente",
    "city": "São José",
    "teleconsultation": False,
    "when": "amanhã",
    "reply_hours": 2,
    "position": 1234,
    "estimate": "entre 03/2027 e 04/2027",
}


@pytest.mark.parametrize("kind", sorted(content.KINDS))
def test_every_kind_renders_with_the_protocol_and_no_clinical_detail(kind: str) -> None:
    sms = content.render(kind, VARIABLES, "sms")
    whatsapp = content.render(kind, VARIABLES, "whatsapp")
    if kind not in ("ajuda", "optout"):
        assert "SC2600012345" in sms
    for text in (sms, whatsapp):
        assert text.startswith("SUS:")
        # Never a clinical detail: no OCI name, no CID, no specialty.
        for word in ("cardio", "oftalm", "oncolog", "CID", "0902010026", "câncer"):
            assert word.lower() not in text.lower()
    assert all(ch in content.GSM7_BASIC or ch in content.GSM7_EXTENDED for ch in sms), sms


@pytest.mark.parametrize(
    "kind", ["confirmacao", "lembrete", "validacao", "validacao_confirma", "confirmada", "ajuda", "fila_entrada"]
)
def test_short_messages_fit_one_gsm7_segment(kind: str) -> None:
    sms = content.render(kind, VARIABLES, "sms")
    assert content.segments(sms) == 1, (len(sms), sms)


def test_accents_stay_on_whatsapp_and_go_on_sms() -> None:
    assert "você" in content.render("validacao", VARIABLES, "whatsapp")
    sms = content.render("validacao", VARIABLES, "sms")
    assert "voce" in sms and "NAO" in sms
    assert content.segments("ã" * 70) == 1 and content.segments("ã" * 71) == 2  # UCS-2
    assert content.segments("a" * 160) == 1 and content.segments("a" * 161) == 2


def test_appointment_time_reads_like_a_person_would_say_it() -> None:
    starts = datetime(2027, 1, 13, 12, 30, tzinfo=UTC)  # 09:30 in Brasília
    assert content.when_variables(starts, "America/Sao_Paulo") == {"day": "quarta, 13/01", "time": "09h30"}
    assert content.when_variables(starts, "America/Manaus")["time"] == "08h30"


@pytest.mark.parametrize(
    ("body", "intent"),
    [
        ("SIM", "sim"),
        (" sim ", "sim"),
        ("Sim, vou sim!", "sim"),
        ("s", "sim"),
        ("1", "sim"),
        ("Confirmo", "sim"),
        ("ok", "sim"),
        ("NÃO", "nao"),
        ("nao", "nao"),
        ("Não vou poder", "nao"),
        ("n", "nao"),
        ("2", "nao"),
        ("cancelar", "nao"),
        ("SAIR", "sair"),
        ("parar", "sair"),
        ("STOP", "sair"),
        ("quem é?", "desconhecida"),
        ("", "desconhecida"),
        ("🙂", "desconhecida"),
    ],
)
def test_replies_are_read_robustly(body: str, intent: str) -> None:
    assert parse_reply(body) == intent


def test_quiet_hours_and_sundays_in_the_citizens_time_zone() -> None:
    settings = Settings(environment="test")
    tz = "America/Sao_Paulo"
    weekday_noon = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)  # Wednesday 12:00 in Brasília
    assert next_allowed(weekday_noon, tz, settings) == weekday_noon
    late = datetime(2026, 12, 2, 23, 30, tzinfo=UTC)  # Wednesday 20:30
    assert next_allowed(late, tz, settings) == datetime(2026, 12, 3, 11, 0, tzinfo=UTC)  # Thursday 08:00
    early = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)  # Thursday 06:00
    assert next_allowed(early, tz, settings) == datetime(2026, 12, 3, 11, 0, tzinfo=UTC)
    saturday_night = datetime(2026, 12, 5, 23, 30, tzinfo=UTC)  # Saturday 20:30 → Monday 08:00
    assert next_allowed(saturday_night, tz, settings) == datetime(2026, 12, 7, 11, 0, tzinfo=UTC)
    # 19:30 in Brasília is already 18:30 in Manaus: allowed there.
    evening = datetime(2026, 12, 2, 22, 30, tzinfo=UTC)
    assert next_allowed(evening, "America/Manaus", settings) == evening
    assert timezone_for("AM") == "America/Manaus"
    assert timezone_for("PE", "2605459") == "America/Noronha"
    relaxed = Settings(environment="test", notify_quiet_sundays=False)
    sunday_noon = datetime(2026, 12, 6, 15, 0, tzinfo=UTC)
    assert next_allowed(sunday_noon, tz, relaxed) == sunday_noon
