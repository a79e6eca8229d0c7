"""Bad input is a 4xx problem document that names the field, never a 500, and leaves nothing half-saved
(issue 11, item 9): NUL characters, integers beyond PostgreSQL's bigint, absurd ages and day counts, JSON nested
beyond reason, files that are not UTF-8, bodies past the size limit, the same CPF registered twice at once."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from litestar import Request, get
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from tests.conftest import Login, app_client
from typer.testing import CliRunner

from regula.config import Settings
from regula.db.engine import make_sessionmaker
from regula.inputs import MAX_BODY_BYTES, MAX_IMPORT_BYTES, MAX_JSON_DEPTH
from regula.people.documents import generate_cpf
from regula.web.app import create_app

MakeUser = Callable[..., Awaitable[Login]]
FLORIANOPOLIS = "4205407"
OCI = "0902010026"
BEYOND_BIGINT = str(2**63)
rng = random.Random(20261204)


def citizen_body(**over: Any) -> dict[str, Any]:
    body = {
        "cpf": generate_cpf(rng),
        "name": "Maria das Dores Silva",
        "birth_date": "1960-05-17",
        "sex": "F",
        "race_color": "parda",
        "municipality_ibge": FLORIANOPOLIS,
        "phone": "(48) 99988-7766",
        "preferred_channel": "sms",
        "contact_consent": True,
    }
    return body | over


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def refused(response: httpx.Response, status: int, code: str, field: str) -> None:
    """The response is a problem document with ``status``, naming ``field`` with ``code``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body = response.json()
    assert body["status"] == status
    assert (field, code) in {(e["field"], e["code"]) for e in body.get("errors", [])}, body


async def count(session: AsyncSession, sql: str, **params: Any) -> int:
    return int((await session.execute(text(sql), params)).scalar_one())


@pytest.fixture
async def admin(make_user: MakeUser) -> Login:
    return await make_user("admin", "br")


# -- NUL characters ------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("reference_data")
async def test_nul_in_query_path_json_and_form_is_a_422_naming_the_field(
    client: httpx.AsyncClient, make_user: MakeUser, admin: Login, session: AsyncSession
) -> None:
    refused(await client.get("/api/v1/entries?oci=09%0002", headers=admin.headers), 422, "caractere_nulo", "oci")
    refused(await client.get("/api/v1/citizens?cns=%00", headers=admin.headers), 422, "caractere_nulo", "cns")
    response = await client.get("/api/v1/queues/policies/a%00b", headers=admin.headers)
    refused(response, 422, "caractere_nulo", "queue_key")

    aps = await make_user("solicitante", f"municipality:{FLORIANOPOLIS}")
    body = citizen_body(name="Maria\x00Silva")
    refused(await client.post("/api/v1/citizens", json=body, headers=aps.headers), 422, "caractere_nulo", "name")
    assert await count(session, "SELECT count(*) FROM citizen WHERE cpf = :cpf", cpf=body["cpf"]) == 0

    referral = {
        "citizen": citizen_body(social_name="\x00"),
        "oci_code": OCI,
        "cid_code": "I10",
        "risk_class": "amarelo",
        "risk_justification": "Dor torácica.",
        "requesting_cnes": "2691868",
        "checklist": {"ecg\x00": True},
    }
    response = await client.post("/api/v1/referrals", json=referral, headers=aps.headers)
    assert response.status_code == 422, response.text
    assert {e["field"] for e in response.json()["errors"]} & {"citizen.social_name", "checklist"}
    assert await count(session, "SELECT count(*) FROM waitlist_entry") == 0

    # A form post (the login page): the same rule, on an HTML error page.
    page = await client.post("/login", data={"username": "admin\x00", "password": "x"}, headers={"Accept": "text/html"})
    assert page.status_code == 422, page.text


@pytest.mark.usefixtures("reference_data")
async def test_text_longer_than_its_column_is_a_422_naming_the_field(
    client: httpx.AsyncClient, make_user: MakeUser, admin: Login, session: AsyncSession
) -> None:
    aps = await make_user("solicitante", f"municipality:{FLORIANOPOLIS}")
    body = citizen_body(name="Ana " + "x" * 5000)
    response = await client.post("/api/v1/citizens", json=body, headers=aps.headers)
    refused(response, 422, "texto_longo_demais", "name")
    assert await count(session, "SELECT count(*) FROM citizen WHERE cpf = :cpf", cpf=body["cpf"]) == 0
    response = await client.post("/api/v1/tokens", json={"name": "t" * 5000}, headers=admin.headers)
    refused(response, 422, "texto_longo_demais", "name")


# -- integers beyond 64 bits, ages and day counts ------------------------------------------------------------


@pytest.mark.usefixtures("reference_data")
async def test_integers_beyond_bigint_are_a_422_naming_the_parameter(
    client: httpx.AsyncClient, admin: Login, session: AsyncSession
) -> None:
    h = admin.headers
    refused(await client.get(f"/api/v1/citizens/{BEYOND_BIGINT}", headers=h), 422, "numero_grande_demais", "citizen_id")
    refused(await client.get(f"/api/v1/entries/{'9' * 30}", headers=h), 422, "numero_grande_demais", "entry_id")
    response = await client.post(f"/api/v1/allocation/runs/{BEYOND_BIGINT}/approve", headers=h)
    refused(response, 422, "numero_grande_demais", "run_id")
    response = await client.get(f"/api/v1/messages?entry_id={BEYOND_BIGINT}", headers=h)
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "entry_id", response.text
    response = await client.get(f"/api/v1/audit?before_id={BEYOND_BIGINT}", headers=h)
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "before_id", response.text

    import base64

    cursor = base64.urlsafe_b64encode(json.dumps([2**64]).encode()).decode()
    refused(await client.get(f"/api/v1/entries?cursor={cursor}", headers=h), 422, "cursor_invalido", "cursor")

    for name, value in (("age_min", 9213), ("age_max", 9213), ("min_days_waiting", 10**11)):
        response = await client.get(f"/api/v1/entries?{name}={value}", headers=h)
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["field"] == name

    response = await client.post("/api/v1/allocation/runs", json={"scope": "uf:SC", "horizon_days": 10**20}, headers=h)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "horizon_days"
    assert await count(session, "SELECT count(*) FROM allocation_run") == 0

    # In a body: an integer of thousands of digits, where the declaration says a bounded one.
    body = '{"scope": "uf:SC", "horizon_days": ' + "9" * 5000 + "}"
    response = await client.post(
        "/api/v1/allocation/runs", content=body, headers=h | {"content-type": "application/json"}
    )
    refused(response, 422, "json_invalido", "body")


def test_age_filters_count_back_from_29_february() -> None:
    """``age_min``/``age_max`` on a 29 February: no 500 for a date that does not exist, and the same count as
    ``age_on``."""
    from regula.people.service import age_on, born_by

    leap_day = date(2028, 2, 29)
    assert born_by(leap_day, 1) == date(2027, 2, 28)
    assert born_by(leap_day, 4) == date(2024, 2, 29)
    for years in (1, 4, 60, 150):
        latest = born_by(leap_day, years)
        assert age_on(latest, leap_day) >= years > age_on(latest + timedelta(days=1), leap_day)


async def test_a_value_the_database_refuses_is_a_422_as_a_last_resort(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], make_user: MakeUser
) -> None:
    """Behind the declarations: whatever still reaches PostgreSQL out of range is the caller's input, not a 500."""
    from regula.access.policy import Role, allow
    from regula.http.state import sessionmaker_from

    @get("/api/v1/test-undeclared-bound", opt=allow(Role.ADMIN))
    async def undeclared(request: Request[Any, Any, Any], value: int) -> int:
        async with sessionmaker_from(request.app.state)() as s:
            return int((await s.execute(text("SELECT CAST(:v AS bigint)"), {"v": value})).scalar_one())

    admin = await make_user("admin", "br")
    async with app_client(create_app(settings, sessionmaker, extra_routes=[undeclared])) as c:
        ok = await c.get("/api/v1/test-undeclared-bound?value=7", headers=admin.headers)
        assert ok.status_code == 200 and ok.json() == 7
        response = await c.get(f"/api/v1/test-undeclared-bound?value={BEYOND_BIGINT}", headers=admin.headers)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "valor_fora_do_intervalo"


# -- JSON nested deep ----------------------------------------------------------------------------------------


@pytest.mark.usefixtures("reference_data")
@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 1000, 100_000])
async def test_json_nested_deep_is_a_422(
    client: httpx.AsyncClient, make_user: MakeUser, admin: Login, session: AsyncSession, depth: int
) -> None:
    aps = await make_user("solicitante", f"municipality:{FLORIANOPOLIS}")
    deep = "[" * depth + "]" * depth
    as_json = {"content-type": "application/json"}

    response = await client.post("/api/v1/citizens", content=f'{{"name": {deep}}}', headers=aps.headers | as_json)
    refused(response, 422, "json_aninhado_demais", "body")
    assert await count(session, "SELECT count(*) FROM citizen") == 0

    before = await count(session, "SELECT count(*) FROM priority_policy")
    response = await client.put(
        "/api/v1/queues/policies/default", content=f'{{"params": {deep}}}', headers=admin.headers | as_json
    )
    refused(response, 422, "json_aninhado_demais", "body")
    assert await count(session, "SELECT count(*) FROM priority_policy") == before

    # The import reads its own JSON (a list of rows): one too deep for the decoder is a file-level 422.
    if depth >= 1000:
        response = await client.post("/api/v1/referrals/import", content=f"[{deep}]", headers=aps.headers | as_json)
        refused(response, 422, "json_aninhado_demais", "arquivo")
        assert await count(session, "SELECT count(*) FROM waitlist_entry") == 0


async def test_json_within_the_depth_limit_is_read(client: httpx.AsyncClient, admin: Login) -> None:
    """The limit refuses only the absurd: a document MAX_JSON_DEPTH deep reaches the handler's own validation."""
    body = json.dumps({"params": nested(MAX_JSON_DEPTH - 2)})
    response = await client.put(
        "/api/v1/queues/policies/default", content=body, headers=admin.headers | {"content-type": "application/json"}
    )
    assert response.status_code == 422, response.text
    assert response.json()["code"] != "json_aninhado_demais"


# -- files ---------------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("reference_data")
async def test_agenda_that_is_not_utf8_or_has_no_file_is_a_422(
    client: httpx.AsyncClient, admin: Login, session: AsyncSession
) -> None:
    latin1 = (
        "cnes;oci;data;hora;modalidade;capacidade;id_externo\n2691868;0902010026;2026-12-10;08:00;presencial;1;São\n"
    )
    files = {"data": ("agenda.csv", latin1.encode("latin-1"), "text/csv")}
    response = await client.post("/api/v1/agendas/import", files=files, headers=admin.headers)
    refused(response, 422, "arquivo_nao_utf8", "arquivo")

    files = {"data": ("agenda.csv", latin1.replace("São", "S\x00o").encode(), "text/csv")}
    response = await client.post("/api/v1/agendas/import", files=files, headers=admin.headers)
    refused(response, 422, "caractere_nulo", "arquivo")
    assert await count(session, "SELECT count(*) FROM agenda_slot") == 0

    response = await client.post(
        "/api/v1/agendas/import",
        content=b"",
        headers=admin.headers | {"content-type": "multipart/form-data; boundary=x"},
    )
    refused(response, 422, "obrigatorio", "data")
    response = await client.post(
        "/api/v1/agendas/import", files={"outro": ("a.txt", b"x", "text/plain")}, headers=admin.headers
    )
    assert response.status_code == 422, response.text
    assert "data" in {e["field"] for e in response.json().get("errors", [])}, response.text


@pytest.mark.usefixtures("reference_data")
async def test_import_rows_with_nul_are_refused_by_name(
    client: httpx.AsyncClient, admin: Login, session: AsyncSession
) -> None:
    rows = [
        {
            "id_externo": "NUL-1",
            "cpf": generate_cpf(rng),
            "nome": "Jos\x00é",
            "data_nascimento": "1960-05-17",
            "sexo": "M",
            "raca_cor": "parda",
            "municipio_ibge": FLORIANOPOLIS,
            "oci": OCI,
            "cid": "I10",
            "classe_risco": "amarelo",
            "justificativa": "Dor.",
            "cnes_solicitante": "2691868",
            "checklist": {"ecg\x00": True},
        }
    ]
    response = await client.post("/api/v1/referrals/import", json=rows, headers=admin.headers)
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["imported"], report["refused"]) == (0, 1)
    assert {(e["field"], e["code"]) for e in report["errors"]} >= {("name", "caractere_nulo")}, report
    assert await count(session, "SELECT count(*) FROM citizen") == 0


async def test_bodies_beyond_the_limit_are_a_413_problem(client: httpx.AsyncClient, admin: Login) -> None:
    as_json = admin.headers | {"content-type": "application/json"}
    response = await client.post("/api/v1/citizens", content=b" " * (MAX_BODY_BYTES + 1), headers=as_json)
    assert response.status_code == 413
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "requisicao_grande_demais"

    as_csv = admin.headers | {"content-type": "text/csv"}
    # An import may be larger than a JSON body, up to its own limit.
    response = await client.post("/api/v1/referrals/import", content=b"a" * (MAX_BODY_BYTES + 1), headers=as_csv)
    assert response.status_code == 422, response.text
    response = await client.post("/api/v1/referrals/import", content=b"a" * (MAX_IMPORT_BYTES + 1), headers=as_csv)
    assert response.status_code == 413
    assert response.json()["code"] == "requisicao_grande_demais"


# -- the same CPF at the same time ---------------------------------------------------------------------------


@pytest.fixture
async def own_engine(fresh_database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(fresh_database_url, pool_size=4)
    async with make_sessionmaker(engine)() as s:
        from regula.territory.service import load_territory

        await load_territory(s)
        await s.commit()
    yield engine
    await engine.dispose()


async def test_same_cpf_created_concurrently_is_a_409_naming_cpf(
    own_engine: AsyncEngine, fresh_database_url: str, tmp_path: Path
) -> None:
    """The look-up finds nobody for both requests; the unique index decides, and the loser is a 409."""
    from regula.access import service as access
    from regula.people import service as people
    from regula.people.schemas import CitizenCreate

    settings = Settings(home=tmp_path, database_url=SecretStr(fresh_database_url), environment="test", log_json=False)
    sessions = make_sessionmaker(own_engine)
    async with sessions() as s:
        await access.create_user(
            s, username="aps", full_name="APS", role="solicitante", jurisdiction="br", password="x" * 16
        )
        _, token = await access.create_token(s, "aps")
        await s.commit()
    body = citizen_body()

    async with sessions() as first, app_client(create_app(settings, sessions)) as client:
        # The first registration is written but not yet committed: the request cannot see it and must wait on
        # the unique index until it commits.
        data = msgspec.convert(body, CitizenCreate)
        created = await people.create_citizen(first, data, date(2026, 12, 4))
        second = asyncio.create_task(
            client.post("/api/v1/citizens", json=body, headers={"Authorization": f"Bearer {token}"})
        )
        await asyncio.sleep(0.5)
        assert not second.done()
        await first.commit()
        response = await second

    refused(response, 409, "cidadao_duplicado", "cpf")
    assert response.json()["existing_id"] == created.id
    async with own_engine.connect() as conn:
        n = (await conn.execute(text("SELECT count(*) FROM citizen WHERE cpf = :c"), {"c": body["cpf"]})).scalar()
    assert n == 1


# -- the command line ----------------------------------------------------------------------------------------


async def _reference_data(url: str, home: Path) -> None:
    from regula.catalog.service import bundled_sigtap_zip, import_sigtap
    from regula.territory.service import load_territory

    engine = create_async_engine(url)
    try:
        async with make_sessionmaker(engine)() as s:
            await load_territory(s)
            await import_sigtap(s, bundled_sigtap_zip(), Settings(home=home, database_url=SecretStr(url)))
            await s.commit()
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def cli_database(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A committed database with the reference data: the import reads the catalog before the file."""
    from tests.conftest import throwaway_database

    with throwaway_database(database_url, "regula_bad_input_cli") as url:
        asyncio.run(_reference_data(url, tmp_path_factory.mktemp("seed-home")))
        yield url


@pytest.fixture
def cli(cli_database: str, tmp_path: Path) -> CliRunner:
    fresh_database_url = cli_database
    env = {
        "REGULA_DATABASE_URL": fresh_database_url,
        "REGULA_HOME": str(tmp_path / "home"),
        "REGULA_LOG_JSON": "false",
        "REGULA_LOG_LEVEL": "WARNING",
        "COLUMNS": "200",
    }
    return CliRunner(env=env)


@pytest.mark.parametrize(
    ("content", "code"),
    [
        ("[" + "[" * 5000 + "]" * 5000 + "]", "json_aninhado_demais"),
        (b"\xff\xfe\x00\x01binario", "arquivo_nao_utf8"),
        ('[{"id_externo": "1"}, {', "json_malformado"),
        ('[{"id_externo": ' + "1" * 5000 + "}]", "json_malformado"),  # past Python's int conversion limit
    ],
)
def test_cli_import_referrals_exits_2_with_a_message_on_a_file_it_cannot_parse(
    cli: CliRunner, tmp_path: Path, content: str | bytes, code: str
) -> None:
    from regula.waitlist.cli import import_app

    path = tmp_path / "arquivo.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    result = cli.invoke(import_app, ["referrals", str(path), "--format", "json"])
    assert result.exit_code == 2, result.output
    assert code in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception


def test_cli_agendas_import_exits_2_on_a_file_not_in_utf8(cli: CliRunner, tmp_path: Path) -> None:
    from regula.providers.cli import app

    path = tmp_path / "agenda.csv"
    path.write_bytes("cnes;oci;data\n2691868;0902010026;Março\n".encode("latin-1"))
    result = cli.invoke(app, [str(path)])
    assert result.exit_code == 2, result.output
    assert "arquivo_nao_utf8" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
