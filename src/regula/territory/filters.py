"""Territorial list filters read from a request (a page's ``municipio``/``regiao``, the API's
``municipality``/``region``): checked against the reference territory, a 400 naming the parameter when unknown
(``db.listing.ListingError``, decision 23). A filter never widens what the caller may see: the repositories still
apply ``readable(actor)``, so a municipality outside the caller's jurisdiction lists nothing."""

from __future__ import annotations

from regula.db.listing import ListingError
from regula.territory.reference import territory


def municipality_filter(raw: str | None, parameter: str) -> str | None:
    """The 7-digit IBGE code of a municipality given with 6 or 7 digits; None when not asked."""
    if raw in (None, ""):
        return None
    found = territory().find(raw.strip()) if len(raw) <= 7 else None
    if found is None:
        raise ListingError.of(parameter, "municipio_desconhecido", f"Município desconhecido: “{raw[:20]}”.")
    return found.ibge_code


def region_filter(raw: str | None, parameter: str) -> tuple[str, ...] | None:
    """The IBGE codes of a health region's municipalities; None when not asked."""
    if raw in (None, ""):
        return None
    t = territory()
    if len(raw) > 5 or t.health_region(raw) is None:
        raise ListingError.of(parameter, "regiao_desconhecida", f"Região de saúde desconhecida: “{raw[:20]}”.")
    return tuple(m.ibge_code for m in t.all() if m.health_region_code == raw)
