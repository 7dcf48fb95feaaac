"""Which entries a byte budget keeps, newest first: the store's files and the start caches alike."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from device_agent.contract import PruneResponse


@dataclass(frozen=True)
class Entry:
    path: Path
    mtime: float
    size: int


def entries(paths: Iterable[Path], size: Callable[[Path], int]) -> list[Entry]:
    """Each path with its last use and size; one that vanished meanwhile is skipped."""
    found = []
    for path in paths:
        try:
            found.append(Entry(path, path.stat().st_mtime, size(path)))
        except OSError:
            continue
    return found


def within_budget(
    found: list[Entry],
    max_bytes: int,
    pinned: Callable[[Entry], bool],
    allowed: Callable[[Entry], bool] = lambda entry: True,
) -> tuple[list[Entry], list[Entry]]:
    """(kept, removed): newest first, an entry stays if pinned, or if allowed and it still fits
    in ``max_bytes`` with those kept before it (pinned ones count against the budget too)."""
    kept: list[Entry] = []
    removed: list[Entry] = []
    kept_bytes = 0
    for entry in sorted(found, key=lambda e: e.mtime, reverse=True):
        if pinned(entry) or (allowed(entry) and kept_bytes + entry.size <= max_bytes):
            kept.append(entry)
            kept_bytes += entry.size
        else:
            removed.append(entry)
    return kept, removed


def response(kept: list[Entry], removed: list[Entry]) -> PruneResponse:
    return PruneResponse(len(removed), sum(e.size for e in removed), len(kept), sum(e.size for e in kept))


def combined(first: PruneResponse, second: PruneResponse) -> PruneResponse:
    return PruneResponse(
        first.removed_files + second.removed_files,
        first.removed_bytes + second.removed_bytes,
        first.kept_files + second.kept_files,
        first.kept_bytes + second.kept_bytes,
    )
