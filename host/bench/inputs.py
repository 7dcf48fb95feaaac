"""Everything a bench needs from the host before a device is touched: models and the dataset."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

import numpy as np

from device_agent.dataset import DatasetReader
from host.bench.config import BenchConfig
from host.bench.given import load_given
from host.convert import options as convert_options
from host.convert.cache import ConversionCache
from host.convert.converter import ConversionListener, ConversionReport, ConvertOptions, convert_model
from host.convert.inspect import inspect_tflite
from host.convert.loader import resolve_model
from host.convert.modes import MODES
from host.convert.service import demo_keep_float, demo_splits_for
from host.data import demo
from host.data.datasets import DatasetSlices, check_labels, slice_dataset
from host.data.packed import pack
from host.paths import cache_dir
from host.results import DatasetInfo, ModelInfo


class InputsListener(ConversionListener, Protocol):
    def stage(self, text: str) -> None: ...


@dataclass(frozen=True)
class ModelFile:
    mode: str
    path: Path
    sha256: str
    size_bytes: int


@dataclass(frozen=True)
class PreparedInputs:
    model: ModelInfo
    conversion: ConversionReport | None  # None when the .tflite files were given
    models: dict[str, ModelFile]
    failed_modes: dict[str, str]
    modes: list[str]
    dataset: DatasetInfo
    dataset_file: Path | None
    preset: str
    dataset_file_sha256: str = ""  # the packed file's name on the device; the run evaluates its first dataset.count images
    labels: np.ndarray | None = None  # each evaluated image's class (label offset applied; -1 unknown)
    notes: list[str] = field(default_factory=list)

    def stored_modes(self) -> list[str]:
        """Modes in the table's order; names the table does not know (given files) after, as given."""
        wanted = list(dict.fromkeys([*self.modes, *self.failed_modes]))
        known = [m.name for m in MODES if m.name in wanted]
        return known + [m for m in wanted if m not in known]

    def outcomes(self, predictions: bytes) -> bytes:
        """One bit per evaluated image, set when its top-1 prediction is its label (packed): what a
        paired accuracy comparison (McNemar) needs, 6 KB for 50,000 images."""
        if not predictions or self.labels is None:
            return b""
        width = 2 if len(predictions) == 2 * len(self.labels) else 4
        predicted = np.frombuffer(predictions, dtype="<u2" if width == 2 else "<u4").astype(np.int64)
        if len(predicted) != len(self.labels):
            return b""
        return bytes(np.packbits(predicted == self.labels))

    def files(self) -> list[tuple[Path, str]]:
        """(path, sha256) of every file the device needs: the models and the packed dataset."""
        files = [(m.path, m.sha256) for m in self.models.values()]
        if self.dataset_file is not None and self.dataset_file_sha256:
            files.append((self.dataset_file, self.dataset_file_sha256))
        return files


def _demo_defaults(config: BenchConfig) -> BenchConfig:
    """The demo model brings its own evaluation, calibration and training splits."""
    if config.model != "demo":
        return config
    keep_float = config.keep_float if config.keep_float is not None else ",".join(demo_keep_float(config.mode_request))
    calibration, train_data = demo_splits_for(
        config.mode_request, Path(config.calibration) if config.calibration else None,
        Path(config.train_data) if config.train_data else None, keep_float=bool(convert_options.keep_float_layers(keep_float)),
    )
    return replace(
        config, keep_float=keep_float,
        dataset=config.dataset or str(demo.split_folder("eval")),
        calibration=str(calibration) if calibration else None,
        train_data=str(train_data) if train_data else None,
        preset=config.preset or str(demo.demo_meta().get("preset", "mobilenet")),
    )


def _slices(config: BenchConfig) -> DatasetSlices | None:
    """Evaluation images, and calibration images carved from them only when a mode needs them."""
    if not config.dataset:
        return None
    needs_calibration = not config.given_build and (config.mode_request.needs_calibration or bool(config.keep_float_layers))
    return slice_dataset(
        Path(config.dataset), labels_file=Path(config.labels) if config.labels else None, limit=config.limit,
        calibration_count=config.calibration_count, take_calibration=needs_calibration and config.calibration is None,
    )


def prepare_inputs(config: BenchConfig, listener: InputsListener) -> PreparedInputs:
    uses_demo_data = config.model == "demo" and config.dataset is None
    config = _demo_defaults(config)
    slices = _slices(config)
    inputs = _given(config) if config.given_build else _converted(config, slices, listener)
    return _with_dataset(config, slices, uses_demo_data, inputs, listener)


def _given(config: BenchConfig) -> PreparedInputs:
    model, files = load_given(config.model, None if Path(config.model).suffix.lower() == ".tflite" else config.mode_request)
    models = {m: ModelFile(m, g.path, g.sha256, g.size_bytes) for m, g in files.items()}
    preset = config.preset or "mobilenet"
    return PreparedInputs(
        model=replace(model, preset=preset), conversion=None, models=models, failed_modes={}, modes=list(models),
        dataset=DatasetInfo(), dataset_file=None, preset=preset,
        notes=[f"benched the given .tflite build(s) as they are; preprocessing preset {preset}"],
    )


def _converted(config: BenchConfig, slices: DatasetSlices | None, listener: InputsListener) -> PreparedInputs:
    source = resolve_model(config.model, config.weights)
    calibration_entries = slices.calibration if slices else ()
    runnable, skipped = config.mode_request.select(
        has_calibration=bool(config.calibration or calibration_entries), has_training=bool(config.train_data),
    )
    options = ConvertOptions(
        io_type=config.io_type, calibration_dir=Path(config.calibration) if config.calibration else None,
        calibration_entries=calibration_entries, calibration_count=config.calibration_count, preset=config.preset,
        train_dir=Path(config.train_data) if config.train_data else None, qat_epochs=config.qat_epochs,
        use_cache=config.use_cache, keep_float=config.keep_float_layers, training_ready=demo.finish_rendering,
    )
    out = cache_dir() / "bench-models" / source.sha256[:16]
    report = convert_model(source, runnable, out, options, cache=ConversionCache(cache_dir() / "convert"), skipped=skipped,
                           listener=listener)
    models = {r.mode: ModelFile(r.mode, Path(r.path or ""), r.sha256 or "", r.size_bytes or 0) for r in report.results if r.ok}
    return PreparedInputs(
        model=ModelInfo(source.name, source.sha256, report.model.input_shape, report.model.preset, _classes(models)),
        conversion=report,
        models=models, failed_modes={r.mode: f"conversion failed: {r.error}" for r in report.results if not r.ok},
        modes=[m.name for m in runnable] + [r.mode for r in report.results if r.variant_of], dataset=DatasetInfo(), dataset_file=None, preset=report.model.preset,
        notes=[f"mode {mode} skipped: {reason}" for mode, reason in skipped.items()],
    )


def _classes(models: dict[str, ModelFile]) -> int:
    """The number of scores the model gives (its output's size), read from one converted build."""
    for model in models.values():
        shape = inspect_tflite(model.path.read_bytes()).output_shape
        return int(np.prod(shape[1:])) if len(shape) > 1 else 0
    return 0


def _with_dataset(config: BenchConfig, slices: DatasetSlices | None, uses_demo_data: bool, inputs: PreparedInputs,
                  listener: InputsListener) -> PreparedInputs:
    """Load the evaluation images at the model's input size and pack them for the device."""
    if slices is None:
        inputs.notes.append("no dataset given (--dataset DIR): latency only, accuracy and fidelity are n/a")
        return inputs
    check_labels(slices.evaluation, inputs.model.classes, config.label_offset)
    shape = inputs.model.input_shape
    progress = _PackProgress(listener)
    packed = pack(slices.pool, len(slices.evaluation), (shape[1], shape[2]), config.crop, cache_dir() / "datasets",
                  on_progress=progress)
    progress.finish(packed.count)
    if packed.skipped:
        inputs.notes.append(f"{len(packed.skipped)} unreadable evaluation image(s) skipped")
    if not slices.labelled:
        inputs.notes.append("the dataset has no labels: accuracy is n/a (give class subfolders or --labels)")
    dataset = DatasetInfo("demo" if uses_demo_data else slices.name, packed.identity, packed.count, slices.labelled)
    with DatasetReader(packed.path, packed.count) as reader:
        labels = reader.labels()
    labels = np.where(labels >= 0, labels + config.label_offset, -1)
    return replace(inputs, dataset=dataset, dataset_file=packed.path, dataset_file_sha256=packed.file_sha256, labels=labels)


class _PackProgress:
    """Packing progress as stage lines: the first, then at most one every 5 s, with images/s."""

    def __init__(self, listener: InputsListener) -> None:
        self.listener, self.started, self.last, self.decoded = listener, time.monotonic(), 0.0, False

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if not self.decoded or now - self.last >= 5.0:
            rate = done / max(now - self.started, 1e-6)
            self.listener.stage(f"packing evaluation images: {done}/{total} decoded ({rate:.0f} images/s)")
            self.last, self.decoded = now, True

    def finish(self, count: int) -> None:
        if not self.decoded:
            self.listener.stage(f"evaluation images: {count} already packed (reused)")
