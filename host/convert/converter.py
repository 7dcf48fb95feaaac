"""Convert one model in many modes: one generic code path driven by the mode table.

Each mode is converted in its own ``try``: a mode the converter rejects, or whose output breaks
the mode's promise (a float kernel left in ``full_integer``), fails alone with the reason, and
the other modes still land on disk with the manifest.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

from host.codec import JsonObject
from host.convert import sources, tfenv
from host.convert.builds import cached_build, facts_meta
from host.convert.cache import ConversionCache, cache_key
from host.convert.calibration import CalibrationSet, load_calibration, load_tensor_calibration, representative_dataset_of
from host.convert.inspect import inspect_tflite
from host.convert.loader import (
    ModelSource,
)
from host.convert.modes import IO_TYPES, MODES_BY_NAME, QUANTIZED_IO, QUANTIZER, QuantMode
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
from host.convert.sources import FloatSource, LoadedModel
from host.convert.training import Training, start_training, training_images
from host.convert.variants import convert_quantizer_variant, convert_variant
from host.data.decoded import decoded_image_set
from host.data.images import ImageSet
from host.data.preprocess import get_preset
from host.data.tensors import ModelInput, is_tensor_data
from host.errors import DatasetError, InputError
from host.fsio import atomic_write


def made_by(mode: QuantMode, source: ModelSource) -> str:
    """Which tool and version made a build (the manifest says so for each)."""
    from host.convert.quantizer_route import quantizer_version

    if mode.tool == QUANTIZER:
        return quantizer_version()
    return f"the given {source.path.name if source.path else '.tflite'}" if source.kind == "tflite_file" else tfenv.converter_version()

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
        io=options.io_type if mode.io == QUANTIZED_IO else None,
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
    def build() -> tuple[bytes, JsonObject]:
        from host.convert.quantizer_route import quantize

        job = training.job() if training is not None and mode.needs_training else None
        if job is not None:
            model_bytes = job.result()
        elif mode.tool == QUANTIZER:
            model_bytes = quantize(floats.content(), mode, representative)
        elif model.source.kind == "tflite_file":  # its none build is the file itself
            model_bytes = floats.content()
        else:
            model_bytes = sources.run_converter(mode, model, options, representative)
        if mode.name == "none":
            floats.offer(model_bytes)
        facts = inspect_tflite(model_bytes)
        meta = {**facts_meta(facts, check_promises(mode, facts, options.io_type)), "made_by": made_by(mode, model.source)}
        if job is not None:
            meta["convert_seconds"] = round(job.seconds, 3)  # from its start, beside the modes before it
        return model_bytes, meta

    return cached_build(mode.name, key, out_dir, options.use_cache, cache, build)
