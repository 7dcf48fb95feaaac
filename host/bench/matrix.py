"""Run cells on one device's agent: each in its own try, each stored before the next starts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Protocol

from host.agent_client import CellResult, Progress, cell_request
from host.bench.config import BenchConfig
from host.bench.inputs import PreparedInputs
from host.devices.deploy import AgentSession
from host.errors import AgentError, AgentTimeout, AgentUnavailable, ModelRejected
from host.results import CellRecord

REFERENCE = ("none", "cpu1")


class BenchListener(Protocol):
    def stage(self, text: str) -> None: ...
    def matrix(self, total: int, done: int) -> None: ...
    def cell_started(self, key: tuple[str, str, str]) -> None: ...
    def cell_progress(self, key: tuple[str, str, str], phase: str, fraction: float) -> None: ...
    def cell_done(self, cell: CellRecord) -> None: ...


class SessionLost(Exception):
    """The agent stopped answering: the caller restarts it or gives up on the device."""


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def cell_order(modes: list[str], backends: list[str]) -> list[tuple[str, str]]:
    """Modes in table order x backends as given, the fidelity reference (none/cpu1) first."""
    order = [(m, b) for m in modes for b in backends]
    if REFERENCE in order:
        order.remove(REFERENCE)
        order.insert(0, REFERENCE)
    return order


def record_from_result(serial: str, mode: str, backend: str, result: CellResult, size_bytes: int | None, is_reference: bool) -> CellRecord:
    return CellRecord(
        device=serial, mode=mode, backend=backend, status=result.status, error=result.error,
        phase=result.phase, size_bytes=size_bytes, latency_ms=result.latency_ms, memory_mb=result.memory_mb,
        delegation=result.delegation, accuracy=result.accuracy,
        fidelity=None if is_reference else result.fidelity, samples_ms=result.samples_ms,
        outputs_sha256=result.outputs_sha256, finished=now(),
        extra={k: v for k, v in (("evaluate_seconds", result.evaluate_seconds), ("evaluated_images", result.evaluated_images),
                                 ("accuracy_note", result.accuracy_note)) if v},
    )


@dataclass
class MatrixRun:
    session: AgentSession
    serial: str
    inputs: PreparedInputs
    config: BenchConfig
    save: Callable[[CellRecord], None]
    listener: Any
    reference_outputs: str = ""

    def run_cell(self, mode: str, backend: str) -> CellRecord:
        """One cell, whatever happens: a failed cell records why and how far it got."""
        key = (self.serial, mode, backend)
        self.listener.cell_started(key)
        model = self.inputs.models.get(mode)
        if model is None:
            cell = CellRecord(self.serial, mode, backend, "failed", self.inputs.failed_modes.get(mode, "no model"), "convert", finished=now())
        else:
            cell = self._measure(mode, backend, model.sha256, model.size_bytes)
        self.save(cell)
        self.listener.cell_done(cell)
        return cell

    def _measure(self, mode: str, backend: str, model_sha: str, size: int) -> CellRecord:
        c = self.config
        is_reference = (mode, backend) == REFERENCE
        latency = c.latency_params()
        request = cell_request(
            model_sha, backend, warmup_runs=latency.warmup_runs, warmup_seconds=latency.warmup_seconds,
            min_runs=latency.min_runs, min_seconds=latency.min_seconds, max_seconds=latency.max_seconds, timeout_s=c.cell_timeout,
            dataset_sha256=self.inputs.dataset.get("sha256") or "", preset=self.inputs.preset, label_offset=c.label_offset,
            reference_outputs_sha256="" if is_reference else self.reference_outputs, save_outputs=is_reference,
            gpu_delegate=c.gpu_delegate, nnapi_delegate=c.nnapi_delegate,
        )

        def progress(p: Progress) -> None:
            self.listener.cell_progress((self.serial, mode, backend), p.phase, p.fraction)

        try:
            result = self.session.client.run_cell(request, deadline_s=c.cell_timeout + 60, on_progress=progress)
        except ModelRejected as e:
            return CellRecord(self.serial, mode, backend, "failed", str(e).removeprefix("agent: "), "load", size, finished=now())
        except (AgentUnavailable, AgentTimeout) as e:
            raise SessionLost(str(e)) from e
        except AgentError as e:
            return CellRecord(self.serial, mode, backend, "failed", str(e), "start", size, finished=now())
        cell = record_from_result(self.serial, mode, backend, result, size, is_reference)
        if is_reference and cell.status == "ok":
            self.reference_outputs = cell.outputs_sha256
        return cell
