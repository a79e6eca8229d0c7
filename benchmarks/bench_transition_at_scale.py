"""What one regulator's click costs in a São Paulo-sized queue (issue 18 items 1 and 7), run by hand (never by
pytest)::

    .venv/bin/python -m benchmarks.bench_transition_at_scale URL [--queues 5] [--note-during-repositioning]
        [--note-during-click N]

``URL`` is a database holding a state's waitlist, e.g. a copy of ``bench_cycle``'s template (``CREATE DATABASE x
TEMPLATE regula_bench_cycle_…``; a million waiting entries in ~580 queues). It is changed: use a copy.

A suspension takes the entry out of its queue, and its resumption puts it back; each recomputes the stored
positions of the whole queue in the same transaction (``service.recompute_positions`` with the queue's key). Every
entry behind it moves, and every entry of the queue stores the queue's size, so the whole queue is rewritten
wherever the entry stood. Per queue, the ``--queues`` largest: the entry at the head and the one at the tail, each
suspended then resumed through ``service.transition``, one transaction per click as the page and the API run it.
The baseline, in the same run: the same clicks in the ``--queues`` smallest queues (the cost of a click without a
large rewrite). Printed: each click's wall seconds, and the medians.

Then, with ``--note-during-repositioning``: what a navigator waits for while a state's allocation commit
repositions every queue. Every waiting entry's ``position_updated_at`` is cleared (so the repositioning rewrites all
of them), one transaction runs ``service.recompute_positions`` of every queue and stays open ``--hold`` seconds after
it, as a commit's does while it writes its bookings and messages; ``--after`` seconds after the repositioning's
statement, another connection writes a note on a waiting entry (a row of ``waitlist_entry_event``, which refers to
the entry). Printed: the repositioning's seconds, its rows, and how long the note waited.

And with ``--note-during-click``: what a navigator waits for while a regulator suspends the same entry in a large
queue (decision 0008, the entry's own lock). In the largest queue, the head is suspended through
``service.transition`` (its lock, its history, its queue's repositioning, then the commit); as soon as the click's
transaction holds the entry (``lock_entries``, taken first in the same transaction, as ``transition`` takes it), a
second connection writes a note on that entry. Printed: the click's seconds and how long the note waited. The entry
is resumed afterwards (a second click, not timed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from pathlib import Path
from tempfile import mkdtemp
from typing import Any

from pydantic import SecretStr
from sqlalchemy import text

from benchmarks.bench_allocation import machine
from regula.access.policy import Jurisdiction
from regula.audit.service import AuditContext, set_context
from regula.audit.service import install as install_audit
from regula.config import Settings
from regula.db.engine import make_database
from regula.db.limits import install as install_length_limits
from regula.models import load_all_models
from regula.waitlist import service as wl
from regula.wiring import wire

_QUEUES = """
SELECT oci_code, scope_kind, scope_code, count(*) AS n FROM waitlist_entry WHERE status = 'autorizada'
GROUP BY 1, 2, 3 HAVING count(*) >= 2 ORDER BY n {order} LIMIT :k
"""
_ENDS = """
SELECT (SELECT id FROM waitlist_entry JOIN waitlist_standing ON entry_id = id WHERE status = 'autorizada'
          AND oci_code = :o AND scope_kind = :sk AND scope_code = :sc ORDER BY position ASC LIMIT 1),
       (SELECT id FROM waitlist_entry JOIN waitlist_standing ON entry_id = id WHERE status = 'autorizada'
          AND oci_code = :o AND scope_kind = :sk AND scope_code = :sc ORDER BY position DESC LIMIT 1)
"""


async def _click(db: Any, settings: Settings, actor: wl.Actor, entry_id: int, target: str) -> float:
    t0 = time.perf_counter()
    async with db.transaction() as session:
        set_context(session, AuditContext.system("bench", "bench_transition_at_scale"))
        reason = "adiamento_pelo_paciente" if target == "suspensa" else None
        await wl.transition(session, entry_id, target, actor, settings, reason_code=reason)
    return time.perf_counter() - t0


def _open(url: str) -> tuple[Settings, Any]:
    settings = Settings(
        home=Path(mkdtemp(prefix="bench-transition-")),
        database_url=SecretStr(url),
        environment="test",
        log_json=False,
        log_level="WARNING",
    )
    return settings, make_database(url, pool_size=2)


async def run(url: str, k: int) -> dict[str, Any]:
    settings, db = _open(url)
    actor = wl.Actor("bench.regulador", "regulador", None, Jurisdiction.parse("uf:SC", "scope"))
    rows: list[dict[str, Any]] = []
    try:
        async with db.transaction() as session:
            largest = (await session.execute(text(_QUEUES.format(order="DESC")), {"k": k})).all()
            smallest = (await session.execute(text(_QUEUES.format(order="ASC")), {"k": k})).all()
        for size, (oci, kind, code, n) in [("large", q) for q in largest] + [("small", q) for q in smallest]:
            async with db.transaction() as session:
                params = {"o": oci, "sk": kind, "sc": code}
                head, tail = (await session.execute(text(_ENDS), params)).one()
            row: dict[str, Any] = {"size": size, "queue": f"{oci}:{kind}:{code}", "waiting": int(n)}
            for name, entry_id in (("tail", tail), ("head", head)):
                row[f"{name}_suspend_s"] = round(await _click(db, settings, actor, entry_id, "suspensa"), 3)
                row[f"{name}_resume_s"] = round(await _click(db, settings, actor, entry_id, "autorizada"), 3)
            rows.append(row)
            print(json.dumps(row), flush=True)
    finally:
        await db.dispose()

    keys = ("head_suspend_s", "head_resume_s", "tail_suspend_s", "tail_resume_s")
    out: dict[str, Any] = {}
    for size in ("large", "small"):
        group = [r for r in rows if r["size"] == size]
        out[size] = {
            "queues": len(group),
            "median_waiting": int(statistics.median(r["waiting"] for r in group)),
            **{f"median_{key}": round(statistics.median(r[key] for r in group), 3) for key in keys},
        }
    return out


_NOTE = "INSERT INTO waitlist_entry_event (entry_id, kind, reason_text) VALUES ($1, 'note', 'contato registrado')"


async def _timed_note(dsn: str, entry_id: int) -> float:
    """Seconds a navigator's note on ``entry_id`` takes from its own connection (the wait for any lock included)."""
    import asyncpg  # type: ignore[import-untyped]

    conn = await asyncpg.connect(dsn)
    try:
        t0 = time.perf_counter()
        await conn.execute(_NOTE, entry_id)
        return round(time.perf_counter() - t0, 3)
    finally:
        await conn.close()


async def note_during_repositioning(url: str, after: float, hold: float) -> dict[str, Any]:
    settings, db = _open(url)
    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    try:
        async with db.transaction() as session:
            await session.execute(
                text(
                    "UPDATE waitlist_standing s SET position_updated_at = NULL FROM waitlist_entry e "
                    "WHERE e.id = s.entry_id AND e.status = 'autorizada'"
                )
            )
            entry_id = (
                await session.execute(text("SELECT min(id) FROM waitlist_entry WHERE status = 'autorizada'"))
            ).scalar_one()
        out: dict[str, Any] = {}

        repositioned = asyncio.Event()

        async def reposition() -> None:
            async with db.transaction() as session:
                set_context(session, AuditContext.system("bench", "bench_transition_at_scale"))
                t0 = time.perf_counter()
                out["rows"] = await wl.recompute_positions(session, settings, None)
                out["repositioning_s"] = round(time.perf_counter() - t0, 2)
                repositioned.set()
                await asyncio.sleep(hold)

        async def note() -> None:
            await repositioned.wait()
            await asyncio.sleep(after)
            out["note_waited_s"] = await _timed_note(dsn, entry_id)

        await asyncio.gather(reposition(), note())
        return out
    finally:
        await db.dispose()


async def note_during_click(url: str) -> dict[str, Any]:
    settings, db = _open(url)
    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    actor = wl.Actor("bench.regulador", "regulador", None, Jurisdiction.parse("uf:SC", "scope"))
    try:
        async with db.transaction() as session:
            oci, kind, code, n = (await session.execute(text(_QUEUES.format(order="DESC")), {"k": 1})).one()
            head, _ = (await session.execute(text(_ENDS), {"o": oci, "sk": kind, "sc": code})).one()
        out: dict[str, Any] = {"queue": f"{oci}:{kind}:{code}", "waiting": int(n)}
        locked = asyncio.Event()

        async def click() -> None:
            t0 = time.perf_counter()
            async with db.transaction() as session:
                set_context(session, AuditContext.system("bench", "bench_transition_at_scale"))
                await wl.lock_entries(session, [head])
                locked.set()
                await wl.transition(session, head, "suspensa", actor, settings, reason_code="adiamento_pelo_paciente")
            out["click_s"] = round(time.perf_counter() - t0, 3)

        async def note() -> None:
            await locked.wait()
            out["note_waited_s"] = await _timed_note(dsn, head)

        await asyncio.gather(click(), note())
        await _click(db, settings, actor, head, "autorizada")
        return out
    finally:
        await db.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("url", help="postgresql+asyncpg://… of a copy of a state's database (it is changed)")
    ap.add_argument("--queues", type=int, default=5)
    ap.add_argument("--note-during-repositioning", action="store_true")
    ap.add_argument("--note-during-click", type=int, default=0, metavar="N", help="N clicks with a note each")
    ap.add_argument("--after", type=float, default=1.0, help="seconds after the repositioning the note is written")
    ap.add_argument("--hold", type=float, default=5.0, help="seconds the transaction stays open after it")
    args = ap.parse_args()
    load_all_models()
    wire()
    install_audit()
    install_length_limits()
    print(json.dumps({"machine": machine()}), flush=True)
    if args.queues:
        print(json.dumps(asyncio.run(run(args.url, args.queues))), flush=True)
    if args.note_during_repositioning:
        print(json.dumps(asyncio.run(note_during_repositioning(args.url, args.after, args.hold))), flush=True)
    for _ in range(args.note_during_click):
        print(json.dumps(asyncio.run(note_during_click(args.url))), flush=True)


if __name__ == "__main__":
    main()
