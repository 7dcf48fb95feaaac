"""One resumable on-device search: what ``host tune`` and its precision search share.

Both build candidates (float layer sets, precision plans), bench the unmeasured ones in one run,
keep each result in ``tune.json`` the moment its cell lands, and stop starting rounds when the
device-time budget is spent. A later run with the same inputs (model, dataset, device, backend)
measures only what is not there. One policy for a cell a run did not return (the run ended
first): the candidate stays unmeasured and is measured again next time; a cell that came back
without an accuracy is measured, with its error.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Generic, Protocol, TypeVar

from host.codec import JsonObject
from host.fsio import atomic_write
from host.results import CellRecord, RunRecord

STATE_FILE = "tune.json"
PENDING_RUN = "(run interrupted)"  # measured in a run that did not finish: its cell is stored, its run unfinished
Measure = Callable[[Path, Callable[[CellRecord], None]], RunRecord]  # bench a folder, telling each finished cell


class Searched(Protocol):
    """A candidate of a search: its name and key, its bytes' hash and size, and what the device said."""

    name: str
    sha256: str
    size_bytes: int
    top1: float | None
    p50_ms: float | None
    run_id: str
    error: str

    @property
    def key(self) -> str: ...

    @property
    def measured(self) -> bool: ...


C = TypeVar("C", bound=Searched)


def take(candidate: Searched, cell: CellRecord | None, run_id: str) -> None:
    """What the device said of ``candidate``: its cell, or none (then it stays unmeasured)."""
    candidate.error, candidate.top1, candidate.p50_ms = "", None, None
    if cell is None:
        return
    candidate.run_id = run_id
    if not cell.ok or cell.result.accuracy is None:
        candidate.error = cell.result.error or "no accuracy measured"
    else:
        candidate.top1 = round(100 * cell.result.accuracy.top1, 3)
        candidate.p50_ms = cell.result.latency.p50 if cell.result.latency else None


class ResumableSearch(Generic[C]):
    """The candidates by key (``tune.json[kind]``), the device time spent, and how to measure."""

    def __init__(
        self,
        out: Path,
        identity: Mapping[str, object],
        measure: Measure,
        budget_s: float,
        on_step: Callable[[str], None],
        kind: str,
        revive: Callable[[JsonObject], C],
    ) -> None:
        self.out, self.identity, self.measure_run, self.budget_s, self.on_step = (
            out,
            dict(identity),
            measure,
            budget_s,
            on_step,
        )
        self.kind, self._revive = kind, revive
        self.folder = out / "candidates"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.by_key: dict[str, C] = self._load()
        self.spent = 0.0

    def _load(self) -> dict[str, C]:
        try:
            state = json.loads((self.out / STATE_FILE).read_text())
        except (OSError, ValueError):
            return {}
        if not isinstance(state, dict) or state.get("inputs") != self.identity:
            return {}  # another model, dataset, device or backend: nothing carries over
        return {key: self._revive(value) for key, value in state.get(self.kind, {}).items()}

    def save(self, extra: Mapping[str, object] | None = None) -> None:
        state = {"inputs": self.identity, self.kind: {k: asdict(c) for k, c in self.by_key.items()}, **(extra or {})}  # type: ignore[call-overload]
        atomic_write(self.out / STATE_FILE, json.dumps(state, indent=2).encode())

    def budget_left(self) -> bool:
        return self.spent < self.budget_s

    def known_or_written(self, fresh: C, data: bytes) -> C:
        """The candidate measured before with these very bytes (a resume), else ``fresh``, its
        build written under its key."""
        fresh.sha256, fresh.size_bytes = hashlib.sha256(data).hexdigest(), len(data)
        known = self.by_key.get(fresh.key)
        if known is not None and known.sha256 == fresh.sha256:
            return known
        atomic_write(self.folder / f"{fresh.key}.tflite", data)
        self.by_key[fresh.key] = fresh
        return fresh

    def run(
        self, wanted: list[C], backend: str, model_name: str, entry: Callable[[C], dict[str, str]]
    ) -> RunRecord | None:
        """Bench the unmeasured ``wanted`` in one run (one agent session), keeping each as its
        cell lands; ``entry`` is a candidate's line in the folder's manifest."""
        todo = {c.name: c for c in wanted if not c.measured}
        if not todo:
            return None
        entries = {name: entry(c) for name, c in todo.items()}
        atomic_write(
            self.folder / "manifest.json",
            json.dumps({"model": {"name": model_name}, "modes": entries}, indent=2).encode(),
        )
        self.on_step("measuring on the device: " + ", ".join(todo))

        def finished(cell: CellRecord) -> None:  # kept at once: an interrupted search resumes after it
            if cell.backend == backend and cell.mode in todo:
                self.taken(todo[cell.mode], cell, PENDING_RUN)
                self.save()

        started = time.monotonic()
        try:
            run = self.measure_run(self.folder, finished)
        finally:
            self.spent += time.monotonic() - started
        cells = {cell.mode: cell for cell in run.cells if cell.backend == backend}
        for name, c in todo.items():
            self.taken(c, cells.get(name), run.run_id)
        self.save()
        return run

    def taken(self, candidate: C, cell: CellRecord | None, run_id: str) -> None:
        """Keep what the device said of ``candidate``; a search that needs more from a cell adds it."""
        take(candidate, cell, run_id)
