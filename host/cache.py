"""Bounded caches on this machine: converted models, packed datasets, bench model copies,
decoded calibration images.

Every entry is marked as used when it is used (its mtime), and ``prune`` removes what was not
used for ``max_days`` and then the least recently used until the caches fit in ``max_mb``. A
bench prunes at its end with its settings; ``host cache prune`` does it on demand (and on a
device's agent store with ``--device``). The results database and the demo images are never
pruned (the demo images are regenerated when missing anyway).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from host.devices.options import ADB_SERVER, DEVICE_PYTHON
from host.params import Param, at_least
from host.paths import cache_dir, data_dir

PRUNED = ("convert", "datasets", "bench-models", "decoded")
KEEP_LOGS = 20

CACHE_MAX_MB = Param(
    4096,
    "bound on this machine's caches (converted models, packed datasets, decoded images)",
    unit="MB",
    metavar="MB",
    check=at_least(0),
)
CACHE_MAX_DAYS = Param(
    30.0, "cache entries unused this long are removed", unit="days", metavar="DAYS", check=at_least(0)
)
DEVICE_STORE_MAX_MB = Param(
    2048,
    "bound on each device's agent store (models, datasets, reference outputs); the files "
    "of the current run are always kept",
    unit="MB",
    metavar="MB",
    check=at_least(0),
)


@dataclass(frozen=True)
class CacheLimits:
    """How much a bench keeps, here and on each device: the part the end of a run takes."""

    cache_max_mb: int = CACHE_MAX_MB.field()
    cache_max_days: float = CACHE_MAX_DAYS.field()
    device_store_max_mb: int = DEVICE_STORE_MAX_MB.field()


@dataclass(frozen=True)
class PruneReport:
    removed_entries: int
    removed_bytes: int
    kept_bytes: int

    def describe(self, where: str) -> str:
        return (
            f"{where}: removed {self.removed_entries} entries ({self.removed_bytes / 1e6:.1f} MB), "
            f"{self.kept_bytes / 1e6:.1f} MB kept"
        )


def touch(path: Path) -> None:
    """Mark a cache entry as used now."""
    with contextlib.suppress(OSError):
        os.utime(path)


def _entries(root: Path) -> list[tuple[float, int, Path]]:
    """(last use, size, path) per entry: each bench-models folder is one entry, other files each."""
    entries = []
    for name in PRUNED:
        folder = root / name
        if not folder.is_dir():
            continue
        for path in folder.iterdir():
            if path.is_dir():
                files = [p for p in path.rglob("*") if p.is_file()]
                used = max((p.stat().st_mtime for p in files), default=path.stat().st_mtime)
                entries.append((used, sum(p.stat().st_size for p in files), path))
            elif path.is_file() and not path.name.startswith(".tmp"):
                st = path.stat()
                entries.append((st.st_mtime, st.st_size, path))
    return entries


def prune_host(max_mb: float, max_days: float, root: Path | None = None) -> PruneReport:
    """Remove entries unused for ``max_days`` (0: no age bound), then the least recently used
    beyond ``max_mb``."""
    budget = int(max_mb * 1e6)
    oldest = time.time() - max_days * 86400 if max_days > 0 else 0.0
    kept_bytes = removed = removed_bytes = 0
    for used, size, path in sorted(_entries(root or cache_dir()), reverse=True):
        if used >= oldest and kept_bytes + size <= budget:
            kept_bytes += size
            continue
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed, removed_bytes = removed + 1, removed_bytes + size
    _prune_logs()
    return PruneReport(removed, removed_bytes, kept_bytes)


def _prune_logs() -> None:
    """The emulated devices' daemon logs: the newest ``KEEP_LOGS`` stay."""
    logs = (
        sorted((data_dir() / "emulator").glob("adbd-*.log"), key=lambda p: p.stat().st_mtime, reverse=True)
        if (data_dir() / "emulator").is_dir()
        else []
    )
    for log in logs[KEEP_LOGS:]:
        log.unlink(missing_ok=True)


@dataclass(frozen=True)
class PruneOptions:
    """``host cache prune``: bound this machine's caches now, and a device's agent store with --device."""

    max_mb: int = CACHE_MAX_MB.field()
    max_days: float = CACHE_MAX_DAYS.field()
    device: str | None = Param(None, "also prune this device's agent store", metavar="SERIAL").field()
    device_store_max_mb: int = DEVICE_STORE_MAX_MB.field()
    adb_server: str | None = ADB_SERVER.field()
    device_python: str | None = DEVICE_PYTHON.field()


def prune_device_store(options: PruneOptions) -> str:
    """Bound one device's agent store (models, datasets, reference outputs and start caches) as a
    bench bounds it, through an agent session on that device; the line that says what went."""
    from host.devices.agent.session import AgentSettings, open_session
    from host.devices.selection.resolve import resolve_one
    from host.devices.transport.adb import parse_server

    device = resolve_one(parse_server(options.adb_server), options.device)
    with open_session(device, AgentSettings(options.device_python)) as session:
        pruned = session.prune_store(options.device_store_max_mb * 1_000_000, max_age_days=options.max_days)
    return (
        f"agent store on {device.serial}: removed {pruned.removed_files} files ({pruned.removed_bytes / 1e6:.1f} MB), "
        f"{pruned.kept_files} files ({pruned.kept_bytes / 1e6:.1f} MB) kept"
    )
