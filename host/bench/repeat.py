"""One repeat of a cell: wait until the phone is cool, note its state, time it, note it again
(at the end of the timing, while the worker evaluates, where it can: ``end_reading.py``).

A repeat that ran throttled (thermal status moderate or worse at its end, or a fixed reference
loop more than 10% slower after the timing than before it) is kept with its reason and left out
of every verdict. A repeat is the statistical unit: its median is one observation.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from device_agent.contract import CellRequest, CellResult, Progress
from host.bench.end_reading import EndOfTiming
from host.bench.plan import Unit, now
from host.results import Conditions, RepeatRecord

THROTTLED_STATUS = 2  # moderate: Android's thermal service is limiting performance
REFERENCE_SLOWDOWN = 1.10  # Jetpack Microbenchmark's rule: a reference loop >10% slower means throttling


class Measured(Protocol):
    """What a repeat needs from an agent session besides running the cell."""

    def run_cell(self, request: CellRequest, on_progress: Callable[[Progress], None] | None = None) -> CellResult: ...
    def conditions(self) -> Conditions: ...
    def wait_cool(self, below_c: float, bound_s: float, say: Callable[[str], None]) -> tuple[Conditions, float]: ...


@dataclass(frozen=True)
class CoolDown:
    below_c: float = 45.0
    bound_s: float = 60.0


def throttle_reason(after: Conditions, result: CellResult) -> str:
    if after.thermal_status >= THROTTLED_STATUS:
        return f"thermal status {after.thermal_status} (moderate or worse) at the end"
    before, later = result.reference_before_ms, result.reference_after_ms
    if before > 0 and later > REFERENCE_SLOWDOWN * before:
        return f"the CPU slowed down: a reference loop took {100 * (later / before - 1):.0f}% longer after the timing"
    return ""


def measure_repeat(
    session: Measured,
    request: CellRequest,
    unit: Unit,
    position: int,
    cool: CoolDown,
    say: Callable[[str], None],
    on_progress: Callable[[Progress], None],
) -> tuple[CellResult, RepeatRecord | None]:
    """Run one repeat; its record (None when the cell did not time anything)."""
    before, waited = (
        session.wait_cool(cool.below_c, cool.bound_s, say) if cool.bound_s > 0 else (session.conditions(), 0.0)
    )
    started = now()
    end = EndOfTiming(session.conditions)
    try:
        result = session.run_cell(request, end.relay(on_progress))
    finally:
        end.settle()
    if not result.ok or result.latency is None or not result.latency.samples_ms:
        return result, None
    after = end.conditions()
    record = RepeatRecord(
        repeat=unit.repeat,
        position=position,
        median_ms=float(statistics.median(result.latency.samples_ms)),
        samples_ms=result.latency.samples_ms,
        started=started,
        finished=now(),
        before=before,
        after=after,
        reference_before_ms=result.reference_before_ms,
        reference_after_ms=result.reference_after_ms,
        cooled_s=waited,
        throttled=throttle_reason(after, result),
        kind="sustained" if unit.kind == "sustained" else "repeat",
    )
    return result, record
