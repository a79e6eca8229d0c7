"""Twilio's webhook signature is checked with one HMAC for a genuine request (issue 18 item 6), and still accepts
what the SDK accepts (the URL signed with or without its port) and refuses what it refuses."""

from __future__ import annotations

import pytest
from twilio.request_validator import RequestValidator

from regula.notify.routes import signature_matches

TOKEN = "auth-token-de-teste"
URL = "https://regula.example.org/webhooks/twilio/status?m=42"
PARAMS = {"MessageSid": "SM123", "MessageStatus": "delivered", "To": "+5548999887766"}


def test_a_genuine_signature_costs_one_hmac(monkeypatch: pytest.MonkeyPatch) -> None:
    signature = RequestValidator(TOKEN).compute_signature(URL, PARAMS)
    calls: list[str] = []
    original = RequestValidator.compute_signature

    def counting(self: RequestValidator, uri: str, params: object, algorithm: object = None) -> str:
        calls.append(uri)
        return str(original(self, uri, params, algorithm))

    monkeypatch.setattr(RequestValidator, "compute_signature", counting)
    assert signature_matches(TOKEN, URL, PARAMS, signature)
    assert calls == [URL]


def test_the_other_spelling_of_the_url_and_forgeries_are_judged_as_the_sdk_judges_them() -> None:
    validator = RequestValidator(TOKEN)
    with_port = validator.compute_signature("https://regula.example.org:443/webhooks/twilio/status?m=42", PARAMS)
    assert signature_matches(TOKEN, URL, PARAMS, with_port)
    assert not signature_matches(TOKEN, URL, PARAMS | {"MessageStatus": "failed"}, with_port)
    assert not signature_matches(TOKEN, URL, PARAMS, "forjada")
    assert not signature_matches("outro-token", URL, PARAMS, validator.compute_signature(URL, PARAMS))
