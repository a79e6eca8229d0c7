"""PostgreSQL's memory and WAL settings sized to the machine (issue 18: "at the speed of the hardware").

PostgreSQL ships settings for a small shared machine: 128 MB of shared buffers and a checkpoint every 1 GB of WAL.
regula's nightly refresh, bulk import and allocation commit each write hundreds of thousands of rows spread over a
table and its indexes; with 128 MB of buffers nearly every index page they touch has to be read back from the
operating system, and with 1 GB of WAL a million-row write forces several checkpoints, each of which makes the next
change of every page write the whole page to the WAL again. ``docs/benchmarks.md`` ("PostgreSQL sized to the
machine") measures what these settings change on a 2-core, 24 GB machine.

The rules are the usual ones for a server that runs only PostgreSQL and regula:

- ``shared_buffers``: a quarter of the memory, at least PostgreSQL's default and at most 8 GB (the operating
  system's cache holds the rest; beyond ~8 GB the gains are small and checkpoints get longer);
- ``effective_cache_size``: half of the memory (what the planner may assume is cached, buffers included);
- ``maintenance_work_mem``: a sixteenth of the memory, between 64 MB and 1 GB (index builds, vacuum);
- ``work_mem``: 16 MB when the machine has at least 4 GB (sorts and hashes per operation; the pool opens few
  connections, so many such operations never run at once);
- ``max_wal_size``: 8 GB, or a twentieth of the free disk (whole GB) when that is less, never below 1 GB (so a bulk
  write is not cut by checkpoints forced by WAL volume); ``checkpoint_timeout`` 15 min, default completion target;
- ``wal_compression``: on (full-page images compressed; little CPU for much less WAL).

Nothing here changes durability: ``fsync``, ``synchronous_commit`` and ``full_page_writes`` stay as PostgreSQL ships
them (decision 0024 turns ``synchronous_commit`` off per transaction for audited reads only).

:func:`sized_settings` is pure; :func:`machine_memory_bytes` reads the machine (and a container's memory limit).
The embedded server (:mod:`regula.db.embedded`) writes them to its data directory; ``regula db settings`` prints
them for an external server's ``postgresql.conf``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Final

MiB: Final = 1024 * 1024
GiB: Final = 1024 * MiB

_DEFAULT_SHARED_BUFFERS: Final = 128 * MiB
_MAX_SHARED_BUFFERS: Final = 8 * GiB
_MIN_WAL: Final = 1 * GiB
_MAX_WAL: Final = 8 * GiB


def _size(n: int) -> str:
    """PostgreSQL's size syntax, in whole MB (every value here is a multiple of 1 MB)."""
    return f"{n // MiB}MB"


def sized_settings(memory_bytes: int, free_disk_bytes: int) -> dict[str, str]:
    """The settings for a machine with this much memory and this much free disk where PostgreSQL keeps its data."""
    shared = min(max(memory_bytes // 4, _DEFAULT_SHARED_BUFFERS), _MAX_SHARED_BUFFERS)
    shared -= shared % MiB
    cache = max(memory_bytes // 2, shared)
    cache -= cache % MiB
    maintenance = min(max(memory_bytes // 16, 64 * MiB), 1 * GiB)
    maintenance -= maintenance % MiB
    wal = min(max(free_disk_bytes // 20, _MIN_WAL), _MAX_WAL)
    wal -= wal % GiB  # whole gigabytes: the free disk moves all the time, the setting should not
    return {
        "shared_buffers": _size(shared),
        "effective_cache_size": _size(cache),
        "maintenance_work_mem": _size(maintenance),
        "work_mem": "16MB" if memory_bytes >= 4 * GiB else "4MB",
        "max_wal_size": _size(wal),
        "min_wal_size": _size(min(wal, _MIN_WAL)),
        "checkpoint_timeout": "15min",
        "wal_compression": "on",
    }


def _cgroup_limit() -> int | None:
    """A container's memory limit (cgroup v2, then v1), when one is set below the machine's memory."""
    for path in (Path("/sys/fs/cgroup/memory.max"), Path("/sys/fs/cgroup/memory/memory.limit_in_bytes")):
        try:
            raw = path.read_text().strip()
        except OSError:
            continue
        if raw.isdigit():
            return int(raw)
    return None


def machine_memory_bytes() -> int:
    """The memory this process may use: the machine's, or its container's limit when that is lower."""
    physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    limit = _cgroup_limit()
    return min(physical, limit) if limit is not None else physical


def free_disk_bytes(path: Path) -> int:
    """The free space of the file system that holds ``path`` (or would: its nearest existing parent)."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return shutil.disk_usage(probe).free


def for_this_machine(data_dir: Path) -> dict[str, str]:
    """:func:`sized_settings` for this machine, with the free disk of the file system that holds ``data_dir``."""
    return sized_settings(machine_memory_bytes(), free_disk_bytes(data_dir))


def as_conf(settings: dict[str, str]) -> str:
    """The settings as ``postgresql.conf`` lines."""
    return "".join(f"{name} = '{value}'\n" for name, value in settings.items())
