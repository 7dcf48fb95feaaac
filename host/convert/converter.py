"""Convert one model in many modes: one generic code path driven by the mode table.

Each mode is converted in its own ``try``: a mode the converter rejects, or whose output breaks
the mode's promise (a float kernel left in ``full_integer``), fails alone with the reason, and
the other modes still land on disk with the manifest.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from host.convert import tfenv
from host.convert.builds import cached_build, facts_meta
from host.convert.cache import ConversionCache, cache_key
from host.convert.calibration import CalibrationSet, load_calibration, load_tensor_calibration, representative_dataset_of
from host.convert.export import InferenceExport
from host.convert.inspect import inspect_tflite
from host.convert.loader import (
    ModelSource,
    keras_inputs,
    load_keras_model,
    model_input_shape,
    saved_model_signature,
)
from host.convert.modes import IO_TYPES, MODES_BY_NAME, QUANTIZER, QuantMode
from host.convert.promises import check_promises
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
from host.convert.training import Training, start_training, training_images
from host.convert.variants import convert_quantizer_variant, convert_variant
from host.data.decoded import decoded_image_set
from host.data.images import ImageSet
from host.data.preprocess import get_preset
from host.data.tensors import ModelInput, is_tensor_data, model_inputs
from host.errors import ConversionError, DatasetError, InputError, ModelLoadError
from host.fsio import atomic_write


class LoadedModel:
    """Loads the model at most once, and only when a cache miss needs a converter."""

    def __init__(self, source: ModelSource, meta_cache: Path | None) -> None:
        self.source = source
        self._meta_path = meta_cache / f"model-{source.sha256}.json" if meta_cache else None
        self._keras: Any = None
        self._saved: Any = None
        self._export: InferenceExport | None = None

    def inputs(self) -> tuple[ModelInput, ...]:
        """Every input, batch of one; an image model's is known without loading it."""
        if self.source.kind == "tflite_file":
            assert self.source.path is not None
            return model_inputs(self.source.path.read_bytes())
        if self.source.known_input_shape:
            return (ModelInput("input", "float32", (1, *self.source.known_input_shape)),)
        return tuple(ModelInput(str(i["name"]), str(i["dtype"]), tuple(int(d) for d in i["shape"])) for i in self._meta()["inputs"])

    def image_shape(self) -> tuple[int, int, int] | None:
        """(height, width, channels) for a model one image feeds; None for any other inputs."""
        if self.source.known_input_shape or self.source.kind == "tflite_file":
            return self.source.known_input_shape
        shape = self._meta()["input_shape"]
        return (int(shape[0]), int(shape[1]), int(shape[2])) if shape else None

    def input_shape(self) -> tuple[int, int, int]:
        """The image input's (height, width, channels): for what only images can do (a clear error otherwise)."""
        shape = self.image_shape()
        if shape is None:
            listed = ", ".join(f"{i.keys[-1]} {list(i.shape)}" for i in self.inputs())
            raise ModelLoadError(f"{self.source.name} takes {listed}, not one image: give it tensor samples "
                                 "(--dataset/--calibration FILE.npz, an array per input keyed by input name)")
        return shape

    def _meta(self) -> dict[str, Any]:
        if self._meta_path and self._meta_path.is_file():
            meta = json.loads(self._meta_path.read_text())
            if "inputs" in meta:
                return dict(meta)
        meta = self._load()
        if self._meta_path:
            self._meta_path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(self._meta_path, json.dumps(meta).encode())
        return meta

    def _load(self) -> dict[str, Any]:
        if self.source.kind == "saved_model":
            assert self.source.path is not None
            self._saved, shape = saved_model_signature(self.source.path)
            return {"input_shape": shape, "inputs": [{"name": "input", "dtype": "float32", "shape": [1, *shape]}]}
        self._keras = load_keras_model(self.source)
        listed = getattr(self._keras, "inputs", None) or []
        image = model_input_shape(self._keras) if len(listed) == 1 and len(listed[0].shape) == 4 else None  # its own errors
        inputs = keras_inputs(self._keras)
        return {"input_shape": image, "inputs": [{"name": i.name, "dtype": i.dtype, "shape": list(i.shape)} for i in inputs]}

    def keras_model(self) -> Any:
        if self._keras is None and self._saved is None:
            self._load()
        if self._keras is None:
            raise ConversionError("quantization-aware training needs a Keras model, not a SavedModel")
        return self._keras

    def layer_names(self) -> list[str]:
        """The Keras layer names (none for a SavedModel or a .tflite): what users call the ops."""
        return [layer.name for layer in self.keras_model().layers] if self.source.kind not in ("saved_model", "tflite_file") else []


    def converter(self) -> Any:
        if self.source.kind == "tflite_file":
            raise ModelLoadError(f"{self.source.name} is a .tflite: TensorFlow's converter and its quantization debugger (host debug, host "
                                 "tune) need the Keras/SavedModel graph; the quantizer's modes work on it (--modes quantizer)")
        tf = tfenv.tf()
        if self.source.kind == "saved_model":
            if self._saved is None:
                self._load()
            return tf.lite.TFLiteConverter.from_saved_model(str(self.source.path), signature_keys=["serving_default"])
        if self._export is None:
            self._export = InferenceExport(self.keras_model())
        return self._export.converter()


class FloatSource:
    """The float .tflite the quantizer's modes start from: the given file itself, or TensorFlow's
    ``none`` build of the graph (made once, cached like any build)."""

    def __init__(self, model: LoadedModel, options: ConvertOptions, cache: ConversionCache, key: str) -> None:
        self._model, self._options, self._cache, self._key = model, options, cache, key
        self._bytes: bytes | None = None

    def offer(self, model_bytes: bytes) -> None:
        """The ``none`` build made in this run: the quantizer's modes start from it."""
        self._bytes = model_bytes

    def content(self) -> bytes:
        if self._bytes is None:
            self._bytes = self._read()
        return self._bytes

    def _read(self) -> bytes:
        if self._model.source.kind == "tflite_file":
            assert self._model.source.path is not None
            return self._model.source.path.read_bytes()
        entry = self._cache.get(self._key) if self._options.use_cache else None
        if entry is not None:
            return entry.model_bytes
        started = time.perf_counter()
        model_bytes = _run_converter(MODES_BY_NAME["none"], self._model, self._options, None)
        meta = {**facts_meta(inspect_tflite(model_bytes), []), "made_by": tfenv.converter_version(),
                "convert_seconds": round(time.perf_counter() - started, 3)}
        self._cache.put(self._key, model_bytes, meta)
        return model_bytes


def made_by(mode: QuantMode, source: ModelSource) -> str:
    """Which tool and version made a build (the manifest says so for each)."""
    from host.convert.quantizer_route import quantizer_version

    if mode.tool == QUANTIZER:
        return quantizer_version()
    return f"the given {source.path.name if source.path else '.tflite'}" if source.kind == "tflite_file" else tfenv.converter_version()

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
    inputs = model.inputs()
    image = model.image_shape()
    theirs = [m for m in modes if m.name in options.keep_float_modes and m.recipe is not None] if options.keep_float else []
    tensorflow = bool(options.keep_float) and source.kind != "tflite_file" and (not theirs or any(m.name == "integer" for m in modes))
    calibration = _calibration_for(modes, options, image, inputs, variant=tensorflow or any(m.needs_calibration for m in theirs))
    training = training_images(modes, options, model)
    representative = representative_dataset_of(calibration, preset.apply) if calibration else None
    keys = {mode.name: _mode_key(source, mode, options, preset.name, calibration, training) for mode in modes}
    early = start_training(modes, keys, model, options, cache, training, preset.name)
    floats = FloatSource(model, options, cache, _mode_key(source, MODES_BY_NAME["none"], options, preset.name, None, None))

    def variants() -> list[ModeResult]:
        """``--keep-float``'s builds: TensorFlow's integer (from a graph) and the quantizer's modes it varies."""
        made = [convert_variant(source.sha256, model, out_dir, options, cache, representative, calibration, preset.name)] \
            if tensorflow else []
        return made + [convert_quantizer_variant(m, keys[m.name], floats, out_dir, options, cache, representative) for m in theirs]

    try:
        results = _convert_in_turn(modes, lambda mode: _convert_one(mode, keys[mode.name], model, out_dir, options, cache,
                                                                    representative, early, floats),
                                   variants if options.keep_float else None, listener)
    finally:
        if early is not None:
            early.close()
    report = ConversionReport(
        model=ConvertedModel(source.name, source.kind, source.sha256, str(source.path) if source.path else None,
                             (1, *image) if image else inputs[0].shape, preset.name),
        results=tuple(results),
        skipped=dict(skipped or {}),
        calibration=CalibrationInfo(calibration.count, calibration.sha256, len(calibration.skipped)) if calibration else None,
        manifest_path=out_dir / "manifest.json",
    )
    atomic_write(out_dir / "manifest.json", json.dumps(manifest(report), indent=2).encode())
    return report


def _convert_in_turn(modes: Sequence[QuantMode], convert: Callable[[QuantMode], ModeResult],
                     variants: Callable[[], list[ModeResult]] | None, listener: ConversionListener | None) -> list[ModeResult]:
    """Each mode in its turn, those that fine-tune last and the variants just before them (the
    fine-tuning child runs meanwhile); the results in the order asked, the variants after them."""
    built: dict[str, ModeResult] = {}
    extra: list[ModeResult] | None = None
    for index, mode in enumerate(sorted(modes, key=lambda m: m.needs_training)):
        if mode.needs_training and variants is not None and extra is None:
            extra = variants()
        if listener:
            listener.mode_started(mode.name, index, len(modes))
        built[mode.name] = convert(mode)
        if listener:
            listener.mode_done(built[mode.name])
    if variants is not None and extra is None:
        extra = variants()
    return [built[mode.name] for mode in modes] + (extra or [])


def _mode_key(source: ModelSource, mode: QuantMode, options: ConvertOptions, preset: str,
              calibration: CalibrationSet | None, training: ImageSet | None) -> str:
    """What a build depends on: the converter, and the data only for the modes that read it."""
    uses_data = mode.needs_calibration or mode.needs_training
    if mode.tool == QUANTIZER:
        from host.convert.quantizer_route import quantizer_version, recipe_identity

        return cache_key(model=source.sha256, mode=mode.name, converter=quantizer_version(), recipe=recipe_identity(mode),
                         float_from=None if source.kind == "tflite_file" else tfenv.converter_version(),
                         calibration=calibration.sha256 if calibration and uses_data else None,
                         preset=preset if uses_data else None)
    return cache_key(
        model=source.sha256, mode=mode.name, converter=tfenv.converter_version(),
        io=options.io_type if mode.io == "quantized" else None,
        calibration=calibration.sha256 if calibration and uses_data else None,
        preset=preset if uses_data else None,
        training=[training.sha256, options.qat_epochs] if training and mode.needs_training else None,
    )


def _calibration_for(modes: Sequence[QuantMode], options: ConvertOptions, image: tuple[int, int, int] | None,
                     inputs: tuple[ModelInput, ...], variant: bool = False) -> CalibrationSet | None:
    if not variant and not any(m.needs_calibration or m.needs_training for m in modes):
        return None
    if options.calibration_count < 1:
        raise InputError("--calibration-count must be at least 1")
    if options.calibration_dir is not None and is_tensor_data(options.calibration_dir):
        return load_tensor_calibration(options.calibration_dir, options.calibration_count, inputs)
    if options.calibration_entries and image is not None:
        entries = options.calibration_entries[: options.calibration_count]
        return decoded_image_set(entries, image[:2], what="calibration images")
    if options.calibration_dir is None:
        if variant or any(m.needs_calibration for m in modes):
            raise InputError("integer modes need calibration data: pass --calibration DIR (images) or FILE.npz (tensor samples)")
        return None
    if image is None:
        listed = ", ".join(f"{i.keys[-1]} {list(i.shape)}" for i in inputs)
        raise DatasetError(f"{options.calibration_dir} holds images, but the model takes {listed}: calibrate it with "
                           "--calibration FILE.npz (or a folder of .npz samples), an array per input keyed by input name")
    if image[2] != 3:
        raise DatasetError(f"the model takes {image[2]}-channel input; only RGB (3-channel) image models are supported")
    return load_calibration(options.calibration_dir, image[:2], options.calibration_count)


def _convert_one(
    mode: QuantMode, key: str, model: LoadedModel, out_dir: Path, options: ConvertOptions, cache: ConversionCache,
    representative: Callable[[], Iterator[list[np.ndarray]]] | None, training: Training | None, floats: FloatSource,
) -> ModeResult:
    def build() -> tuple[bytes, dict[str, Any]]:
        from host.convert.quantizer_route import quantize

        job = training.job() if training is not None and mode.needs_training else None
        if job is not None:
            model_bytes = job.result()
        elif mode.tool == QUANTIZER:
            model_bytes = quantize(floats.content(), mode, representative)
        elif model.source.kind == "tflite_file":  # its none build is the file itself
            model_bytes = floats.content()
        else:
            model_bytes = _run_converter(mode, model, options, representative)
        if mode.name == "none":
            floats.offer(model_bytes)
        facts = inspect_tflite(model_bytes)
        meta = {**facts_meta(facts, check_promises(mode, facts, options.io_type)), "made_by": made_by(mode, model.source)}
        if job is not None:
            meta["convert_seconds"] = round(job.seconds, 3)  # from its start, beside the modes before it
        return model_bytes, meta

    return cached_build(mode.name, key, out_dir, options.use_cache, cache, build)


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
