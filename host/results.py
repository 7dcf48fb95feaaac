"""Run and cell records, and their JSON in exactly the design's contract.

A ``CellRecord`` embeds the agent's typed ``CellResult`` and adds where and when it was
measured. Records keep more than the contract (raw samples, the phase a failure reached, the
delegate's name); ``run_json`` emits the contract only, ``run_from_json`` reads it back.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from device_agent.contract import (
    CELL_STATUSES,
    Accuracy,
    CellResult,
    CellStatus,
    Delegation,
    Fidelity,
    LatencyStats,
    Memory,
    WarmStart,
)
from host.codec import JsonObject, decode, encode
from host.errors import RecordError

ScoredTask = Literal["segment", "detect", "keypoints"]  # the tasks scored from the evidence a cell gathers

RepeatKind = Literal["repeat", "sustained"]  # a timing, or one long run read in windows

T = TypeVar("T")

# Field names of the typed results as the JSON contract (and the database) spell them.
CONTRACT_NAMES: Mapping[str, str] = {
    "init_ms": "init",
    "first_ms": "first",
    "warmup_total_ms": "warmup_total",
    "init_rss_mb": "init_rss",
    "peak_rss_mb": "peak_rss",
    "baseline_rss_mb": "baseline_rss",
    "first_rss_mb": "first_rss",
    "overall_rss_mb": "overall_rss",
    "evaluate_peak_rss_mb": "evaluate_peak_rss",
}
CONTRACT_KEYS: Mapping[str, tuple[str, ...]] = {
    "latency_ms": ("init", "first", "mean", "std", "min", "p50", "p90", "p95", "p99", "max", "count"),
    "memory_mb": (
        "init_rss",
        "peak_rss",
        "baseline_rss",
        "first_rss",
        "overall_rss",
        "evaluate_peak_rss",
        "peak_source",
    ),
    "delegation": ("delegated_nodes", "total_nodes"),
    "accuracy": ("top1", "top3", "top5", "count"),
    "fidelity": ("top1_agreement", "mean_abs_error", "max_abs_error", "snr_db", "outputs"),
}


@dataclass(frozen=True)
class TaskMetrics:
    """A cell's quality on its task, scored on the host from the evidence the device gathered.

    ``value`` is the headline (``metric``), a fraction where higher is better: mIoU, mAP@0.5:0.95
    or PCK@0.05; the other figures go with it. Classification keeps its ``Accuracy``."""

    task: ScoredTask
    metric: str
    value: float
    count: int  # images scored
    mean_iou: float | None = None
    pixel_accuracy: float | None = None
    map_50_95: float | None = None
    map_50: float | None = None
    mean_error_px: float | None = None  # in the model's input pixels
    pck: float | None = None  # points within 5% of the input's longer side
    detections: int | None = None


CPU_ZONE_WORDS = ("cpu", "soc", "tsens", "cluster", "big", "little", "x86_pkg")


@dataclass(frozen=True)
class Conditions:
    """The phone's temperatures, thermal status and CPU clocks at one moment."""

    temperatures_c: dict[str, float] = field(default_factory=dict)  # zone type -> degrees C
    thermal_status: int = -1  # -1: unknown
    cur_khz: tuple[int, ...] = ()  # per CPU, 0 when unreadable
    max_khz: tuple[int, ...] = ()
    governors: tuple[str, ...] = ()  # per CPU, "" when unreadable
    battery_level: int = -1  # percent; -1 unknown
    battery_temp_c: float | None = None
    plugged: str = ""  # ac, usb, wireless, none; "" unknown

    @property
    def hottest_c(self) -> float | None:
        """The hottest CPU zone (any zone when none is named like a CPU's)."""
        cpu = [t for name, t in self.temperatures_c.items() if any(w in name.lower() for w in CPU_ZONE_WORDS)]
        values = cpu or list(self.temperatures_c.values())
        return max(values) if values else None


@dataclass(frozen=True)
class Fingerprint:
    """What a device is, as far as a measurement depends on it: the build, the chip, the kernel,
    how its CPUs are governed and clocked, the TFLite runtime and the delegate libraries. Two
    cells with the same fingerprint ran on the same software on the same hardware."""

    build: str = ""  # ro.build.fingerprint
    hardware: str = ""  # ro.hardware
    soc: str = ""  # ro.soc.manufacturer ro.soc.model, else ro.board.platform
    kernel: str = ""  # uname -r
    governors: tuple[str, ...] = ()
    max_khz: tuple[int, ...] = ()
    runtime: str = ""  # the agent's TFLite runtime and its version
    delegates: tuple[str, ...] = ()  # "gpu: LIB (loads)" or "gpu: unavailable: REASON"

    @property
    def id(self) -> str:
        """A short, stable name for this fingerprint (what each cell records)."""
        return hashlib.sha256(json.dumps(encode(self), sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class RepeatRecord:
    """One repeat of a cell: a fresh worker's timing, the statistical unit of every verdict."""

    repeat: int
    position: int  # where in the run's order it ran (the order is recorded, and reproducible from the seed)
    median_ms: float
    samples_ms: tuple[float, ...] = ()
    started: str = ""
    finished: str = ""
    before: Conditions | None = None  # the phone's temperatures, thermal status and clocks before ...
    after: Conditions | None = None  # ... and after the timing
    reference_before_ms: float = 0.0
    reference_after_ms: float = 0.0
    cooled_s: float = 0.0  # how long it waited for the phone to cool first
    throttled: str = ""  # why it is left out of verdicts (empty: it is not)
    kind: RepeatKind = "repeat"


@dataclass(frozen=True)
class EnergyRepeat:
    """One energy repeat: an idle window, then the loop window, on the phone's own meter."""

    idle_s: float
    loop_s: float
    inferences: int
    idle_mj: float  # the meter's energy over the idle window
    loop_mj: float  # ... and over the loop window
    mj_per_inference: float  # (loop - idle power x loop time) / inferences
    rails_mj: dict[str, float] = field(default_factory=dict)  # the same per rail (power rails only)


@dataclass(frozen=True)
class EnergyRecord:
    """A cell's energy per inference, or why there is none (``source`` empty, ``note`` says why)."""

    source: str = ""  # rails | gauge; empty: no figure
    label: str = ""  # what measured it, said in words ("... - emulated energy model" on the emulated device)
    emulated: bool = False  # the emulated device's model: shown, never used to pick a build
    note: str = ""
    rails: tuple[str, ...] = ()
    loop_seconds: float = 0.0
    update_period_s: float = 0.0  # how often the meter's value changed (the loop is at least 20 of them)
    repeats: tuple[EnergyRepeat, ...] = ()
    mj_per_inference: float | None = None  # the repeats' mean
    ci_low: float | None = None  # its 95% interval (Student's t over the repeats)
    ci_high: float | None = None
    below_resolution: bool = False  # the interval is wider than the figure: printed as "below resolution"
    baseline_mw: float | None = None  # the idle windows' mean power
    resolution_mj: float = 0.0  # one reading's step, per inference, for the shortest loop
    rails_mj: dict[str, float] = field(default_factory=dict)  # mean per inference per rail
    screen: str = ""  # the phone's state during the loops: wakefulness, brightness, CPU governors
    brightness: str = ""
    governor: str = ""


@dataclass(frozen=True)
class CellRecord:
    """One measured (or refused) cell: the agent's result, and where and when it was measured."""

    device: str
    mode: str
    backend: str
    result: CellResult
    size_bytes: int | None = None  # the model file's size, known to the host even when nothing ran
    finished: str = ""
    repeats: tuple[RepeatRecord, ...] = ()
    outcomes: bytes = b""  # one bit per evaluated image, set when its top-1 class was right (packed, big-endian)
    fingerprint: str = ""  # the device's fingerprint id when this cell was measured (DeviceRecord.fingerprint_id)
    op_layers: tuple[str, ...] = ()  # the Keras layer of each of result.op_profile.ops ("" where it cannot be told)
    task: TaskMetrics | None = None  # segment/detect/keypoints quality, when the run scored a task
    energy: EnergyRecord | None = None  # energy per inference, when the run measured energy

    @property
    def timed(self) -> tuple[RepeatRecord, ...]:
        """The repeats that count: not throttled, not the sustained run."""
        return tuple(r for r in self.repeats if r.kind == "repeat" and not r.throttled)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.device, self.mode, self.backend)

    @property
    def status(self) -> CellStatus:
        return self.result.status

    @property
    def error(self) -> str:
        return self.result.error

    @property
    def ok(self) -> bool:
        return self.result.ok


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
    launcher: str = ""  # how the agent was started: termux-run-as, shell or attach
    cpu_mask: int = 0  # the CPUs the workers were pinned to (0: not pinned)
    fixed_performance: bool = False  # Android's fixed-performance mode was on during the run
    fingerprint: Fingerprint | None = None
    at_start: Conditions | None = None  # temperatures, thermal status, clocks and battery when the run started


@dataclass(frozen=True)
class ModelInfo:
    name: str
    sha256: str
    input_shape: tuple[int, ...]
    preset: str = ""
    classes: int = 0  # scores per image (the output's size); 0 when unknown


@dataclass(frozen=True)
class DatasetInfo:
    name: str | None = None
    sha256: str | None = None
    count: int = 0
    labelled: bool = False


@dataclass(frozen=True)
class RunStats:
    """What a run did besides measuring: conversions, pushes, agent restarts."""

    converted: int = 0
    conversion_cache_hits: int = 0
    cells_run: int = 0
    agent_restarts: int = 0
    pushed_files: int = 0
    pushed_bytes: int = 0
    files: int = 0

    def plus(self, other: RunStats) -> RunStats:
        """Totals over devices; ``files`` is the number of distinct files, the same on each."""
        return RunStats(
            converted=self.converted + other.converted,
            conversion_cache_hits=self.conversion_cache_hits + other.conversion_cache_hits,
            cells_run=self.cells_run + other.cells_run,
            agent_restarts=self.agent_restarts + other.agent_restarts,
            pushed_files=self.pushed_files + other.pushed_files,
            pushed_bytes=self.pushed_bytes + other.pushed_bytes,
            files=max(self.files, other.files),
        )


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    started: str
    tool_version: str
    model: ModelInfo
    dataset: DatasetInfo
    modes: tuple[str, ...]
    backends: tuple[str, ...]
    config: Mapping[str, Any] = field(default_factory=dict)  # the stored bench settings, read by resume
    devices: tuple[DeviceRecord, ...] = ()
    cells: tuple[CellRecord, ...] = ()
    finished: str = ""
    notes: tuple[str, ...] = ()
    stats: RunStats = field(default_factory=RunStats)


def part_json(value: object, keys: tuple[str, ...] | None = None) -> dict[str, object] | None:
    """A typed part of a result in the contract's names (all of them, or just ``keys``)."""
    if value is None:
        return None
    data = {k: v for k, v in encode(value, CONTRACT_NAMES).items() if k != "samples_ms"}
    return data if keys is None else {k: data.get(k) for k in keys}


def memory_json(memory: Memory | None) -> dict[str, object] | None:
    """The contract's absolute figures, and the model's footprint as deltas from the baseline
    (``init_delta``, ``overall_delta``, ``peak_delta``; null from an agent that measured no baseline)."""
    data = part_json(memory, CONTRACT_KEYS["memory_mb"])
    if memory is None or data is None:
        return data
    deltas = {
        "init_delta": memory.init_rss_mb,
        "overall_delta": memory.overall_rss_mb,
        "peak_delta": memory.peak_rss_mb,
    }
    return {**data, **{k: _rounded(memory.delta(v)) for k, v in deltas.items()}}


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def accelerator_text(delegation: Delegation | None) -> str | None:
    """What ran a cell, with an emulated device's software GPU/NPU named: ``GPU WebGPU (LiteRT
    2.3.0, fp16); software GPU: SwiftShader (fp32)``."""
    if delegation is None or not delegation.accelerator:
        return None
    software = f"; software {delegation.delegate.upper()}: {delegation.hardware}" if delegation.hardware else ""
    return delegation.accelerator + software


def start_json(result: CellResult) -> dict[str, object] | None:
    """Cold init (the first start on the device, caches cleared) and warm init (a fresh worker with
    the caches that start wrote), or why there is no warm figure; None where nothing started."""
    if result.latency is None:
        return None
    warm = result.warm_start or WarmStart(note="not measured (an agent or a request without warm starts)")
    return {
        "cold_init_ms": _rounded(result.latency.init_ms),
        "warm_init_ms": _rounded(warm.init_ms) if warm.init_ms > 0 else None,
        "cache": warm.cache or None,
        "cache_bytes": warm.cache_bytes or None,
        "note": warm.note or None,
    }


def _warm_from_json(data: object, where: str) -> WarmStart | None:
    if data is None:
        return None
    if not isinstance(data, dict):
        raise RecordError(f"{where}: expected an object")
    return WarmStart(
        init_ms=float(data.get("warm_init_ms") or 0.0),
        cache=str(data.get("cache") or ""),
        cache_bytes=int(data.get("cache_bytes") or 0),
        note=str(data.get("note") or ""),
    )


def cell_json(cell: CellRecord) -> JsonObject:
    r = cell.result
    return {
        "device": cell.device,
        "mode": cell.mode,
        "backend": cell.backend,
        "status": r.status,
        "error": r.error or None,
        "engine": r.delegation.engine or None if r.delegation else None,
        "accelerator": accelerator_text(r.delegation),
        "size_bytes": cell.size_bytes,
        "latency_ms": part_json(r.latency, CONTRACT_KEYS["latency_ms"]),
        "memory_mb": memory_json(r.memory),
        "start": start_json(r),
        "delegation": part_json(r.delegation, CONTRACT_KEYS["delegation"]),
        "accuracy": part_json(r.accuracy, CONTRACT_KEYS["accuracy"]),
        "fidelity": part_json(r.fidelity, CONTRACT_KEYS["fidelity"]),
        "task": part_json(cell.task),
        "energy": encode(cell.energy) if cell.energy else None,
    }


def run_json(run: RunRecord) -> JsonObject:
    """The ``host bench --json`` object of the design, field by field."""
    return {
        "run_id": run.run_id,
        "started": run.started,
        "tool_version": run.tool_version,
        "model": {"name": run.model.name, "sha256": run.model.sha256, "input_shape": list(run.model.input_shape)},
        "dataset": {"name": run.dataset.name, "sha256": run.dataset.sha256, "count": run.dataset.count},
        "devices": [
            {
                "serial": d.serial,
                "model": d.model,
                "abi": d.abi,
                "sdk": d.sdk,
                "runtime": d.runtime,
                "runtime_version": d.runtime_version,
                "cores": d.cores,
                "launcher": d.launcher,
                "fingerprint": {"id": d.fingerprint.id, **encode(d.fingerprint)} if d.fingerprint else None,
            }
            for d in run.devices
        ],
        "cells": [cell_json(c) for c in run.cells],
    }


def result_from_parts(
    status: str, error: str, phase: str, parts: Mapping[str, object], where: str, **extra: Any
) -> CellResult:
    """A CellResult from contract-named parts (``latency_ms``, ``memory_mb``, ...), each checked."""

    def part(key: str, kind: type[T]) -> T | None:
        value = parts.get(key)
        return None if value is None else decode(kind, value, f"{where}.{key}", CONTRACT_NAMES)

    try:
        state = CellStatus(status)
    except ValueError as e:
        raise RecordError(f"{where}.status: {status!r} is not a cell status ({', '.join(CELL_STATUSES)})") from e
    return CellResult(
        status=state,
        error=error,
        phase=phase,
        latency=part("latency_ms", LatencyStats),
        memory=part("memory_mb", Memory),
        delegation=part("delegation", Delegation),
        accuracy=part("accuracy", Accuracy),
        fidelity=part("fidelity", Fidelity),
        **extra,
    )


def _cell_from_json(data: object, where: str) -> CellRecord:
    if not isinstance(data, dict):
        raise RecordError(f"{where}: expected an object")
    try:
        result = result_from_parts(
            str(data["status"]),
            str(data.get("error") or ""),
            "",
            data,
            where,
            warm_start=_warm_from_json(data.get("start"), f"{where}.start"),
        )
        task = decode(TaskMetrics, data["task"], f"{where}.task") if data.get("task") else None
        energy = decode(EnergyRecord, data["energy"], f"{where}.energy") if data.get("energy") else None
        return CellRecord(
            str(data["device"]),
            str(data["mode"]),
            str(data["backend"]),
            result,
            data.get("size_bytes"),
            task=task,
            energy=energy,
        )
    except KeyError as e:
        raise RecordError(f"{where}: missing {e}") from e


def run_from_json(data: object, where: str) -> RunRecord:
    """A run read back from ``host bench --json`` (no raw samples: the contract has none)."""
    if not isinstance(data, dict) or "cells" not in data or "run_id" not in data:
        raise RecordError(f"{where} is not a host bench JSON run (an object with run_id and cells)")
    cells_data = data["cells"]
    if not isinstance(cells_data, list):
        raise RecordError(f"{where}: cells must be a list")
    cells = tuple(_cell_from_json(c, f"{where}: cells[{i}]") for i, c in enumerate(cells_data))
    devices = tuple(decode(DeviceRecord, d, f"{where}: devices[{i}]") for i, d in enumerate(data.get("devices") or []))
    return RunRecord(
        run_id=str(data["run_id"]),
        started=str(data.get("started", "")),
        tool_version=str(data.get("tool_version", "")),
        model=decode(ModelInfo, data.get("model") or {}, f"{where}: model"),
        dataset=decode(DatasetInfo, data.get("dataset") or {}, f"{where}: dataset"),
        modes=tuple(dict.fromkeys(c.mode for c in cells)),
        backends=tuple(dict.fromkeys(c.backend for c in cells)),
        devices=devices,
        cells=cells,
    )
