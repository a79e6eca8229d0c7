"""The domain-event hooks (regula.core.hooks) and their one wiring (regula.wiring)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from regula.allocation import backfill
from regula.core.clock import local_today
from regula.core.hooks import Hook, HookNotWired
from regula.navigation import care_loop
from regula.navigation import service as navigation
from regula.notify import events as notify
from regula.programs import service as programs
from regula.waitlist.events import ENTRY_LEFT_BOOKING, ENTRY_TRANSITIONED
from regula.waitlist.plans import PAR_APPROVAL
from regula.wiring import wire


async def test_subscribers_run_in_the_order_they_were_connected() -> None:
    seen: list[str] = []
    hook: Hook[int] = Hook("test")

    async def first(n: int) -> None:
        seen.append(f"first {n}")

    async def second(n: int) -> None:
        seen.append(f"second {n}")

    hook.connect(first, second)
    await hook.emit(7)
    assert seen == ["first 7", "second 7"]
    hook.connect(second)  # wiring again replaces, it does not append
    await hook.emit(8)
    assert seen == ["first 7", "second 7", "second 8"]


async def test_an_unwired_hook_refuses_to_drop_its_event() -> None:
    hook: Hook[int] = Hook("never.wired")
    with pytest.raises(HookNotWired, match=r"never\.wired"):
        await hook.emit(1)
    hook.connect()  # wired to nothing on purpose: emitting is then a no-op
    await hook.emit(1)


async def test_a_failing_subscriber_stops_the_chain_so_the_transaction_rolls_back() -> None:
    seen: list[str] = []
    hook: Hook[int] = Hook("test")

    async def boom(_: int) -> None:
        raise RuntimeError("falhou")

    async def after(_: int) -> None:
        seen.append("after")

    hook.connect(boom, after)
    with pytest.raises(RuntimeError):
        await hook.emit(1)
    assert seen == []


async def test_emit_many_gives_each_subscriber_the_batch_in_order() -> None:
    seen: list[str] = []
    hook: Hook[int] = Hook("test")

    async def one(n: int) -> None:
        seen.append(f"one {n}")

    async def many(ns: Sequence[int]) -> None:
        seen.append(f"many {list(ns)}")

    async def other(n: int) -> None:
        seen.append(f"other {n}")

    hook.connect(one, other, batches={one: many})
    await hook.emit_many([1, 2])
    assert seen == ["many [1, 2]", "other 1", "other 2"]
    await hook.emit(3)  # one event: the subscriber itself
    assert seen[-2:] == ["one 3", "other 3"]
    with pytest.raises(ValueError, match="not connected"):
        hook.connect(other, batches={one: many})
    unwired: Hook[int] = Hook("never.wired")
    with pytest.raises(HookNotWired):
        await unwired.emit_many([])


def test_wiring_connects_backfill_then_messages_then_tasks_then_the_care_loop() -> None:
    wire()
    wire()  # idempotent: every process and the test session may call it
    assert ENTRY_LEFT_BOOKING.subscribers == (backfill.on_entry_left_booking,)
    assert ENTRY_TRANSITIONED.subscribers == (
        notify.on_entry_transitioned,
        navigation.on_entry_transitioned,
        care_loop.on_entry_transitioned,
    )
    assert ENTRY_TRANSITIONED.batch_of(notify.on_entry_transitioned) is notify.on_entries_transitioned
    assert ENTRY_TRANSITIONED.batch_of(navigation.on_entry_transitioned) is None
    assert PAR_APPROVAL.lookup is programs.par_approval_for_municipality


def test_local_today_counts_in_the_regulation_centre_zone() -> None:
    class Settings:
        timezone = "America/Sao_Paulo"

    # 01:30 UTC on 2 March is still 1 March in Brasília (UTC-3).
    assert str(local_today(Settings(), lambda: datetime(2026, 3, 2, 1, 30, tzinfo=UTC))) == "2026-03-01"
