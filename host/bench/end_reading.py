"""The phone's state at the end of a repeat's timing, read while its worker evaluates.

A repeat notes the phone's state after its timed runs (``repeat.py``). Read after the cell, that
reading is one more ``adb shell`` round trip between two cells (about 45 ms on the emulated device,
more on a phone, where ``dumpsys`` is slow) and it describes the phone after the evaluation and the
per-op pass rather than at the end of the timing. So the reading starts, in a thread, once the
worker's progress shows the timing over and enough of its evaluation left to hide the reading:
only the accuracy pass runs beside it, never a timed run, a per-op pass or a warm start. Where the
progress never shows that (no evaluation, a short one), it is read after the cell, as before.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from device_agent.contract import Progress
from host.results import Conditions

EVALUATE = "evaluate"
MIN_EVALUATION_LEFT_S = 0.3  # what must be left of the evaluation for a reading to end within it
CLOCK: Callable[[], float] = time.monotonic  # the host's clock for the evaluation's pace (a test gives its own)


class EndOfTiming:
    """Reads ``read()`` once per repeat: during the evaluation where it can, else when asked."""

    def __init__(self, read: Callable[[], Conditions], clock: Callable[[], float] | None = None) -> None:
        self._read, self._clock = read, clock or CLOCK
        self._evaluation_began: float | None = None
        self._thread: threading.Thread | None = None
        self._reading: Conditions | None = None
        self._error: BaseException | None = None

    def relay(self, on_progress: Callable[[Progress], None]) -> Callable[[Progress], None]:
        """``on_progress`` with the evaluation's progress watched on the way."""

        def watched(event: Progress) -> None:
            self._watch(event)
            on_progress(event)

        return watched

    def _watch(self, event: Progress) -> None:
        if self._thread is not None or event.phase != EVALUATE:
            return
        if self._evaluation_began is None:
            self._evaluation_began = self._clock()
        if event.fraction <= 0.0 or event.fraction >= 1.0:
            return
        left_s = (self._clock() - self._evaluation_began) * (1.0 - event.fraction) / event.fraction
        if left_s >= MIN_EVALUATION_LEFT_S:
            self._thread = threading.Thread(target=self._take, name="end-of-timing-reading", daemon=True)
            self._thread.start()

    def _take(self) -> None:
        try:
            self._reading = self._read()
        except BaseException as e:  # raised again in the repeat's own thread, by conditions()
            self._error = e

    def conditions(self) -> Conditions:
        """The reading taken during the evaluation, or one taken now; its error, if it failed."""
        if self._thread is None:
            return self._read()
        self.settle()
        if self._error is not None:
            raise self._error
        assert self._reading is not None
        return self._reading

    def settle(self) -> None:
        """Wait for a reading under way (a cell that failed must not leave one running beside the next)."""
        if self._thread is not None:
            self._thread.join()
