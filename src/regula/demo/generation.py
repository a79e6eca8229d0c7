"""Generation of the demonstration data: Santa Catarina's regulation center as it looks on a given morning.

Pure: from a seed, a calendar day and what the database already holds (the catalog, the queue scopes of the health
regions, the documents and protocols already taken) it draws the citizens, eighteen months of referrals and the
workflow each went through (with its full history), the weekly capacities and the bookings, and gives the rows to
write. Nothing here touches the database: ``regula.demo.loading`` reads those inputs, assigns ids, scores the
waiting entries and writes the rows. Everything is drawn from one ``random.Random(seed)``: the same seed on the
same day gives the same data (dates are relative to the day, so they move with the calendar).

Nothing here is real: the people, their documents (valid check digits, never issued), the health units' CNES
numbers and the provider accounts are invented. The places (IBGE municipalities, health regions, macro-regions)
and the catalog are the real reference data.
"""

from __future__ import annotations

import json
import math
import operator
import random
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import accumulate
from typing import Any, Final, Generic, TypeVar
from zoneinfo import ZoneInfo

from regula.catalog.protocols import (
    STARTING_CHECKLISTS,
    STARTING_DEFAULT_CHECKLIST,
    Protocol,
    default_protocol,
    starting_protocol,
)
from regula.catalog.schemas import OciSummary
from regula.config import Settings
from regula.demo import names
from regula.demo import providers as demo_providers
from regula.people import documents
from regula.territory.reference import HealthRegion, Municipality, search_key, territory
from regula.waitlist import measures, service
from regula.waitlist.states import CLOCK_PAUSED_STATUSES, CancelReason, EntryStatus, SuspendReason

DEMO_SOURCE: Final = "demo"
UF: Final = "SC"


class Status:
    """The statuses as plain strings: enum members cost a descriptor call per access in the generator's loop."""

    AGUARDANDO_TELECONSULTA: Final = EntryStatus.AGUARDANDO_TELECONSULTA.value
    SOLICITADA: Final = EntryStatus.SOLICITADA.value
    EM_ANALISE: Final = EntryStatus.EM_ANALISE.value
    DEVOLVIDA: Final = EntryStatus.DEVOLVIDA.value
    NEGADA: Final = EntryStatus.NEGADA.value
    AUTORIZADA: Final = EntryStatus.AUTORIZADA.value
    AGENDADA: Final = EntryStatus.AGENDADA.value
    CONFIRMADA: Final = EntryStatus.CONFIRMADA.value
    EM_ATENDIMENTO: Final = EntryStatus.EM_ATENDIMENTO.value
    CONCLUIDA: Final = EntryStatus.CONCLUIDA.value
    FALTOU: Final = EntryStatus.FALTOU.value
    CANCELADA: Final = EntryStatus.CANCELADA.value
    SUSPENSA: Final = EntryStatus.SUSPENSA.value
    TRANSFERIDA: Final = EntryStatus.TRANSFERIDA.value


_PAUSED: Final = frozenset(s.value for s in CLOCK_PAUSED_STATUSES)
Actor = tuple[str, str]  # (username, role) as recorded in the entry's history
T = TypeVar("T")


class DemoRandom(random.Random):
    """``random.Random`` with ``randrange(n)`` and ``choice`` drawn straight from ``random()``: three times faster
    than the exact rejection sampling of the base class, which matters for the ~2 million draws of a demo (the
    CPF and CNS generators draw digit by digit); the bias, below 2**-40, does not matter for invented data."""

    def randrange(self, start: int, stop: int | None = None, step: int = 1) -> int:
        if stop is None and start > 0:
            return int(self.random() * start)
        return super().randrange(start, stop, step)

    def choice(self, seq: Sequence[T]) -> T:  # type: ignore[override]
        return seq[int(self.random() * len(seq))]


class _Weighted(Generic[T]):
    """Items with weights, drawn like ``random.choices`` but with the cumulative weights computed once."""

    __slots__ = ("cum", "items", "total")

    def __init__(self, pairs: Iterable[tuple[T, float]]) -> None:
        listed = list(pairs)
        self.items = [item for item, _ in listed]
        self.cum = list(accumulate(weight for _, weight in listed))
        self.total = self.cum[-1]

    def pick(self, rng: random.Random) -> T:
        return self.items[bisect_right(self.cum, rng.random() * self.total)]


# Demo users of regula.seed.DEMO_USERS, and the automatic actor.
REGULADOR: Final[Actor] = ("regulador", "regulador")
NAVEGADORA: Final[Actor] = ("navegadora", "navegador")
SISTEMA: Final[Actor] = ("sistema", "sistema")
UBS_CENTRO: Final[Actor] = ("ubs.centro", "solicitante")
# Only the teleconsultor's answer moves a referral out of aguardando_teleconsulta (art. 10 §3 I; decision 21).
TELECONSULTORA: Final[Actor] = ("teleconsultora", "teleconsultor")
FLORIANOPOLIS: Final = "4205407"


# -- the people -------------------------------------------------------------------------------------------------

# Race/color of the non-indigenous-land population, close to IBGE Censo 2022 for SC (branca ~76 %, parda ~19 %,
# preta ~4 %, amarela and indígena ~0.3 % each), with a little "sem informação" as real registries have.
RACE_WEIGHTS: Final[dict[str, float]] = {
    "branca": 75.5,
    "parda": 19.0,
    "preta": 4.1,
    "amarela": 0.3,
    "indigena": 0.3,
    "sem_informacao": 0.8,
}
# Besides those, 0.4 % of the citizens are indigenous people of the villages of SC's indigenous lands, identified
# only by the CNS (Portaria SAES, art. 11), drawn over these municipalities (weights ~ the lands' population):
# TI Xapecó (Kaingang) in Ipuaçu and Entre Rios, TI Ibirama-La Klãnõ (Laklãnõ-Xokleng) in José Boiteux, Vitor
# Meireles and Doutor Pedrinho, Toldo Chimbangue in Chapecó, Kaingang lands of Abelardo Luz, Guarani villages of
# Palhoça (Morro dos Cavalos) and Biguaçu (M'Biguaçu).
INDIGENOUS_SHARE: Final = 0.004
INDIGENOUS_MUNICIPALITIES: Final[dict[str, float]] = {
    "4207684": 30,  # Ipuaçu
    "4205175": 14,  # Entre Rios
    "4209151": 20,  # José Boiteux
    "4219358": 8,  # Vitor Meireles
    "4205159": 3,  # Doutor Pedrinho
    "4204202": 8,  # Chapecó
    "4200101": 6,  # Abelardo Luz
    "4211900": 5,  # Palhoça
    "4202305": 4,  # Biguaçu
}

# Age bands (years, inclusive) of people referred to specialized care: mostly adults of 40 to 80.
AGE_BANDS: Final[tuple[tuple[int, int, float], ...]] = (
    (0, 8, 6.0),
    (9, 17, 5.0),
    (18, 29, 8.0),
    (30, 39, 10.0),
    (40, 49, 14.0),
    (50, 59, 19.0),
    (60, 69, 19.0),
    (70, 79, 13.0),
    (80, 89, 5.0),
    (90, 99, 1.0),
)

# Mobile area codes (DDD) approximated by macro-region: 48 for Grande Florianópolis and the Sul, 47 for the Norte,
# Nordeste and the Itajaí valleys, 49 for the Oeste, Meio-Oeste and Serra. (The real DDD borders do not follow the
# macro-regions exactly: e.g. part of the Planalto Norte dials 47 and part 42.)
DDD_BY_MACRO: Final[dict[str, str]] = {
    "4210": "48",  # Sul
    "4211": "47",  # Planalto Norte e Nordeste
    "4212": "49",  # Meio Oeste e Serra Catarinense
    "4213": "49",  # Grande Oeste
    "4214": "48",  # Grande Florianópolis
    "4215": "47",  # Foz do Rio Itajaí
    "4216": "47",  # Alto Vale do Itajaí
}

# How many referrals a citizen had in the period (mean ~1.7).
REFERRALS_PER_CITIZEN: Final[tuple[tuple[int, float], ...]] = ((1, 0.55), (2, 0.27), (3, 0.12), (4, 0.06))


# -- the referrals ----------------------------------------------------------------------------------------------

# Relative referral volume per OCI: cardiology, ophthalmology and orthopedics fill most regulation queues;
# oncology progressions and rare ophthalmology are a small share. OCIs not listed (a future catalog) weigh 1.
OCI_WEIGHTS: Final[dict[str, float]] = {
    "0901010014": 3.0,  # câncer de mama, inicial
    "0901010049": 0.8,  # câncer de próstata, progressão
    "0901010057": 1.2,  # câncer de colo do útero, investigação
    "0901010073": 1.0,  # câncer gástrico
    "0901010081": 1.0,  # câncer colorretal
    "0901010090": 0.6,  # mama, progressão I
    "0901010103": 0.3,  # mama, progressão II
    "0901010111": 0.4,  # colo do útero I
    "0901010120": 0.2,  # colo do útero II
    "0902010018": 6.0,  # risco cirúrgico
    "0902010026": 10.0,  # avaliação cardiológica
    "0902010034": 5.0,  # síndrome coronariana crônica, inicial
    "0902010042": 1.5,  # SCC progressão I
    "0902010050": 0.8,  # SCC progressão II
    "0902010069": 3.0,  # insuficiência cardíaca
    "0903010011": 10.0,  # ortopedia com radiologia
    "0903010020": 6.0,  # ortopedia com ultrassonografia
    "0903010038": 3.0,  # ortopedia com tomografia
    "0903010046": 5.0,  # ortopedia com ressonância
    "0904010015": 3.0,  # déficit auditivo, inicial
    "0904010023": 1.0,  # déficit auditivo, progressão
    "0904010031": 2.0,  # nasofaringe e orofaringe
    "0905010019": 2.5,  # oftalmologia 0 a 8 anos
    "0905010027": 1.0,  # estrabismo
    "0905010035": 12.0,  # oftalmologia a partir de 9 anos
    "0905010043": 5.0,  # retinopatia diabética
    "0905010051": 0.2,  # oncologia oftalmológica
    "0905010060": 0.8,  # neuro-oftalmologia
    "0905010078": 0.4,  # exames sob sedação
    "0906010012": 4.0,  # GIN1 I
    "0906010020": 2.0,  # GIN1 II
    "0906010039": 1.5,  # GIN2 I
    "0906010047": 1.0,  # GIN2 II
    "0906010055": 0.4,  # GIN3 endometriose
}
ONCOLOGY: Final = "0901"
BREAST_OCIS: Final = frozenset({"0901010014", "0901010090", "0901010103"})
CERVIX_OCIS: Final = frozenset({"0901010057", "0901010111", "0901010120"})
WOMEN_SUBGROUPS: Final = frozenset({"0906"})  # gynecology: SIGTAP sets no sex, the demo refers women only

RISK_CLASSES: Final = ("vermelho", "amarelo", "verde", "azul")
RISK_WEIGHTS: Final = (5.0, 25.0, 50.0, 20.0)
RISK_WEIGHTS_ONCOLOGY: Final = (25.0, 45.0, 25.0, 5.0)

# CID-10 categories seen most in referrals; drawn six times as often as the others an OCI accepts.
COMMON_CID_CATEGORIES: Final = frozenset(
    {
        "I10", "I11", "I20", "I25", "I48", "I50", "Z13", "M16", "M17", "M19", "M23", "M25", "M51", "M54", "M75",
        "H25", "H26", "H36", "H40", "H50", "H52", "H90", "H91", "H66", "J34", "J35", "N92", "N93", "D25", "N80",
        "N60", "N63", "C50", "N40", "N87", "K21", "K29", "D12", "K62",
    }
)  # fmt: skip

JUSTIFICATIONS: Final[dict[tuple[str, str], tuple[str, ...]]] = {
    ("0901", "vermelho"): (
        "Lesão suspeita de malignidade em exame de imagem; investigação diagnóstica prioritária.",
        "Nódulo palpável de crescimento rápido, com linfonodo regional aumentado.",
    ),
    ("0901", "amarelo"): (
        "Achado suspeito em exame de rastreamento; necessita confirmação diagnóstica.",
        "Sintomas persistentes há mais de três semanas, sem melhora com o tratamento inicial.",
    ),
    ("0901", "verde"): (
        "Alteração de baixo risco em exame de rastreamento; seguimento diagnóstico conforme protocolo.",
        "Lesão de aspecto provavelmente benigno, com indicação de investigação complementar.",
    ),
    ("0901", "azul"): ("Controle diagnóstico de lesão estável, sem sinais de alarme.",),
    ("0902", "vermelho"): (
        "Angina aos pequenos esforços com piora recente; ECG com alteração isquêmica.",
        "Dispneia progressiva com sinais de insuficiência cardíaca.",
    ),
    ("0902", "amarelo"): (
        "Dor torácica típica aos médios esforços; múltiplos fatores de risco cardiovascular.",
        "Hipertensão de difícil controle com sinais de lesão de órgão-alvo.",
    ),
    ("0902", "verde"): (
        "Avaliação cardiológica para acompanhamento de hipertensão e dislipidemia.",
        "Avaliação de risco cirúrgico para procedimento eletivo.",
    ),
    ("0902", "azul"): ("Paciente assintomático; avaliação cardiológica de rotina solicitada pela APS.",),
    ("0903", "vermelho"): ("Dor intensa com limitação funcional grave e suspeita de lesão óssea.",),
    ("0903", "amarelo"): (
        "Dor articular com limitação funcional progressiva, sem resposta a seis semanas de tratamento conservador.",
        "Lombalgia com irradiação e perda de força em membro inferior.",
    ),
    ("0903", "verde"): (
        "Gonartrose com dor crônica e limitação para as atividades diárias.",
        "Dor no ombro há mais de três meses, com limitação de movimento.",
    ),
    ("0903", "azul"): ("Dor articular leve e estável, para definição diagnóstica.",),
    ("0904", "vermelho"): ("Perda auditiva súbita há menos de 30 dias.",),
    ("0904", "amarelo"): (
        "Perda auditiva progressiva com prejuízo na comunicação, no trabalho ou na escola.",
        "Obstrução nasal persistente com roncos e apneias observadas.",
    ),
    ("0904", "verde"): (
        "Hipoacusia referida, sem outros sintomas; avaliação diagnóstica.",
        "Otites de repetição no último ano.",
    ),
    ("0904", "azul"): ("Zumbido crônico estável, sem perda auditiva referida.",),
    ("0905", "vermelho"): ("Baixa de acuidade visual súbita; necessita avaliação especializada prioritária.",),
    ("0905", "amarelo"): (
        "Diabetes há mais de dez anos sem avaliação de fundo de olho; baixa visual progressiva.",
        "Suspeita de glaucoma: pressão intraocular elevada na triagem.",
    ),
    ("0905", "verde"): (
        "Baixa de acuidade visual para longe e para perto; avaliação oftalmológica.",
        "Catarata com prejuízo nas atividades diárias.",
    ),
    ("0905", "azul"): ("Avaliação oftalmológica de rotina, sem queixa de baixa visual.",),
    ("0906", "vermelho"): ("Sangramento uterino aumentado com anemia (hemoglobina abaixo de 9 g/dL).",),
    ("0906", "amarelo"): (
        "Sangramento uterino anormal há mais de três meses, sem resposta ao tratamento clínico.",
        "Dor pélvica crônica com suspeita de endometriose.",
    ),
    ("0906", "verde"): (
        "Mioma uterino em ultrassonografia, com sintomas leves.",
        "Alteração em exame ginecológico de rotina; investigação diagnóstica.",
    ),
    ("0906", "azul"): ("Acompanhamento ginecológico de alteração benigna estável.",),
}
GENERIC_JUSTIFICATION: Final = "Encaminhamento conforme o protocolo de acesso da OCI; quadro descrito no prontuário."


def answered_checklist(protocol: Protocol) -> dict[str, bool]:
    """The demo's APS teams confirm every item of the OCI's protocol in force (decision 0020)."""
    return {item.key: True for item in protocol.checklist}


# The starting protocols' answers by subgroup; referrals of the demo answer the protocol in force instead
# (``answered_checklist(catalog.protocols[code])``), which is the same until a manager writes a new version.
CHECKLISTS: Final[dict[str, dict[str, bool]]] = {
    subgroup: dict.fromkeys((key for key, _ in items), True) for subgroup, items in STARTING_CHECKLISTS.items()
}
DEFAULT_CHECKLIST: Final[dict[str, bool]] = dict.fromkeys((key for key, _ in STARTING_DEFAULT_CHECKLIST), True)

# Free texts of the workflow (what regulators and navigators write).
RETURN_TEXTS: Final = (
    "Anexar resultado de exame recente (até seis meses).",
    "Descrever o exame físico e a evolução dos sintomas.",
    "Informar as medicações em uso e o tratamento conservador já realizado.",
    "Justificativa da classificação de risco insuficiente; detalhar o quadro clínico.",
    "Anexar o laudo do exame de imagem citado no encaminhamento.",
)
# A returned referral is resubmitted only with the answer to its pendência (Portaria GM/MS 3.492/2024, art. 10 §1 V;
# the rule of waitlist.states): every answer has a text.
ANSWER_TEXTS: Final = (
    "Pendência respondida: exame anexado.",
    "Pendência respondida: quadro clínico detalhado.",
    "Pendência respondida: medicações e tratamento conservador informados.",
)
DENY_TEXTS: Final = (
    "Não preenche os critérios do protocolo de acesso: falta exame prévio obrigatório.",
    "Indicação não compatível com a OCI solicitada; reencaminhar para consulta especializada.",
    "Caso resolvido com os exames já realizados na APS, conforme parecer da regulação.",
)
CANCEL_OTHER_TEXTS: Final = (
    "Paciente realizou o procedimento na rede privada.",
    "Mudança de domicílio para outro estado.",
)
SUSPEND_OTHER_TEXTS: Final = (
    "Paciente internado; aguardar a alta hospitalar.",
    "Em tratamento de outra condição; retomar após reavaliação.",
)

# Mean wait in the queue (days from authorization to a slot) of a "verde" referral, by OCI subgroup, and the
# factor of each risk class: what gives the thousands of people waiting a real center has.
WAIT_DAYS_VERDE: Final[dict[str, float]] = {
    "0901": 30,
    "0902": 85,
    "0903": 150,
    "0904": 110,
    "0905": 140,
    "0906": 90,
}
WAIT_RISK_FACTOR: Final[dict[str, float]] = {"vermelho": 0.12, "amarelo": 0.4, "verde": 1.0, "azul": 1.5}
# Weekly capacity is sized so that the last one in a queue waits this many weeks (min, max), by subgroup.
CAPACITY_WEEKS: Final[dict[str, tuple[float, float]]] = {
    "0901": (3, 8),
    "0902": (8, 20),
    "0903": (14, 36),
    "0904": (10, 24),
    "0905": (12, 32),
    "0906": (8, 20),
}

# The health regions whose PAR regulates at the macro-region: the three regions of the Sul share one queue per OCI.
MACRO_SCOPE_MACROS: Final = frozenset({"4210"})

# The entries the README and the browser tests rely on (their protocols never change).
EXAMPLE_PROTOCOLS: Final = ("SC2600000001", "SC2600000002", "SC2600000003", "SC2600000004")


_AGES: Final = _Weighted(((low, high), weight) for low, high, weight in AGE_BANDS)
_VILLAGES: Final = _Weighted(INDIGENOUS_MUNICIPALITIES.items())
_RACES: Final = _Weighted(RACE_WEIGHTS.items())
_CHANNELS: Final = _Weighted((("whatsapp", 62.0), ("sms", 33.0), ("nenhum", 5.0)))
_REFERRAL_COUNTS: Final = _Weighted(REFERRALS_PER_CITIZEN)
_RISKS: Final = _Weighted(zip(RISK_CLASSES, RISK_WEIGHTS, strict=True))
_RISKS_ONCOLOGY: Final = _Weighted(zip(RISK_CLASSES, RISK_WEIGHTS_ONCOLOGY, strict=True))
# Why people leave the queue while waiting, and who records it.
_WAITING_CANCELS: Final = _Weighted(
    (
        ((CancelReason.DESISTENCIA, NAVEGADORA), 35.0),
        ((CancelReason.SEM_CONTATO, NAVEGADORA), 30.0),
        ((CancelReason.RESOLVIDO_NA_APS, REGULADOR), 15.0),
        ((CancelReason.OBITO, NAVEGADORA), 8.0),
        ((CancelReason.DUPLICIDADE, REGULADOR), 4.0),
        ((CancelReason.OUTRO, REGULADOR), 8.0),
    )
)
_SUSPENDED_CANCELS: Final = _Weighted(
    ((CancelReason.DESISTENCIA, 6.0), (CancelReason.OBITO, 2.0), (CancelReason.OUTRO, 2.0))
)
_SUSPENSIONS: Final = _Weighted(
    (
        (SuspendReason.CLINICAMENTE_NAO_APTO, 5.0),
        (SuspendReason.ADIAMENTO_PELO_PACIENTE, 4.0),
        (SuspendReason.OUTRO, 1.0),
    )
)


# -- time -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Clock:
    """Times are floats, days relative to today's local midnight (0): every event happened before this morning.
    Brazil has had no daylight saving time since 2019, so a local day is a fixed 24 h after the anchor."""

    today: date
    anchor: datetime  # today's local midnight, in UTC
    weekday: int

    @classmethod
    def of(cls, settings: Settings, today: date | None = None) -> Clock:
        """The demo's calendar: today's (the default, so the demo looks live) or a given day (tests pin one, so
        the data are the same whatever day they run)."""
        today = today if today is not None else service.local_today(settings)
        midnight = datetime(today.year, today.month, today.day, tzinfo=ZoneInfo(settings.timezone))
        return cls(today, midnight.astimezone(UTC), today.weekday())

    def at(self, t: float) -> datetime:
        return self.anchor + timedelta(days=t)

    def day(self, t: float) -> date:
        return self.today + timedelta(days=math.floor(t))

    @property
    def now(self) -> datetime:
        """The moment the data are written as of: the real time on the demo's own day, its evening otherwise."""
        real = datetime.now(UTC)
        return real if self.anchor <= real < self.anchor + timedelta(days=1) else self.anchor + timedelta(hours=20)


# -- what is generated ------------------------------------------------------------------------------------------

Event = tuple[float, str, str | None, str | None, str | None, str | None, str, str, str | None]


@dataclass(slots=True)
class _Person:
    cpf: str | None
    cns: str | None
    name: str
    social_name: str | None
    birth: date
    sex: str
    race: str
    place: Municipality
    phone: str | None
    channel: str
    consent: bool
    pregnant: bool
    disability: bool
    autism: bool
    cadunico: bool
    vulnerability: Decimal | None
    created_t: float = 0.0
    id: int = 0


@dataclass(slots=True)
class _Entry:
    person: _Person
    oci: OciSummary
    cid: str
    risk: str
    justification: str
    requested_t: float
    protocol: str
    scope_kind: str
    scope_code: str
    requester: Actor
    provider: tuple[Actor, str]  # the executante account and the provider's name
    professional_cns: str
    status: str = ""
    status_t: float = 0.0
    authorized_t: float | None = None
    suspended_days: int = 0
    paused_t: float | None = None
    events: list[Event] = field(default_factory=list)
    score: int | None = None
    policy_id: int | None = None
    appointment: tuple[str, float] | None = None  # the latest appointment: CNES and time (days after today)
    id: int = 0


@dataclass(frozen=True)
class _ExampleSpec:
    protocol: str
    name: str
    sex: str
    birth: date
    municipality: str
    oci: str
    risk: str
    race: str
    cns_only: bool
    story: str  # autorizada | agendada | devolvida
    days_ago: float
    hint: str


EXAMPLES: Final[tuple[_ExampleSpec, ...]] = (
    _ExampleSpec(
        protocol="SC2600000001",
        name="Maria Aparecida da Silva",
        sex="F",
        birth=date(1958, 3, 14),
        municipality=FLORIANOPOLIS,
        oci="0902010026",  # avaliação cardiológica
        risk="amarelo",
        race="branca",
        cns_only=False,
        story="autorizada",
        days_ago=44,
        hint="Consulta pública da posição: protocolo SC2600000001 e nascimento 14/03/1958.",
    ),
    _ExampleSpec(
        protocol="SC2600000002",
        name="João Carlos Pereira",
        sex="M",
        birth=date(1951, 9, 2),
        municipality="4209102",  # Joinville
        oci="0903010046",  # ortopedia com ressonância
        risk="verde",
        race="parda",
        cns_only=False,
        story="agendada",
        days_ago=150,
        hint="Agendada, aguardando a confirmação do cidadão (navegadora).",
    ),
    _ExampleSpec(
        protocol="SC2600000003",
        name="Ana Paula de Souza",
        sex="F",
        birth=date(1979, 6, 21),
        municipality=FLORIANOPOLIS,
        oci="0903010011",  # ortopedia com radiologia
        risk="verde",
        race="preta",
        cns_only=False,
        story="devolvida",
        days_ago=9,
        hint="Devolvida à UBS com pendência: responda como ubs.centro.",
    ),
    _ExampleSpec(
        protocol="SC2600000004",
        name="Jaciara Priprá",
        sex="F",
        birth=date(1987, 11, 5),
        municipality="4209151",  # José Boiteux, TI Ibirama-La Klãnõ
        oci="0905010035",  # oftalmologia a partir de 9 anos
        risk="verde",
        race="indigena",
        cns_only=True,
        story="autorizada",
        days_ago=63,
        hint="Cidadã indígena identificada só pelo CNS, na fila de oftalmologia.",
    ),
)


# -- the generator ----------------------------------------------------------------------------------------------


def _months_between(birth: date, on: date) -> int:
    months = (on.year - birth.year) * 12 + on.month - birth.month
    return months - (on.day < birth.day)


def years_old(birth: date, on: date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def _age_band(age: int) -> int:
    return 0 if age < 18 else 1 if age < 30 else 2 if age < 45 else 3 if age < 60 else 4


def _age_sex_factor(oci: OciSummary, sex: str, band: int) -> float:
    """How much more (or less) likely this OCI is for this sex and age band (0: <18, 1: 18-29, 2: 30-44,
    3: 45-59, 4: 60+), on top of the catalog's own sex and age limits."""
    if oci.subgroup in WOMEN_SUBGROUPS:
        return 0.0 if sex == "M" else (0.2, 1.0, 1.2, 1.0, 0.4)[band]
    if oci.code in BREAST_OCIS and sex == "M":
        return 0.01
    if oci.code in CERVIX_OCIS:
        return (0.0, 0.8, 1.2, 1.0, 0.5)[band]
    if oci.subgroup == ONCOLOGY:
        return (0.05, 0.2, 0.6, 1.2, 1.4)[band]
    if oci.subgroup == "0902":
        return (0.1, 0.2, 0.6, 1.1, 1.6)[band]
    if oci.code == "0905010043":  # diabetic retinopathy
        return (0.05, 0.2, 0.6, 1.3, 1.5)[band]
    if oci.subgroup == "0903":
        return (0.4, 0.8, 1.0, 1.3, 1.2)[band]
    if oci.subgroup == "0905":
        return (1.0, 0.6, 0.7, 1.1, 1.5)[band]
    return 1.0


class Generator:
    def __init__(
        self,
        rng: random.Random,
        clock: Clock,
        ocis: Sequence[OciSummary],
        competencia: str,
        scope_kinds: dict[str, str],
        teleconsult_first: frozenset[str],
        taken_cpfs: set[str],
        taken_cns: set[str],
        taken_protocols: set[str],
        referral_protocols: dict[str, Protocol] | None = None,
    ) -> None:
        self.rng = rng
        self.clock = clock
        self.ocis = list(ocis)
        self.competencia = competencia
        self.scope_kinds = scope_kinds
        self.teleconsult_first = teleconsult_first
        self.cpfs = taken_cpfs
        self.cns = taken_cns
        self.protocols = taken_protocols | set(EXAMPLE_PROTOCOLS)
        # Each OCI's referral protocol in force (waitlist.service.Catalog.protocols); without them, each OCI's
        # starting protocol (version 1, what `regula seed` stores).
        self.referral_protocols = referral_protocols
        self.sc = list(territory().by_uf(UF))
        self.sc_cum = list(accumulate(m.population for m in self.sc))
        self.weights = [OCI_WEIGHTS.get(o.code, 1.0) for o in self.ocis]
        self.min_steps = sorted({o.age_min_months or 0 for o in self.ocis})
        self.max_steps = sorted({o.age_max_months for o in self.ocis if o.age_max_months is not None})
        self._choices: dict[tuple[str, int, int, int], tuple[list[OciSummary], list[float]]] = {}
        self._professionals: dict[str, list[str]] = {}
        self._cids: dict[str, _Weighted[str]] = {}
        self._providers: dict[str, tuple[Actor, str]] = {}
        self._wait_factor: dict[str, float] = {}
        self.network: demo_providers.Network | None = None
        self.people: list[_Person] = []
        self.entries: list[_Entry] = []
        self.window = 0.0

    # -- documents and contact ---------------------------------------------------------------------------------

    def _cpf(self) -> str:
        while True:
            cpf = documents.generate_cpf(self.rng)
            if cpf not in self.cpfs:
                self.cpfs.add(cpf)
                return cpf

    def _cns(self) -> str:
        while True:
            cns = documents.generate_cns(self.rng, "definitivo" if self.rng.random() < 0.9 else "provisorio")
            if cns not in self.cns:
                self.cns.add(cns)
                return cns

    def _protocol(self, t: float) -> str:
        year = self.clock.day(t).year % 100
        while True:
            protocol = f"{UF}{year:02d}{self.rng.randrange(10**8):08d}"
            if protocol not in self.protocols:
                self.protocols.add(protocol)
                return protocol

    def _phone(self, place: Municipality) -> str:
        ddd = DDD_BY_MACRO.get(place.macro_code, "48")
        return f"+55{ddd}9{self.rng.choice('6789')}{self.rng.randrange(10**7):07d}"

    @staticmethod
    def cnes(place: Municipality) -> str:
        # Fictitious CNES of "the" UBS of each municipality: 9 and the 6-digit IBGE code (real CNES numbers are
        # assigned by DATASUS; these only need to be 7 digits, stable and recognizable).
        return f"9{place.ibge_code6}"

    def _professional(self, place: Municipality) -> str:
        pool = self._professionals.get(place.ibge_code)
        if pool is None:
            pool = [documents.generate_cns(self.rng) for _ in range(1 + min(4, place.population // 150_000))]
            self._professionals[place.ibge_code] = pool
        return self.rng.choice(pool)

    # -- names -------------------------------------------------------------------------------------------------

    def _surnames(self, indigenous: bool = False) -> str:
        rng = self.rng
        if indigenous:
            return rng.choice(names.INDIGENOUS_SURNAMES)
        last = rng.choice(names.COMMON_SURNAMES if rng.random() < 0.35 else names.SURNAMES)
        if rng.random() < 0.6:
            mother = rng.choice(names.SURNAMES)
            if mother != last:
                return f"{mother} {last}"
        return last

    def _name(self, sex: str, surnames: str) -> str:
        rng = self.rng
        first = rng.choice(names.FEMALE_FIRST if sex == "F" else names.MALE_FIRST)
        if rng.random() < 0.35:
            first = f"{first} {rng.choice(names.FEMALE_MIDDLE if sex == 'F' else names.MALE_MIDDLE)}"
        return f"{first} {surnames}"

    # -- citizens ----------------------------------------------------------------------------------------------

    def _birth(self) -> date:
        rng = self.rng
        low, high = _AGES.pick(rng)
        age = rng.randint(low, high)
        return self.clock.today - timedelta(days=max(60, age * 365 + rng.randrange(365) + age // 4))

    def person(self, *, indigenous_village: bool) -> _Person:
        rng = self.rng
        if indigenous_village:
            place = territory().municipality(_VILLAGES.pick(rng))
            race = "indigena"
        else:
            place = self.sc[bisect_right(self.sc_cum, rng.random() * self.sc_cum[-1])]
            race = _RACES.pick(rng)
        sex = "F" if rng.random() < 0.56 else "M"  # women use more specialized care
        birth = self._birth()
        age = years_old(birth, self.clock.today)
        surnames = self._surnames(indigenous=indigenous_village and rng.random() < 0.7)
        name = self._name(sex, surnames)
        social_name = None
        if age >= 16 and rng.random() < 0.002:
            social_name = self._name("M" if sex == "F" else "F", surnames)
        cpf: str | None
        cns: str | None
        if indigenous_village:
            cpf, cns = None, self._cns()
        else:
            cpf = self._cpf()
            cns = self._cns() if rng.random() < 0.7 else None
        phone = self._phone(place) if rng.random() < 0.93 else None
        channel = "nenhum"
        if phone is not None:
            channel = _CHANNELS.pick(rng)
        consent = channel != "nenhum" and rng.random() < 0.9
        cadunico = rng.random() < 0.25
        if cadunico:
            vulnerability: Decimal | None = Decimal(f"{rng.uniform(0.35, 0.95):.3f}")
        elif rng.random() < 0.3:
            vulnerability = Decimal(f"{rng.uniform(0.05, 0.5):.3f}")
        else:
            vulnerability = None
        return _Person(
            cpf=cpf,
            cns=cns,
            name=name,
            social_name=social_name,
            birth=birth,
            sex=sex,
            race=race,
            place=place,
            phone=phone,
            channel=channel,
            consent=consent,
            pregnant=sex == "F" and 15 <= age <= 44 and rng.random() < 0.04,
            disability=rng.random() < 0.035,
            autism=rng.random() < (0.03 if age < 18 else 0.005),
            cadunico=cadunico,
            vulnerability=vulnerability,
        )

    # -- referrals ---------------------------------------------------------------------------------------------

    def scope(self, place: Municipality) -> tuple[str, str]:
        # The rule of service.scope_for: the region's configured scope kind (region by default), then its code.
        kind = "region" if place.health_region_code else "macro"
        if place.health_region_code:
            kind = self.scope_kinds.get(place.health_region_code, kind)
        code = {"region": place.health_region_code, "macro": place.macro_code, "uf": place.uf}[kind]
        assert code is not None
        return kind, code

    def _eligible(self, person: _Person, on: date) -> tuple[list[OciSummary], list[float]]:
        months_then = _months_between(person.birth, on)
        months_now = _months_between(person.birth, self.clock.today)
        band = _age_band(years_old(person.birth, on))
        # Within these steps the catalog's age limits give the same answer, so the weights are cached by them.
        key = (person.sex, band, bisect_right(self.min_steps, months_then), bisect_left(self.max_steps, months_now))
        cached = self._choices.get(key)
        if cached is None:
            pool: list[OciSummary] = []
            cum: list[float] = []
            total = 0.0
            for oci, weight in zip(self.ocis, self.weights, strict=True):
                # The catalog's limits must hold on the referral date and still hold today (when a referral is
                # checked again); the demo does not refer people who would be out of the OCI's range by now.
                if oci.sex and oci.sex != person.sex:
                    continue
                if oci.age_min_months is not None and months_then < oci.age_min_months:
                    continue
                if oci.age_max_months is not None and months_now > oci.age_max_months:
                    continue
                w = weight * _age_sex_factor(oci, person.sex, band)
                if w > 0:
                    total += w
                    pool.append(oci)
                    cum.append(total)
            cached = (pool, cum)
            self._choices[key] = cached
        return cached

    def _cid(self, oci: OciSummary) -> str:
        cids = self._cids.get(oci.code)
        if cids is None:
            cids = _Weighted((c, 6.0 if c[:3] in COMMON_CID_CATEGORIES else 1.0) for c in oci.cids or ["Z000"])
            self._cids[oci.code] = cids
        return cids.pick(self.rng)

    def _justification(self, oci: OciSummary, risk: str) -> str:
        return self.rng.choice(JUSTIFICATIONS.get((oci.subgroup, risk), (GENERIC_JUSTIFICATION,)))

    def _request_time(self, born: date) -> float:
        """A working-hours moment of the period, after the person's first week of life."""
        rng = self.rng
        earliest = min(-7.0, max(-self.window, (born - self.clock.today).days + 7.0))
        while True:
            # Volume grows over the period (the program ramping up): a fifth more in the recent half.
            span = -earliest if rng.random() < 0.8 else -earliest / 2
            t = self._biz(-rng.uniform(0.0, span))
            if t < -0.05:
                return t

    def _provider(self, place: Municipality) -> tuple[Actor, str]:
        # Fictitious provider accounts (executante) per health region; no such users exist.
        code = place.health_region_code or place.macro_code
        found = self._providers.get(code)
        if found is None:
            region = territory().health_region(code)
            label = region.name if isinstance(region, HealthRegion) else place.name
            found = self._providers[code] = ((f"prestador.{code}", "executante"), f"Policlínica Regional {label}")
        return found

    def _requester(self, place: Municipality) -> Actor:
        # The demo user ubs.centro refers the people of Florianópolis; elsewhere, fictitious UBS accounts.
        return UBS_CENTRO if place.ibge_code == FLORIANOPOLIS else (f"ubs.{place.ibge_code}", "solicitante")

    def entry(
        self, person: _Person, oci: OciSummary, t: float, *, risk: str | None = None, protocol: str | None = None
    ) -> _Entry:
        rng = self.rng
        if risk is None:
            risk = (_RISKS_ONCOLOGY if oci.subgroup == ONCOLOGY else _RISKS).pick(rng)
        kind, code = self.scope(person.place)
        entry = _Entry(
            person=person,
            oci=oci,
            cid=self._cid(oci),
            risk=risk,
            justification=self._justification(oci, risk),
            requested_t=t,
            protocol=protocol or self._protocol(t),
            scope_kind=kind,
            scope_code=code,
            requester=self._requester(person.place),
            provider=self._provider(person.place),
            professional_cns=self._professional(person.place),
        )
        self.entries.append(entry)
        return entry

    def referrals(self, person: _Person) -> None:
        rng = self.rng
        count = _REFERRAL_COUNTS.pick(rng)
        chosen: set[str] = set()
        first: float | None = None
        for _ in range(count):
            t = self._request_time(person.birth)
            pool, cum = self._eligible(person, self.clock.day(t))
            if not pool:  # no OCI for this age on that day (a baby): try another day
                t = self._request_time(person.birth)
                pool, cum = self._eligible(person, self.clock.day(t))
            if not pool:
                continue
            for _attempt in range(8):  # one entry per OCI per citizen in the period
                oci = pool[bisect_right(cum, rng.random() * cum[-1])]
                if oci.code not in chosen:
                    break
            else:
                continue
            chosen.add(oci.code)
            self.simulate(self.entry(person, oci, t))
            first = t if first is None else min(first, t)
        person.created_t = (first if first is not None else self._request_time(person.birth)) - 0.002

    # -- the workflow ------------------------------------------------------------------------------------------

    def _biz(self, t: float) -> float:
        """The first working-hours moment (Monday to Friday, 08:00-17:30) at or after ``t``."""
        day = math.floor(t)
        frac = t - day
        if frac > 17.5 / 24:
            day, frac = day + 1, 0.0
        weekday = (self.clock.weekday + day) % 7
        if weekday >= 5:
            day, frac = day + 7 - weekday, 0.0
        if frac < 8 / 24:
            frac = (8 + self.rng.random() * 2.5) / 24
        return day + frac

    def _auto(self, t: float) -> float:
        """Automatic actions and citizens' answers: any day, 07:00-21:00."""
        day = math.floor(t)
        frac = t - day
        if frac > 21 / 24:
            day, frac = day + 1, 0.0
        if frac < 7 / 24:
            frac = (7 + self.rng.random() * 3) / 24
        return day + frac

    def _log(
        self,
        e: _Entry,
        t: float,
        target: str,
        actor: Actor,
        code: str | None = None,
        reason: str | None = None,
        data: str | None = None,
    ) -> None:
        """Record a transition (``data`` in JSON) and apply it as service.transition does: the waiting clock, the
        first authorization."""
        source = e.status
        e.events.append((t, "transition", source, target, code, reason, actor[0], actor[1], data))
        if source in _PAUSED and e.paused_t is not None:
            # in local days, as service.transition counts a pause (waitlist.measures)
            e.suspended_days = measures.paused_days(e.suspended_days, self.clock.day(e.paused_t), self.clock.day(t))
            e.paused_t = None
        if target in _PAUSED and e.authorized_t is not None:
            e.paused_t = t
        if target == Status.AUTORIZADA and e.authorized_t is None:
            e.authorized_t = t
        e.status, e.status_t = target, t

    def _slot(self, e: _Entry, day: float, minutes: int) -> str:
        """The ``agendada`` event's data: the appointment's local date and time, and the provider (the nearest
        establishment of the queue's scope that offers the OCI, when the demo has its providers)."""
        when = f"{self.clock.day(day).isoformat()}T{minutes // 60:02d}:{minutes % 60:02d}"
        if self.network is None:
            return json.dumps({"data_atendimento": when, "executante": e.provider[1]})
        age = years_old(e.person.birth, self.clock.today)
        est = self.network.provider_for(e.oci.code, (e.scope_kind, e.scope_code), e.person.place, age)
        e.appointment = (est.cnes, math.floor(day) + minutes / 1440)
        return json.dumps({"data_atendimento": when, "executante": est.spec.name, "cnes": est.cnes})

    def _workday(self, day: int) -> int:
        """``day`` or the first weekday after it."""
        while (self.clock.weekday + day) % 7 >= 5:
            day += 1
        return day

    def referral_protocol(self, oci_code: str) -> Protocol:
        if self.referral_protocols is None:
            return starting_protocol(oci_code)
        return self.referral_protocols.get(oci_code) or default_protocol(oci_code)

    def _create(self, e: _Entry) -> None:
        first = Status.AGUARDANDO_TELECONSULTA if e.oci.code in self.teleconsult_first else Status.SOLICITADA
        e.events.append((e.requested_t, "created", None, first, None, None, *e.requester, None))
        e.status, e.status_t = first, e.requested_t

    def _cancel(self, e: _Entry, t: float, actor: Actor, code: CancelReason) -> None:
        reason = self.rng.choice(CANCEL_OTHER_TEXTS) if code is CancelReason.OUTRO else None
        self._log(e, t, Status.CANCELADA, actor, code.value, reason)

    def _wait(self, e: _Entry) -> float:
        key = f"{e.oci.code}:{e.scope_code}"
        factor = self._wait_factor.get(key)
        if factor is None:
            factor = self._wait_factor[key] = self.rng.uniform(0.7, 1.4)
        mean = WAIT_DAYS_VERDE.get(e.oci.subgroup, 100) * WAIT_RISK_FACTOR[e.risk] * factor
        return max(1.0, self.rng.gammavariate(1.6, mean / 1.6))

    def simulate(self, e: _Entry) -> None:
        """The entry's path from referral to this morning: every step happens only if its time has come."""
        rng = self.rng
        self._create(e)
        t = e.requested_t
        if e.status == Status.AGUARDANDO_TELECONSULTA:
            t = self._biz(t + rng.uniform(1, 12))
            if t >= 0:
                return
            if rng.random() < 0.1:
                self._cancel(e, t, e.requester, CancelReason.RESOLVIDO_NA_APS)
                return
            self._log(
                e, t, Status.SOLICITADA, TELECONSULTORA, reason="Teleconsultoria concluída: encaminhamento mantido."
            )
        returns = 0
        while True:
            t = self._biz(t + rng.expovariate(1 / 2.0) + 0.02)
            if t >= 0:
                return
            if rng.random() < 0.012:
                self._cancel(e, t, REGULADOR, CancelReason.DUPLICIDADE)
                return
            self._log(e, t, Status.EM_ANALISE, REGULADOR)
            t = self._biz(t + (rng.uniform(0.01, 0.2) if rng.random() < 0.8 else rng.uniform(0.5, 3)))
            if t >= 0:
                return
            r = rng.random()
            if r < 0.03:
                self._log(e, t, Status.NEGADA, REGULADOR, reason=rng.choice(DENY_TEXTS))
                return
            if r < 0.13 and returns < 2:
                returns += 1
                self._log(e, t, Status.DEVOLVIDA, REGULADOR, reason=rng.choice(RETURN_TEXTS))
                answered = self._biz(t + rng.gammavariate(2, 4) + 0.5)
                if rng.random() < 0.8 and answered < t + 45:
                    if answered >= 0:
                        return
                    t = answered
                    self._log(e, t, Status.SOLICITADA, e.requester, reason=rng.choice(ANSWER_TEXTS))
                    continue
                if rng.random() < 0.5:
                    t = self._biz(t + rng.uniform(10, 40))
                    if t < 0:
                        self._cancel(e, t, e.requester, CancelReason.RESOLVIDO_NA_APS)
                else:
                    t = self._biz(t + rng.uniform(45, 75))
                    if t < 0:
                        self._cancel(e, t, NAVEGADORA, CancelReason.SEM_CONTATO)
                return
            self._log(e, t, Status.AUTORIZADA, REGULADOR)
            break
        self._queue(e, t, self._wait(e))

    def _queue(self, e: _Entry, t: float, wait: float) -> None:
        rng = self.rng
        while True:
            slot = self._auto(t + wait)
            r = rng.random()
            if r < 0.035:  # suspended for a while
                ts = self._biz(t + rng.uniform(0.1, wait))
                if ts < slot:
                    if ts >= 0:
                        return
                    self._suspend(e, ts)
                    back = self._biz(ts + rng.gammavariate(2, 14))
                    if back >= 0:
                        return
                    if rng.random() < 0.85:
                        self._log(e, back, Status.AUTORIZADA, rng.choice((NAVEGADORA, REGULADOR)))
                        wait, t = max(3.0, wait - (ts - t)), back
                        continue
                    self._cancel(e, back, NAVEGADORA, _SUSPENDED_CANCELS.pick(rng))
                    return
            elif r < 0.08:  # gave up, could not be reached, solved elsewhere
                tc = self._biz(t + rng.uniform(0.5, wait))
                if tc < slot:
                    if tc >= 0:
                        return
                    code, actor = _WAITING_CANCELS.pick(rng)
                    self._cancel(e, tc, actor, code)
                    return
            elif r < 0.14:  # answered "não" to the 90-day "still need it?" message (long waits only)
                tv = self._auto(t + 90 + rng.uniform(0, 2))
                if wait > 92 and tv < slot:
                    if tv >= 0:
                        return
                    self._cancel(e, tv, SISTEMA, CancelReason.RECUSA_VALIDACAO)
                    return
            elif r < 0.144:  # moved to another regulation center
                tt = self._biz(t + rng.uniform(1, wait))
                if tt < slot:
                    if tt >= 0:
                        return
                    self._log(
                        e,
                        tt,
                        Status.TRANSFERIDA,
                        REGULADOR,
                        reason="Transferida para a central de regulação de referência.",
                    )
                    return
            if slot >= 0:
                return  # still waiting this morning
            outcome = self._appointment(e, slot)
            if outcome is None:
                return
            t, wait = outcome

    def _suspend(self, e: _Entry, t: float) -> None:
        code = _SUSPENSIONS.pick(self.rng)
        reason = self.rng.choice(SUSPEND_OTHER_TEXTS) if code is SuspendReason.OUTRO else None
        self._log(e, t, Status.SUSPENSA, self.rng.choice((NAVEGADORA, REGULADOR)), code.value, reason)

    def _appointment(self, e: _Entry, t: float) -> tuple[float, float] | None:
        """Scheduled at ``t``; returns (time, next wait) when the entry goes back to the queue."""
        rng = self.rng
        day = math.floor(self._biz(t + rng.uniform(6, 24)))
        if day == 0:  # this morning's appointments would be under way by now: the agendas start tomorrow
            day = self._workday(1)
        minutes = 450 + 30 * rng.randrange(18)  # 07:30-16:00, on the half hour
        at = day + minutes / 1440
        provider = e.provider[0]
        self._log(e, t, Status.AGENDADA, SISTEMA if rng.random() < 0.8 else REGULADOR, data=self._slot(e, day, minutes))
        r = rng.random()
        if r < 0.05:  # the citizen cannot go that day: the slot goes back, the entry keeps its place
            tr = min(self._biz(t + rng.uniform(0.3, max(0.5, min(5.0, at - t - 1)))), at - 0.05)
            if tr >= 0:
                return None
            self._log(
                e, tr, Status.AUTORIZADA, NAVEGADORA, reason="Paciente não pode comparecer na data; vaga liberada."
            )
            return tr, rng.uniform(5, 30)
        if r < 0.07:
            tc = self._biz(t + rng.uniform(0.3, 4))
            if tc < 0:
                self._cancel(e, tc, NAVEGADORA, CancelReason.DESISTENCIA)
            return None
        missed_at = at + rng.uniform(0.2, 0.3)
        if rng.random() < 0.9:
            tc = max(t + 0.01, at - rng.uniform(1.5, 6))
            tc = min(self._auto(tc) if rng.random() < 0.75 else self._biz(tc), at - 0.02)
            if tc >= 0:
                return None
            actor = SISTEMA if e.person.channel != "nenhum" and rng.random() < 0.8 else NAVEGADORA
            self._log(e, tc, Status.CONFIRMADA, actor)
            if rng.random() < 0.93:
                if at >= 0:
                    return None
                self._log(e, at, Status.EM_ATENDIMENTO, provider)
                done = self._biz(at + rng.uniform(2, max(3.0, min(e.oci.max_days - 2.0, 40.0))))
                if done >= 0:
                    return None
                if rng.random() < 0.004:
                    self._cancel(e, done, REGULADOR, CancelReason.OBITO)
                else:
                    self._log(e, done, Status.CONCLUIDA, provider)
                return None
        if missed_at >= 0:
            return None
        self._log(e, missed_at, Status.FALTOU, provider if rng.random() < 0.6 else NAVEGADORA)
        tn = self._biz(missed_at + rng.uniform(1, 10))
        if tn >= 0:
            return None
        if rng.random() < 0.6:
            self._log(e, tn, Status.AUTORIZADA, NAVEGADORA, reason="Contato realizado; paciente mantém o interesse.")
            return tn, rng.uniform(7, 45)
        self._cancel(e, tn, NAVEGADORA, rng.choice((CancelReason.SEM_CONTATO, CancelReason.DESISTENCIA)))
        return None

    def provider_day(self, cnes: str, count: int, unconfirmed: int = 1) -> list[_Entry]:
        """Today's session and this week's agenda at the establishment ``cnes``, for the demo's executante (issue
        17). ``_appointment`` never books today (the agendas start tomorrow), so the soonest appointments there —
        ``count`` of them, at most half, so the week keeps the others — move to today, at the same time of day, and
        all but ``unconfirmed`` of them have been confirmed by the citizen (by the channel, before this morning):
        the provider starts those and records the no-shows. The next ``count`` appointments, when later, come
        forward to this week's working days (one a day, in turn). Appointments only move earlier, and the booking
        event tells the new date. Deterministic: the soonest appointments, ties by protocol; no draw of the
        generator's random stream, so nothing else changes. On a weekend day today's is a mutirão session.
        Returns the entries moved to today."""
        booked = [
            e
            for e in self.entries
            if e.status in (Status.AGENDADA, Status.CONFIRMADA) and e.appointment and e.appointment[0] == cnes
        ]
        booked.sort(key=lambda e: (e.appointment[1] if e.appointment else 0.0, e.protocol))
        today = booked[: min(count, (len(booked) + 1) // 2)]
        week = [d for d in range(1, 7) if (self.clock.weekday + d) % 7 < 5]
        for n, e in enumerate(booked[len(today) : len(today) + count]):
            self._move_appointment(e, week[n % len(week)])
        for n, e in enumerate(today):
            scheduled_t = self._move_appointment(e, 0)
            if e.status == Status.AGENDADA and n < len(today) - unconfirmed:
                self._log(e, scheduled_t / 2, Status.CONFIRMADA, SISTEMA)  # between the booking and this morning
        return today

    def _move_appointment(self, e: _Entry, day: int) -> float:
        """Bring ``e``'s appointment forward to ``day`` (same time of day; never later): the booking and its
        ``agendada`` event. Returns the time of that event."""
        assert e.appointment is not None
        i = max(i for i, ev in enumerate(e.events) if ev[3] == Status.AGENDADA)
        scheduled = e.events[i]
        if math.floor(e.appointment[1]) <= day:
            return scheduled[0]
        minutes = round((e.appointment[1] % 1) * 1440)
        e.appointment = (e.appointment[0], day + minutes / 1440)
        data = json.loads(scheduled[8] or "{}")
        data["data_atendimento"] = f"{self.clock.day(day).isoformat()}T{minutes // 60:02d}:{minutes % 60:02d}"
        e.events[i] = (*scheduled[:8], json.dumps(data))
        return scheduled[0]

    # -- the fixed examples ------------------------------------------------------------------------------------

    def example(self, spec: _ExampleSpec, ocis: dict[str, OciSummary]) -> None:
        rng = self.rng
        place = territory().municipality(spec.municipality)
        person = self.person(indigenous_village=spec.cns_only)
        person.name, person.social_name, person.sex, person.birth = spec.name, None, spec.sex, spec.birth
        person.place, person.race, person.pregnant = place, spec.race, False
        if spec.cns_only:
            person.cpf = None
        elif person.cpf is None:
            person.cpf = self._cpf()
        person.phone = self._phone(place)
        person.channel, person.consent = "whatsapp", True
        self.people.append(person)
        oci = ocis.get(spec.oci)
        if oci is None:  # a future catalog without this OCI: the citizen stays, without the entry
            person.created_t = -spec.days_ago
            return
        t = self._biz(-spec.days_ago)
        e = self.entry(person, oci, t, risk=spec.risk, protocol=spec.protocol)
        person.created_t = t - 0.002
        self._create(e)
        t = self._biz(t + 1.1)
        self._log(e, t, Status.EM_ANALISE, REGULADOR)
        if spec.story == "devolvida":
            t = self._biz(t + 0.1)
            text_ = "Anexar radiografia recente do joelho e descrever o tratamento conservador realizado."
            self._log(e, t, Status.DEVOLVIDA, REGULADOR, reason=text_)
            return
        t = self._biz(t + 0.1)
        self._log(e, t, Status.AUTORIZADA, REGULADOR)
        if spec.story == "agendada":
            t = self._auto(-rng.uniform(2.5, 3.5))
            self._log(e, t, Status.AGENDADA, SISTEMA, data=self._slot(e, math.floor(self._biz(12.0)), 570))

    # -- all of it ---------------------------------------------------------------------------------------------

    def generate(self, citizens: int, months: int) -> None:
        self.window = months * 30.44
        by_code = {o.code: o for o in self.ocis}
        for spec in EXAMPLES[:citizens]:
            self.example(spec, by_code)
        remaining = max(0, citizens - len(self.people))
        indigenous = min(remaining, round(remaining * INDIGENOUS_SHARE)) if remaining >= 50 else 0
        for i in range(remaining):
            person = self.person(indigenous_village=i < indigenous)
            self.people.append(person)
            self.referrals(person)


# -- rows ------------------------------------------------------------------------------------------------------


CITIZEN_COLUMNS: Final = (
    "id", "cpf", "cns", "name", "social_name", "search_name", "birth_date", "sex", "race_color", "municipality_ibge",
    "uf", "phone", "preferred_channel", "contact_consent", "contact_consent_at", "pregnant", "disability", "autism",
    "cadunico", "vulnerability_index", "created_at", "updated_at",
)  # fmt: skip
ENTRY_COLUMNS: Final = (
    "id", "protocol", "citizen_id", "oci_code", "catalog_competencia", "cid_code", "risk_class",
    "risk_justification", "checklist", "protocol_version", "exams", "requesting_cnes", "professional_cns",
    "professional_cbo",
    "municipality_ibge", "uf", "scope_kind", "scope_code", "status", "status_changed_at", "external_source",
    "external_id", "requested_at", "authorized_at", "max_days", "suspended_days", "paused_since",
    "created_by", "created_at", "updated_at",
)  # fmt: skip
#: An entry's daily figures live in ``waitlist_standing`` (decision 0034): its score and policy, written with it.
STANDING_COLUMNS: Final = ("entry_id", "score", "policy_id")
EVENT_COLUMNS: Final = (
    "entry_id", "occurred_at", "kind", "from_status", "to_status", "reason_code", "reason_text", "actor_username",
    "actor_role", "data",
)  # fmt: skip
# CBO of the requesting professional: médico da estratégia de saúde da família.
_CBO_MFC: Final = "225142"


def citizen_rows(gen: Generator) -> list[tuple[Any, ...]]:
    at = gen.clock.at
    pick = operator.itemgetter(*CITIZEN_COLUMNS)
    keys: dict[str, str] = {}
    rows = []
    for p in gen.people:
        key = keys.get(p.name)
        if key is None:
            key = keys[p.name] = search_key(p.name)
        created = at(p.created_t)
        row = {
            "id": p.id,
            "cpf": p.cpf,
            "cns": p.cns,
            "name": p.name,
            "social_name": p.social_name,
            "search_name": key,
            "birth_date": p.birth,
            "sex": p.sex,
            "race_color": p.race,
            "municipality_ibge": p.place.ibge_code,
            "uf": p.place.uf,
            "phone": p.phone,
            "preferred_channel": p.channel,
            "contact_consent": p.consent,
            "contact_consent_at": created if p.consent else None,
            "pregnant": p.pregnant,
            "disability": p.disability,
            "autism": p.autism,
            "cadunico": p.cadunico,
            "vulnerability_index": p.vulnerability,
            "created_at": created,
            "updated_at": created,
        }
        rows.append(pick(row))
    return rows


def entry_rows(gen: Generator) -> list[tuple[Any, ...]]:
    at = gen.clock.at
    pick = operator.itemgetter(*ENTRY_COLUMNS)
    in_force = {o.code: gen.referral_protocol(o.code) for o in gen.ocis}
    checklists = {code: json.dumps(answered_checklist(p), ensure_ascii=False) for code, p in in_force.items()}
    exams = {code: json.dumps(list(p.required_exams), ensure_ascii=False) for code, p in in_force.items()}
    rows = []
    for e in gen.entries:
        authorized = e.authorized_t
        requested, changed = at(e.requested_t), at(e.status_t)
        row = {
            "id": e.id,
            "protocol": e.protocol,
            "citizen_id": e.person.id,
            "oci_code": e.oci.code,
            "catalog_competencia": gen.competencia,
            "cid_code": e.cid,
            "risk_class": e.risk,
            "risk_justification": e.justification,
            "checklist": checklists[e.oci.code],
            "protocol_version": in_force[e.oci.code].version,
            "exams": exams[e.oci.code] if in_force[e.oci.code].required_exams else None,
            "requesting_cnes": Generator.cnes(e.person.place),
            "professional_cns": e.professional_cns,
            "professional_cbo": _CBO_MFC,
            "municipality_ibge": e.person.place.ibge_code,
            "uf": e.person.place.uf,
            "scope_kind": e.scope_kind,
            "scope_code": e.scope_code,
            "status": e.status,
            "status_changed_at": changed,
            "external_source": DEMO_SOURCE,
            "external_id": f"demo-{e.protocol}",
            "requested_at": requested,
            "authorized_at": at(authorized) if authorized is not None else None,
            "max_days": e.oci.max_days,
            "suspended_days": e.suspended_days,
            "paused_since": at(e.paused_t) if e.paused_t is not None else None,
            "created_by": e.requester[0],
            "created_at": requested,
            "updated_at": changed,
        }
        rows.append(pick(row))
    return rows


def standing_rows(gen: Generator) -> list[tuple[Any, ...]]:
    return [(e.id, e.score, e.policy_id) for e in gen.entries]


def event_rows(gen: Generator) -> list[tuple[Any, ...]]:
    anchor, days = gen.clock.anchor, timedelta
    return [(e.id, anchor + days(ev[0]), *ev[1:]) for e in gen.entries for ev in e.events]


def capacity_rows(gen: Generator) -> list[dict[str, Any]]:
    """Weekly capacity of every (OCI, scope) of SC, sized on the queue as generated so that the last one waits from
    a few weeks (oncology) to several months (orthopedics, ophthalmology); the loader keeps those configured already.
    Draws from the generator's random source: called once, after the entries are generated."""
    waiting = Counter((e.oci.code, e.scope_kind, e.scope_code) for e in gen.entries if e.status == Status.AUTORIZADA)
    scopes = sorted({gen.scope(m) for m in gen.sc})
    population = Counter[tuple[str, str]]()
    for m in gen.sc:
        population[gen.scope(m)] += m.population
    rng = gen.rng
    now = gen.clock.now
    rows = []
    for oci in gen.ocis:
        low, high = CAPACITY_WEEKS.get(oci.subgroup, (8.0, 24.0))
        for kind, code in scopes:
            n = waiting[(oci.code, kind, code)]
            weeks = rng.uniform(low, high)
            # Where nobody waits, a small quantity by population.
            capacity = max(1, round(n / weeks)) if n else max(1, round(population[(kind, code)] / 400_000))
            rows.append(
                {
                    "oci_code": oci.code,
                    "scope_kind": kind,
                    "scope_code": code,
                    "weekly_capacity": capacity,
                    "source": "par",
                    "updated_at": now,
                }
            )
    return rows


SLOT_COLUMNS: Final = (
    "id", "cnes", "oci_code", "starts_at", "modality", "capacity", "booked", "status", "external_id", "created_at",
)  # fmt: skip
BOOKING_COLUMNS: Final = (
    "id", "slot_id", "entry_id", "run_id", "status", "booked_at", "released_at", "release_reason",
)  # fmt: skip
QUOTA_DAYS: Final = 30  # the PPI quotas of the demo cover the agenda of the coming month


def bookings(gen: Generator) -> tuple[list[demo_providers.Booked], dict[int, str]]:
    """An active booking for every entry already scheduled (in the slot of its appointment), and the municipality
    of each booked entry's citizen (entry id → IBGE code). The entries must have their ids."""
    clock = gen.clock
    booked: list[demo_providers.Booked] = []
    home: dict[int, str] = {}
    for e in gen.entries:
        if e.status not in (Status.AGENDADA, Status.CONFIRMADA):
            continue
        assert e.appointment is not None and e.appointment[1] >= 0, e.protocol  # today's, for the provider's day
        scheduled = next(ev[0] for ev in reversed(e.events) if ev[3] == Status.AGENDADA)
        cnes, at = e.appointment
        home[e.id] = e.person.place.ibge_code
        booked.append(
            demo_providers.Booked(e.id, e.oci.code, (e.scope_kind, e.scope_code), cnes, at, clock.at(scheduled))
        )
    return booked, home


def agenda_records(
    clock: Clock,
    slots: Sequence[demo_providers.SlotRow],
    slot_ids: Sequence[int],
    booked: Sequence[demo_providers.Booked],
    booking_ids: Sequence[int],
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The rows of ``agenda_slot`` (``SLOT_COLUMNS``) and ``slot_booking`` (``BOOKING_COLUMNS``), each booking in
    the slot of its appointment."""
    now = clock.now
    full: dict[tuple[str, str, float], int] = {}
    slot_records = []
    for slot_id, (cnes, oci, at, modality, capacity, taken, external_id) in zip(slot_ids, slots, strict=True):
        if taken:
            full[(cnes, oci, at)] = slot_id
        slot_records.append((slot_id, cnes, oci, clock.at(at), modality, capacity, taken, "aberta", external_id, now))
    booking_records = [
        (booking_id, full[(b.cnes, b.oci_code, b.at)], b.entry_id, None, "ativa", b.booked_at, None, None)
        for booking_id, b in zip(booking_ids, booked, strict=True)
    ]
    return slot_records, booking_records


def quota_rows(
    clock: Clock,
    network: demo_providers.Network,
    slots: Sequence[demo_providers.SlotRow],
    booked: Sequence[demo_providers.Booked],
    home: dict[int, str],
) -> list[dict[str, Any]]:
    """PPI quotas, distributed day by day over the agenda of the coming month as regulation systems do (a share of
    the day's free places, on top of what the municipality already holds that day). Single-day periods also keep
    the allocation an exact network flow (a quota spanning several dates needs the integer model)."""
    quotas = []
    for name, oci, municipality, share in demo_providers.QUOTAS:
        est = network.by_name.get(name)
        if est is None or oci not in est.offers:
            continue
        free: Counter[int] = Counter()
        for cnes, slot_oci, at, _modality, capacity, taken, _ext in slots:
            if cnes == est.cnes and slot_oci == oci and at < QUOTA_DAYS + 1:
                free[math.floor(at)] += capacity - taken
        holds = Counter(
            math.floor(b.at)
            for b in booked
            if b.cnes == est.cnes and b.oci_code == oci and home[b.entry_id] == municipality
        )
        for day in sorted(free):
            on = clock.day(day)
            quotas.append(
                {
                    "municipality_ibge": municipality,
                    "cnes": est.cnes,
                    "oci_code": oci,
                    "period_start": on,
                    "period_end": on,
                    "max_slots": holds[day] + max(1, round(free[day] * share)),
                }
            )
    return quotas
