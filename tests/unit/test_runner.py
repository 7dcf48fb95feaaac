"""The bench's policies without a device: resume, restart after a lost agent, the fidelity reference.

The session is scripted (it stands in for an agent on a phone, which these tests cannot have);
the store is the real SQLite one, so what a runner writes is what a user would read back.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from device_agent.contract import CellRequest, CellResult, LatencyParams, PruneResponse
from host.bench.config import BenchConfig
from host.bench.inputs import PreparedInputs
from host.bench.plan import REFERENCE, Unit, new_plan, resume_plan, units
from host.bench.runner import DeviceRunner, RunnerParts
from host.bench.sink import StoreSink, resume_command
from host.convert.given import ModelFile
from host.errors import AgentUnavailable, DeployError, InputError
from host.params import with_values
from host.results import Conditions, DatasetInfo, DeviceRecord, ModelInfo
from host.store import ResultsStore
from tests.records import latency


class Quiet:
    def __init__(self) -> None:
        self.stages: list[str] = []

    def stage(self, text: str) -> None:
        self.stages.append(text)

    def matrix(self, total: int, done: int) -> None: ...
    def cell_started(self, key: tuple[str, str, str]) -> None: ...
    def cell_progress(self, key: tuple[str, str, str], phase: str, fraction: float, message: str = "") -> None: ...
    def cell_done(self, cell: object) -> None: ...
    def repeat_done(self, key: object, repeat: object) -> None: ...
    def mode_started(self, mode: str, index: int, total: int) -> None: ...
    def mode_done(self, result: object) -> None: ...


@dataclass
class Device:
    """What the scripted sessions share: the device's files, and every request it received."""

    files: set[str] = field(default_factory=set)
    requests: list[CellRequest] = field(default_factory=list)
    sessions: int = 0
    free: int = 10**9
    script: list[Conditions] = field(default_factory=list)  # what the phone reports, in turn
    fixed: list[bool] = field(default_factory=list)  # fixed-performance mode switched on and off
    hot_after: set[int] = field(default_factory=set)  # thermal status severe once this many cells ran
    slowed_at: set[int] = field(default_factory=set)  # the reference loop slows down during these cells (1-based)
    interrupt_at: int | None = None  # Ctrl-C during this cell (1-based)
    max_khz: tuple[int, ...] = (1800000,) * 4


class ScriptedSession:
    def __init__(self, device: Device, lose_after: int | None) -> None:
        self.device = device
        self.lose_after = lose_after
        self.cells = 0
        device.sessions += 1

    def ensure(self, path: Path, sha256: str) -> bool:
        sent = sha256 not in self.device.files
        self.device.files.add(sha256)
        return sent

    def has_file(self, sha256: str) -> bool:
        return sha256 in self.device.files

    def prune_store(self, max_bytes: int, keep: tuple[str, ...]) -> PruneResponse:
        return PruneResponse(0, 0, len(self.device.files), 0)

    def store_free_bytes(self) -> int:
        return self.device.free

    def conditions(self) -> Conditions:
        if self.device.script:
            return self.device.script.pop(0)
        status = 3 if len(self.device.requests) in self.device.hot_after else 0
        return Conditions({"cpu": 35.0}, status, self.device.max_khz, self.device.max_khz)

    def wait_cool(self, below_c, bound_s, say):
        return self.conditions(), 0.0

    def set_fixed_performance(self, enabled: bool) -> bool:
        self.device.fixed.append(enabled)
        return True

    def device_record(self) -> DeviceRecord:
        return DeviceRecord("PHONE1", "Pixel", "arm64-v8a", 34, "tflite-runtime", "2.20", 8)

    def run_cell(self, request: CellRequest, on_progress=None) -> CellResult:
        if self.lose_after is not None and self.cells >= self.lose_after:
            raise AgentUnavailable("agent: connection reset (UNAVAILABLE)")
        self.cells += 1
        self.device.requests.append(request)
        n = len(self.device.requests)
        if n == self.device.interrupt_at:
            raise KeyboardInterrupt
        outputs = ""
        if request.evaluation and request.evaluation.save_outputs:
            outputs = hashlib.sha256(f"outputs {n}".encode()).hexdigest()
            self.device.files.add(outputs)
        return CellResult(
            "ok",
            phase="done",
            latency=latency((1.0 + n / 100, 1.1)),
            outputs_sha256=outputs,
            reference_before_ms=10.0,
            reference_after_ms=12.0 if n in self.device.slowed_at else 10.1,
        )

    def close(self) -> None: ...


@pytest.fixture()
def inputs(tmp_path) -> PreparedInputs:
    models = {}
    for mode in ("none", "float16", "integer"):
        path = tmp_path / f"{mode}.tflite"
        path.write_bytes(mode.encode() * 10)
        models[mode] = ModelFile(mode, path, hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_size)
    dataset = tmp_path / "data.npz"
    dataset.write_bytes(b"images")
    return PreparedInputs(
        ModelInfo("m", "m" * 64, (1, 8, 8, 3), "unit"),
        None,
        models,
        {},
        list(models),
        DatasetInfo("d", "d" * 64, 10, True),
        dataset,
        "unit",
        dataset_file_sha256=hashlib.sha256(b"images").hexdigest(),
    )


CONFIG = BenchConfig.of(modes="none,float16,integer", backends="cpu1,cpu4", min_runs=3)


def _runner(store: ResultsStore, plan, inputs, device: Device, script: list[int | None]) -> DeviceRunner:
    def open_session() -> ScriptedSession:
        if not script:
            raise DeployError("no Python 3 the shell can run")
        return ScriptedSession(device, script.pop(0))

    return DeviceRunner(RunnerParts("PHONE1", open_session, inputs, StoreSink(store, plan, inputs), Quiet()), plan)


def test_the_reference_runs_first_and_every_other_cell_compares_to_its_outputs(tmp_path, inputs):
    store, device = ResultsStore(tmp_path / "r.sqlite"), Device()
    stats = _runner(store, new_plan(CONFIG), inputs, device, [None]).run()
    first, *rest = device.requests
    assert (first.model_sha256, first.backend) == (inputs.models["none"].sha256, "cpu1")
    assert first.evaluation.save_outputs and not first.evaluation.reference_outputs_sha256
    assert (first.evaluation.dataset_sha256, first.evaluation.limit) == (inputs.dataset_file_sha256, 10)
    reference = next(
        f for f in device.files if f not in {m.sha256 for m in inputs.models.values()} | {inputs.dataset_file_sha256}
    )
    assert all(r.evaluation.reference_outputs_sha256 == reference and not r.evaluation.save_outputs for r in rest)
    assert (stats.cells_run, stats.pushed_files, stats.files, stats.agent_restarts) == (6, 4, 4, 0)
    assert all(r.latency == LatencyParams(min_runs=3) for r in device.requests)


def test_a_lost_agent_gets_one_new_session_and_no_finished_cell_runs_again(tmp_path, inputs):
    store, device = ResultsStore(tmp_path / "r.sqlite"), Device()
    plan = new_plan(CONFIG)
    stats = _runner(store, plan, inputs, device, [2, None]).run()
    assert device.sessions == 2 and stats.agent_restarts == 1 and stats.cells_run == 6
    assert len(device.requests) == 6, "the two finished cells were not measured again"
    assert stats.pushed_files == 4, "the second session found the files on the device"
    run = store.load_run(plan.run_id)
    assert len(run.cells) == 6 and all(c.ok for c in run.cells)


def test_a_second_loss_fails_the_rest_with_the_reason(tmp_path, inputs):
    store, device = ResultsStore(tmp_path / "r.sqlite"), Device()
    plan = new_plan(CONFIG)
    _runner(store, plan, inputs, device, [2, 1]).run()
    cells = {(c.mode, c.backend): c for c in store.load_run(plan.run_id).cells}
    assert sum(c.ok for c in cells.values()) == 3
    failed = [c for c in cells.values() if not c.ok]
    assert len(failed) == 3 and all("device or agent lost: agent: connection reset" in c.error for c in failed)


def test_an_agent_that_cannot_start_fails_every_cell_and_the_run_is_still_written(tmp_path, inputs):
    store = ResultsStore(tmp_path / "r.sqlite")
    plan = new_plan(CONFIG)
    _runner(store, plan, inputs, Device(), []).run()
    cells = store.load_run(plan.run_id).cells
    assert len(cells) == 6 and all(
        c.status == "failed" and "agent could not start: no Python" in c.error for c in cells
    )
    assert all(c.size_bytes for c in cells), "sizes are known without a device"


def test_resume_runs_only_missing_or_failed_cells(tmp_path, inputs):
    store, device = ResultsStore(tmp_path / "r.sqlite"), Device()
    plan = new_plan(CONFIG)
    _runner(store, plan, inputs, device, [2, 1]).run()
    resumed = resume_plan(store.load_run(plan.run_id), BenchConfig())
    assert resumed.run_id == plan.run_id and resumed.config.conversion.modes == "none,float16,integer"
    assert len(resumed.todo("PHONE1", [(m, b) for m in inputs.modes for b in ("cpu1", "cpu4")])) == 3
    before = len(device.requests)
    _runner(store, resumed, inputs, device, [None]).run()
    assert len(device.requests) - before == 3
    assert all(c.ok for c in store.load_run(plan.run_id).cells)


def test_two_resumes_of_one_run_do_not_measure_the_same_cells_twice(tmp_path, inputs):
    """Both load the run before either holds the device; the second, once it holds it, reads the
    run again and finds the cells the first finished (issue 22, item 7)."""
    store, device = ResultsStore(tmp_path / "r.sqlite"), Device()
    plan = new_plan(CONFIG)
    _runner(store, plan, inputs, device, [2, 1]).run()
    first = resume_plan(store.load_run(plan.run_id), BenchConfig())
    second = resume_plan(store.load_run(plan.run_id), BenchConfig())  # loaded at the same time as the first
    stored = lambda: store.load_run(plan.run_id)  # noqa: E731
    before = len(device.requests)
    one = _runner(store, first, inputs, device, [None])
    one.parts = replace(one.parts, stored=stored)
    one.run()
    assert len(device.requests) - before == 3
    two = _runner(store, second, inputs, device, [None])
    two.parts = replace(two.parts, stored=stored)
    assert two.run().cells_run == 0 and len(device.requests) - before == 3, "the second resume measured nothing again"


def test_resume_measures_the_reference_again_when_its_outputs_are_gone(tmp_path, inputs):
    store, device = ResultsStore(tmp_path / "r.sqlite"), Device()
    plan = new_plan(CONFIG)
    _runner(store, plan, inputs, device, [2, 0]).run()
    new_phone = Device()  # same serial number, wiped storage: the stored reference outputs are gone
    resumed = resume_plan(store.load_run(plan.run_id), BenchConfig())
    _runner(store, resumed, inputs, new_phone, [None]).run()
    first = new_phone.requests[0]
    assert (first.model_sha256, first.backend, first.evaluation.save_outputs) == (
        inputs.models["none"].sha256,
        "cpu1",
        True,
    )
    outputs = store.load_run(plan.run_id).cells[0].result.outputs_sha256
    assert all(r.evaluation.reference_outputs_sha256 == outputs for r in new_phone.requests[1:])


def test_resume_refuses_a_changed_model_or_dataset(tmp_path, inputs):
    store = ResultsStore(tmp_path / "r.sqlite")
    plan = new_plan(CONFIG)
    _runner(store, plan, inputs, Device(), [None]).run()
    resumed = resume_plan(store.load_run(plan.run_id), BenchConfig())
    with pytest.raises(InputError, match="the model changed"):
        resumed.check_inputs(replace(inputs, model=replace(inputs.model, sha256="x" * 64)))
    with pytest.raises(InputError, match="the dataset changed"):
        resumed.check_inputs(replace(inputs, dataset=replace(inputs.dataset, sha256="y" * 64)))


def test_no_run_is_written_before_its_first_cell(tmp_path, inputs):
    store = ResultsStore(tmp_path / "r.sqlite")
    runner = _runner(store, new_plan(CONFIG), inputs, Device(), [])
    with pytest.raises(InputError, match="no runs"):
        store.load_run("latest")
    runner.run_cell(ScriptedSession(Device(), None), Unit(*REFERENCE))
    assert store.load_run("latest").run_id == runner.plan.run_id


def test_the_resume_command_names_the_database_unless_it_is_the_default(tmp_path, monkeypatch):
    monkeypatch.setenv("QUANTBENCH_DATA_DIR", str(tmp_path / "data"))
    assert resume_command("R1", tmp_path / "data" / "results.sqlite") == "host bench --resume R1"
    assert (
        resume_command("R1", tmp_path / "my runs.sqlite")
        == f"host bench --resume R1 --db '{tmp_path / 'my runs.sqlite'}'"
    )


def test_a_device_without_room_fails_its_cells_with_the_figures_before_pushing(tmp_path, inputs):
    store, phone = ResultsStore(tmp_path / "r.sqlite"), Device(free=100)
    plan = new_plan(CONFIG)
    stats = _runner(store, plan, inputs, phone, [None]).run()
    cells = store.load_run(plan.run_id).cells
    assert stats.pushed_files == 0 and not phone.files and not phone.requests
    assert all(
        c.status == "failed" and "not enough room on the device" in c.error and "MB are free" in c.error for c in cells
    )


# -- repeats ----------------------------------------------------------------------------------

CELLS = [(m, b) for m in ("none", "float16", "integer") for b in ("cpu1", "cpu4")]


def test_each_order_of_repeats_and_the_seed_that_reproduces_it():
    blocked = units(CELLS, 3, "blocked", 0)
    assert [(u.cell, u.repeat) for u in blocked[:3]] == [(("none", "cpu1"), r) for r in range(3)]
    interleaved = units(CELLS, 3, "interleaved", 0)
    assert [u.cell for u in interleaved[:6]] == CELLS and [u.repeat for u in interleaved[6:12]] == [1] * 6
    shuffled = units(CELLS, 3, "shuffled", 7)
    assert shuffled == units(CELLS, 3, "shuffled", 7) and shuffled != units(CELLS, 3, "shuffled", 8)
    assert shuffled[0] == Unit(*REFERENCE), "the fidelity reference comes first whatever the order"
    rounds = [sorted(u.cell for u in shuffled if u.repeat == r) for r in range(3)]
    assert all(r == sorted(CELLS) for r in rounds), "every round times every cell once"
    with_long = units(CELLS, 2, "shuffled", 7, sustained=[("none", "cpu1")])
    assert with_long[-1] == Unit("none", "cpu1", 0, "sustained") and len(with_long) == 13


def test_repeats_are_stored_in_the_order_the_seed_gives_and_only_the_first_evaluates(tmp_path, inputs):
    store, device = ResultsStore(tmp_path / "r.sqlite"), Device()
    plan = new_plan(with_values(CONFIG, repeats=3))
    assert plan.config.schedule.seed is not None, "a new seed is drawn and recorded"
    _runner(store, plan, inputs, device, [None]).run()
    assert len(device.requests) == 18
    assert [r.evaluation is not None for r in device.requests].count(True) == 6
    run = store.load_run(plan.run_id)
    assert run.config["seed"] == plan.config.schedule.seed and run.config["order"] == "shuffled"
    ran = sorted((r.position, (c.mode, c.backend), r.repeat) for c in run.cells for r in c.repeats)
    expected = units(CELLS, 3, "shuffled", plan.config.schedule.seed)
    assert [(cell, repeat) for _, cell, repeat in ran] == [(u.cell, u.repeat) for u in expected]
    assert all(len(c.timed) == 3 for c in run.cells)


def test_throttled_repeats_are_kept_with_their_reason_and_left_out(tmp_path, inputs):
    store, device = ResultsStore(tmp_path / "r.sqlite"), Device(hot_after={3}, slowed_at={5})
    plan = new_plan(with_values(CONFIG, repeats=2, order="blocked"))
    _runner(store, plan, inputs, device, [None]).run()
    repeats = [r for c in store.load_run(plan.run_id).cells for r in c.repeats]
    throttled = sorted((r.position, r.throttled) for r in repeats if r.throttled)
    assert [p for p, _ in throttled] == [2, 4]
    assert "thermal status 3" in throttled[0][1] and "reference loop took 20% longer" in throttled[1][1]
    cells = store.load_run(plan.run_id).cells
    assert sum(len(c.timed) for c in cells) == 10


def test_workers_are_pinned_to_the_fastest_cores_and_fixed_performance_is_restored(tmp_path, inputs):
    store, device = ResultsStore(tmp_path / "r.sqlite"), Device(max_khz=(1800000, 1800000, 2800000, 2800000))
    plan = new_plan(with_values(CONFIG, cpu_mask="auto"))
    _runner(store, plan, inputs, device, [None]).run()
    assert {r.cpu_mask for r in device.requests} == {0b1100} and device.fixed == [True, False]
    (recorded,) = store.load_run(plan.run_id).devices
    assert recorded.cpu_mask == 0b1100 and recorded.fixed_performance
    interrupted = Device(interrupt_at=2)
    with pytest.raises(KeyboardInterrupt):
        _runner(store, new_plan(with_values(CONFIG, cpu_mask="0x1")), inputs, interrupted, [None]).run()
    assert interrupted.fixed == [True, False], "Ctrl-C still turns fixed-performance mode off"
    untouched = Device()
    _runner(store, new_plan(with_values(CONFIG, fixed_performance=False)), inputs, untouched, [None]).run()
    assert untouched.fixed == [] and {r.cpu_mask for r in untouched.requests} == {0}


def test_more_units_run_on_the_same_session(tmp_path, inputs):
    store, device = ResultsStore(tmp_path / "r.sqlite"), Device()
    rounds = [[Unit("none", "cpu1", 1), Unit("float16", "cpu4", 1)], []]
    runner = _runner(store, new_plan(CONFIG), inputs, device, [None])
    runner.parts = replace(runner.parts, more=lambda: rounds.pop(0))
    runner.run()
    assert device.sessions == 1 and len(device.requests) == 8 and not rounds


def test_a_device_that_stays_away_fails_the_rest_and_one_that_comes_back_goes_on(tmp_path, inputs):
    store, device = ResultsStore(tmp_path / "r.sqlite"), Device()
    plan = new_plan(CONFIG)
    runner = _runner(store, plan, inputs, device, [2, None])
    waited = []
    runner.parts = replace(runner.parts, reconnect=lambda: waited.append(1) or False)
    runner.run()
    cells = store.load_run(plan.run_id).cells
    assert waited == [1] and sum(c.ok for c in cells) == 2
    assert all("did not come back in time" in c.error for c in cells if not c.ok)
    back = _runner(store, new_plan(CONFIG), inputs, Device(), [2, None])
    back.reconnect = lambda: True
    assert back.run().agent_restarts == 1 and all(c.ok for c in store.load_run(back.plan.run_id).cells)
