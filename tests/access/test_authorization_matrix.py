"""One authorization matrix, generated from the app's own route table.

Two small worlds, Santa Catarina and Paraná, each with citizens, entries (waiting and in care), an establishment
with an agenda, an allocation run, a navigation task, messages and a recorded procedure. For every route of
``create_app`` (every ``/api`` route and every page, every method) and every role, a user of SC and a user of PR
call it with the path parameters pointing at the SC world. Each answer must be a refusal (401/403/404) or an answer
that carries no identifier of the other world (protocols, CPFs, CNS, names, phones, CNES, ids); a PR user reaching
an SC resource by its id must be refused. New routes are covered without anyone remembering to add them: a path
parameter this file does not know how to fill fails the test, and so does a new public route.

Every request runs inside a savepoint that is rolled back, so the worlds are built once for the module and no
request sees another's writes.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker
from tests.conftest import app_client

from regula.access import service as access
from regula.access.policy import OPT_PUBLIC, OPT_ROLES, Role
from regula.allocation import service as allocation
from regula.audit.service import AuditContext, set_context
from regula.config import Settings
from regula.demo import ressarcimento as ressarcimento_demo
from regula.navigation import care_loop
from regula.navigation import service as navigation
from regula.people.documents import generate_cns, generate_cpf
from regula.people.models import Citizen
from regula.people.schemas import CitizenCreate
from regula.production import execution
from regula.programs import service as programs
from regula.programs.schemas import ContractIn, LineIn, ParCreate, StepIn
from regula.providers import service as providers
from regula.providers.models import AgendaSlot
from regula.providers.schemas import EstablishmentIn, OfferIn, SlotIn
from regula.ressarcimento import repository as ressarcimento_repo
from regula.waitlist import service as wl
from regula.waitlist.schemas import ReferralCreate

OCI = "0902010026"  # OCI AVALIAÇÃO CARDIOLÓGICA
CONSULTA = "0301010072"  # part of its composition
APS_CNES = "2691868"
DENIED = frozenset({401, 403, 404})

#: Routes that need no login, each with the reason it is safe; anything else public fails the test.
PUBLIC_ROUTES: dict[str, frozenset[str]] = {
    "/health": frozenset({"GET"}),  # liveness, no data
    "/": frozenset({"GET"}),  # the home page: login link or the user's menu
    "/login": frozenset({"GET", "POST"}),
    "/posicao": frozenset({"GET", "POST"}),  # public position look-up: protocol and birth date, rate-limited
    "/consulta": frozenset({"GET"}),
    "/public/position": frozenset({"GET"}),
    # the transparency panel: aggregates of a whole UF, small counts protected (regula.dashboard.disclosure)
    "/transparencia": frozenset({"GET"}),
    "/transparencia.csv": frozenset({"GET"}),
    "/api/v1/public/transparency": frozenset({"GET"}),
    "/webhooks/twilio/inbound": frozenset({"POST"}),  # signed by Twilio
    "/webhooks/twilio/status": frozenset({"POST"}),
    "/metrics": frozenset({"GET", "OPTIONS"}),
    "/static/{file_path:path}": frozenset({"GET", "HEAD", "OPTIONS"}),
    "/schema": frozenset({"GET", "OPTIONS"}),
    "/schema/swagger": frozenset({"GET", "OPTIONS"}),
    "/schema/redoc": frozenset({"GET", "OPTIONS"}),
    "/schema/{path:str}": frozenset({"GET", "OPTIONS"}),
    "/schema/openapi.json": frozenset({"GET", "OPTIONS"}),
}


@dataclass(frozen=True)
class Place:
    uf: str
    tag: str
    home: str  # where the citizens live
    provider_home: str
    cnes: str
    phone: str
    ddd: str


SC = Place("SC", "Catarinense", "4205407", "4216602", "7310001", "(48) 99911-2233", "48")
PR = Place("PR", "Paranaense", "4106902", "4106902", "7410001", "(41) 98877-6655", "41")


@dataclass
class World:
    place: Place
    names: list[str] = field(default_factory=list)
    cpfs: list[str] = field(default_factory=list)
    cns: list[str] = field(default_factory=list)
    protocols: list[str] = field(default_factory=list)
    ids: dict[str, int] = field(default_factory=dict)  # entry, entry_in_care, citizen, run, task, procedure, token
    queue_key: str = ""
    competencia: str = ""  # the month of the recorded procedure (AAAAMM)

    def leaks(self, body: str) -> list[str]:
        """This world's identifiers found in a response body."""
        found = [s for s in (*self.names, *self.protocols, *self.cns, self.place.cnes) if s in body]
        found += [c for c in self.cpfs if c in body or f"{c[:3]}.{c[3:6]}.{c[6:9]}-{c[9:]}" in body]
        digits = re.sub(r"\D", "", self.place.phone)
        found += [self.place.phone for p in (digits, self.place.phone[5:]) if p in body]
        found += [f"{k}={v}" for k, v in self.ids.items() if re.search(rf"(?<![\d.]){v}(?![\d.])", body)]
        return found


def _citizen(place: Place, name: str, cpf: str | None, cns: str | None = None) -> CitizenCreate:
    return CitizenCreate(
        name=name,
        birth_date=datetime(1961, 4, 9).date(),
        sex="F",
        race_color="parda" if cpf else "indigena",  # CNS only: indigenous people (Portaria SAES, art. 11)
        municipality_ibge=place.home,
        cpf=cpf,
        cns=cns,
        phone=place.phone,
        contact_consent=True,
    )


async def _build(session: AsyncSession, settings: Settings, place: Place, rng_seed: int) -> World:
    import random

    rng = random.Random(rng_seed)
    world = World(place)
    catalog = await wl.load_catalog(session, settings)
    actor = wl.Actor(f"matriz.{place.uf.lower()}", "admin")  # national: builds the world, is no subject of it
    await providers.upsert_establishment(
        session,
        EstablishmentIn(
            cnes=place.cnes, name=f"Policlínica {place.tag}", municipality_ibge=place.provider_home, kind="contratado"
        ),
    )
    await providers.set_offer(session, place.cnes, OfferIn(oci_code=OCI), catalog.ocis.keys())
    for days in (4, 5):
        starts = datetime.combine((datetime.now(UTC) + timedelta(days=days)).date(), time(12), UTC)
        await providers.add_slot(session, SlotIn(cnes=place.cnes, oci_code=OCI, starts_at=starts), settings)

    async def refer(name: str, cpf: str | None, cns: str | None = None) -> int:
        data = ReferralCreate(
            cid_code=catalog.oci(OCI).cids[0],
            risk_class="vermelho",
            risk_justification="Dor torácica aos esforços há três meses.",
            requesting_cnes=APS_CNES,
            oci_code=OCI,
            citizen=_citizen(place, name, cpf, cns),
        )
        entry = await wl.create_referral(session, data, actor, settings, catalog)
        assert entry.id is not None
        world.names.append(name)
        world.protocols.append(entry.protocol)
        world.cpfs += [cpf] if cpf else []
        world.cns += [cns] if cns else []
        for target in ("em_analise", "autorizada"):
            await wl.transition(session, entry.id, target, actor, settings)
        return entry.id

    waiting = await refer(f"Zuleica {place.tag} Espera", generate_cpf(rng))
    in_care = await refer(f"Iracema {place.tag} Atendida", None, generate_cns(rng))
    past = AgendaSlot(cnes=place.cnes, oci_code=OCI, starts_at=datetime.now(UTC) - timedelta(hours=2), capacity=1)
    session.add(past)
    await session.flush()
    await providers.book(session, past.id or 0, in_care)
    for target in ("agendada", "confirmada", "em_atendimento"):
        await wl.transition(session, in_care, target, actor, settings)
    view = await execution.record_procedure(
        session,
        settings,
        in_care,
        execution.ProcedureInput(
            procedure_code=CONSULTA, performed_on=wl.local_today(settings), cbo="225125", quantity=1
        ),
        actor,
    )
    entry = await wl.get_entry(session, waiting)
    person = await session.get(Citizen, entry.citizen_id)
    assert person is not None
    task = await navigation.open_task(session, "falta", person, waiting, "Faltou à consulta; ligar.")
    in_care_entry = await wl.get_entry(session, in_care)
    in_care_person = await session.get(Citizen, in_care_entry.citizen_id)
    assert in_care_person is not None
    (counter_referral, *_) = await care_loop.issue_counter_referrals(
        session,
        in_care_entry,
        in_care_person,
        findings="Consulta realizada; ECG normal.",
        conduct="Seguimento na UBS.",
        concluded_by=actor.username,
    )
    # A PAR of the world's home municipality, approved, with a contract (regula.programs).
    month = wl.local_today(settings).strftime("%Y-%m")
    par_title = f"PAR Matriz {place.tag}"
    par = await programs.create_par(
        session,
        ParCreate(
            title=par_title,
            scope_kind="municipalities",
            municipalities=[place.home],
            diagnosis="Diagnóstico.",
            priorities="Cardiologia.",
            lines=[LineIn(f"municipality:{place.home}", OCI, place.cnes, month, 5)],
        ),
        actor,
    )
    step_day = wl.local_today(settings).isoformat()
    for kind in ("resolucao_cir", "ciencia_cib", "aprovacao_saes", "portaria_publicada", "resolucao_cib_executores"):
        await programs.record_step(
            session, settings, par.id or 0, 1, StepIn(kind, "1/2026", step_day), actor, wl.local_today(settings)
        )
    await programs.put_contract(
        session, par.id or 0, ContractIn("CT 1", f"municipality:{place.home}", place.cnes, OCI, month, 5), actor
    )
    world.names.append(par_title)
    # An active health-plan operator whose unit is the world's establishment (regula.ressarcimento).
    operator = await ressarcimento_demo.activate(
        session,
        settings,
        ressarcimento_demo.DemoOperator(
            f"4198{rng_seed:02d}", f"Operadora Matriz {place.tag}", place.cnes, "", place.provider_home, (), ()
        ),
        2025,
        wl.local_today(settings),
        actor,
    )
    world.names.append(operator.name)
    offer = (await ressarcimento_repo.matrix_of(session, operator.id or 0))[0]
    run = await allocation.propose_now(session, settings, f"uf:{place.uf}", actor)
    world.queue_key = f"{OCI}:{entry.scope_kind}:{entry.scope_code}"
    world.competencia = wl.local_today(settings).strftime("%Y%m")
    world.ids = {
        "entry": waiting,
        "entry_in_care": in_care,
        "citizen": entry.citizen_id,
        "run": run.id or 0,
        "task": task.id or 0,
        "procedure": view.procedures[0].id or 0,
        "counter_referral": counter_referral.id or 0,
        "par": par.id or 0,
        "operator": operator.id or 0,
        "matrix_item": offer.id or 0,
    }
    return world


@dataclass
class Caller:
    role: Role
    home: Place
    token: str
    cookie: str = ""
    csrf: str = ""


@dataclass
class Matrix:
    client: httpx.AsyncClient
    connection: AsyncConnection
    app: Any
    sc: World
    pr: World
    callers: list[Caller]


def _jurisdiction(role: Role, place: Place) -> str:
    if role is Role.EXECUTANTE:
        return f"cnes:{place.cnes}"
    if role is Role.SOLICITANTE:
        return f"municipality:{place.home}"
    return f"uf:{place.uf}"


async def _bump_sequences(conn: AsyncConnection, base: int) -> dict[str, tuple[int, bool]]:
    """Give every sequence its own range of large numbers from ``base``, so an id of a world never collides with
    another number in a response. Sequences are not transactional: the caller restores what this returns."""
    rows = (await conn.execute(text("SELECT schemaname || '.' || sequencename, last_value FROM pg_sequences"))).all()
    saved: dict[str, tuple[int, bool]] = {}
    for n, (name, last) in enumerate(sorted(rows)):
        saved[name] = (last or 1, last is not None)
        await conn.execute(text("SELECT setval(:s, :v)"), {"s": name, "v": base + n * 100_000})
    return saved


@pytest.fixture(scope="module")
async def matrix(engine: AsyncEngine, settings: Settings) -> AsyncIterator[Matrix]:
    from regula.catalog.service import bundled_sigtap_zip, import_sigtap
    from regula.territory.service import load_territory
    from regula.web.app import create_app

    async with engine.connect() as conn:
        outer = await conn.begin()
        maker = async_sessionmaker(
            bind=conn, expire_on_commit=False, autoflush=False, join_transaction_mode="create_savepoint"
        )
        app = create_app(settings, maker)  # installs the audit listener the services write through
        saved: dict[str, tuple[int, bool]] = {}
        try:
            async with maker() as s:
                set_context(s, AuditContext.system("test", "authorization matrix"))
                await load_territory(s)
                await import_sigtap(s, bundled_sigtap_zip(), settings)
                saved = await _bump_sequences(conn, 10_000_000)
                pr = await _build(s, settings, PR, 41)
                await _bump_sequences(conn, 20_000_000)
                sc = await _build(s, settings, SC, 42)
                callers: list[Caller] = []
                for place in (SC, PR):
                    for role in Role:
                        name = f"matriz.{role.value}.{place.uf.lower()}"
                        await access.create_user(
                            s,
                            username=name,
                            full_name=f"Matriz {role.value}",
                            role=role.value,
                            jurisdiction=_jurisdiction(role, place),
                            password="senha-forte-123",
                        )
                        _, secret = await access.create_token(s, name)
                        (sc if place is SC else pr).names.append(name)
                        callers.append(Caller(role, place, secret))
                # someone else's token, in SC
                sc.ids["token"] = (
                    await s.execute(
                        text(
                            "SELECT t.id FROM api_token t JOIN app_user u ON u.id = t.user_id "
                            "WHERE u.username = 'matriz.auditor.sc'"
                        )
                    )
                ).scalar_one()
                # an audit event of the SC world (the change that created its waiting entry)
                sc.ids["audit_event"] = (
                    await s.execute(
                        text("SELECT min(id) FROM audit_event WHERE entity_type = 'WaitlistEntry' AND entity_id = :e"),
                        {"e": str(sc.ids["entry"])},
                    )
                ).scalar_one()
                await s.commit()
            async with app_client(app) as client:
                for caller in callers:
                    name = f"matriz.{caller.role.value}.{caller.home.uf.lower()}"
                    login = await client.post(
                        "/login", data={"username": name, "password": "senha-forte-123", "next": "/"}
                    )
                    assert login.status_code == 303, login.text
                    caller.cookie = client.cookies["regula_session"]
                    home = await client.get("/")
                    match = re.search(r'name="_csrf" value="([^"]+)"', home.text)
                    assert match, home.text
                    caller.csrf = match.group(1)
                    client.cookies.clear()
                yield Matrix(client, conn, app, sc, pr, callers)
        finally:
            if outer.is_active:
                await outer.rollback()
            for name, (value, called) in saved.items():
                await conn.execute(text("SELECT setval(:s, :v, :c)"), {"s": name, "v": value, "c": called})
            await conn.commit()


# -- the route table -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    path: str
    method: str
    roles: frozenset[Role] | None
    public: bool


def _routes(app: Any) -> list[Route]:
    found: list[Route] = []
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            for method in sorted(getattr(handler, "http_methods", ())):
                found.append(Route(route.path, method, handler.opt.get(OPT_ROLES), bool(handler.opt.get(OPT_PUBLIC))))
    return found


def _path_values(m: Matrix) -> dict[str, str]:
    """How to fill each path parameter: with the SC world's resources. A new parameter must be added here."""
    sc = m.sc
    return {
        "entry_id": str(sc.ids["entry"]),
        "run_id": str(sc.ids["run"]),
        "task_id": str(sc.ids["task"]),
        "procedure_id": str(sc.ids["procedure"]),
        "citizen_id": str(sc.ids["citizen"]),
        "token_id": str(sc.ids["token"]),
        "cnes": sc.place.cnes,
        "queue_key": sc.queue_key,
        "health_region_code": "42007",
        "code": OCI,
        "chart": "faltas.csv",
        "action": "aprovar",
        "username": "matriz.auditor.sc",
        "uf": "SC",  # a UF's 2023 queue-reduction plan (regula.programs.routes_2023)
        "counter_referral_id": str(sc.ids["counter_referral"]),
        "par_id": str(sc.ids["par"]),  # regula.programs.routes and web.programs
        "version": "1",
        "operator_id": str(sc.ids["operator"]),  # regula.ressarcimento.routes and web.ressarcimento
        "item_id": str(sc.ids["matrix_item"]),
        "competencia": "202501",
        "sanction_id": str(sc.ids["operator"]),  # no sanction in the worlds: every user gets 404
        "year": "2025",
        "kind": "atestados",
        "event_id": str(sc.ids["audit_event"]),  # web.audit: one audit event, read in its jurisdiction
    }


#: Parameters whose value is the SC world's own resource: a PR user reaching it must be refused.
PRIVATE_PARAMS = frozenset(
    {
        "entry_id",
        "run_id",
        "task_id",
        "procedure_id",
        "citizen_id",
        "token_id",
        "username",
        "counter_referral_id",
        "par_id",
        "operator_id",
        "item_id",
        "sanction_id",
        "event_id",
    }
)
#: The same parameter name meaning something else on one route.
PATH_OVERRIDES: dict[tuple[str, str], str] = {
    ("/api/v1/territory/municipalities/{code:str}", "code"): SC.home,
}
#: Routes whose answer on an entry is about the entry in care (production) rather than the waiting one.
IN_CARE_PREFIXES = ("/producao/entradas/", "/api/v1/production/entries/")


def _fill(m: Matrix, route: Route) -> tuple[str, set[str]]:
    values = _path_values(m)
    names: set[str] = set()

    def sub(match: re.Match[str]) -> str:
        name = match.group(1)
        names.add(name)
        if (route.path, name) in PATH_OVERRIDES:
            return PATH_OVERRIDES[(route.path, name)]
        if name == "entry_id" and route.path.startswith(IN_CARE_PREFIXES):
            return str(m.sc.ids["entry_in_care"])
        if name not in values:
            pytest.fail(
                f"{route.method} {route.path}: no value for the path parameter {name!r}; add it to _path_values "
                "(and to PRIVATE_PARAMS when it names a resource of one jurisdiction)"
            )
        return values[name]

    return re.sub(r"\{(\w+)(?::\w+)?\}", sub, route.path), names


def _bodies(m: Matrix) -> dict[tuple[str, str], dict[str, Any]]:
    """Plausible bodies for writes aimed at the SC world (``foreign``: a PR user must be refused). Routes not listed
    get an empty body, which must still never leak nor fail with 500."""
    sc = m.sc
    citizen = {
        "name": "Nova Pessoa",
        "birth_date": "1970-01-01",
        "sex": "F",
        "race_color": "parda",
        "municipality_ibge": SC.home,
        "cpf": "52998224725",
        "contact_consent": True,
    }
    by_cnes = {"competencia": sc.competencia, "cnes": SC.cnes}
    return {
        # Searches and filters aimed at the SC world: a PR user must find nothing.
        ("GET", "/api/v1/citizens"): {"query": {"cpf": sc.cpfs[0]}},
        ("GET", "/api/v1/entries"): {"query": {"municipality": SC.home}},
        ("GET", "/api/v1/slots"): {"query": {"cnes": SC.cnes}},
        ("GET", "/api/v1/establishments"): {"query": {"uf": "SC"}},
        ("GET", "/api/v1/audit"): {"query": {"entity_type": "WaitlistEntry", "entity_id": str(sc.ids["entry"])}},
        ("GET", "/api/v1/production/findings"): {"query": by_cnes},
        ("GET", "/api/v1/production/indicators"): {"query": by_cnes},
        ("GET", "/api/v1/production/apac"): {"query": by_cnes},
        ("GET", "/api/v1/production/ranges"): {"query": {"cnes": SC.cnes}},
        ("GET", "/api/v1/production/authorizations/validate"): {"query": {"number": "3326702390979"}},
        ("POST", "/api/v1/entries/{entry_id:int}/transitions"): {
            "json": {"to": "cancelada", "reason_code": "desistencia"}
        },
        ("PUT", "/api/v1/citizens/{citizen_id:int}"): {"json": citizen | {"cpf": None}},
        ("POST", "/api/v1/citizens"): {"json": citizen, "foreign": True},
        ("POST", "/api/v1/referrals"): {
            "json": {
                "citizen_id": sc.ids["citizen"],
                "oci_code": "0905010043",
                "cid_code": "E11.3",
                "risk_class": "verde",
                "risk_justification": "Retinopatia a avaliar.",
                "requesting_cnes": APS_CNES,
            },
            "foreign": True,
        },
        ("POST", "/api/v1/users"): {
            "json": {
                "username": "novo.sc",
                "full_name": "Novo Operador",
                "role": "regulador",
                "jurisdiction": "uf:SC",
                "password": "senha-forte-123",
            },
            "foreign": True,
        },
        ("POST", "/api/v1/establishments"): {
            "json": {"cnes": SC.cnes, "name": "Tomada", "municipality_ibge": PR.home, "kind": "contratado"},
            "foreign": True,
        },
        ("PUT", "/api/v1/establishments/{cnes:str}/offers"): {"json": {"oci_code": OCI}, "foreign": True},
        ("POST", "/api/v1/slots"): {
            "json": {"cnes": SC.cnes, "oci_code": OCI, "starts_at": "2099-01-05T09:00:00-03:00"},
            "foreign": True,
        },
        ("PUT", "/api/v1/quotas"): {
            "json": {
                "municipality_ibge": SC.home,
                "cnes": SC.cnes,
                "oci_code": OCI,
                "period_start": "2099-01-01",
                "period_end": "2099-12-31",
                "max_slots": 5,
            },
            "foreign": True,
        },
        ("POST", "/api/v1/allocation/runs"): {"json": {"scope": "uf:SC"}, "foreign": True},
        ("PUT", "/api/v1/queues/policies/{queue_key:str}"): {"json": {"params": {}}, "foreign": True},
        ("PUT", "/api/v1/queues/capacity"): {
            "json": {"oci_code": OCI, "scope_kind": "region", "scope_code": "42007", "weekly_capacity": 9},
            "foreign": True,
        },
        ("PUT", "/api/v1/queues/scopes/{health_region_code:str}"): {"json": {"scope_kind": "uf"}, "foreign": True},
        ("POST", "/api/v1/navigation/tasks/{task_id:int}/contacts"): {"json": {"outcome": "nao_atendeu"}},
        ("POST", "/api/v1/production/entries/{entry_id:int}/procedures"): {
            "json": {"procedure_code": CONSULTA, "performed_on": "2026-01-05", "cbo": "225125"}
        },
        ("POST", "/api/v1/production/procedures/{procedure_id:int}/void"): {"json": {"reason": "Lançado errado."}},
        ("POST", "/api/v1/production/entries/{entry_id:int}/conclusion"): {
            "json": {"aps_summary": "Avaliação feita.", "counter_referral": "Retorno à UBS."}
        },
        ("POST", "/api/v1/production/entries/{entry_id:int}/navigator-closing"): {"json": {"note": "Encerrada."}},
        ("POST", "/api/v1/production/ranges"): {
            "json": {"cnes": SC.cnes, "instrument": "apac", "program": "pmae", "first": "1", "last": "9"},
            "foreign": True,
        },
        ("POST", "/regulacao/alocacoes"): {"data": {"escopo": "uf:SC", "horizonte": "30"}, "foreign": True},
        ("POST", "/regulacao/entradas/{entry_id:int}/transicao"): {"data": {"para": "suspensa"}},
        ("POST", "/aps/encaminhamentos/{entry_id:int}/transicao"): {"data": {"para": "cancelada"}},
        ("POST", "/navegacao/tarefas/{task_id:int}/contatos"): {"data": {"resultado": "nao_atendeu"}},
        ("POST", "/api/v1/teleconsultations/{entry_id:int}/answer"): {"json": {"outcome": "seguir_para_fila"}},
        ("POST", "/teleconsultoria/{entry_id:int}/resposta"): {"data": {"resposta": "seguir_para_fila"}},
        ("POST", "/producao/procedimentos/{procedure_id:int}/anular"): {
            "data": {"motivo": "Lançado errado.", "entrada": str(sc.ids["entry_in_care"])}
        },
        ("POST", "/logout"): {"data": {}},
    }


@dataclass
class Finding:
    caller: str
    route: str
    status: int
    problem: str


async def _call(m: Matrix, caller: Caller, route: Route, url: str, body: dict[str, Any]) -> httpx.Response:
    savepoint = await m.connection.begin_nested()
    try:
        if route.path.startswith("/api/"):
            headers = {"Authorization": f"Bearer {caller.token}"}
            kwargs: dict[str, Any] = {"json": body["json"]} if "json" in body else {}
            if route.method in ("POST", "PUT", "PATCH") and not kwargs:
                kwargs = {"json": {}}
        else:
            headers = {
                "Cookie": f"regula_session={caller.cookie}",
                "x-csrf-token": caller.csrf,
                "Accept": "text/html",
            }
            kwargs = {"data": body.get("data", {})} if route.method in ("POST", "PUT", "PATCH") else {}
        return await m.client.request(route.method, url, headers=headers, params=body.get("query"), **kwargs)
    finally:
        m.client.cookies.clear()
        if savepoint.is_active:
            await savepoint.rollback()


def _without_echo(body: str, url: str) -> str:
    """The body without what the caller sent in the path (problem details name the path and the unknown value)."""
    for part in sorted([url, *url.split("/")], key=len, reverse=True):
        if part:
            body = body.replace(part, "")
    return body


def _cells(m: Matrix) -> Iterator[tuple[Route, str, set[str], dict[str, Any]]]:
    bodies = _bodies(m)
    for route in _routes(m.app):
        if route.public or route.method == "OPTIONS":  # Litestar's own answers: test_options_answers_carry_no_data
            continue
        url, params = _fill(m, route)
        yield route, url, params, bodies.get((route.method, route.path), {})


async def test_public_routes_are_exactly_the_allow_list(matrix: Matrix) -> None:
    public: dict[str, set[str]] = {}
    for route in _routes(matrix.app):
        if route.public:
            public.setdefault(route.path, set()).add(route.method)
    assert {p: frozenset(ms) for p, ms in public.items()} == PUBLIC_ROUTES


async def test_every_route_declares_who_it_admits(matrix: Matrix) -> None:
    """Deny by default holds only if nothing relies on it by accident: every route but Litestar's own OPTIONS
    answers names its roles or is on the public list."""
    undeclared = [f"{r.method} {r.path}" for r in _routes(matrix.app) if not r.public and not r.roles]
    assert all(entry.startswith("OPTIONS ") for entry in undeclared), undeclared


async def test_every_route_for_every_role_in_both_jurisdictions(matrix: Matrix) -> None:
    findings: list[Finding] = []
    cells = list(_cells(matrix))
    assert len(cells) > 80  # the table is really walked
    for caller in matrix.callers:
        other = matrix.pr if caller.home is SC else matrix.sc
        who = f"{caller.role.value}@{caller.home.uf}"
        for route, url, params, body in cells:
            response = await _call(matrix, caller, route, url, body)
            where = f"{route.method} {url}"
            if response.status_code >= 500:
                findings.append(Finding(who, where, response.status_code, response.text[:200]))
                continue
            if route.roles is not None and caller.role not in route.roles and response.status_code not in DENIED:
                findings.append(Finding(who, where, response.status_code, "role not admitted but not refused"))
            leaked = other.leaks(_without_echo(response.text, url))
            if leaked:
                findings.append(Finding(who, where, response.status_code, f"other jurisdiction's data: {leaked}"))
            targets_other = (params & PRIVATE_PARAMS) or body.get("foreign") or params & {"cnes"}
            if other is matrix.sc and targets_other and response.status_code < 400:
                findings.append(Finding(who, where, response.status_code, "reached a resource of another UF"))
    report = "\n".join(f"{f.caller:>16} {f.status} {f.route}: {f.problem}" for f in findings)
    assert not findings, f"{len(findings)} findings:\n{report}"


async def test_each_world_is_seen_from_inside(matrix: Matrix) -> None:
    """The control of the matrix: the identifiers it looks for do show up where they belong, so an empty finding
    list means "not shown", not "not searched for"."""
    checks = [
        ("GET", "/api/v1/entries", Role.REGULADOR),
        ("GET", "/regulacao/entradas", Role.REGULADOR),
        ("GET", "/api/v1/allocation/runs", Role.GESTOR),
        ("GET", "/api/v1/slots", Role.EXECUTANTE),
        ("GET", "/navegacao", Role.NAVEGADOR),
    ]
    for method, path, role in checks:
        for world in (matrix.sc, matrix.pr):
            caller = next(c for c in matrix.callers if c.role is role and c.home is world.place)
            response = await _call(matrix, caller, Route(path, method, None, False), path, {})
            assert response.status_code == 200, (path, response.text[:300])
            assert world.leaks(response.text), f"{path} shows {role.value}@{world.place.uf} nothing of their own"


async def test_options_answers_carry_no_data(matrix: Matrix) -> None:
    caller = next(c for c in matrix.callers if c.role is Role.ADMIN and c.home is PR)
    for route in _routes(matrix.app):
        if route.method == "OPTIONS" and not route.public:
            url, _ = _fill(matrix, route)
            response = await _call(matrix, caller, route, url, {})
            assert response.status_code in {*DENIED, 204}, (url, response.status_code)
            assert not matrix.sc.leaks(_without_echo(response.text, url)), url


async def test_a_route_without_policy_is_denied(matrix: Matrix, settings: Settings) -> None:
    from litestar import get

    from regula.web.app import create_app

    @get("/api/v1/sem-politica", sync_to_thread=False)
    def forgotten() -> dict[str, str]:
        return {"segredo": "não"}

    maker = async_sessionmaker(bind=matrix.connection, expire_on_commit=False, join_transaction_mode="create_savepoint")
    caller = next(c for c in matrix.callers if c.role is Role.ADMIN and c.home is SC)
    async with app_client(create_app(settings, maker, extra_routes=[forgotten])) as client:
        savepoint = await matrix.connection.begin_nested()
        try:
            response = await client.get("/api/v1/sem-politica", headers={"Authorization": f"Bearer {caller.token}"})
        finally:
            await savepoint.rollback()
    assert response.status_code == 403 and response.json()["code"] == "rota_sem_politica"
