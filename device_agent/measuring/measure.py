"""The timing loop and its statistics, after TFLite's benchmark_model.

Warm-up runs until both a minimum count and a minimum time are met; then timed runs until both
``min_runs`` and ``min_seconds`` are met, or ``max_seconds`` is reached (at least one run). The
loop itself does no I/O: each run ends in a listener call that only stores a float, and whoever
wants progress throttles inside its listener. Statistics come after the loop, from raw samples.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from device_agent.contract import EnergyParams, EnergyWindow, LatencyParams
from device_agent.errors import InvalidRequest


@dataclass
class LatencyListener:
    """Receives each run's duration; the default one only counts."""

    on_warmup_end: Callable[[int], None] = field(default=lambda count: None)
    on_run_end: Callable[[int, float], None] = field(default=lambda index, ms: None)


@dataclass(frozen=True)
class Samples:
    warmup_ms: tuple[float, ...]
    timed_ms: tuple[float, ...]


def run_timing_loop(
    invoke: Callable[[], None], params: LatencyParams, listener: LatencyListener | None = None
) -> Samples:
    listener = listener or LatencyListener()
    clock = time.perf_counter
    warmup: list[float] = []
    started = clock()
    while len(warmup) < params.warmup_runs or clock() - started < params.warmup_seconds:
        t0 = clock()
        invoke()
        warmup.append((clock() - t0) * 1000.0)
        if clock() - started >= params.max_seconds:
            break
    listener.on_warmup_end(len(warmup))
    samples: list[float] = []
    started = clock()
    while True:
        t0 = clock()
        invoke()
        t1 = clock()
        samples.append((t1 - t0) * 1000.0)
        listener.on_run_end(len(samples), samples[-1])
        elapsed = t1 - started
        if elapsed >= params.max_seconds:
            break
        if len(samples) >= params.min_runs and elapsed >= params.min_seconds:
            break
    return Samples(tuple(warmup), tuple(samples))


def boot_clock() -> float:
    """Seconds of ``CLOCK_BOOTTIME``: the clock ``/proc/uptime`` reads, where the host's energy
    sampler takes its timestamps (the monotonic clock where Python has no boot clock)."""
    clock = getattr(time, "CLOCK_BOOTTIME", None)
    return time.clock_gettime(clock) if clock is not None else time.monotonic()


def energy_windows(
    invoke: Callable[[], None], params: EnergyParams, on_window: Callable[[int, str], None] | None = None
) -> tuple[EnergyWindow, ...]:
    """Each repeat: an idle window (the worker sleeps, as a phone does between inferences), then
    the model back to back for as long. Nothing is timed per run and nothing else runs meanwhile:
    the loop window's energy less the idle window's, over the inferences, is the energy of one."""
    windows = []
    for repeat in range(params.repeats):
        if on_window is not None:
            on_window(repeat, "idle")
        idle_start = boot_clock()
        time.sleep(params.loop_seconds)
        idle_end = boot_clock()
        if on_window is not None:
            on_window(repeat, "loop")
        loop_start = boot_clock()
        deadline = loop_start + params.loop_seconds
        count = 0
        while True:
            invoke()
            count += 1
            now = boot_clock()
            if now >= deadline:
                break
        windows.append(EnergyWindow(idle_start, idle_end, loop_start, now, count))
    return tuple(windows)


def percentile(sorted_samples: list[float], p: float) -> float:
    """LoadGen's percentile: the sample at index floor(p/100 * n), clamped to the last."""
    index = min(len(sorted_samples) - 1, int(math.floor(p / 100.0 * len(sorted_samples))))
    return sorted_samples[index]


@dataclass(frozen=True)
class Summary:
    """Statistics of the timed samples (warm-up excluded)."""

    mean: float
    std: float
    min: float
    max: float
    p50: float
    p90: float
    p95: float
    p99: float
    count: int


def summarize(samples: tuple[float, ...] | list[float]) -> Summary:
    if not samples:
        raise InvalidRequest("no timed samples")
    ordered = sorted(samples)
    n = len(ordered)
    mean = sum(ordered) / n
    variance = sum((s - mean) ** 2 for s in ordered) / n
    return Summary(
        mean=mean,
        std=math.sqrt(variance),
        min=ordered[0],
        max=ordered[-1],
        p50=percentile(ordered, 50),
        p90=percentile(ordered, 90),
        p95=percentile(ordered, 95),
        p99=percentile(ordered, 99),
        count=n,
    )


def read_memory_mb() -> tuple[float, float]:
    """(current RSS, peak RSS) of this process in MB, from /proc; ru_maxrss elsewhere."""
    try:
        fields = {}
        with open("/proc/self/status") as status:
            for line in status:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    fields[key] = float(value.split()[0]) / 1024.0
        return fields["VmRSS"], fields["VmHWM"]
    except (OSError, KeyError, ValueError):
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
        return peak, peak


def available_memory_mb() -> float:
    """MemAvailable from /proc/meminfo (what can be allocated without swapping), in MB; 0 if unknown."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) / 1024.0
    except (OSError, ValueError, IndexError):
        pass
    return 0.0
