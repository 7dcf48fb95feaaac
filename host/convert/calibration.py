"""Calibration data for integer modes, offered to the converter as its representative dataset:
images from a folder (classes interleaved, at the model's input size, preprocessed), or tensor
samples (``.npz``/``.npy``, keyed by input name: ``host.data.tensors``) for a model no image
feeds, one array per input in the model's order."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from host.data.decoded import decoded_image_set
from host.data.images import ImageSet, hash_arrays, list_images, round_robin
from host.data.tensors import ModelInput, TensorSamples
from host.errors import DatasetError


@dataclass(frozen=True)
class TensorCalibration:
    """Calibration samples for a model's inputs: each a list of arrays in ``inputs``' order."""

    samples: tuple[tuple[np.ndarray, ...], ...]
    inputs: tuple[ModelInput, ...]
    sha256: str
    skipped: tuple[str, ...] = ()

    @property
    def count(self) -> int:
        return len(self.samples)


CalibrationSet = ImageSet | TensorCalibration


def load_tensor_calibration(path: Path, count: int, inputs: tuple[ModelInput, ...]) -> TensorCalibration:
    samples = tuple(tuple(fed) for fed in TensorSamples(path).fed(inputs, count))
    if not samples:
        raise DatasetError(f"{path} holds no calibration samples")
    return TensorCalibration(samples, inputs, hash_arrays(*(a for sample in samples for a in sample)))


class TensorRepresentative:
    """The representative dataset of tensor samples, each a dict keyed by the input's signature
    name (TensorFlow's calibrator orders them by its signature); ``inputs`` gives every name an
    input goes by, so the quantizer can key them by its own signature's names."""

    def __init__(self, calibration: TensorCalibration) -> None:
        self.calibration = calibration
        self.inputs = calibration.inputs

    def __call__(self) -> Iterator[dict[str, np.ndarray]]:
        for sample in self.calibration.samples:
            yield {model_input.keys[-1]: array for model_input, array in zip(self.inputs, sample, strict=True)}


def load_calibration(directory: Path, size: tuple[int, int], count: int, what: str = "calibration images") -> ImageSet:
    """The first ``count`` images of a folder, classes interleaved, resized to the model input
    (decoded once while the files stay as they are: ``host.data.decoded``)."""
    listing = list_images(directory)
    entries = round_robin(listing.entries)[:count]
    return decoded_image_set(entries, size, class_names=listing.class_names, what=what)


def representative_dataset_of(
    calibration: CalibrationSet, preprocess: Callable[[np.ndarray], np.ndarray]
) -> Callable[[], Iterator[Any]]:
    """The calibration images through the model's preprocessing, computed on the first call only:
    a run whose builds all come from the cache never pays for it (0.26 s for 100 images at 224).
    Tensor samples go as they are (they are the model's inputs already)."""
    if isinstance(calibration, TensorCalibration):
        return TensorRepresentative(calibration)
    prepared: list[np.ndarray] = []

    def representative_dataset() -> Iterator[list[np.ndarray]]:
        if not prepared:
            prepared.append(preprocess(calibration.images))
        inputs = prepared[0]
        for i in range(inputs.shape[0]):
            yield [inputs[i : i + 1]]

    return representative_dataset
