"""Every bench parameter, declared in parts, validated before any work starts.

``BenchConfig`` is the model and one frozen part per concern (the evaluation data, the
conversion, the measurement, the repeats and the phone's state, the devices, the caches), each
a parameter table (see ``host/params.py``) that its consumer takes alone. The CLI's options are
generated from the flattened tables, defaults live here once (latency defaults come from the
agent's own ``LatencyParams``), and ``validate`` lets each part reject impossible settings
before any conversion or device work.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Literal

from device_agent.contract import DEFAULT_CELL_TIMEOUT_S, LatencyParams
from device_agent.engines.backends import BackendError, parse_backend
from device_agent.errors import InvalidRequest
from host.bench.views import TABLES
from host.cache import CacheLimits
from host.codec import decode, encode
from host.convert.given import is_given_build
from host.convert.inputs import check_model
from host.convert.modes import MODES_BY_NAME, ModeRequest
from host.convert.options import ConversionSettings
from host.devices.options import DeviceChoice
from host.errors import InputError, RecordError
from host.params import Param, at_least, between, flat, part, positive, validate, with_values
from host.store.location import DB, default_path

DEFAULT_BACKENDS = "cpu1,cpu4,gpu,nnapi,npu"
_LATENCY = LatencyParams()


def default_db() -> Path:
    return default_path()


@dataclass(frozen=True)
class EvaluationData:
    """The labelled images a bench evaluates, and how they are read."""

    dataset: str | None = Param(
        None,
        "evaluation images: class subfolders, or a flat folder with --labels; or tensor "
        "samples for a model no image feeds (FILE.npz, or a folder of .npz/.npy, an array per "
        "input keyed by input name)",
        metavar="DIR|FILE.npz",
    ).field()
    labels: str | None = Param(
        None,
        "labels for a flat --dataset: a class index per line in sorted file-name order "
        "(classify), a folder of PNG masks named like the images (segment), COCO annotations JSON "
        '(detect) or a keypoints JSON {"image.jpg": [[x, y], ...]} (keypoints)',
        metavar="FILE|DIR",
    ).field()
    task: str = Param(
        "auto",
        "what the labels score: auto (from the labels' form), classify (top-k), segment (mIoU), "
        "detect (COCO mAP), keypoints (PCK@0.05, pixel error), none (fidelity to the float build only)",
        choices=("auto", "classify", "segment", "detect", "keypoints", "none"),
    ).field()
    limit: int | None = Param(
        None, "evaluate only the first N images", unit="images", metavar="N", check=at_least(1)
    ).field()
    label_offset: int = Param(
        0, "added to every label (1 for 1001-class models with a background class)", metavar="N"
    ).field()
    crop: float = Param(
        1.0,
        "central crop before resizing (0.875 for ImageNet-style evaluation)",
        unit="fraction of the side",
        metavar="F",
        check=between(0.1, 1.0),
    ).field()

    def validate(self) -> None:
        if self.labels and not self.dataset:
            raise InputError("--labels needs --dataset (the flat image folder it labels)")
        for name in ("dataset", "labels"):
            _exists(name, getattr(self, name))


def parse_backends(text: str) -> tuple[str, ...]:
    """``--backends``: known backend names, each once, in the order given (ValueError otherwise)."""
    items = [item.strip() for item in text.split(",")]
    if not text.strip():
        raise ValueError("names no backend: pass e.g. cpu1,cpu4,gpu,nnapi,npu")
    if any(not item for item in items):
        raise ValueError(f"{text!r} has an empty item between commas")
    for name in items:
        try:
            parse_backend(name)
        except BackendError as e:
            raise ValueError(str(e)) from None
    return tuple(dict.fromkeys(items))


@dataclass(frozen=True)
class CpuMask:
    """``--cpu-mask``: no pinning, the fastest cores (known once a device is), or a given mask."""

    kind: Literal["none", "auto", "mask"] = "none"
    value: int = 0

    @classmethod
    def parse(cls, text: str) -> CpuMask:
        word = text.strip().lower()
        if word in ("none", "auto"):
            return cls(word)  # type: ignore[arg-type]
        try:
            value = int(word, 16)
        except ValueError:
            raise ValueError(f"must be auto, none or a hex mask such as 0xf0, not {text!r}") from None
        if value <= 0:
            raise ValueError("must name at least one CPU")
        return cls("mask", value)

    def resolve(self, fastest: int) -> int:
        return {"none": 0, "auto": fastest}.get(self.kind, self.value)

    def __str__(self) -> str:
        return f"{self.value:#x}" if self.kind == "mask" else self.kind


@dataclass(frozen=True)
class Measurement:
    """What a cell measures and how: the backends, benchmark_model's timing parameters, the
    per-op and warm-start passes, and the CPUs and performance mode the workers run under."""

    backends: tuple[str, ...] = Param(
        DEFAULT_BACKENDS,
        "backends, comma-separated: cpuN (N threads, XNNPACK), gpu (LiteRT, "
        "default precision), gpu-fp32, npu (LiteRT, the NPU alone), nnapi",
        metavar="LIST",
        parse=parse_backends,
        show=",".join,
    ).field()
    warmup_runs: int = Param(
        _LATENCY.warmup_runs,
        "warm-up invokes before timing, kept out of the statistics",
        unit="runs",
        metavar="N",
        check=at_least(0),
    ).field()
    warmup_seconds: float = Param(
        _LATENCY.warmup_seconds, "minimum warm-up time", unit="seconds", metavar="S", check=at_least(0)
    ).field()
    min_runs: int = Param(
        _LATENCY.min_runs, "minimum timed invokes per cell", unit="runs", metavar="N", check=at_least(1)
    ).field()
    min_seconds: float = Param(
        _LATENCY.min_seconds,
        "minimum timing per cell (both minimums are met)",
        unit="seconds",
        metavar="S",
        check=at_least(0),
    ).field()
    max_seconds: float = Param(
        _LATENCY.max_seconds,
        "cap on timing per cell, even if the minimums are not met",
        unit="seconds",
        metavar="S",
        check=positive,
    ).field()
    cell_timeout: float = Param(
        DEFAULT_CELL_TIMEOUT_S, "a cell's worker is killed past this", unit="seconds", metavar="S", check=positive
    ).field()
    cpu_mask: CpuMask = Param(
        "none",
        "pin the workers to CPUs: auto (the fastest cores, from cpufreq maxima), a hex mask (0xf0), or none",
        metavar="auto|HEX|none",
        parse=CpuMask.parse,
    ).field()
    fixed_performance: bool = Param(
        True,
        "leave Android's fixed-performance mode off (it is turned on where offered, "
        "Android 11+, and restored afterwards)",
        flag="--no-fixed-performance",
    ).field()
    op_profile: bool = Param(
        True,
        "leave out the per-op profile pass (after each cell's timed samples, never inside "
        "them; LiteRT's profiler, where the device has LiteRT)",
        flag="--no-op-profile",
    ).field()
    warm_start: bool = Param(
        True,
        "leave out the warm start (after each GPU/NPU cell's cold start, a fresh worker starts "
        "its model again with the caches the first start wrote)",
        flag="--no-warm-start",
    ).field()

    @property
    def backend_names(self) -> list[str]:
        return list(self.backends)

    def mask(self, fastest: int) -> int:
        """The CPU mask the workers run on: 0 (no pinning), the fastest cores, or the hex given."""
        return self.cpu_mask.resolve(fastest)

    def latency_params(self) -> LatencyParams:
        """The agent's own parameter type: one definition of what a valid setting is."""
        return LatencyParams(self.warmup_runs, self.warmup_seconds, self.min_runs, self.min_seconds, self.max_seconds)

    def validate(self) -> None:
        try:
            self.latency_params().validate()
        except InvalidRequest as e:
            raise InputError(f"latency settings: {e}") from e


@dataclass(frozen=True)
class RepeatPolicy:
    """How often and in what order cells are measured, and the phone's thermal state between."""

    repeats: int = Param(
        1,
        "measure each cell this many times, each in a fresh worker (verdicts need 3 or more)",
        unit="repeats",
        metavar="R",
        check=at_least(1),
    ).field()
    order: str = Param(
        "shuffled",
        "order of the repeats: shuffled rounds, interleaved rounds, or blocked (a cell's repeats together)",
        choices=("shuffled", "interleaved", "blocked"),
    ).field()
    seed: int | None = Param(
        None, "seed of the shuffled order (default: a new one, recorded with the run)", metavar="N"
    ).field()
    cooldown: float = Param(
        60.0,
        "before each repeat, wait at most this long for the phone to cool",
        unit="seconds",
        metavar="S",
        check=at_least(0),
    ).field()
    cool_below: float = Param(
        45.0,
        "cool means thermal status none and the hottest CPU zone below this",
        unit="degrees C",
        metavar="C",
        check=between(20, 120),
    ).field()
    sustained: float = Param(
        0.0,
        "also run the --sustained-cells for this long each, read in windows: throttle onset",
        unit="minutes",
        metavar="MIN",
        check=at_least(0),
    ).field()
    sustained_cells: str = Param(
        "none/cpu1", "the cells of --sustained, comma-separated mode/backend", metavar="LIST"
    ).field()

    energy: bool = Param(
        False,
        "also measure energy per inference on each cell that timed, from the phone's power rails or fuel gauge: "
        "after every timing of the run, an idle baseline then a loop of inferences, --energy-repeats times",
    ).field()
    energy_seconds: float = Param(
        5.0,
        "the shortest energy loop (longer where the meter updates slowly: 20 of its updates)",
        unit="seconds",
        metavar="S",
        check=between(1, 600),
    ).field()
    energy_repeats: int = Param(
        3,
        "idle-then-loop repeats per energy figure (its 95% interval needs 2 or more)",
        unit="repeats",
        metavar="R",
        check=between(2, 50),
    ).field()

    def sustained_pairs(self) -> list[tuple[str, str]]:
        pairs = [tuple(p.strip().split("/", 1)) for p in self.sustained_cells.split(",") if p.strip()]
        if any(len(p) != 2 for p in pairs):
            raise InputError(f"--sustained-cells takes mode/backend pairs, not {self.sustained_cells!r}")
        return [(p[0], p[1]) for p in pairs]


def _exists(name: str, value: str | None) -> None:
    if value and not Path(value).exists():
        raise InputError(f"--{name.replace('_', '-')} {value} does not exist")


@dataclass(frozen=True)
class BenchConfig:
    """``host bench``: the model and one part per concern, each taken alone by its consumer
    (the input step, the device selection, the cells, the repeat plan, the end of the run)."""

    model: str = Param(
        "demo",
        "model file, SavedModel folder, built-in name, .tflite build, or a host convert output "
        "folder (default: demo, the bundled model)",
        metavar="MODEL",
    ).field()
    data: EvaluationData = part(EvaluationData)
    conversion: ConversionSettings = part(ConversionSettings)
    measurement: Measurement = part(Measurement)
    schedule: RepeatPolicy = part(RepeatPolicy)
    devices: DeviceChoice = part(DeviceChoice)
    caches: CacheLimits = part(CacheLimits)
    as_built: bool = False  # not an option: compare's two .tflite files are measured as they are, a float one too

    @classmethod
    def of(cls, **values: object) -> BenchConfig:
        """A config from flat parameter names (``BenchConfig.of(model=..., backends="cpu1")``)."""
        return with_values(cls(), **values)

    @cached_property
    def given_build(self) -> bool:
        """A .tflite file or a host convert folder: benched as it is, nothing converted."""
        return is_given_build(self.model) or (self.as_built and Path(self.model).suffix.lower() == ".tflite")

    @property
    def requested_modes(self) -> ModeRequest | None:
        """The --modes this bench measures, or None for one .tflite file (its one build, as it is)."""
        return None if self.given_build and not Path(self.model).is_dir() else self.conversion.mode_request

    def validate(self) -> None:
        """Reject impossible settings before any conversion or device work; each part checks its own."""
        validate(self)
        requested = self.requested_modes  # parsing --modes is the check
        self.measurement.validate()
        self._check_sustained()
        self.devices.validate()
        self.data.validate()
        for name in ("calibration", "train_data"):
            _exists(name, getattr(self.conversion, name))
        check_model(self.model)  # a mistyped path costs no device start
        if self.given_build:  # a corrupt or truncated build is refused before any device is looked for
            from host.convert.given import load_given

            load_given(self.model, requested)

    def _check_sustained(self) -> None:
        """Each --sustained cell must be one this bench measures: a sustained window asked for and
        silently not run would read as "no throttling"."""
        pairs = self.schedule.sustained_pairs()
        if self.schedule.sustained <= 0:
            return
        backends = self.measurement.backend_names
        requested = self.requested_modes
        modes = requested.names if requested is not None else None
        for mode, backend in pairs:
            if backend not in backends:
                raise InputError(
                    f"--sustained-cells {mode}/{backend}: {backend!r} is not among --backends ({', '.join(backends)})"
                )
            if modes is not None and mode.split("+", 1)[0] not in modes:
                raise InputError(
                    f"--sustained-cells {mode}/{backend}: {mode!r} is not among the modes benched ({', '.join(modes)})"
                )

    def to_stored(self, modes: list[str]) -> dict[str, object]:
        """The settings as stored with a run, flat (modes as measured, backends as a list), for resume."""
        return {**encode(flat(self)), "modes": modes, "backends": self.measurement.backend_names}

    @classmethod
    def from_stored(cls, data: object, where: str) -> BenchConfig:
        if not isinstance(data, dict):
            raise RecordError(f"{where}: the stored configuration is not an object")
        known = [
            m for m in data.get("modes") or [] if m in MODES_BY_NAME
        ]  # variants come back with --keep-float or the manifest
        try:  # stored as the command line had them: parsed as the command line's are
            parsed = {
                "backends": list(parse_backends(",".join(data.get("backends") or []) or DEFAULT_BACKENDS)),
                "cpu_mask": encode(CpuMask.parse(str(data.get("cpu_mask") or "none"))),
            }
        except ValueError as e:
            raise RecordError(f"{where}: {e}") from e
        data = {**data, "modes": ",".join(known) or "all", **parsed}
        if isinstance(data.get("device"), str) or data.get("device") is None:  # stored comma-joined before 0.2
            data["device"] = [d for d in (data.get("device") or "").split(",") if d]
        return cls(
            model=str(data.get("model") or "demo"),
            data=decode(EvaluationData, data, where),
            conversion=decode(ConversionSettings, data, where),
            measurement=decode(Measurement, data, where),
            schedule=decode(RepeatPolicy, data, where),
            devices=decode(DeviceChoice, data, where),
            caches=decode(CacheLimits, data, where),
        )

    def with_devices(self, devices: tuple[str, ...], adb_server: str | None) -> BenchConfig:
        return with_values(
            self, device=devices or self.devices.device, adb_server=adb_server or self.devices.adb_server
        )


@dataclass(frozen=True)
class BenchOutputs:
    """Where a bench writes besides the database and the run's folder (which always gets its
    report.html and run.json), which tables it prints, and which run it continues."""

    json: str | None = Param(
        None, "write the run as JSON (the documented contract) here instead of the run's folder", metavar="FILE"
    ).field()
    report: str | None = Param(
        None, "write the self-contained HTML report with charts here instead of the run's folder", metavar="FILE.html"
    ).field()
    shown_tables: str = TABLES.field()
    db: str | None = DB.field()
    resume: str | None = Param(
        None,
        "run only the missing or failed cells of an earlier run",
        metavar="RUN_ID",
        check=lambda value: None if value is None or value.strip() else "needs a run id (or latest)",
    ).field()


@dataclass(frozen=True)
class CompareOptions:
    baseline: str = Param(
        "",
        "the build to compare against: a .tflite file, a host convert folder, or a model to convert",
        positional=True,
        metavar="BASELINE",
    ).field()
    current: str = Param("", "the candidate build, in the same forms", positional=True, metavar="CURRENT").field()
    budget: float = Param(
        30.0,
        "device time after which no further round starts; cells still undecided are inconclusive",
        unit="minutes",
        metavar="MIN",
        check=positive,
    ).field()
    max_repeats: int = Param(
        30,
        "repeats per cell and side at most (about 30 settle a shift of one IQR)",
        unit="repeats",
        metavar="N",
        check=at_least(2),
    ).field()
    junit: str | None = Param(None, "write JUnit XML for the CI's test report", metavar="FILE").field()
    markdown: str | None = Param(None, "write the verdicts as Markdown, for a pull request", metavar="FILE").field()
    json: str | None = Param(None, "write the verdicts as JSON", metavar="FILE").field()
    db: str | None = DB.field()


# bench settings that make no sense for compare (it sets the model and the repeats itself)
NOT_FOR_COMPARE = frozenset(
    {"model", "repeats", "sustained", "sustained_cells", "energy", "energy_seconds", "energy_repeats"}
)
