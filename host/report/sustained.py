"""A sustained run read in windows: how latency drifts as the phone heats, and when it throttles.

The samples of one long run follow each other back to back, so their running sum is the time
each was taken (to within the gaps between invokes). Windows are equal spans of that time; the
throttle onset is the start of the first window whose median exceeds the first window's by more
than 10% (the rule Jetpack Microbenchmark uses for its reference loop).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from host.results import CellRecord, RepeatRecord

ONSET_RISE = 1.10
WINDOWS = 20  # a sustained run is cut into this many windows (each at least MIN_WINDOW_S long)
MIN_WINDOW_S = 5.0


@dataclass(frozen=True)
class Window:
    start_s: float
    median_ms: float
    count: int


@dataclass(frozen=True)
class Sustained:
    mode: str
    backend: str
    seconds: float
    windows: tuple[Window, ...]
    onset_s: float | None  # None: no window was 10% slower than the first
    repeat: RepeatRecord

    @property
    def drift(self) -> float:
        """The last window's median against the first's (0.25: 25% slower by the end)."""
        return self.windows[-1].median_ms / self.windows[0].median_ms - 1 if self.windows else 0.0


def windows(samples_ms: tuple[float, ...], count: int = WINDOWS) -> tuple[Window, ...]:
    if not samples_ms:
        return ()
    samples = np.asarray(samples_ms, dtype=float)
    at_s = (np.cumsum(samples) - samples) / 1000.0  # when each invoke started
    total = float(at_s[-1] + samples[-1] / 1000.0)
    parts = max(1, min(count, int(total // MIN_WINDOW_S)))
    width = total / parts
    index = np.minimum((at_s // width).astype(int), parts - 1)
    out = []
    for i in range(parts):
        mine = samples[index == i]
        if len(mine):
            out.append(Window(i * width, float(np.median(mine)), len(mine)))
    return tuple(out)


def onset(found: tuple[Window, ...]) -> float | None:
    first = found[0].median_ms if found else 0.0
    return next((w.start_s for w in found[1:] if w.median_ms > ONSET_RISE * first), None)


def sustained_runs(cells: list[CellRecord]) -> list[Sustained]:
    out = []
    for cell in cells:
        for repeat in (r for r in cell.repeats if r.kind == "sustained"):
            found = windows(repeat.samples_ms)
            seconds = sum(repeat.samples_ms) / 1000.0
            out.append(Sustained(cell.mode, cell.backend, seconds, found, onset(found), repeat))
    return out


def describe(run: Sustained) -> str:
    if not run.windows:
        return f"sustained {run.mode}/{run.backend}: no samples"
    when = (
        f"throttle onset after {run.onset_s / 60:.1f} min"
        if run.onset_s is not None
        else "no throttle onset (no window >10% slower than the first)"
    )
    return (
        f"sustained {run.mode}/{run.backend}: {run.seconds / 60:.1f} min in {len(run.windows)} windows, p50 "
        f"{run.windows[0].median_ms:.3f} ms first, {run.windows[-1].median_ms:.3f} ms last ({100 * run.drift:+.1f}%); "
        f"{when}"
    )
