"""What a conversion is asked and what it answers: the options, each mode's result, the report
and its manifest on disk, and who hears about each mode as it goes. Every command that converts
or reads builds (convert, bench, tune, the reports) shares these records; ``converter.py`` makes them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

from host.codec import encode
from host.convert import tfenv
from host.data.images import ImageEntry

DEFAULT_PRESET = "mobilenet"


@dataclass(frozen=True)
class ConvertOptions:
    io_type: str = "uint8"
    calibration_dir: Path | None = None
    calibration_entries: tuple[ImageEntry, ...] = ()  # a slice of the evaluation dataset, kept apart
    calibration_count: int = 100
    preset: str | None = None
    train_dir: Path | None = None
    qat_epochs: int = 1
    use_cache: bool = True
    keep_float: tuple[str, ...] = ()  # layer names or op types: also build the integer variant with them in float
    keep_float_modes: tuple[str, ...] = (
        "a8w8",
    )  # the quantizer's modes varied too (every one asked for, when the user named the layers)
    # waits for training images still being written (the demo renders its split in the background),
    # running the callable it is given first when it has to wait (the model loads meanwhile)
    training_ready: Callable[[Callable[[], object]], None] = lambda meanwhile: None


@dataclass(frozen=True)
class ModeResult:
    mode: str
    ok: bool
    path: str | None = None
    size_bytes: int | None = None
    sha256: str | None = None
    input_dtype: str | None = None
    output_dtype: str | None = None
    seconds: float = 0.0
    cached: bool = False
    notes: tuple[str, ...] = ()
    error: str | None = None
    variant_of: str | None = None  # a selective build: the mode it varies, and what it keeps in float
    keep_float: tuple[str, ...] = ()
    float_layers: tuple[str, ...] = ()
    made_by: str | None = (
        None  # the tool and version that made the build ("ai-edge-quantizer 0.10.0", "tensorflow-2.20.0")
    )


@dataclass(frozen=True)
class ConvertedModel:
    """The source model as the manifest describes it."""

    name: str
    kind: str
    sha256: str
    path: str | None
    input_shape: tuple[int, ...]
    preset: str


@dataclass(frozen=True)
class CalibrationInfo:
    count: int
    sha256: str
    skipped_files: int


class ConversionListener(Protocol):
    """Hears about each mode as it starts and ends (the console's live progress)."""

    def mode_started(self, mode: str, index: int, total: int) -> None: ...
    def mode_done(self, result: ModeResult) -> None: ...


@dataclass(frozen=True)
class ConversionReport:
    model: ConvertedModel
    results: tuple[ModeResult, ...]
    skipped: dict[str, str] = field(default_factory=dict)
    calibration: CalibrationInfo | None = None
    manifest_path: Path | None = None

    @property
    def failed(self) -> list[ModeResult]:
        return [r for r in self.results if not r.ok]


def manifest(report: ConversionReport) -> dict[str, object]:
    """The design's manifest: model, modes (ok ones), plus failures and skips beside them."""
    modes = {}
    for r in report.results:
        if r.ok:
            entry = {
                k: v
                for k, v in asdict(r).items()
                if k in ("path", "size_bytes", "sha256", "input_dtype", "output_dtype", "seconds", "cached", "made_by")
            }
            entry["path"] = Path(r.path or "").name
            if r.notes:
                entry["notes"] = list(r.notes)
            if r.variant_of:
                entry.update(variant_of=r.variant_of, keep_float=list(r.keep_float), float_layers=list(r.float_layers))
            modes[r.mode] = entry
    return {
        "model": encode(report.model),
        "converter": tfenv.converter_version(),
        "calibration": encode(report.calibration),
        "modes": modes,
        "failed": {r.mode: r.error for r in report.results if not r.ok},
        "skipped": report.skipped,
    }
