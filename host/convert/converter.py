"""Convert one model in many modes: one generic code path driven by the mode table.

Each mode is converted in its own ``try``: a mode the converter rejects, or whose output breaks
the mode's promise (a float kernel left in ``full_integer``), fails alone with the reason, and
the other modes still land on disk with the manifest.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from host.codec import JsonObject
from host.convert import sources, tfenv
from host.convert.builds import cached_build, facts_meta
from host.convert.cache import ConversionCache, cache_key
from host.convert.calibration import (
    CalibrationSet,
    load_calibration,
    load_tensor_calibration,
    representative_dataset_of,
)
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
    return (
        f"the given {source.path.name if source.path else '.tflite'}"
        if source.kind == "tflite_file"
        else tfenv.converter_version()
    )


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
    out_dir.mkdir(parents=True, exist_ok=True)
    job = _Job.prepare(source, modes, out_dir, options, cache)
    try:
        results = _convert_in_turn(modes, job.one, job.variants if options.keep_float else None, listener)
    finally:
        if job.early is not None:
            job.early.close()
    report = job.report(results, skipped)
    atomic_write(out_dir / "manifest.json", json.dumps(manifest(report), indent=2).encode())
    return report


@dataclass(frozen=True)
class _Job:
    """One conversion's shared parts: the model (loaded at most once), its calibration and
    training data, each mode's cache key, the float source, and the --keep-float variants asked."""

    source: ModelSource
    model: LoadedModel
    out_dir: Path
    options: ConvertOptions
    cache: ConversionCache
    preset: str
    calibration: CalibrationSet | None
    representative: Callable[[], Iterator[list[np.ndarray]]] | None
    keys: dict[str, str]
    early: Training | None
    floats: FloatSource
    inputs: tuple[ModelInput, ...]
    image: tuple[int, int, int] | None  # the image input's (height, width, channels); None for other inputs
    tensorflow_variant: bool  # TensorFlow's integer build with --keep-float (from a graph)
    quantizer_variants: tuple[QuantMode, ...]  # the quantizer's modes --keep-float varies

    @classmethod
    def prepare(
        cls,
        source: ModelSource,
        modes: Sequence[QuantMode],
        out_dir: Path,
        options: ConvertOptions,
        cache: ConversionCache,
    ) -> _Job:
        preset = get_preset(options.preset or source.preset or DEFAULT_PRESET)
        model = LoadedModel(source, cache.root)
        theirs = (
            tuple(m for m in modes if m.name in options.keep_float_modes and m.recipe is not None)
            if options.keep_float
            else ()
        )
        tensorflow = (
            bool(options.keep_float)
            and source.kind != "tflite_file"
            and (not theirs or any(m.name == "integer" for m in modes))
        )
        inputs, image = model.inputs(), model.image_shape()  # read once: a .tflite's inputs are read from the file
        calibration = _calibration_for(
            modes, options, image, inputs, variant=tensorflow or any(m.needs_calibration for m in theirs)
        )
        training = training_images(modes, options, model)
        keys = {mode.name: _mode_key(source, mode, options, preset.name, calibration, training) for mode in modes}
        floats = FloatSource(
            model, options, cache, _mode_key(source, MODES_BY_NAME["none"], options, preset.name, None, None)
        )
        return cls(
            source,
            model,
            out_dir,
            options,
            cache,
            preset.name,
            calibration,
            representative_dataset_of(calibration, preset.apply) if calibration else None,
            keys,
            start_training(modes, keys, model, options, cache, training, preset.name),
            floats,
            inputs,
            image,
            tensorflow,
            theirs,
        )

    def one(self, mode: QuantMode) -> ModeResult:
        return _convert_one(mode, self)

    def variants(self) -> list[ModeResult]:
        """``--keep-float``'s builds: TensorFlow's integer (from a graph) and the quantizer's modes it varies."""
        made = (
            [
                convert_variant(
                    self.source.sha256,
                    self.model,
                    self.out_dir,
                    self.options,
                    self.cache,
                    self.representative,
                    self.calibration,
                    self.preset,
                )
            ]
            if self.tensorflow_variant
            else []
        )
        return made + [
            convert_quantizer_variant(
                m, self.keys[m.name], self.floats, self.out_dir, self.options, self.cache, self.representative
            )
            for m in self.quantizer_variants
        ]

    def report(self, results: list[ModeResult], skipped: dict[str, str] | None) -> ConversionReport:
        source, calibration, image = self.source, self.calibration, self.image
        return ConversionReport(
            model=ConvertedModel(
                source.name,
                source.kind,
                source.sha256,
                str(source.path) if source.path else None,
                (1, *image) if image else self.inputs[0].shape,
                self.preset,
            ),
            results=tuple(results),
            skipped=dict(skipped or {}),
            calibration=CalibrationInfo(calibration.count, calibration.sha256, len(calibration.skipped))
            if calibration
            else None,
            manifest_path=self.out_dir / "manifest.json",
        )


def _convert_in_turn(
    modes: Sequence[QuantMode],
    convert: Callable[[QuantMode], ModeResult],
    variants: Callable[[], list[ModeResult]] | None,
    listener: ConversionListener | None,
) -> list[ModeResult]:
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


def _mode_key(
    source: ModelSource,
    mode: QuantMode,
    options: ConvertOptions,
    preset: str,
    calibration: CalibrationSet | None,
    training: ImageSet | None,
) -> str:
    """What a build depends on: the converter, and the data only for the modes that read it."""
    uses_data = mode.needs_calibration or mode.needs_training
    if mode.tool == QUANTIZER:
        from host.convert.quantizer_route import quantizer_version, recipe_identity

        return cache_key(
            model=source.sha256,
            mode=mode.name,
            converter=quantizer_version(),
            recipe=recipe_identity(mode),
            float_from=None if source.kind == "tflite_file" else tfenv.converter_version(),
            calibration=calibration.sha256 if calibration and uses_data else None,
            preset=preset if uses_data else None,
        )
    return cache_key(
        model=source.sha256,
        mode=mode.name,
        converter=tfenv.converter_version(),
        io=options.io_type if mode.io == QUANTIZED_IO else None,
        calibration=calibration.sha256 if calibration and uses_data else None,
        preset=preset if uses_data else None,
        training=[training.sha256, options.qat_epochs] if training and mode.needs_training else None,
    )


def _calibration_for(
    modes: Sequence[QuantMode],
    options: ConvertOptions,
    image: tuple[int, int, int] | None,
    inputs: tuple[ModelInput, ...],
    variant: bool = False,
) -> CalibrationSet | None:
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
            raise InputError(
                "integer modes need calibration data: pass --calibration DIR (images) or FILE.npz (tensor samples)"
            )
        return None
    if image is None:
        listed = ", ".join(f"{i.keys[-1]} {list(i.shape)}" for i in inputs)
        raise DatasetError(
            f"{options.calibration_dir} holds images, but the model takes {listed}: calibrate it with "
            "--calibration FILE.npz (or a folder of .npz samples), an array per input keyed by input name"
        )
    if image[2] != 3:
        raise DatasetError(f"the model takes {image[2]}-channel input; only RGB (3-channel) image models are supported")
    return load_calibration(options.calibration_dir, image[:2], options.calibration_count)


def _convert_one(mode: QuantMode, job: _Job) -> ModeResult:
    def build() -> tuple[bytes, JsonObject]:
        from host.convert.quantizer_route import quantize

        training = job.early.job() if job.early is not None and mode.needs_training else None
        if training is not None:
            model_bytes = training.result()
        elif mode.tool == QUANTIZER:
            model_bytes = quantize(job.floats.content(), mode, job.representative)
        elif job.source.kind == "tflite_file":  # its none build is the file itself
            model_bytes = job.floats.content()
        else:
            model_bytes = sources.run_converter(mode, job.model, job.options, job.representative)
        if mode.name == "none":
            job.floats.offer(model_bytes)
        facts = inspect_tflite(model_bytes)
        meta = {
            **facts_meta(facts, check_promises(mode, facts, job.options.io_type)),
            "made_by": made_by(mode, job.source),
        }
        if training is not None:
            meta["convert_seconds"] = round(training.seconds, 3)  # from its start, beside the modes before it
        return model_bytes, meta

    return cached_build(mode.name, job.keys[mode.name], job.out_dir, job.options.use_cache, job.cache, build)
