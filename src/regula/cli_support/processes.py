"""Processes that end together (issue 11, item 13).

``regula demo`` runs the web app and starts the scheduler as a child process; both attach to the embedded
PostgreSQL, which the last regula process to leave stops. That only works if every process leaves through its
clean-up code:

- SIGTERM (systemd, docker, ``kill``) raises ``SystemExit`` instead of killing the interpreter on the spot, so
  ``finally`` blocks and ``atexit`` run (Python's default for SIGTERM runs neither);
- a child started by ``start_child`` gets SIGTERM from the kernel when its parent dies, even of SIGKILL
  (Linux ``prctl(PR_SET_PDEATHSIG)``), and ``watch_parent`` notices a dead parent where that is not available;
- ``stop_child`` asks a child to stop and kills it if it has not within a grace period;
- ``WorkerPool`` (on ``worker_pool``) holds the jobs process's worker processes (the allocation solver) started
  the same way: they die with it, ``stop`` ends them at once when it stops, even in the middle of a solve, and a
  pool whose worker died is replaced before the next use.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import multiprocessing
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import BrokenExecutor, ProcessPoolExecutor
from functools import partial
from types import FrameType
from typing import Any, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def exit_on_sigterm() -> None:
    """From now on SIGTERM ends the process like ``sys.exit``: clean-up code runs."""

    def _exit(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _exit)


def _die_with_parent(parent: int) -> Callable[[], None]:
    def setup() -> None:  # runs in the child, between fork and exec
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return setup


def start_child(args: Sequence[str], env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    """Start a process that is sent SIGTERM when this one dies (Linux; elsewhere ``watch_parent`` covers it)."""
    preexec = _die_with_parent(os.getpid()) if sys.platform == "linux" else None
    return subprocess.Popen(list(args), env=dict(env), preexec_fn=preexec)  # noqa: S603 - our own CLI


def stop_child(process: subprocess.Popen[bytes], grace_seconds: float = 20.0) -> None:
    """SIGTERM, then SIGKILL after ``grace_seconds``: a job stuck in native code must not hold the exit."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=grace_seconds)
    except subprocess.TimeoutExpired:
        log.warning("child process did not stop in time: killed", extra={"pid": process.pid})
        process.kill()
        process.wait()


async def watch_parent(parent_pid: int, stop: asyncio.Event, interval: float = 1.0) -> None:
    """Set ``stop`` once the process's parent is no longer ``parent_pid``: an orphan is adopted by init (or a
    subreaper), so its parent id changes. The fallback for where PR_SET_PDEATHSIG is missing or was lost."""
    while not stop.is_set():
        if os.getppid() != parent_pid:
            log.warning("parent process ended: stopping", extra={"parent_pid": parent_pid})
            stop.set()
            return
        await asyncio.sleep(interval)


def _worker_dies_with(parent: int) -> None:
    """Initializer of a worker process: SIGTERM when ``parent`` dies (a spawned worker's parent is the process
    that started the pool)."""
    if sys.platform == "linux":
        _die_with_parent(parent)()


def worker_pool(max_workers: int = 1) -> ProcessPoolExecutor:
    """Worker processes for CPU-bound work, started fresh (``spawn``: no copy of the parent's event loop, threads
    or connections) and ended by the kernel if this process dies. Submit from the event loop's thread: the
    parent-death signal follows the thread that started the worker."""
    return ProcessPoolExecutor(
        max_workers=max_workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_worker_dies_with,
        initargs=(os.getpid(),),
    )


def stop_workers(pool: ProcessPoolExecutor) -> None:
    """End the pool's workers now, a solve in progress included (``shutdown`` alone would wait for it, and so would
    the interpreter's exit). Python 3.14 has ``terminate_workers``; until then, the pool's process table."""
    table: dict[int, multiprocessing.process.BaseProcess] = dict(getattr(pool, "_processes", None) or {})
    for process in table.values():
        if process.is_alive():
            process.terminate()
    pool.shutdown(wait=True, cancel_futures=True)


class WorkerPool:
    """The jobs process's worker processes, for CPU-bound work (the allocation solver): started on first use; a
    pool one of whose workers died (killed, out of memory) refuses all later work, so it is replaced before the
    next use; ``stop`` ends them. Use it from the event loop's thread (see ``worker_pool``)."""

    def __init__(self, max_workers: int = 1) -> None:
        self._max_workers = max_workers
        self._pool: ProcessPoolExecutor | None = None

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        if self._pool is None:
            self._pool = worker_pool(self._max_workers)
        pool = self._pool
        try:
            return await asyncio.get_running_loop().run_in_executor(pool, partial(fn, *args))
        except BrokenExecutor:
            if self._pool is pool:
                self._pool = None
                stop_workers(pool)
            raise

    def stop(self) -> None:
        if self._pool is not None:
            stop_workers(self._pool)
            self._pool = None
