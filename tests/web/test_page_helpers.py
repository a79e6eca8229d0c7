"""Small pieces the pages rely on: the rate limiter, the tM clock, Brazilian formats, the navigation bar."""

from __future__ import annotations

from datetime import date

from regula.access.policy import Jurisdiction, Role
from regula.access.service import Principal
from regula.core.ratelimit import TokenBucket
from regula.web import common
from regula.web.nav import nav_current, nav_items


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_allows_a_burst_then_refills() -> None:
    clock = Clock()
    bucket = TokenBucket(capacity=3, period=60.0, clock=clock)
    assert [bucket.take("1.2.3.4") for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = bucket.take("1.2.3.4")
    assert wait == 20.0  # one token every 20 s
    assert bucket.take("5.6.7.8") == 0.0  # another address has its own bucket
    clock.now = 20.0
    assert bucket.take("1.2.3.4") == 0.0
    assert bucket.take("1.2.3.4") > 0


def test_tm_clock_levels() -> None:
    assert common.tm_clock(None, 60) is None
    assert common.tm_clock(10, 60) == {"days": 10, "max_days": 60, "percent": 17, "bar": 17, "level": "ok"}
    assert common.tm_clock(40, 60)["level"] == "atencao"  # type: ignore[index]
    assert common.tm_clock(45, 60)["level"] == "alerta"  # type: ignore[index]  # 75%: navigators step in
    late = common.tm_clock(90, 60)
    assert late is not None and late["level"] == "vencido" and late["bar"] == 100 and late["percent"] == 150


def test_brazilian_formats() -> None:
    assert common.fmt_int(1234567) == "1.234.567"
    assert common.fmt_decimal(1234.5) == "1.234,5"
    assert common.fmt_date(date(2026, 3, 9)) == "09/03/2026"
    assert common.parse_date_br("09/03/2026") == date(2026, 3, 9)
    assert common.parse_date_br("2026-03-09") == date(2026, 3, 9)
    assert common.parse_date_br("31/02/2026") is None
    assert common.fmt_phone("+5548999887766") == "(48) 99988-7766"
    assert common.short_oci_name("OCI AVALIAÇÃO CARDIOLÓGICA") == "AVALIAÇÃO CARDIOLÓGICA"
    assert common.readable_oci_name("OCI - GIN1 - AVALIAÇÃO DA MULHER") == "GIN1 - avaliação da mulher"
    assert common.jurisdiction_label("region:42007") == "Região Grande Florianópolis"
    assert common.jurisdiction_label("municipality:4205407") == "Florianópolis/SC"
    assert common.jurisdiction_label("uf:SC") == "Santa Catarina"


def _user(role: Role) -> Principal:
    return Principal(1, "x", "X", role, Jurisdiction.parse("uf:SC"), "session")


def test_navigation_per_role_and_current_page() -> None:
    assert [i.href for i in nav_items(_user(Role.SOLICITANTE))] == [
        "/aps",
        "/aps/encaminhar",
        "/importar",
        "/aps/contrarreferencias",
    ]
    assert "/navegacao" in [i.href for i in nav_items(_user(Role.NAVEGADOR))]
    assert nav_items(None) == ()
    aps = nav_items(_user(Role.SOLICITANTE))
    assert nav_current(aps, "/aps/encaminhar") == "/aps/encaminhar"
    assert nav_current(aps, "/aps/encaminhamentos/3") == "/aps"
    assert nav_current(aps, "/aps/contrarreferencias/5") == "/aps/contrarreferencias"
    reg = nav_items(_user(Role.REGULADOR))
    assert nav_current(reg, "/regulacao/alocacoes/12") == "/regulacao/alocacoes"


def test_readable_oci_names_keep_their_roman_numerals() -> None:
    """QA walk: /transparencia listed "câncer de mama - i" and "colo do útero-ii"; SIGTAP's stage numerals stay
    upper case, and the words around them still read in lower case."""
    assert common.readable_oci_name("OCI PROGRESSÃO DA AVALIAÇÃO DIAGNÓSTICA DE CÂNCER DE MAMA - I") == (
        "Progressão da avaliação diagnóstica de câncer de mama - I"
    )
    assert common.readable_oci_name("OCI AVALIAÇÃO DIAGNÓSTICA E TERAPÊUTICA DE CÂNCER DE COLO DO ÚTERO-II") == (
        "Avaliação diagnóstica e terapêutica de câncer de colo do útero-II"
    )
    assert common.readable_oci_name("OCI PROGRESSÃO DA AVALIAÇÃO DIAGNÓSTICA I - SÍNDROME CORONARIANA CRÔNICA") == (
        "Progressão da avaliação diagnóstica I - síndrome coronariana crônica"
    )
    assert common.readable_oci_name("OCI AVALIAÇÃO DE RISCO CIRÚRGICO") == "Avaliação de risco cirúrgico"
