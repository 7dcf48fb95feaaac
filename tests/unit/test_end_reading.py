"""The phone's state at the end of a repeat's timing: read while the worker evaluates where the
evaluation leaves room, else after the cell; never beside a timed run."""

from __future__ import annotations

import threading

import pytest

from device_agent.contract import CellRequest, CellResult, Progress
from host.bench import end_reading
from host.bench.end_reading import EndOfTiming
from host.bench.plan import Unit
from host.bench.repeat import CoolDown, measure_repeat
from host.errors import DeviceError
from host.results import Conditions
from tests.records import latency

REQUEST = CellRequest(model_sha256="m" * 64, backend="cpu1")
NO_COOLING = CoolDown(bound_s=0)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


CLOCK = Clock()  # the host's clock as the tests pace it


class EvaluatingSession:
    """A session whose cell reports its phases; ``evaluation`` is the fractions its evaluation
    reports, one clock second apart; a ``hidden`` reading is waited for before the cell goes on to
    its per-op pass (the state this test observes, not a clock). It records when each reading was taken."""

    def __init__(
        self, clock: Clock, evaluation: list[float], *, hidden: bool, fail_reading: bool = False, cell_ok: bool = True
    ) -> None:
        self.clock, self.evaluation, self.hidden = clock, evaluation, hidden
        self.fail_reading, self.cell_ok = fail_reading, cell_ok
        self.in_cell = False
        self.phase = ""
        self.readings: list[str] = []  # "before", or the phase the cell was in ("after the cell" outside it)
        self.read = threading.Event()  # set by a reading during the cell

    def conditions(self) -> Conditions:
        self.readings.append(self.phase if self.in_cell else "after the cell" if self.readings else "before")
        if self.in_cell:
            self.read.set()
        if self.fail_reading and len(self.readings) > 1:
            raise DeviceError("PHONE1: the device is gone")
        return Conditions({"cpu": 30.0 + len(self.readings)}, 0, 0, 0)

    def wait_cool(self, below_c, bound_s, say):
        return self.conditions(), 0.0

    def run_cell(self, request: CellRequest, on_progress=None) -> CellResult:
        self.in_cell = True
        for phase in ("load", "measure", "evaluate"):
            self.phase = phase
            on_progress(Progress(phase))
        for fraction in self.evaluation:
            self.clock.now += 1.0
            on_progress(Progress("evaluate", fraction))
        if self.hidden:
            assert self.read.wait(timeout=10), "the reading should have started during the evaluation"
        self.phase = "op_profile"
        on_progress(Progress("op_profile"))
        self.in_cell = False
        if not self.cell_ok:
            return CellResult("failed", phase="op_profile", error="worker killed by SIGSEGV")
        return CellResult(
            "ok", phase="done", latency=latency((1.0, 1.1)), reference_before_ms=10.0, reference_after_ms=10.1
        )


@pytest.fixture(autouse=True)
def _paced_by_the_sessions_clock(monkeypatch):
    monkeypatch.setattr(end_reading, "CLOCK", CLOCK)


def _repeat(session: EvaluatingSession):
    return measure_repeat(session, REQUEST, Unit("none", "cpu1"), 0, NO_COOLING, lambda line: None, lambda event: None)


def test_a_long_evaluation_hides_the_end_of_timing_reading():
    session = EvaluatingSession(CLOCK, [0.25, 0.5], hidden=True)  # 1 s for a quarter: 3 s left
    result, record = _repeat(session)
    assert session.readings == ["before", "evaluate"], "read once, while the worker evaluated, not after the cell"
    assert record is not None and record.after.temperatures_c == {"cpu": 32.0}


def test_without_room_in_the_evaluation_the_reading_waits_for_the_cell():
    session = EvaluatingSession(CLOCK, [0.9], hidden=False)  # 1 s for 90%: 0.11 s left, too little to hide a reading in
    _, record = _repeat(session)
    assert session.readings == ["before", "after the cell"]
    no_evaluation = EvaluatingSession(CLOCK, [], hidden=False)
    _, record = _repeat(no_evaluation)
    assert no_evaluation.readings == ["before", "after the cell"] and record is not None


def test_a_reading_that_failed_during_the_evaluation_fails_the_repeat_as_it_would_after_it():
    session = EvaluatingSession(CLOCK, [0.25], hidden=True, fail_reading=True)
    with pytest.raises(DeviceError, match="the device is gone"):
        _repeat(session)


def test_a_cell_that_failed_after_its_timing_still_waits_for_the_reading_it_started():
    session = EvaluatingSession(CLOCK, [0.25], hidden=True, cell_ok=False)
    result, record = _repeat(session)
    assert result.status == "failed" and record is None
    assert session.readings == ["before", "evaluate"]


def test_the_rule_needs_the_evaluation_left_not_just_an_evaluation():
    clock, started = Clock(), []
    end = EndOfTiming(lambda: started.append(clock.now) or Conditions({}, 0, 0, 0), clock)
    watch = end.relay(lambda event: None)
    watch(Progress("measure", 0.5))
    watch(Progress("evaluate"))
    clock.now += 0.1
    watch(Progress("evaluate", 0.5))  # 0.1 s for half: 0.1 s left
    end.settle()
    assert started == []
    clock.now += 0.5
    watch(Progress("evaluate", 0.6))  # 0.6 s for 60%: 0.4 s left
    end.settle()
    assert started == [100.6]
    watch(Progress("evaluate", 0.7))
    assert end.conditions() is not None and started == [100.6], "one reading per repeat"
