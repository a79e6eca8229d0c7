"""What templates may call: Brazilian formats for numbers and dates, the labels people read, the navigation bar."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any
from urllib.parse import urlencode

from litestar.plugins.jinja import JinjaTemplateEngine
from markupsafe import Markup, escape

from regula import __version__
from regula.access.policy import ROLE_LABELS_PT
from regula.access.service import Principal
from regula.config import Settings
from regula.web import common
from regula.web.forms import REGISTRY
from regula.web.nav import nav_current, nav_items

WEEKDAYS_PT = ("segunda-feira", "terça-feira", "quarta-feira", "quinta-feira", "sexta-feira", "sábado", "domingo")

REASON_LABELS_PT = {
    "devolvida": "Pendência para a APS (o que falta no encaminhamento)",
    "negada": "Motivo da negativa",
}


def _query(values: Mapping[str, Any], **changes: Any) -> str:
    merged = {**values, **changes}
    return urlencode({k: v for k, v in merged.items() if v not in (None, "")})


def _form_spec(name: str) -> Any:
    return REGISTRY[name]  # the page modules register their forms when they are imported


def _aria(errors: Mapping[str, str], name: str, hint: bool = False) -> Markup:
    """``aria-describedby`` (the hint and the error shown next to the field) and ``aria-invalid``."""
    ids = ([f"dica-{name}"] if hint else []) + ([f"erro-{name}"] if errors.get(name) else [])
    out = f' aria-describedby="{escape(" ".join(ids))}"' if ids else ""
    if errors.get(name):
        out += ' aria-invalid="true"'
    return Markup(out)  # noqa: S704 - built from escaped ids


def _role_label(user: Principal) -> str:
    return ROLE_LABELS_PT.get(user.role, user.role.value)


def configure(engine: JinjaTemplateEngine, settings: Settings) -> None:
    env = engine.engine
    tz = settings.timezone

    def datetime_br(value: datetime | None) -> str:
        return common.fmt_datetime(value, tz)

    def date_br(value: date | datetime | None) -> str:
        if isinstance(value, datetime):
            return common.fmt_datetime(value, tz)[:10]
        return common.fmt_date(value)

    env.filters.update(
        {
            "data": date_br,
            "data_hora": datetime_br,
            "inteiro": common.fmt_int,
            "decimal": common.fmt_decimal,
            "query": _query,
            "data_iso": lambda v: common.fmt_date(common.parse_date_br(str(v))) if v else "—",
            "dia_semana": lambda v: WEEKDAYS_PT[v.weekday()],
            "municipio": common.municipality_label,
            "oci_curta": common.short_oci_name,
            "telefone": common.fmt_phone,
        }
    )
    env.globals.update(
        {
            "version": __version__,
            "nav_items": nav_items,
            "nav_current": nav_current,
            "role_label": _role_label,
            "jurisdiction_label": common.jurisdiction_label,
            "risk_label": lambda v: common.RISK_LABELS_PT.get(v, v),
            "status_label": common.status_label,
            "scope_label": common.scope_label,
            "score_components": common.SCORE_COMPONENT_LABELS_PT,
            "reason_label": lambda target: REASON_LABELS_PT.get(target, "Motivo"),
            "aria": _aria,
            "sex_label": lambda v: common.SEX_LABELS_PT.get(v, v),
            "race_label": lambda v: common.RACE_LABELS_PT.get(v, v),
            # A page form's field limits (regula.web.forms.REGISTRY): form_spec("login").attrs("username").
            "form_spec": _form_spec,
        }
    )
