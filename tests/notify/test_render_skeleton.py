"""A body rendered once per template shape with the values put in afterwards (``content.render``, issue 18 target
5: an allocation commit writes 22,000 messages) is byte for byte the body Jinja2 renders from the same values
(``content.render_template``), on every channel, whatever the values hold."""

from __future__ import annotations

import random

import pytest

from regula.notify import content

rng = random.Random(20261205)
PIECES = [
    "Policlínica São José",
    "Florianópolis",
    "SC-2026-000123",
    "terça, 08/12",
    "09h30",
    "amanhã",
    "  dois  espaços ",
    "",
    " ",
    "a\u00a0b",  # a no-break space: whitespace to str.split
    "e\u0301",  # a combining accent
    "\u1100\u1161",  # Hangul jamo: NFKD composes nothing, decomposes nothing
    "ﬁm",  # a ligature: NFKD makes it two letters
    "\ue000x\ue001",  # the skeleton's own markers, in a value
    "tab\there",
    "linha\nnova",
    "§1§ {{ x }} {% if %}",
    "😀 emoji",
    "€ [colchetes] ~",
]


def _value() -> object:
    roll = rng.random()
    if roll < 0.1:
        return rng.choice([True, False, None, 0, 7])
    return "".join(rng.choice(PIECES) for _ in range(rng.randint(1, 3)))


@pytest.mark.parametrize("kind", sorted(content.KINDS))
def test_the_skeleton_renders_what_jinja_renders(kind: str) -> None:
    names = sorted(content._names(kind)[1])
    content._skeleton.cache_clear()
    for _ in range(300):
        variables = {name: _value() for name in names}
        variables["teleconsultation"] = rng.random() < 0.5
        for channel in ("sms", "whatsapp"):
            assert content.render(kind, variables, channel) == content.render_template(kind, variables, channel)
    if content._names(kind)[0]:  # the values were put into skeletons, not only rendered by Jinja2
        assert content._skeleton.cache_info().hits > 0


def test_a_missing_variable_is_still_refused_by_name() -> None:
    names = sorted(content._names("agendamento")[1])
    variables = {name: "x" for name in names if name != "protocol"}
    with pytest.raises(Exception, match="protocol"):
        content.render("agendamento", variables, "sms")


def test_the_appointment_templates_print_their_values_as_they_are() -> None:
    """The three kinds of an allocation commit are put together from one skeleton each (else no time is saved)."""
    for kind in ("agendamento", "confirmacao", "lembrete"):
        printed, read = content._names(kind)
        assert printed and printed <= read
        assert "teleconsultation" not in printed
