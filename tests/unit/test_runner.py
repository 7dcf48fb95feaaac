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
from host.bench.inputs import ModelFile, PreparedInputs
from host.bench.plan import REFERENCE, new_plan, resume_plan
from host.bench.run import StoreSink, resume_command
from host.bench.runner import DeviceRunner
from host.errors import AgentUnavailable, DeployError, InputError
from host.results import DatasetInfo, DeviceRecord, ModelInfo
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
    def mode_started(self, mode: str, index: int, total: int) -> None: ...
    def mode_done(self, result: object) -> None: ...


@dataclass
class Device:
    """What the scripted sessions share: the device's files, and every request it received."""

    files: set[str] = field(default_factory=set)
    requests: list[CellRequest] = field(default_factory=list)
    sessions: int = 0
    free: int = 10**9


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

    def device_record(self) -> DeviceRecord:
        return DeviceRecord("PHONE1", "Pixel", "arm64-v8a", 34, "tflite-runtime", "2.20", 8)

    def run_cell(self, request: CellRequest, on_progress=None) -> CellResult:
        if self.lose_after is not None and self.cells >= self.lose_after:
            raise AgentUnavailable("agent: connection reset (UNAVAILABLE)")
        self.cells += 1
        self.device.requests.append(request)
        outputs = ""
        if request.evaluation and request.evaluation.save_outputs:
            outputs = hashlib.sha256(f"outputs {len(self.device.requests)}".encode()).hexdigest()
            self.device.files.add(outputs)
        return CellResult("ok", phase="done", latency=latency((1.0, 1.1)), outputs_sha256=outputs)

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
    return PreparedInputs(ModelInfo("m", "m" * 64, (1, 8, 8, 3), "unit"), None, models, {}, list(models),
                          DatasetInfo("d", "d" * 64, 10, True), dataset, "unit",
                          dataset_file_sha256=hashlib.sha256(b"images").hexdigest())


CONFIG = BenchConfig(modes="none,float16,integer", backends="cpu1,cpu4", min_runs=3)


def _runner(store: ResultsStore, plan, inputs, device: Device, script: list[int | None]) -> DeviceRunner:
    def open_session() -> ScriptedSession:
        if not script:
            raise DeployError("no Python 3 the shell can run")
        return ScriptedSession(device, script.pop(0))

    return DeviceRunner("PHONE1", open_session, plan, inputs, StoreSink(store, plan, inputs), Quiet())


def test_the_reference_runs_first_and_every_other_cell_compares_to_its_outputs(tmp_path, inputs):
    store, device = ResultsStore(tmp_path / "r.sqlite"), Device()
    stats = _runner(store, new_plan(CONFIG), inputs, device, [None]).run()
    first, *rest = device.requests
    assert (first.model_sha256, first.backend) == (inputs.models["none"].sha256, "cpu1")
    assert first.evaluation.save_outputs and not first.evaluation.reference_outputs_sha256
    assert (first.evaluation.dataset_sha256, first.evaluation.limit) == (inputs.dataset_file_sha256, 10)
    reference = next(f for f in device.files if f not in {m.sha256 for m in inputs.models.values()} | {inputs.dataset_file_sha256})
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
    assert len(cells) == 6 and all(c.status == "failed" and "agent could not start: no Python" in c.error for c in cells)
    assert all(c.size_bytes for c in cells), "sizes are known without a device"


def test_resume_runs_only_missing_or_failed_cells(tmp_path, inputs):
    store, device = ResultsStore(tmp_path / "r.sqlite"), Device()
    plan = new_plan(CONFIG)
    _runner(store, plan, inputs, device, [2, 1]).run()
    resumed = resume_plan(store.load_run(plan.run_id), BenchConfig())
    assert resumed.run_id == plan.run_id and resumed.config.modes == "none,float16,integer"
    assert len(resumed.todo("PHONE1", [(m, b) for m in inputs.modes for b in ("cpu1", "cpu4")])) == 3
    before = len(device.requests)
    _runner(store, resumed, inputs, device, [None]).run()
    assert len(device.requests) - before == 3
    assert all(c.ok for c in store.load_run(plan.run_id).cells)


def test_resume_measures_the_reference_again_when_its_outputs_are_gone(tmp_path, inputs):
    store, device = ResultsStore(tmp_path / "r.sqlite"), Device()
    plan = new_plan(CONFIG)
    _runner(store, plan, inputs, device, [2, 0]).run()
    new_phone = Device()  # same serial number, wiped storage: the stored reference outputs are gone
    resumed = resume_plan(store.load_run(plan.run_id), BenchConfig())
    _runner(store, resumed, inputs, new_phone, [None]).run()
    first = new_phone.requests[0]
    assert (first.model_sha256, first.backend, first.evaluation.save_outputs) == (inputs.models["none"].sha256, "cpu1", True)
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
    runner.run_cell(ScriptedSession(Device(), None), *REFERENCE)
    assert store.load_run("latest").run_id == runner.plan.run_id


def test_the_resume_command_names_the_database_unless_it_is_the_default(tmp_path, monkeypatch):
    monkeypatch.setenv("QUANTBENCH_DATA_DIR", str(tmp_path / "data"))
    assert resume_command("R1", tmp_path / "data" / "results.sqlite") == "host bench --resume R1"
    assert resume_command("R1", tmp_path / "my runs.sqlite") == f"host bench --resume R1 --db '{tmp_path / 'my runs.sqlite'}'"


def test_a_device_without_room_fails_its_cells_with_the_figures_before_pushing(tmp_path, inputs):
    store, phone = ResultsStore(tmp_path / "r.sqlite"), Device(free=100)
    plan = new_plan(CONFIG)
    stats = _runner(store, plan, inputs, phone, [None]).run()
    cells = store.load_run(plan.run_id).cells
    assert stats.pushed_files == 0 and not phone.files and not phone.requests
    assert all(c.status == "failed" and "not enough room on the device" in c.error and "MB are free" in c.error for c in cells)
