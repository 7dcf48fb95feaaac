"""Run and cell records, and their JSON in exactly the design's contract.

Records keep a little more than the contract (raw samples, the phase a failure reached, the
delegate's name): the store and the reports use it; ``run_json`` emits the contract only.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

CELL_STATUSES = ("ok", "unavailable", "failed")
LATENCY_KEYS = ("init", "first", "mean", "std", "min", "p50", "p90", "p95", "p99", "max", "count")


@dataclass(frozen=True)
class CellRecord:
    device: str
    mode: str
    backend: str
    status: str
    error: str = ""
    phase: str = ""
    size_bytes: int | None = None
    latency_ms: dict[str, float] | None = None
    memory_mb: dict[str, float] | None = None
    delegation: dict[str, Any] | None = None
    accuracy: dict[str, float] | None = None
    fidelity: dict[str, float] | None = None
    samples_ms: tuple[float, ...] = ()
    outputs_sha256: str = ""
    finished: str = ""
    extra: dict[str, Any] = field(default_factory=dict)  # evaluate_seconds, evaluated_images, accuracy_note

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.device, self.mode, self.backend)

    def with_finished(self, stamp: str) -> CellRecord:
        return replace(self, finished=stamp)


@dataclass(frozen=True)
class DeviceRecord:
    serial: str
    model: str
    abi: str
    sdk: int
    runtime: str
    runtime_version: str
    cores: int
    emulated: bool = False
    soc: str = ""
    adb_serial: str = ""  # how adb reached it in this run (serial is the device's own, ro.serialno)


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    started: str
    tool_version: str
    model: dict[str, Any]
    dataset: dict[str, Any]
    config: dict[str, Any]
    devices: tuple[DeviceRecord, ...] = ()
    cells: tuple[CellRecord, ...] = ()
    finished: str = ""
    notes: tuple[str, ...] = field(default=())
    stats: dict[str, Any] = field(default_factory=dict)


def _subset(values: dict[str, Any] | None, keys: tuple[str, ...]) -> dict[str, Any] | None:
    if values is None:
        return None
    return {k: values.get(k) for k in keys}


def cell_json(cell: CellRecord) -> dict[str, Any]:
    return {
        "device": cell.device, "mode": cell.mode, "backend": cell.backend, "status": cell.status,
        "error": cell.error or None, "size_bytes": cell.size_bytes,
        "latency_ms": _subset(cell.latency_ms, LATENCY_KEYS),
        "memory_mb": _subset(cell.memory_mb, ("init_rss", "peak_rss")),
        "delegation": _subset(cell.delegation, ("delegated_nodes", "total_nodes")),
        "accuracy": _subset(cell.accuracy, ("top1", "top3", "top5", "count")),
        "fidelity": _subset(cell.fidelity, ("top1_agreement", "mean_abs_error", "max_abs_error")),
    }


def run_json(run: RunRecord) -> dict[str, Any]:
    """The ``host bench --json`` object of the design, field by field."""
    return {
        "run_id": run.run_id,
        "started": run.started,
        "tool_version": run.tool_version,
        "model": {k: run.model.get(k) for k in ("name", "sha256", "input_shape")},
        "dataset": {k: run.dataset.get(k) for k in ("name", "sha256", "count")},
        "devices": [
            {"serial": d.serial, "model": d.model, "abi": d.abi, "sdk": d.sdk, "runtime": d.runtime,
             "runtime_version": d.runtime_version, "cores": d.cores}
            for d in run.devices
        ],
        "cells": [cell_json(c) for c in run.cells],
    }


def run_from_json(data: dict[str, Any]) -> RunRecord:
    """A run read back from ``host bench --json`` (no raw samples: the contract has none)."""
    try:
        devices = tuple(DeviceRecord(**{k: d.get(k) for k in ("serial", "model", "abi", "sdk", "runtime", "runtime_version", "cores")})
                        for d in data.get("devices", []))
        cells = tuple(
            CellRecord(device=c["device"], mode=c["mode"], backend=c["backend"], status=c["status"], error=c.get("error") or "",
                       size_bytes=c.get("size_bytes"), latency_ms=c.get("latency_ms"), memory_mb=c.get("memory_mb"),
                       delegation=c.get("delegation"), accuracy=c.get("accuracy"), fidelity=c.get("fidelity"))
            for c in data["cells"]
        )
        modes = list(dict.fromkeys(c.mode for c in cells))
        backends = list(dict.fromkeys(c.backend for c in cells))
        return RunRecord(run_id=data["run_id"], started=data.get("started", ""), tool_version=data.get("tool_version", ""),
                         model=dict(data.get("model") or {}), dataset=dict(data.get("dataset") or {}),
                         config={"modes": modes, "backends": backends}, devices=devices, cells=cells)
    except (KeyError, TypeError) as e:
        raise ValueError(f"not a host bench JSON run: missing {e}") from e
