"""One cell: the request the agent gets, and the record the store keeps."""

from __future__ import annotations

from typing import Protocol

from device_agent.contract import CellRequest, CellResult, EvalParams, failed
from host.bench.config import Measurement
from host.bench.inputs import PreparedInputs
from host.bench.plan import REFERENCE, CellKey, now
from host.convert.records import ConversionListener
from host.devices.launch.launchers import AgentOptions
from host.results import CellRecord, EnergyRecord, RepeatRecord


class BenchListener(ConversionListener, Protocol):
    """What a bench reports while it runs (the console's live display listens)."""

    def stage(self, text: str) -> None: ...
    def matrix(self, total: int, done: int) -> None: ...
    def cell_started(self, key: CellKey) -> None: ...
    def cell_progress(self, key: CellKey, phase: str, fraction: float, message: str = "") -> None: ...
    def cell_done(self, cell: CellRecord) -> None: ...
    def repeat_done(self, key: CellKey, repeat: RepeatRecord) -> None: ...
    def energy_done(self, key: CellKey, energy: EnergyRecord) -> None: ...


def cell_request(
    measurement: Measurement,
    delegates: AgentOptions,
    inputs: PreparedInputs,
    mode: str,
    backend: str,
    reference_outputs: str,
    cpu_mask: int = 0,
) -> CellRequest:
    """The agent's job for one cell; the reference cell saves its outputs for the others' fidelity."""
    is_reference = (mode, backend) == REFERENCE
    evaluation = None
    if inputs.dataset_file_sha256:
        task = inputs.task
        task_outputs = task.outputs.get(inputs.models[mode].sha256, ())
        evaluation = EvalParams(
            dataset_sha256=inputs.dataset_file_sha256,
            limit=inputs.dataset.count,
            preset=inputs.preset,
            label_offset=inputs.label_offset,
            reference_outputs_sha256="" if is_reference else reference_outputs,
            save_outputs=is_reference,
            task=task.task if task_outputs else "",
            task_outputs=task_outputs,
            task_labels_sha256=task.masks[1] if task.masks and task_outputs else "",
            task_classes=task.classes,
            postprocess_outputs=task.postprocess.get(inputs.models[mode].sha256, ()),
        )
    return CellRequest(
        model_sha256=inputs.models[mode].sha256,
        backend=backend,
        latency=measurement.latency_params(),
        evaluation=evaluation,
        timeout_seconds=measurement.cell_timeout,
        gpu_delegate=delegates.gpu_delegate,
        nnapi_delegate=delegates.nnapi_delegate,
        cpu_mask=cpu_mask,
        op_profile=measurement.op_profile,
        start="cold+warm" if measurement.warm_start else "cold",
    )


def record(identity: str, mode: str, backend: str, result: CellResult, size_bytes: int | None) -> CellRecord:
    return CellRecord(identity, mode, backend, result, size_bytes, finished=now())


def failed_record(
    identity: str, mode: str, backend: str, phase: str, reason: str, size_bytes: int | None = None
) -> CellRecord:
    return record(identity, mode, backend, failed(phase, reason), size_bytes)
