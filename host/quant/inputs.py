"""What ``host debug`` and ``host tune`` start from: the model, its calibration, its images.

Both calibrate once (``selective.Calibrated``) and then quantize many ways; the demo brings its
own calibration and evaluation images, any other model names them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from host.convert.cache import ConversionCache
from host.convert.converter import DEFAULT_PRESET, LoadedModel, load_calibration, representative_dataset_of
from host.convert.loader import ModelSource, resolve_model
from host.convert.selective import Calibrated, quantize
from host.data.images import ImageSet
from host.data.preprocess import get_preset
from host.errors import InputError
from host.paths import cache_dir
from host.quant.debug import LayerError, layer_errors


@dataclass
class QuantInputs:
    source: ModelSource
    model: LoadedModel
    preset: str
    calibration: ImageSet
    calibrated: Calibrated
    _float: bytes | None = None

    def float_model(self) -> bytes:
        """The float build (mode none), converted once."""
        if self._float is None:
            from host.convert import tfenv

            with tfenv.silenced():
                self._float = bytes(self.model.converter().convert())
        return self._float

    def preprocessed(self, images: ImageSet) -> np.ndarray:
        return get_preset(self.preset).apply(images.images)

    def rank(self, images: ImageSet) -> list[LayerError]:
        """Every quantized op's error over ``images`` with the instrumented build, worst first."""
        return layer_errors(quantize(self.calibrated.model, numeric_verify=True), self.preprocessed(images), self.calibrated.ops)


def default_dirs(model: str, calibration: str | None, dataset: str | None) -> tuple[Path, Path | None]:
    """The demo's own splits when the user names none; anything else must name its calibration."""
    if model == "demo":
        from host.data.demo import split_folder

        return (Path(calibration) if calibration else split_folder("calibration"),
                Path(dataset) if dataset else split_folder("eval"))
    if not calibration:
        raise InputError("pass --calibration DIR: the images the integer build is calibrated on")
    return Path(calibration), Path(dataset) if dataset else None


def load_inputs(model: str, weights: str | None, calibration: Path, count: int, preset: str | None) -> QuantInputs:
    """Resolve and load the model, load the calibration images, and calibrate (a few seconds)."""
    source = resolve_model(model, weights)
    loaded = LoadedModel(source, ConversionCache(cache_dir() / "convert").root)
    shape = loaded.input_shape()
    if shape[2] != 3:
        raise InputError(f"the model takes {shape[2]}-channel input; only RGB (3-channel) image models are supported")
    name = preset or source.preset or DEFAULT_PRESET
    images = load_calibration(calibration, shape[:2], count)
    calibrated = Calibrated.from_converter(loaded.converter(), representative_dataset_of(images, get_preset(name).apply),
                                           loaded.layer_names())
    return QuantInputs(source, loaded, name, images, calibrated)
