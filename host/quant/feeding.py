"""Debug samples and how they reach an interpreter: one array per input, keyed by input name.

An image model's sample is its one preprocessed image; a model fed tensor samples gets each
array by the name of the input it belongs to (any name the input goes by: its signature name,
its tensor name), so a float build and a quantized build whose inputs are listed in other orders
are fed alike.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from device_agent.engines.runtime import TensorDetail
from host.convert.calibration import CalibrationSet, TensorCalibration
from host.data.tensors import key_for
from host.errors import InputError

Sample = dict[str, np.ndarray]  # input name ("" for an image model's one input) -> its array, batch of one


def image_samples(pixels: np.ndarray) -> list[Sample]:
    return [{"": image[np.newaxis]} for image in pixels]


def tensor_samples(calibration: TensorCalibration) -> list[Sample]:
    return [
        {model_input.keys[-1]: array for model_input, array in zip(calibration.inputs, sample, strict=True)}
        for sample in calibration.samples
    ]


def samples_of(data: CalibrationSet, preprocess: Callable[[np.ndarray], np.ndarray]) -> list[Sample]:
    return tensor_samples(data) if isinstance(data, TensorCalibration) else image_samples(preprocess(data.images))


def pick(sample: Sample, name: str) -> np.ndarray:
    """The array for the input called ``name`` (a one-array sample feeds any one input)."""
    if len(sample) == 1:
        return next(iter(sample.values()))
    key = key_for(sample, name)
    if key is not None:
        return sample[key]
    raise InputError(f"no array for input {name!r} among {sorted(sample)}")


def set_inputs(
    interpreter: Any,
    sample: Sample,
    convert: Callable[[np.ndarray, TensorDetail], np.ndarray] = lambda array, detail: array,
) -> None:
    for detail in interpreter.get_input_details():
        interpreter.set_tensor(detail["index"], convert(pick(sample, str(detail["name"])), detail))


def by_signature(samples: Sequence[Sample], names: Sequence[str]) -> list[dict[str, np.ndarray]]:
    """The samples keyed by a signature's input names, as the quantizer's validator takes them."""
    return [
        {
            name: pick(sample, name).astype(np.float32)
            if np.issubdtype(pick(sample, name).dtype, np.floating)
            else pick(sample, name)
            for name in names
        }
        for sample in samples
    ]
