"""What ``host debug`` and ``host tune`` start from: the model, its calibration, its images.

Both calibrate once (``selective.Calibrated``) and then quantize many ways; what they start from
comes from the one input step (``host.convert.inputs``): the demo brings its own calibration and
evaluation images, any other model names them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from host.convert.cache import ConversionCache
from host.convert.calibration import (
    CalibrationSet,
    load_calibration,
    load_tensor_calibration,
    representative_dataset_of,
)
from host.convert.inputs import InputRequest, ResolvedInputs
from host.convert.loader import ModelSource
from host.convert.selective import Calibrated, quantize
from host.convert.sources import LoadedModel
from host.data.preprocess import get_preset
from host.data.tensors import ModelInput, is_tensor_data
from host.errors import InputError
from host.paths import cache_dir
from host.quant.debug import LayerError, layer_errors
from host.quant.feeding import Sample, samples_of


@dataclass
class QuantInputs:
    source: ModelSource
    model: LoadedModel
    preset: str
    calibration: CalibrationSet
    calibrated: Calibrated
    _float: bytes | None = None

    def float_model(self) -> bytes:
        """The float build (mode none), converted once."""
        if self._float is None:
            from host.convert import tfenv

            with tfenv.silenced():
                self._float = bytes(self.model.converter().convert())
        return self._float

    def samples(self, data: CalibrationSet) -> list[Sample]:
        """Images through the preset, or tensor samples as they are, keyed by input name."""
        return samples_of(data, get_preset(self.preset).apply)

    def rank(self, data: CalibrationSet) -> list[LayerError]:
        """Every quantized op's error over ``data`` with the instrumented build, worst first."""
        return layer_errors(
            quantize(self.calibrated.model, numeric_verify=True), self.samples(data), self.calibrated.ops
        )


def quant_request(
    model: str,
    weights: str | None,
    calibration: str | None,
    dataset: str | None,
    preset: str | None,
    labels: str | None = None,
) -> InputRequest:
    """``debug``'s and ``tune``'s part of the one input step: they always calibrate."""
    return InputRequest(
        model,
        weights=weights,
        dataset=dataset,
        labels=labels,
        calibration=calibration,
        preset=preset,
        calibrate=True,
        float16_is_source=True,
    )


def load_inputs(resolved: ResolvedInputs, count: int) -> QuantInputs:
    """Load the model and its calibration images, and calibrate (a few seconds)."""
    source, calibration = resolved.source, resolved.calibration
    if source is None or calibration is None:
        raise InputError(f"{resolved.model} is a TFLite build: debug and tune start from the Keras/TensorFlow model")
    loaded = LoadedModel(source, ConversionCache(cache_dir() / "convert").root)
    data = load_data(loaded.inputs(), calibration, count)
    calibrated = Calibrated.from_converter(
        loaded.converter(), representative_dataset_of(data, get_preset(resolved.preset).apply), loaded.layer_names()
    )
    return QuantInputs(source, loaded, resolved.preset, data, calibrated)


def load_data(
    inputs: tuple[ModelInput, ...], path: Path, count: int, what: str = "calibration images"
) -> CalibrationSet:
    """``count`` images at the model's input size, or tensor samples for the model's inputs."""
    if is_tensor_data(path):
        return load_tensor_calibration(path, count, inputs)
    if len(inputs) != 1 or len(inputs[0].shape) != 4:
        listed = ", ".join(f"{i.keys[-1]} {list(i.shape)}" for i in inputs)
        raise InputError(
            f"{path} holds images, but the model takes {listed}: give tensor samples (FILE.npz, or a folder of "
            ".npz samples) with an array per input, keyed by input name"
        )
    shape = inputs[0].shape[1:]
    if shape[2] != 3:
        raise InputError(f"the model takes {shape[2]}-channel input; only RGB (3-channel) image models are supported")
    return load_calibration(path, shape[:2], count, what=what)


def float_build(resolved: ResolvedInputs) -> bytes:
    """The float .tflite the quantizer's builds start from: the given file itself, or
    TensorFlow's none build of the model (converted once, cached like any build)."""
    from host.convert.converter import convert_model
    from host.convert.modes import MODES_BY_NAME
    from host.convert.records import ConvertOptions

    source = resolved.source
    if source is None:
        raise InputError(f"{resolved.model} is already quantized: start from a float model")
    if source.kind == "tflite_file" and source.path is not None:
        return source.path.read_bytes()
    report = convert_model(
        source,
        [MODES_BY_NAME["none"]],
        cache_dir() / "bench-models" / source.sha256[:16],
        ConvertOptions(preset=resolved.preset),
        cache=ConversionCache(cache_dir() / "convert"),
    )
    (result,) = report.results
    if not result.ok or result.path is None:
        raise InputError(f"the float build of {source.name} failed: {result.error}")
    from pathlib import Path

    return Path(result.path).read_bytes()
