"""Places as people read them: a municipality "Florianópolis/SC", a health region or macro-region by its name, a UF
by its name. Pages, messages and services' refusals all name places through here, so a code such as
``region:42007`` never reaches a person."""

from __future__ import annotations

from regula.territory.reference import UF_NAMES, territory

_PARTICLES = frozenset({"da", "das", "de", "do", "dos", "e"})


def title_case(text: str) -> str:
    """``MACRORREGIAO I - PORTO VELHO`` → ``Macrorregiao I - Porto Velho`` (DATASUS writes other UFs' macro-regions
    in capitals; Santa Catarina's names come from the reference data already accented, and stay as they are)."""
    words = text.lower().split()
    return " ".join(w if i and w in _PARTICLES else w.capitalize() for i, w in enumerate(words))


def municipality_label(ibge: str | None) -> str:
    if not ibge:
        return "—"
    m = territory().find(ibge)
    return m.label if m else ibge


def scope_label(kind: str, code: str) -> str:
    t = territory()
    if kind == "region":
        region = t.health_region(code)
        return f"Região {title_case(region.name)}" if region else f"Região {code}"
    if kind == "macro":
        macro = t.macro_region(code)
        return f"Macrorregião {title_case(macro.name)}" if macro else f"Macrorregião {code}"
    if kind == "uf":
        return UF_NAMES.get(code, code)
    return f"{kind}:{code}"
