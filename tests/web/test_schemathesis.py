"""A bounded schemathesis run against the app's own OpenAPI document (issue 11, item 10): every documented
operation, called as an admin with data generated from the document, must answer without a server error, with a
status the document declares and a body that matches the declared schema.

The app runs in-process (schemathesis' ASGI transport, which serves every request from one event loop of its own)
on a database of the test's own, with the reference data and a small demonstration load committed, so generated
requests meet real citizens, entries, establishments and queues. Each operation runs with generated data (path
parameters mostly unknown ids: the 404 path), with path parameters that name existing records (the paths past the
look-up), and with data made invalid on purpose (only "no server error" is judged there). The engine has no pool:
a connection never outlives the loop that opened it.

Bounded for CI by a fixed number of examples per operation (derandomized, so a failure reproduces): the work is
the same on every machine. The wall clock only guards against a hang (``HANG_GUARD_SECONDS``, several times what
the run takes on a loaded 2-core machine); the test never judges speed — timings live in benchmarks/.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable
from pydantic import SecretStr
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from regula.config import Settings
from regula.db.engine import make_sessionmaker

#: Generated cases per operation, and again with existing ids in the path.
EXAMPLES = 12
EXAMPLES_WITH_KNOWN_IDS = 6
NEGATIVE_EXAMPLES = 8
#: Against a hang only: generation stops after this, and the operations left untested fail the test.
HANG_GUARD_SECONDS = 900
DEMO_CITIZENS = 150
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
#: Generated ids would sooner or later revoke the run's own token (ids start at 1): only the spare one is revoked.
ONLY_KNOWN_IDS = {"POST /api/v1/tokens/{token_id}/revoke"}


@dataclass
class Fixture:
    token: str
    path_values: dict[str, Any]


async def _seed(url: str, settings: Settings) -> Fixture:
    from regula.access import service as access
    from regula.access.actor import Actor
    from regula.allocation.service import propose_now
    from regula.audit.service import AuditContext, set_context
    from regula.catalog.service import bundled_sigtap_zip, import_sigtap
    from regula.demo import load_demo_data
    from regula.territory.service import load_territory

    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with make_sessionmaker(engine)() as s:
            set_context(s, AuditContext.system("cli", "test_schemathesis"))
            await load_territory(s)
            await import_sigtap(s, bundled_sigtap_zip(), settings)
            await s.commit()
            await load_demo_data(s, settings, citizens=DEMO_CITIZENS)
            await access.create_user(
                s, username="schemathesis", full_name="Schemathesis", role="admin", jurisdiction="br", password="x" * 16
            )
            # A run to review, so the run's routes (and the instance document) answer past their 404.
            await propose_now(s, settings, "uf:SC", Actor.system("test_schemathesis"), horizon_days=30)
            _, token = await access.create_token(s, "schemathesis")
            spare, _ = await access.create_token(s, "schemathesis", name="revogavel")  # the run's to revoke
            await s.commit()

            async def first(sql: str) -> Any:
                return (await s.execute(text(sql))).scalar()

            values = {
                "citizen_id": await first("SELECT min(citizen_id) FROM waitlist_entry"),
                "entry_id": await first("SELECT min(id) FROM waitlist_entry WHERE status = 'autorizada'"),
                "task_id": await first("SELECT min(id) FROM navigation_task"),
                "counter_referral_id": await first("SELECT min(id) FROM counter_referral"),
                "procedure_id": await first("SELECT min(id) FROM oci_procedure"),
                "run_id": await first("SELECT min(id) FROM allocation_run"),
                "token_id": spare.id,
                "cnes": await first("SELECT min(cnes) FROM establishment"),
                "code": await first("SELECT min(oci_code) FROM waitlist_entry"),
                "health_region_code": await first("SELECT min(health_region_code) FROM municipality"),
                "queue_key": await first(
                    "SELECT oci_code || ':' || scope_kind || ':' || scope_code FROM waitlist_entry LIMIT 1"
                ),
            }
    finally:
        await engine.dispose()
    return Fixture(token, {k: v for k, v in values.items() if v is not None})


def test_schemathesis_run_has_no_server_error_and_no_schema_violation(fresh_database_url: str, tmp_path: Path) -> None:
    from regula.web.app import create_app

    settings = Settings(home=tmp_path, database_url=SecretStr(fresh_database_url), environment="test", log_json=False)
    fixture = asyncio.run(_seed(fresh_database_url, settings))
    engine = create_async_engine(fresh_database_url, poolclass=NullPool)
    app = create_app(settings, make_sessionmaker(engine))
    schema = schemathesis.openapi.from_asgi("/schema/openapi.json", app)
    headers = {"Authorization": f"Bearer {fixture.token}"}

    failures: list[str] = []
    tested: list[str] = []
    calls = 0
    succeeded: set[str] = set()
    deadline = time.monotonic() + HANG_GUARD_SECONDS

    def run(operation: Any, strategy: Any, examples: int, checks: list[Any] = CHECKS) -> None:
        @given(case=strategy)
        @hypothesis_settings(
            max_examples=examples,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            nonlocal calls
            if time.monotonic() > deadline:
                return
            calls += 1
            response = case.call(headers=headers)
            if response.status_code < 300:
                succeeded.add(operation.label)
            try:
                case.validate_response(response, checks=checks)
            except (AssertionError, BaseExceptionGroup) as exc:
                summary = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                failures.append(f"{operation.label} → {response.status_code}: {summary}\n{case.as_curl_command()}")

        check()

    operations = 0
    for result in schema.get_all_operations():
        operations += 1
        operation = result.ok()
        if operation.label not in ONLY_KNOWN_IDS:
            run(operation, operation.as_strategy(), EXAMPLES)
            # Invalid on purpose (wrong types, missing fields, out-of-schema values): never a 500. Statuses and
            # bodies are not judged here (a wrong content type is a 415, which no operation promises).
            with contextlib.suppress(Unsatisfiable):  # an operation with nothing to make invalid
                negative = operation.as_strategy(GenerationMode.NEGATIVE)
                run(operation, negative, NEGATIVE_EXAMPLES, [not_a_server_error])
        names = {p.name for p in operation.path_parameters}
        if names and names <= fixture.path_values.keys():
            known = operation.as_strategy(path_parameters={n: fixture.path_values[n] for n in names})
            run(operation, known, EXAMPLES_WITH_KNOWN_IDS)
        if time.monotonic() <= deadline:
            tested.append(operation.label)

    distinct = sorted(set(failures))
    assert not distinct, f"{len(distinct)} failures in {calls} calls:\n" + "\n\n".join(distinct[:40])
    assert len(tested) == operations, f"only {len(tested)} of {operations} operations ran before the hang guard"
    # The run reached the handlers (a revoked token or an empty database would turn everything into 401/404).
    assert len(succeeded) >= 25, f"only {len(succeeded)} operations ever succeeded: {sorted(succeeded)}"


async def test_openapi_declares_every_status_and_the_instance_as_an_object(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/schema/openapi.json")).json()["paths"]
    create = paths["/api/v1/citizens"]["post"]["responses"]
    assert {"201", "400", "401", "403", "404", "409", "413", "422", "429"} <= create.keys()
    problem = create["409"]["content"]["application/problem+json"]["schema"]
    assert problem.get("$ref", "").endswith("/Problem") or "code" in problem.get("properties", {})
    assert "429" in paths["/public/position"]["get"]["responses"]
    assert "401" not in paths["/public/position"]["get"]["responses"]  # public: nobody is asked to log in
    instance = paths["/api/v1/allocation/runs/{run_id}/instance"]["get"]["responses"]["200"]["content"]
    assert instance["application/json"]["schema"]["type"] == "object"
    assert not any(p.startswith("/schema") for p in paths)
