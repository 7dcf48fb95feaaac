"""Which build should ship: the Pareto front of a run's builds and one pick with its reason.

A build (mode on a backend) is on the front when no other build is at least as accurate, as fast
and as small, and better in one of them. The pick honours the user's limits (size, latency,
accuracy); with no accuracy floor given it never trades accuracy silently: it keeps the builds
within ``DEFAULT_ACCURACY_SLACK`` points of the best one measured, then takes the fastest, the
smaller one when two are within ``SAME_SPEED`` of each other or their p50s differ by less than
the noise (their 95% intervals overlap: over independent repeats where the run has them, else one
repeat's spread). Only measured cells count, and a cell an emulated device's software GPU or NPU
ran is never picked for its speed.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field

from host.results import CellRecord, RunRecord

DEFAULT_ACCURACY_SLACK = 1.0  # points of top-1
SAME_SPEED = 0.05  # p50 within 5%: call it a tie, prefer the smaller file


@dataclass(frozen=True)
class Build:
    mode: str
    backend: str
    top1: float | None  # percent; None without labels
    p50_ms: float
    size_mb: float
    software: str = ""  # an emulated device's software GPU/NPU ran it: its accuracy is real, its speed is not a phone's
    noise_ms: float = 0.0  # half-width of p50's 95% interval (repeats), or one repeat's standard deviation

    @property
    def label(self) -> str:
        return f"{self.mode} on {self.backend}"

    def ties(self, fastest: Build) -> bool:
        """As fast as ``fastest`` for a pick: within ``SAME_SPEED``, or inside the noise of the two."""
        return self.p50_ms <= fastest.p50_ms * (1 + SAME_SPEED) or self.p50_ms - self.noise_ms <= fastest.p50_ms + fastest.noise_ms


def latency_noise(cell: CellRecord) -> float:
    """How far p50 could move on a rerun: the 95% t-interval's half-width over the cell's
    independent repeats when it has two or more, else the spread (std) of its one repeat's samples."""
    from scipy import stats

    medians = [r.median_ms for r in cell.timed]
    if len(medians) >= 2:
        return float(stats.t.ppf(0.975, len(medians) - 1) * statistics.stdev(medians) / math.sqrt(len(medians)))
    latency = cell.result.latency
    return float(latency.std) if latency is not None and latency.count > 1 else 0.0


@dataclass(frozen=True)
class Recommendation:
    device: str
    builds: tuple[Build, ...]
    front: tuple[Build, ...]
    pick: Build | None
    reason: str
    excluded: dict[str, str] = field(default_factory=dict)  # build label -> the limit it breaks


def dominates(a: Build, b: Build) -> bool:
    acc_a, acc_b = a.top1 if a.top1 is not None else 0.0, b.top1 if b.top1 is not None else 0.0
    no_worse = acc_a >= acc_b and a.p50_ms <= b.p50_ms and a.size_mb <= b.size_mb
    return no_worse and (acc_a > acc_b or a.p50_ms < b.p50_ms or a.size_mb < b.size_mb)


def pareto_front(builds: list[Build]) -> list[Build]:
    return sorted((b for b in builds if not any(dominates(o, b) for o in builds)), key=lambda b: b.p50_ms)


def measured_builds(run: RunRecord, device: str | None = None, backend: str | None = None) -> tuple[str, list[Build]]:
    serial = device or (run.devices[0].serial if run.devices else "")
    builds = []
    for cell in run.cells:
        if cell.device != serial or not cell.ok or cell.result.latency is None or (backend and cell.backend != backend):
            continue
        accuracy = cell.result.accuracy
        size = cell.size_bytes or cell.result.size_bytes
        delegation = cell.result.delegation
        builds.append(Build(cell.mode, cell.backend, round(100 * accuracy.top1, 3) if accuracy else None,
                            cell.result.latency.p50, size / 1e6, delegation.hardware if delegation else "", latency_noise(cell)))
    return serial, builds


def _limits(build: Build, max_size: float | None, max_latency: float | None, min_accuracy: float | None) -> str:
    if max_size is not None and build.size_mb > max_size:
        return f"{build.size_mb:.2f} MB > {max_size:g} MB"
    if max_latency is not None and build.p50_ms > max_latency:
        return f"p50 {build.p50_ms:.3f} ms > {max_latency:g} ms"
    if min_accuracy is not None and (build.top1 is None or build.top1 < min_accuracy):
        return "no accuracy measured" if build.top1 is None else f"top-1 {build.top1:.1f}% < {min_accuracy:.1f}%"
    return ""


def recommend(run: RunRecord, *, max_size: float | None = None, max_latency: float | None = None,
              min_accuracy: float | None = None, backend: str | None = None, device: str | None = None) -> Recommendation:
    serial, builds = measured_builds(run, device, backend)
    if not builds:
        where = f" on {backend}" if backend else ""
        return Recommendation(serial, (), (), None, f"no build was measured{where} on {serial or 'any device'}")
    best = max((b.top1 for b in builds if b.top1 is not None), default=None)
    floor = min_accuracy if min_accuracy is not None else (best - DEFAULT_ACCURACY_SLACK if best is not None else None)
    excluded = {b.label: f"measured on a software {b.backend.split('-')[0].upper()} ({b.software}): its latency is not "
                f"a phone's" for b in builds if b.software}
    excluded.update({b.label: why for b in builds if b.label not in excluded
                     and (why := _limits(b, max_size, max_latency, floor))})
    allowed = [b for b in builds if b.label not in excluded]
    front = tuple(pareto_front([b for b in builds if not b.software]))
    if not allowed:
        return Recommendation(serial, tuple(builds), front, None, "no build meets the limits: " +
                              "; ".join(f"{k}: {v}" for k, v in list(excluded.items())[:4]), excluded)
    fastest = min(allowed, key=lambda b: b.p50_ms)
    pick = min((b for b in allowed if b.ties(fastest)), key=lambda b: (b.size_mb, b.p50_ms))
    reason = _reason(pick, builds, floor, min_accuracy is None, best) + _tie(pick, fastest)
    return Recommendation(serial, tuple(builds), front, pick, reason, excluded)


def _tie(pick: Build, fastest: Build) -> str:
    """What the output says when the fastest p50 did not decide: a difference inside the noise."""
    if pick is fastest or pick.p50_ms <= fastest.p50_ms * (1 + SAME_SPEED):
        return ""
    return (f". {fastest.label}'s p50 is {pick.p50_ms - fastest.p50_ms:.3f} ms lower, inside the noise (95% intervals "
            f"±{fastest.noise_ms:.3f} and ±{pick.noise_ms:.3f} ms overlap): the smaller build wins")


def _reason(pick: Build, builds: list[Build], floor: float | None, default_floor: bool, best: float | None) -> str:
    accuracy = f"top-1 {pick.top1:.1f}%" if pick.top1 is not None else "accuracy not measured"
    if floor is None:
        rule = "the fastest build (no labels: accuracy could not be weighed)"
    elif default_floor:
        rule = f"the fastest build within {DEFAULT_ACCURACY_SLACK:g} point of the best top-1 ({best:.1f}%)"
    else:
        rule = f"the fastest build with top-1 >= {floor:g}%"
    reason = f"{pick.label}: {rule}; {accuracy}, p50 {pick.p50_ms:.3f} ms, {pick.size_mb:.2f} MB"
    faster = [b for b in builds if b.p50_ms < pick.p50_ms * (1 - SAME_SPEED) and b.top1 is not None and pick.top1 is not None]
    if faster:
        quickest = min(faster, key=lambda b: b.p50_ms)
        reason += (f". {quickest.label} is {pick.p50_ms / quickest.p50_ms:.2f}x faster but scores "
                   f"{quickest.top1:.1f}% ({quickest.top1 - pick.top1:+.1f} points)")  # type: ignore[operator]
    return reason
