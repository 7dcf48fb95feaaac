"""Every bench parameter in one declared table, validated before any work starts."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from device_agent.backends import BackendError, parse_backend
from device_agent.measure import LatencyParams
from host.convert.modes import IO_TYPES, parse_modes
from host.errors import InputError
from host.paths import data_dir

DEFAULT_BACKENDS = "cpu1,cpu4,gpu,nnapi"


def default_db() -> Path:
    return data_dir() / "results.sqlite"


@dataclass(frozen=True)
class BenchConfig:
    # what to measure
    model: str = "demo"
    weights: str | None = None
    dataset: str | None = None
    labels: str | None = None
    calibration: str | None = None
    train_data: str | None = None
    modes: str = "all"
    backends: str = DEFAULT_BACKENDS
    limit: int | None = None
    calibration_count: int = 100
    preset: str | None = None
    io_type: str = "uint8"
    label_offset: int = 0
    crop: float = 1.0
    qat_epochs: int = 1
    # how to measure (benchmark_model's parameters)
    warmup_runs: int = 1
    warmup_seconds: float = 0.5
    min_runs: int = 50
    min_seconds: float = 1.0
    max_seconds: float = 150.0
    cell_timeout: float = 900.0
    # where
    device: str | None = None
    adb_server: str | None = None
    device_python: str | None = None
    gpu_delegate: str = ""
    nnapi_delegate: str = ""
    use_cache: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    def device_serials(self) -> list[str]:
        """Serials named with --device (repeatable, or comma-separated); empty means choose one."""
        return list(dict.fromkeys(d.strip() for d in (self.device or "").split(",") if d.strip()))

    def mode_names(self) -> list[str]:
        """Requested conversion modes; a single given .tflite file is its own mode, named after it."""
        if self.model.lower().endswith(".tflite"):
            return [Path(self.model).stem]
        return [m.name for m in parse_modes(self.modes)]

    def backend_names(self) -> list[str]:
        names = [b.strip() for b in self.backends.split(",") if b.strip()]
        if not names:
            raise InputError("no backend given: pass --backends, e.g. cpu1,cpu4,gpu,nnapi")
        for name in names:
            try:
                parse_backend(name)
            except BackendError as e:
                raise InputError(str(e)) from e
        return list(dict.fromkeys(names))

    def validate(self) -> None:
        """Reject impossible settings before any conversion or device work."""
        self.mode_names()
        self.backend_names()
        if self.limit is not None and self.limit < 1:
            raise InputError("--limit must be at least 1")
        if self.calibration_count < 1:
            raise InputError("--calibration-count must be at least 1")
        if not 0.1 <= self.crop <= 1.0:
            raise InputError("--crop must be between 0.1 and 1.0")
        if self.io_type not in IO_TYPES:
            raise InputError("--io-type must be uint8 or int8")
        try:
            self.latency_params().validate()
        except ValueError as e:
            raise InputError(f"latency settings: {e}") from e
        if self.cell_timeout <= 0:
            raise InputError("--cell-timeout must be positive")
        from host.devices.adb import parse_server

        parse_server(self.adb_server)
        if self.labels and not self.dataset:
            raise InputError("--labels needs --dataset (the flat image folder it labels)")
        for name in ("dataset", "labels", "calibration", "train_data"):
            value = getattr(self, name)
            if value and not Path(value).exists():
                raise InputError(f"--{name.replace('_', '-')} {value} does not exist")

    def latency_params(self) -> LatencyParams:
        """The agent's own parameter type: one definition of what a valid setting is."""
        return LatencyParams(self.warmup_runs, self.warmup_seconds, self.min_runs, self.min_seconds, self.max_seconds)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["modes"] = self.mode_names()
        data["backends"] = self.backend_names()
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BenchConfig:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["modes"] = ",".join(known.get("modes", [])) or "all"
        known["backends"] = ",".join(known.get("backends", [])) or DEFAULT_BACKENDS
        return cls(**known)
