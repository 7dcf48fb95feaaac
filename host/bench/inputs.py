"""Everything a bench needs from the host before a device is touched: models and the dataset."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from host.bench.config import BenchConfig
from host.bench.given import is_given, load_given
from host.convert.cache import ConversionCache
from host.convert.converter import ConversionReport, ConvertOptions, convert_model
from host.convert.loader import resolve_model
from host.convert.modes import parse_modes, select_modes
from host.convert.service import demo_splits_for
from host.data import demo
from host.data.datasets import DatasetSlices, load_evaluation, pack_for_device, slice_dataset
from host.paths import cache_dir


@dataclass(frozen=True)
class ModelFile:
    mode: str
    path: Path
    sha256: str
    size_bytes: int


@dataclass(frozen=True)
class PreparedInputs:
    model: dict[str, Any]
    conversion: ConversionReport | None  # None when the .tflite files were given
    models: dict[str, ModelFile]
    failed_modes: dict[str, str]
    modes: list[str]
    dataset: dict[str, Any]
    dataset_file: Path | None
    preset: str
    notes: list[str] = field(default_factory=list)


def _demo_defaults(config: BenchConfig) -> BenchConfig:
    """The demo model brings its own evaluation, calibration and training splits."""
    if config.model != "demo":
        return config
    calibration, train_data = demo_splits_for(
        parse_modes(config.modes), Path(config.calibration) if config.calibration else None,
        Path(config.train_data) if config.train_data else None,
    )
    return replace(
        config,
        dataset=config.dataset or str(demo.split_folder("eval")),
        calibration=str(calibration) if calibration else None,
        train_data=str(train_data) if train_data else None,
        preset=config.preset or str(demo.demo_meta().get("preset", "mobilenet")),
    )


def prepare_inputs(config: BenchConfig, on_stage: Any = lambda text: None) -> PreparedInputs:
    uses_demo_data = config.model == "demo" and config.dataset is None
    config = _demo_defaults(config)
    notes: list[str] = []
    given = is_given(config.model)
    # calibration images come out of the dataset only when a mode needs them and none were given
    needs_calibration = not given and any(m.needs_calibration for m in parse_modes(config.modes))
    slices = None
    if config.dataset:
        slices = slice_dataset(
            Path(config.dataset), labels_file=Path(config.labels) if config.labels else None, limit=config.limit,
            calibration_count=config.calibration_count, take_calibration=needs_calibration and config.calibration is None,
        )
    if given:
        model, files = load_given(config.model, config.modes)
        models = {m: ModelFile(m, g.path, g.sha256, g.size_bytes) for m, g in files.items()}
        preset = config.preset or "mobilenet"
        notes.append(f"benched the given .tflite build(s) as they are; preprocessing preset {preset}")
        return _with_dataset(config, slices, uses_demo_data, PreparedInputs(
            model={**model, "preset": preset}, conversion=None, models=models, failed_modes={}, modes=list(models),
            dataset={}, dataset_file=None, preset=preset, notes=notes,
        ), on_stage)
    source = resolve_model(config.model, config.weights)
    calibration_entries = slices.calibration if slices else ()
    runnable, skipped = select_modes(
        config.modes, has_calibration=bool(config.calibration or calibration_entries), has_training=bool(config.train_data),
    )
    for mode, reason in skipped.items():
        notes.append(f"mode {mode} skipped: {reason}")
    on_stage(f"converting {len(runnable)} modes")
    options = ConvertOptions(
        io_type=config.io_type, calibration_dir=Path(config.calibration) if config.calibration else None,
        calibration_entries=calibration_entries, calibration_count=config.calibration_count, preset=config.preset,
        train_dir=Path(config.train_data) if config.train_data else None, qat_epochs=config.qat_epochs,
        use_cache=config.use_cache,
    )
    cache = ConversionCache(cache_dir() / "convert")
    out = cache_dir() / "bench-models" / source.sha256[:16]
    report = convert_model(source, runnable, out, options, cache=cache, skipped=skipped)
    models = {
        r.mode: ModelFile(r.mode, Path(r.path or ""), r.sha256 or "", r.size_bytes or 0) for r in report.results if r.ok
    }
    failed = {r.mode: f"conversion failed: {r.error}" for r in report.results if not r.ok}
    return _with_dataset(config, slices, uses_demo_data, PreparedInputs(
        model={"name": source.name, "sha256": source.sha256, "input_shape": report.model["input_shape"], "preset": report.model["preset"]},
        conversion=report, models=models, failed_modes=failed, modes=[m.name for m in runnable],
        dataset={}, dataset_file=None, preset=report.model["preset"], notes=notes,
    ), on_stage)


def _with_dataset(config: BenchConfig, slices: DatasetSlices | None, uses_demo_data: bool, inputs: PreparedInputs,
                  on_stage: Any) -> PreparedInputs:
    """Load the evaluation images at the model's input size and pack them for the device."""
    if slices is None:
        inputs.notes.append("no dataset given (--dataset DIR): latency only, accuracy and fidelity are n/a")
        return replace(inputs, dataset={"name": None, "sha256": None, "count": 0})
    on_stage("loading evaluation images")
    shape = inputs.model["input_shape"]
    images = load_evaluation(slices, (shape[1], shape[2]), config.crop)
    if images.skipped:
        inputs.notes.append(f"{len(images.skipped)} unreadable evaluation image(s) skipped")
    if not slices.labelled:
        inputs.notes.append("the dataset has no labels: accuracy is n/a (give class subfolders or --labels)")
    dataset_file, sha = pack_for_device(images, cache_dir() / "datasets")
    dataset = {"name": "demo" if uses_demo_data else slices.name, "sha256": sha, "count": images.count, "labelled": slices.labelled}
    return replace(inputs, dataset=dataset, dataset_file=dataset_file)
