"""A cell's memory from a clean baseline: RSS before the timed model exists, after init, after the
first invoke, after timing, and the peak over all of them.

The worker is a fresh process with Python, numpy and the runtime already in it; those tens of MB
are the baseline, so the deltas are the model's own (its weights, XNNPACK's packed copy, the
tensor arena, an accelerator's mapped buffers), and two builds' difference no longer drowns.

The peak: since Linux 4.0 a process can restart its high-water mark (``VmHWM``) from its current
RSS by writing ``5`` to ``/proc/self/clear_refs``. Done at the baseline, ``VmHWM`` after timing
is the exact peak since then, and costs the timed runs nothing. Where the kernel or its policy
refuses, a thread samples ``VmRSS`` every 50 ms, as benchmark_model's peak memory tracker does,
and the result says which of the two it was.
"""

from __future__ import annotations

import threading

from device_agent.contract import Memory
from device_agent.measuring.measure import read_memory_mb

SAMPLE_INTERVAL_S = 0.05  # benchmark_model's --memory_footprint_check_interval_ms default
KERNEL = "the kernel's high-water mark since the baseline"
SAMPLED = "sampled every 50 ms on a thread (this kernel would not restart its high-water mark)"


def restart_high_water_mark() -> bool:
    """Make VmHWM start again from the current RSS; False where that is refused or has no effect."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return False
    rss, high = read_memory_mb()
    return high <= rss + 1.0


class _Sampler(threading.Thread):
    """The highest VmRSS seen, read every SAMPLE_INTERVAL_S until stopped."""

    def __init__(self) -> None:
        super().__init__(name="peak-rss", daemon=True)
        self.highest = read_memory_mb()[0]
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(SAMPLE_INTERVAL_S):
            self.highest = max(self.highest, read_memory_mb()[0])

    def stop(self) -> float:
        self._stop_event.set()
        self.join(timeout=1.0)
        return max(self.highest, read_memory_mb()[0])


class Footprint:
    """Started at the baseline (``start``), marked at each step, read once at the end (``memory``)."""

    def __init__(self) -> None:
        self.baseline = self.init = self.first = self.overall = 0.0
        self._sampler: _Sampler | None = None
        self._source = ""

    def start(self) -> None:
        """Now is the baseline: the runtime is loaded and the timed model does not exist yet."""
        if restart_high_water_mark():
            self._source = KERNEL
        else:
            self._sampler = _Sampler()
            self._sampler.start()
            self._source = SAMPLED
        self.baseline = read_memory_mb()[0]

    def mark_init(self) -> None:
        self.init = read_memory_mb()[0]

    def mark_first(self) -> None:
        self.first = read_memory_mb()[0]

    def mark_overall(self) -> None:
        self.overall = read_memory_mb()[0]

    def memory(self) -> Memory:
        """The figures so far; stops the sampler. Call it after timing, before the dataset is read."""
        rss, high = read_memory_mb()
        peak = self._sampler.stop() if self._sampler is not None else high
        self._sampler = None
        steps = [v for v in (self.init, self.first, self.overall) if v > 0]
        peak = max([peak, *steps])
        return Memory(
            init_rss_mb=self.init or rss,
            peak_rss_mb=peak,
            baseline_rss_mb=self.baseline,
            first_rss_mb=self.first,
            overall_rss_mb=self.overall,
            peak_source=self._source,
        )

    def close(self) -> None:
        if self._sampler is not None:
            self._sampler.stop()
            self._sampler = None
