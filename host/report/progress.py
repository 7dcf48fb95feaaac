"""The console while a run goes: conversion mode by mode, then cells with done/total and an ETA.

On a terminal a live display shows the mode being converted (with its elapsed time) and the
cells (done/total, elapsed, time remaining, the current cell's phase). Every finished mode and
cell also prints one line, so logs and CI captures tell the same story. A reason a backend is
unavailable is printed once per run, with a number; later cells with the same reason refer to it.
"""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from host.convert.records import ModeResult
from host.report.console import CONSOLE
from host.report.energy import energy_text
from host.report.tables import Footnotes, console_reason
from host.results import CellRecord, EnergyRecord, RepeatRecord

LOG_EVERY_S = 30.0  # off a terminal, a long evaluation prints its images/s and time left this often


class ProgressListener:
    """Listens to ``host convert`` and ``host bench`` and draws their progress."""

    def __init__(self, console: Console = CONSOLE) -> None:
        self.console = console
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        )
        self.live = console.is_terminal
        self.cells: TaskID | None = None
        self.conversion: TaskID | None = None
        self.footnotes: dict[str, Footnotes] = {}  # per device, numbered as that device's tables number them
        self.serials: set[str] = set()
        self._done = self._total = 0
        self._last_line = time.monotonic()

    def __enter__(self) -> ProgressListener:
        if self.live:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live:
            self.progress.stop()

    def _line(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False)

    def stage(self, text: str) -> None:
        self._line(f"- {text}")

    # -- conversion -----------------------------------------------------------------------
    def mode_started(self, mode: str, index: int, total: int) -> None:
        if self.conversion is None:
            self.conversion = self.progress.add_task("converting", total=total)
        self.progress.update(self.conversion, description=f"converting {mode}", completed=index)

    def mode_done(self, result: ModeResult) -> None:
        if self.conversion is not None:
            self.progress.advance(self.conversion)
        seconds = result.seconds  # the build's own time: qat fine-tunes beside the modes before it
        if result.ok:
            how = "cached" if result.cached else f"converted in {seconds:.1f} s"
            self._line(f"  {result.mode}: {how}, {result.size_bytes:,} bytes")
        else:
            self._line(f"  {result.mode}: conversion failed after {seconds:.1f} s: {result.error}")

    # -- cells ----------------------------------------------------------------------------
    def matrix(self, total: int, done: int) -> None:
        if self.conversion is not None:
            self.progress.remove_task(self.conversion)
            self.conversion = None
        if self.cells is not None:  # more units were added (host compare's further rounds)
            self._total = total
            self.progress.update(self.cells, total=total)
            return
        self._total, self._done = total, done
        self.cells = self.progress.add_task("cells", total=total, completed=done)
        if done:
            self._line(f"- {done} of {total} cells were finished by an earlier attempt")

    def cell_started(self, key: tuple[str, str, str]) -> None:
        self.serials.add(key[0])
        if self.cells is not None:
            self.progress.update(self.cells, description=f"{key[1]}/{key[2]}: start")

    def cell_progress(self, key: tuple[str, str, str], phase: str, fraction: float, message: str = "") -> None:
        detail = f" ({message})" if message and phase == "evaluate" else ""
        if self.cells is not None:
            self.progress.update(self.cells, description=f"{key[1]}/{key[2]}: {phase} {int(100 * fraction)}%{detail}")
        now = time.monotonic()
        if not self.live and detail and now - self._last_line >= LOG_EVERY_S:  # logs get a line now and then
            self._last_line = now
            self._line(f"  {key[1]}/{key[2]}: evaluating{detail}")

    def cell_done(self, cell: CellRecord) -> None:
        self._done += 1
        if self.cells is not None:
            self.progress.advance(self.cells)
        where = f"{cell.device} " if len(self.serials) > 1 else ""
        self._line(f"  [{self._done}/{self._total}] {where}{cell.mode}/{cell.backend}: {self._outcome(cell)}")

    def repeat_done(self, key: tuple[str, str, str], repeat: RepeatRecord) -> None:
        self._done += 1
        if self.cells is not None:
            self.progress.advance(self.cells)
        where = f"{key[0]} " if len(self.serials) > 1 else ""
        what = "sustained run" if repeat.kind == "sustained" else f"repeat {repeat.repeat}"
        note = f" (throttled: {repeat.throttled})" if repeat.throttled else ""
        self._line(
            f"  [{self._done}/{self._total}] {where}{key[1]}/{key[2]} {what}: median {repeat.median_ms:.3f} ms{note}"
        )

    def energy_done(self, key: tuple[str, str, str], energy: EnergyRecord) -> None:
        self._done += 1
        if self.cells is not None:
            self.progress.advance(self.cells)
        where = f"{key[0]} " if len(self.serials) > 1 else ""
        self._line(f"  [{self._done}/{self._total}] {where}{key[1]}/{key[2]} energy: {energy_text(energy)}")

    def _outcome(self, cell: CellRecord) -> str:
        r = cell.result
        if r.ok:
            latency = f", p50 {r.latency.p50:.3f} ms" if r.latency else ""
            accuracy = f", top-1 {100 * r.accuracy.top1:.1f}%" if r.accuracy else ""
            return f"ok{latency}{accuracy}"
        notes = self.footnotes.setdefault(cell.device, Footnotes())
        number, new = notes.number(cell)
        return f"{cell.status} [{number}]" + (
            f": {console_reason(notes.reasons[number - 1])}" if new and cell.error else ""
        )
