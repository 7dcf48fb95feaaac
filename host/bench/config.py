"""Every bench parameter in one declared table, validated before any work starts.

The fields below are the table (see ``host/params.py``): the CLI's options are generated from
them, defaults live here once (latency defaults come from the agent's own ``LatencyParams``),
and ``validate`` rejects impossible settings before any conversion or device work.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any

from device_agent.backends import BackendError, parse_backend
from device_agent.contract import DEFAULT_CELL_TIMEOUT_S, LatencyParams
from device_agent.errors import InvalidRequest
from host.cache import CACHE_MAX_DAYS, CACHE_MAX_MB, DEVICE_STORE_MAX_MB
from host.codec import decode, encode
from host.convert import options as convert_options
from host.convert.modes import ModeRequest
from host.devices import options as device_options
from host.errors import InputError, RecordError
from host.params import Param, at_least, between, positive, validate
from host.paths import data_dir
from host.store import DB

DEFAULT_BACKENDS = "cpu1,cpu4,gpu,nnapi"
_LATENCY = LatencyParams()


def default_db() -> Path:
    return data_dir() / "results.sqlite"


@dataclass(frozen=True)
class BenchConfig:
    # what to measure
    model: str = Param("demo", "model file, SavedModel folder, built-in name, .tflite build, or a host convert output "
                       "folder (default: demo, the bundled model)", metavar="MODEL").field()
    weights: str | None = convert_options.WEIGHTS.field()
    dataset: str | None = Param(None, "evaluation images: class subfolders, or a flat folder with --labels (ILSVRC val)",
                                metavar="DIR").field()
    labels: str | None = Param(None, "labels file for a flat --dataset: one class index per line, in sorted file-name order",
                               metavar="FILE").field()
    calibration: str | None = convert_options.CALIBRATION.field()
    train_data: str | None = convert_options.TRAIN_DATA.field()
    modes: str = convert_options.MODES.field()
    backends: str = Param(DEFAULT_BACKENDS, "backends, comma-separated: cpuN (N threads, XNNPACK), gpu, nnapi",
                          metavar="LIST").field()
    limit: int | None = Param(None, "evaluate only the first N images", unit="images", metavar="N", check=at_least(1)).field()
    calibration_count: int = convert_options.CALIBRATION_COUNT.field()
    preset: str | None = convert_options.PRESET.field()
    io_type: str = convert_options.IO_TYPE.field()
    label_offset: int = Param(0, "added to every label (1 for 1001-class models with a background class)", metavar="N").field()
    crop: float = Param(1.0, "central crop before resizing (0.875 for ImageNet-style evaluation)", unit="fraction of the side",
                        metavar="F", check=between(0.1, 1.0)).field()
    qat_epochs: int = convert_options.QAT_EPOCHS.field()
    use_cache: bool = convert_options.USE_CACHE.field()
    # how to measure (benchmark_model's parameters)
    warmup_runs: int = Param(_LATENCY.warmup_runs, "warm-up invokes before timing, kept out of the statistics", unit="runs",
                             metavar="N", check=at_least(0)).field()
    warmup_seconds: float = Param(_LATENCY.warmup_seconds, "minimum warm-up time", unit="seconds", metavar="S",
                                  check=at_least(0)).field()
    min_runs: int = Param(_LATENCY.min_runs, "minimum timed invokes per cell", unit="runs", metavar="N", check=at_least(1)).field()
    min_seconds: float = Param(_LATENCY.min_seconds, "minimum timing per cell (both minimums are met)", unit="seconds",
                               metavar="S", check=at_least(0)).field()
    max_seconds: float = Param(_LATENCY.max_seconds, "cap on timing per cell, even if the minimums are not met",
                               unit="seconds", metavar="S", check=positive).field()
    cell_timeout: float = Param(DEFAULT_CELL_TIMEOUT_S, "a cell's worker is killed past this", unit="seconds", metavar="S",
                                check=positive).field()
    # where
    device: tuple[str, ...] = device_options.DEVICES.field()
    adb_server: str | None = device_options.ADB_SERVER.field()
    device_python: str | None = device_options.DEVICE_PYTHON.field()
    gpu_delegate: str = device_options.GPU_DELEGATE.field()
    nnapi_delegate: str = device_options.NNAPI_DELEGATE.field()
    wait: bool = Param(True, "refuse a device another bench on this machine is using, instead of waiting for it",
                       flag="--no-wait").field()
    attach: bool = Param(False, "use the agent started inside the Termux app with the line from 'host agent-command' "
                         "(Termux from F-Droid or Play)").field()
    # how much is kept
    cache_max_mb: int = CACHE_MAX_MB.field()
    cache_max_days: float = CACHE_MAX_DAYS.field()
    device_store_max_mb: int = DEVICE_STORE_MAX_MB.field()

    @cached_property
    def given_build(self) -> bool:
        """A .tflite file or a host convert folder: benched as it is, nothing converted."""
        path = Path(self.model)
        return path.suffix.lower() == ".tflite" or (path.is_dir() and (path / "manifest.json").is_file())

    @cached_property
    def mode_request(self) -> ModeRequest:
        return ModeRequest.parse(self.modes)

    @cached_property
    def backend_names(self) -> list[str]:
        names = list(dict.fromkeys(b.strip() for b in self.backends.split(",") if b.strip()))
        if not names:
            raise InputError("no backend given: pass --backends, e.g. cpu1,cpu4,gpu,nnapi")
        for name in names:
            try:
                parse_backend(name)
            except BackendError as e:
                raise InputError(str(e)) from e
        return names

    def latency_params(self) -> LatencyParams:
        """The agent's own parameter type: one definition of what a valid setting is."""
        return LatencyParams(self.warmup_runs, self.warmup_seconds, self.min_runs, self.min_seconds, self.max_seconds)

    def validate(self) -> None:
        """Reject impossible settings before any conversion or device work."""
        validate(self)
        if not self.given_build or Path(self.model).is_dir():
            self.mode_request  # noqa: B018 - parsing is the check
        self.backend_names  # noqa: B018
        try:
            self.latency_params().validate()
        except InvalidRequest as e:
            raise InputError(f"latency settings: {e}") from e
        from host.devices.adb import parse_server

        parse_server(self.adb_server)
        if self.labels and not self.dataset:
            raise InputError("--labels needs --dataset (the flat image folder it labels)")
        for name in ("dataset", "labels", "calibration", "train_data"):
            value = getattr(self, name)
            if value and not Path(value).exists():
                raise InputError(f"--{name.replace('_', '-')} {value} does not exist")

    def to_stored(self, modes: list[str]) -> dict[str, Any]:
        """The settings as stored with a run (modes as measured, backends as a list), for resume."""
        return {**encode(self), "modes": modes, "backends": self.backend_names}

    @classmethod
    def from_stored(cls, data: object, where: str) -> BenchConfig:
        if not isinstance(data, dict):
            raise RecordError(f"{where}: the stored configuration is not an object")
        data = {**data, "modes": ",".join(data.get("modes") or []) or "all",
                "backends": ",".join(data.get("backends") or []) or DEFAULT_BACKENDS}
        if isinstance(data.get("device"), str) or data.get("device") is None:  # stored comma-joined before 0.2
            data["device"] = [d for d in (data.get("device") or "").split(",") if d]
        return decode(cls, data, where)

    def with_devices(self, devices: tuple[str, ...], adb_server: str | None) -> BenchConfig:
        return replace(self, device=devices or self.device, adb_server=adb_server or self.adb_server)


@dataclass(frozen=True)
class BenchOutputs:
    """Where a bench writes besides the database, and which run it continues."""

    json: str | None = Param(None, "write the run as JSON (the documented contract)", metavar="FILE").field()
    report: str | None = Param(None, "write a self-contained HTML report with charts", metavar="FILE.html").field()
    db: str | None = DB.field()
    resume: str | None = Param(None, "run only the missing or failed cells of an earlier run", metavar="RUN_ID").field()
