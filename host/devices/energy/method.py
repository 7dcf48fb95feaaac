"""Energy per inference from the meter's samples and the worker's windows, with its interval.

Per repeat: the meter's cumulative energy is read at each window's edges by linear interpolation
between the two samples around it (a fuel gauge's power is integrated first, by trapezoids). The
idle window gives the phone's baseline power; the loop's energy less that power over the loop's
length, over the inferences, is one inference's energy. The repeats' mean gets a 95% interval from
Student's t; a figure whose interval is wider than itself is "below resolution", never a number
that decides anything. A meter that reset during a window drops that repeat, said in the note.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import replace

import numpy as np
from scipy import stats

from device_agent.contract import EnergyWindow
from host.devices.energy.sampler import Sample
from host.devices.energy.sources import EnergySource, gauge_refusal, rail_resolution_mj
from host.results import EnergyRecord, EnergyRepeat

MIN_LOOP_S = 5.0
PERIODS_PER_LOOP = 20  # the loop spans at least this many of the meter's updates


class Uncovered(ValueError):
    """A window reaches past the samples, or the meter went backwards inside it."""


def loop_seconds(update_period_s: float, minimum_s: float = MIN_LOOP_S) -> float:
    """Long enough for the meter: at least ``minimum_s`` and 20 of its update periods."""
    return max(minimum_s, PERIODS_PER_LOOP * update_period_s)


def cumulative(samples: list[Sample], source: EnergySource) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Sample times and each rail's cumulative mJ at them (a gauge's watts integrated to mJ)."""
    times = np.array([s.t for s in samples], dtype=np.float64)
    rails = sorted({name for s in samples for name in s.values})
    values = {r: np.array([s.values.get(r, math.nan) for s in samples], dtype=np.float64) for r in rails}
    if source.kind == "gauge":
        watts = values["battery"]
        steps = np.diff(times) * (watts[1:] + watts[:-1]) / 2.0 * 1000.0
        values = {"battery": np.concatenate([[0.0], np.cumsum(steps)])}
    return times, values


def update_period(samples: list[Sample]) -> float:
    """How often the meter's reading changed: the span from its first change to its last over
    the changes between (0 if it changed less than twice). The span, not the median gap, since
    readings taken every 0.2 s see a 0.5 s gauge change after 0.4 or 0.6 s."""
    changes = [b.t for a, b in zip(samples, samples[1:], strict=False) if a.values != b.values]
    return (changes[-1] - changes[0]) / (len(changes) - 1) if len(changes) >= 2 else 0.0


def _between(times: np.ndarray, energy: np.ndarray, start: float, end: float) -> float:
    if len(times) < 2 or start < times[0] or end > times[-1]:
        raise Uncovered(f"the meter's samples do not cover {start:.2f}..{end:.2f} s")
    inside = (times >= start) & (times <= end)
    if np.any(np.diff(energy[inside]) < 0) or not np.all(np.isfinite(energy[inside])):
        raise Uncovered("the meter went backwards or lost a rail inside a window (it was reset)")
    return float(np.interp(end, times, energy) - np.interp(start, times, energy))


def repeat_energy(times: np.ndarray, rails: dict[str, np.ndarray], window: EnergyWindow) -> EnergyRepeat:
    idle_s, loop_s = window.idle_end_s - window.idle_start_s, window.loop_end_s - window.loop_start_s
    if window.inferences < 1 or idle_s <= 0 or loop_s <= 0:
        raise Uncovered("a window with no length or no inference")
    idle = {r: _between(times, e, window.idle_start_s, window.idle_end_s) for r, e in rails.items()}
    loop = {r: _between(times, e, window.loop_start_s, window.loop_end_s) for r, e in rails.items()}
    per_rail = {r: (loop[r] - idle[r] / idle_s * loop_s) / window.inferences for r in rails}
    return EnergyRepeat(
        idle_s=idle_s,
        loop_s=loop_s,
        inferences=window.inferences,
        idle_mj=sum(idle.values()),
        loop_mj=sum(loop.values()),
        mj_per_inference=sum(per_rail.values()),
        rails_mj=per_rail if len(per_rail) > 1 else {},
    )


def interval(values: list[float]) -> tuple[float, float]:
    """The mean's 95% interval (Student's t); two values at least."""
    mean = statistics.fmean(values)
    if len(values) < 2:
        return -math.inf, math.inf
    half = float(stats.t.ppf(0.975, len(values) - 1)) * statistics.stdev(values) / math.sqrt(len(values))
    return mean - half, mean + half


def energy_record(
    source: EnergySource, samples: list[Sample], windows: tuple[EnergyWindow, ...], loop_s: float, period_s: float
) -> EnergyRecord:
    """The cell's energy per inference from its windows, or a record saying why there is none."""
    base = EnergyRecord(
        source=source.kind or "",
        label=source.label,
        emulated=source.emulated,
        rails=source.rails,
        loop_seconds=loop_s,
        update_period_s=period_s,
    )
    if source.kind == "gauge":
        refusal = next((gauge_refusal(s.status) for s in samples if gauge_refusal(s.status)), "")
        if refusal:
            return _none(base, refusal)
    times, rails = cumulative(samples, source)
    repeats, dropped = [], []
    for number, window in enumerate(windows, 1):
        try:
            repeats.append(repeat_energy(times, rails, window))
        except Uncovered as e:
            dropped.append(f"repeat {number}: {e}")
    note = "; ".join(dropped)
    if len(repeats) < 2:
        return _none(base, f"fewer than two repeats could be measured ({note or 'no windows'})")
    return _summary(base, repeats, samples, source, note)


def _none(base: EnergyRecord, reason: str) -> EnergyRecord:
    return replace(base, source="", note=reason)


def _summary(
    base: EnergyRecord, repeats: list[EnergyRepeat], samples: list[Sample], source: EnergySource, note: str
) -> EnergyRecord:
    values = [r.mj_per_inference for r in repeats]
    low, high = interval(values)
    mean = statistics.fmean(values)
    fewest = min(r.inferences for r in repeats)
    step = _reading_step(samples, source)
    rails = sorted({name for r in repeats for name in r.rails_mj})
    return replace(
        base,
        note=note,
        repeats=tuple(repeats),
        mj_per_inference=mean,
        ci_low=low,
        ci_high=high,
        below_resolution=bool(high - low > abs(mean) or mean <= 0),
        baseline_mw=statistics.fmean(r.idle_mj / r.idle_s for r in repeats),
        resolution_mj=4 * step / fewest,  # four readings per repeat, each off by up to one step
        rails_mj={n: statistics.fmean(r.rails_mj.get(n, 0.0) for r in repeats) for n in rails},
    )


def _reading_step(samples: list[Sample], source: EnergySource) -> float:
    """One reading's step in mJ: the rails' float spacing summed over rails; a gauge's is its
    power over one sample, taken from the spread of its readings."""
    if not samples:
        return 0.0
    if source.kind == "rails":
        return sum(rail_resolution_mj(v) for v in samples[-1].values.values())
    gaps = [b.t - a.t for a, b in zip(samples, samples[1:], strict=False)]
    watts = [s.values.get("battery", 0.0) for s in samples]
    return (max(watts) - min(watts)) * (statistics.median(gaps) if gaps else 0.0) * 1000.0
