"""Convert one model in many modes: one generic code path driven by the mode table.

Each mode is converted in its own ``try``: a mode the converter rejects, or whose output breaks
the mode's promise (a float kernel left in ``full_integer``), fails alone with the reason, and
the other modes still land on disk with the manifest.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from host.convert import tfenv
from host.convert.cache import ConversionCache, cache_key
from host.convert.calibration import load_calibration, representative_dataset_of
from host.convert.export import InferenceExport
from host.convert.inspect import TfliteFacts, inspect_tflite
from host.convert.loader import (
    ModelSource,
    load_keras_model,
    model_input_shape,
    saved_model_signature,
)
from host.convert.modes import IO_TYPES, QuantMode
from host.convert.qat import QatJob
from host.convert.records import (
    DEFAULT_PRESET,
    CalibrationInfo,
    ConversionListener,
    ConversionReport,
    ConvertedModel,
    ConvertOptions,
    ModeResult,
    manifest,
)
from host.data.images import (
    ImageSet,
    list_images,
    load_image_set,
    round_robin,
)
from host.data.preprocess import get_preset
from host.errors import ConversionError, DatasetError, HostError, InputError
from host.fsio import atomic_write


class LoadedModel:
    """Loads the model at most once, and only when a cache miss needs a converter."""

    def __init__(self, source: ModelSource, meta_cache: Path | None) -> None:
        self.source = source
        self._meta_path = meta_cache / f"model-{source.sha256}.json" if meta_cache else None
        self._keras: Any = None
        self._saved: Any = None
        self._export: InferenceExport | None = None

    def input_shape(self) -> tuple[int, int, int]:
        if self.source.known_input_shape:
            return self.source.known_input_shape
        if self._meta_path and self._meta_path.is_file():
            height, width, channels = json.loads(self._meta_path.read_text())["input_shape"]
            return int(height), int(width), int(channels)
        shape = self._load()
        if self._meta_path:
            self._meta_path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(self._meta_path, json.dumps({"input_shape": shape}).encode())
        return shape

    def _load(self) -> tuple[int, int, int]:
        if self.source.kind == "saved_model":
            assert self.source.path is not None
            self._saved, shape = saved_model_signature(self.source.path)
            return shape
        self._keras = load_keras_model(self.source)
        return model_input_shape(self._keras)

    def keras_model(self) -> Any:
        if self._keras is None and self._saved is None:
            self._load()
        if self._keras is None:
            raise ConversionError("quantization-aware training needs a Keras model, not a SavedModel")
        return self._keras

    def layer_names(self) -> list[str]:
        """The Keras layer names (none for a SavedModel): what users call the ops."""
        return [layer.name for layer in self.keras_model().layers] if self.source.kind != "saved_model" else []

    def converter(self) -> Any:
        tf = tfenv.tf()
        if self.source.kind == "saved_model":
            if self._saved is None:
                self._load()
            return tf.lite.TFLiteConverter.from_saved_model(str(self.source.path), signature_keys=["serving_default"])
        if self._export is None:
            self._export = InferenceExport(self.keras_model())
        return self._export.converter()


def apply_mode(converter: Any, mode: QuantMode, io_type: str, representative: Callable[[], Iterator[list[np.ndarray]]] | None) -> None:
    """Set the converter switches the table row asks for; nothing mode-specific lives elsewhere."""
    tf = tfenv.tf()
    if mode.optimize:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if mode.supported_types:
        converter.target_spec.supported_types = [getattr(tf, name) for name in mode.supported_types]
    if mode.supported_ops:
        converter.target_spec.supported_ops = [getattr(tf.lite.OpsSet, name) for name in mode.supported_ops]
    if mode.needs_calibration:
        if representative is None:
            raise ConversionError(f"mode {mode.name} needs calibration data")
        converter.representative_dataset = representative
    if mode.io == "quantized":
        converter.inference_input_type = getattr(tf, io_type)
        converter.inference_output_type = getattr(tf, io_type)


def check_promises(mode: QuantMode, facts: TfliteFacts, io_type: str) -> list[str]:
    """Fail on a broken promise; return notes for what is legal but worth knowing."""
    expected_io = io_type if mode.io == "quantized" else "float32"
    if (facts.input_dtype, facts.output_dtype) != (expected_io, expected_io):
        raise ConversionError(
            f"converter produced {facts.input_dtype} input / {facts.output_dtype} output, "
            f"but mode {mode.name} promises {expected_io}"
        )
    if mode.name == "full_integer" and facts.float_kernels:
        raise ConversionError(
            "ops with no int8 kernel stayed float: " + ", ".join(facts.float_kernels)
            + "; use mode 'integer' (float fallback) for this model"
        )
    notes = []
    if mode.weight_dtype != "float32" and mode.weight_dtype not in facts.weight_dtypes:
        notes.append(f"no weight tensor was stored as {mode.weight_dtype} (the converter skips small tensors)")
    if mode.activation_dtype == "int16" and "int16" not in facts.activation_dtypes:
        notes.append("no activation was int16")
    if mode.name == "integer" and facts.float_kernels:
        notes.append("float fallback kernels: " + ", ".join(facts.float_kernels))
    return notes


def converter_reason(error: BaseException) -> str:
    """The converter's own reason in one line, without its MLIR dump."""
    text = str(error)
    lines = []
    for line in text.splitlines():
        line = re.sub(r"^loc\(.*?\)\)*:\s*", "", line.strip())
        if line.startswith("error:") or line.startswith("TF Select ops:") or "not supported" in line:
            lines.append(line.removeprefix("error:").strip())
    reason = "; ".join(dict.fromkeys(lines)) or (text.strip().splitlines() or [type(error).__name__])[0]
    return reason[:500]


def convert_model(
    source: ModelSource,
    modes: Sequence[QuantMode],
    out_dir: Path,
    options: ConvertOptions,
    *,
    cache: ConversionCache,
    skipped: dict[str, str] | None = None,
    listener: ConversionListener | None = None,
) -> ConversionReport:
    """Convert ``modes`` into ``out_dir/<mode>.tflite`` and write ``out_dir/manifest.json``."""
    if options.io_type not in IO_TYPES:
        raise InputError(f"--io-type must be uint8 or int8, not {options.io_type!r}")
    preset = get_preset(options.preset or source.preset or DEFAULT_PRESET)
    out_dir.mkdir(parents=True, exist_ok=True)
    model = LoadedModel(source, cache.root)
    shape = model.input_shape()
    calibration = _calibration_for(modes, options, shape, variant=bool(options.keep_float))
    training = _training_for(modes, options, model)
    representative = representative_dataset_of(calibration, preset.apply) if calibration else None
    keys = {mode.name: _mode_key(source, mode, options, preset.name, calibration, training) for mode in modes}
    early = _start_training(modes, keys, model, options, cache, training, preset.name)

    def variant() -> ModeResult:
        return _convert_variant(source.sha256, model, out_dir, options, cache, representative, calibration, preset.name)

    try:
        results = _convert_in_turn(modes, lambda mode: _convert_one(mode, keys[mode.name], model, out_dir, options, cache,
                                                                    representative, early),
                                   variant if options.keep_float else None, listener)
    finally:
        if early is not None:
            early.close()
    report = ConversionReport(
        model=ConvertedModel(source.name, source.kind, source.sha256, str(source.path) if source.path else None,
                             (1, *shape), preset.name),
        results=tuple(results),
        skipped=dict(skipped or {}),
        calibration=CalibrationInfo(calibration.count, calibration.sha256, len(calibration.skipped)) if calibration else None,
        manifest_path=out_dir / "manifest.json",
    )
    atomic_write(out_dir / "manifest.json", json.dumps(manifest(report), indent=2).encode())
    return report


def _convert_in_turn(modes: Sequence[QuantMode], convert: Callable[[QuantMode], ModeResult],
                     variant: Callable[[], ModeResult] | None, listener: ConversionListener | None) -> list[ModeResult]:
    """Each mode in its turn, those that fine-tune last and the variant just before them (the
    fine-tuning child runs meanwhile); the results in the order asked, the variant after them."""
    built: dict[str, ModeResult] = {}
    extra: ModeResult | None = None
    for index, mode in enumerate(sorted(modes, key=lambda m: m.needs_training)):
        if mode.needs_training and variant is not None and extra is None:
            extra = variant()
        if listener:
            listener.mode_started(mode.name, index, len(modes))
        built[mode.name] = convert(mode)
        if listener:
            listener.mode_done(built[mode.name])
    if variant is not None and extra is None:
        extra = variant()
    return [built[mode.name] for mode in modes] + ([extra] if extra else [])


def _mode_key(source: ModelSource, mode: QuantMode, options: ConvertOptions, preset: str,
              calibration: ImageSet | None, training: ImageSet | None) -> str:
    """What a build depends on: the converter, and the data only for the modes that read it."""
    uses_data = mode.needs_calibration or mode.needs_training
    return cache_key(
        model=source.sha256, mode=mode.name, converter=tfenv.converter_version(),
        io=options.io_type if mode.io == "quantized" else None,
        calibration=calibration.sha256 if calibration and uses_data else None,
        preset=preset if uses_data else None,
        training=[training.sha256, options.qat_epochs] if training and mode.needs_training else None,
    )


class Training:
    """The qat build's child process: started before the other modes when its build is not cached,
    so it fine-tunes while they convert (they use one thread; fine-tuning is the longest build),
    else started in its turn if it turns out to be needed after all."""

    def __init__(self, model: LoadedModel, training: ImageSet, preset: str, epochs: int) -> None:
        self._model, self._training, self._preset, self._epochs = model, training, preset, epochs
        self._job: QatJob | None = None

    def start(self) -> None:
        try:
            self.job()
        except HostError:
            pass  # not a Keras model: the build says so in its turn, when job() raises it again

    def job(self) -> QatJob:
        if self._job is None:
            self._job = QatJob(self._model.keras_model(), self._training, preset=self._preset, epochs=self._epochs)
        return self._job

    def close(self) -> None:
        if self._job is not None:
            self._job.close()


def _start_training(modes: Sequence[QuantMode], keys: dict[str, str], model: LoadedModel, options: ConvertOptions,
                    cache: ConversionCache, training: ImageSet | None, preset: str) -> Training | None:
    mode = next((m for m in modes if m.needs_training), None)
    if mode is None or training is None:
        return None
    holder = Training(model, training, preset, options.qat_epochs)
    if not (options.use_cache and cache.has(keys[mode.name])):
        holder.start()
    return holder


def _calibration_for(modes: Sequence[QuantMode], options: ConvertOptions, shape: tuple[int, int, int],
                     variant: bool = False) -> ImageSet | None:
    if not variant and not any(m.needs_calibration or m.needs_training for m in modes):
        return None
    if options.calibration_entries:
        entries = options.calibration_entries[: options.calibration_count]
        return load_image_set(entries, shape[:2], what="calibration images")
    if options.calibration_dir is None:
        if variant or any(m.needs_calibration for m in modes):
            raise InputError("integer modes need calibration images: pass --calibration DIR")
        return None
    if options.calibration_count < 1:
        raise InputError("--calibration-count must be at least 1")
    if shape[2] != 3:
        raise DatasetError(f"the model takes {shape[2]}-channel input; only RGB (3-channel) image models are supported")
    return load_calibration(options.calibration_dir, shape[:2], options.calibration_count)


def _preload(model: LoadedModel) -> None:
    try:
        model.keras_model()
    except HostError:
        pass  # not a Keras model: qat says so in its turn


def _training_for(modes: Sequence[QuantMode], options: ConvertOptions, model: LoadedModel) -> ImageSet | None:
    if not any(m.needs_training for m in modes):
        return None
    if options.train_dir is None:
        raise InputError("mode 'qat' needs labelled training images: pass --train-data DIR (class subfolders)")
    options.training_ready(lambda: _preload(model))  # qat needs the Keras model next: load it while the images are written
    shape = model.input_shape()
    listing = list_images(options.train_dir)
    if not listing.class_names:
        raise DatasetError(f"{options.train_dir} has no class subfolders: qat needs labelled images (one folder per class)")
    return load_image_set(round_robin(listing.entries), shape[:2], class_names=listing.class_names, what="training images")


def _convert_one(
    mode: QuantMode, key: str, model: LoadedModel, out_dir: Path, options: ConvertOptions, cache: ConversionCache,
    representative: Callable[[], Iterator[list[np.ndarray]]] | None, training: Training | None,
) -> ModeResult:
    def build() -> tuple[bytes, dict[str, Any]]:
        job = training.job() if training is not None and mode.needs_training else None
        model_bytes = job.result() if job is not None else _run_converter(mode, model, options, representative)
        facts = inspect_tflite(model_bytes)
        meta = _facts_meta(facts, check_promises(mode, facts, options.io_type))
        if job is not None:
            meta["convert_seconds"] = round(job.seconds, 3)  # from its start, beside the modes before it
        return model_bytes, meta

    return _cached_build(mode.name, key, out_dir, options.use_cache, cache, build)


def _convert_variant(
    model_sha: str, model: LoadedModel, out_dir: Path, options: ConvertOptions, cache: ConversionCache,
    representative: Callable[[], Iterator[list[np.ndarray]]] | None, calibration: ImageSet | None, preset: str,
) -> ModeResult:
    """The integer build with ``options.keep_float`` left in float (``host/convert/selective.py``)."""
    from host.convert.selective import BASE_MODE, Calibrated, KeepFloat, variant_name

    name = variant_name(KeepFloat(options.keep_float))
    key = cache_key(model=model_sha, mode=name, keep_float=list(options.keep_float), converter=tfenv.converter_version(),
                    calibration=calibration.sha256 if calibration else None, preset=preset)

    def build() -> tuple[bytes, dict[str, Any]]:
        if representative is None:
            raise ConversionError("--keep-float needs calibration images")
        calibrated = Calibrated.from_converter(model.converter(), representative, model.layer_names())
        keep = calibrated.keep(options.keep_float)
        model_bytes = calibrated.build(keep)
        meta = _facts_meta(inspect_tflite(model_bytes), [f"kept in float: {', '.join(keep.layers or keep.op_types)}"])
        return model_bytes, {**meta, "float_layers": list(keep.layers)}

    return _cached_build(name, key, out_dir, options.use_cache, cache, build, variant_of=BASE_MODE, keep_float=options.keep_float)


def _facts_meta(facts: TfliteFacts, notes: list[str]) -> dict[str, Any]:
    return {"input_dtype": facts.input_dtype, "output_dtype": facts.output_dtype, "notes": notes}


def _cached_build(
    name: str, key: str, out_dir: Path, use_cache: bool, cache: ConversionCache,
    build: Callable[[], tuple[bytes, dict[str, Any]]], **variant: Any,
) -> ModeResult:
    """``out_dir/<name>.tflite`` from the cache or from ``build`` (then cached); a failure is the
    build's result with its reason, and leaves no older file that looks like this build."""
    target = out_dir / f"{name}.tflite"
    started = time.perf_counter()
    entry = cache.get(key) if use_cache else None
    try:
        if entry is not None:
            model_bytes, meta, cached = entry.model_bytes, entry.meta, True
        else:
            model_bytes, meta = build()
            meta.setdefault("convert_seconds", round(time.perf_counter() - started, 3))
            cached = False
            cache.put(key, model_bytes, meta)
        atomic_write(target, model_bytes)
    except HostError as e:
        target.unlink(missing_ok=True)
        return ModeResult(name, False, seconds=round(time.perf_counter() - started, 3), error=str(e), **variant)
    except Exception as e:  # the converter raises ConverterError, ValueError, RuntimeError, ...
        target.unlink(missing_ok=True)
        return ModeResult(name, False, seconds=round(time.perf_counter() - started, 3), error=converter_reason(e), **variant)
    return ModeResult(
        name, True, path=str(target), size_bytes=len(model_bytes), sha256=hashlib.sha256(model_bytes).hexdigest(),
        input_dtype=meta["input_dtype"], output_dtype=meta["output_dtype"],
        seconds=round(time.perf_counter() - started, 3) if cached else meta["convert_seconds"],
        cached=cached, notes=tuple(meta.get("notes", ())), float_layers=tuple(meta.get("float_layers", ())), **variant,
    )


def _run_converter(
    mode: QuantMode, model: LoadedModel, options: ConvertOptions,
    representative: Callable[[], Iterator[list[np.ndarray]]] | None,
) -> bytes:
    if mode.needs_training:
        raise ConversionError("mode 'qat' needs labelled training images: pass --train-data DIR (class subfolders)")
    converter = model.converter()
    apply_mode(converter, mode, options.io_type, representative)
    with tfenv.silenced():
        return bytes(converter.convert())
