"""Accuracy (top-1/3/5) and fidelity against reference outputs, over the dataset in batches.

Inputs are the dataset's uint8 images through the named preset, then quantized with the model's
own input scale and zero point when its input is uint8/int8; outputs are dequantized with the
output's parameters. Images run in dataset order, the same for every mode and backend. Nothing
grows with the number of images but the labels (4 bytes each): scores are accumulated batch by
batch, the reference outputs are read in step, and this cell's outputs are written as they come.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from device_agent.contract import Accuracy, Fidelity, Numerics
from device_agent.errors import InvalidRequest
from device_agent.runtime import TensorInfo, tensor_info


def quantize_input(values: np.ndarray, tensor: TensorInfo) -> np.ndarray:
    if tensor.dtype == np.float32:
        return values.astype(np.float32, copy=False)
    if not tensor.scale:
        raise ValueError(f"model input is {tensor.dtype.name} without quantization parameters")
    info = np.iinfo(tensor.dtype)
    return np.clip(np.round(values / tensor.scale + tensor.zero_point), info.min, info.max).astype(tensor.dtype)


def dequantize_output(values: np.ndarray, tensor: TensorInfo) -> np.ndarray:
    if tensor.dtype == np.float32:
        return values.astype(np.float32, copy=False)
    if not tensor.scale:
        return values.astype(np.float32)
    return (values.astype(np.float32) - tensor.zero_point) * tensor.scale


class Runner:
    """The model over images, one invoke per image: a preprocessed batch of 224x224 floats would
    not fit in cache, and measured ~25% slower than this loop."""

    def __init__(self, interpreter: Any, preprocess: Callable[[np.ndarray], np.ndarray]) -> None:
        self.interpreter = interpreter
        self.preprocess = preprocess
        self.source = tensor_info(interpreter.get_input_details()[0])
        self.target = tensor_info(interpreter.get_output_details()[0])
        self.classes = int(np.prod(self.target.shape[1:]))

    def check(self, image_shape: tuple[int, ...]) -> None:
        if tuple(image_shape) != self.source.shape[1:]:
            raise ValueError(f"dataset images are {tuple(image_shape)}, the model takes {self.source.shape[1:]}")

    def outputs(self, images: np.ndarray) -> np.ndarray:
        """Dequantized outputs (n, classes) for a batch of uint8 images."""
        out = np.empty((images.shape[0], self.classes), dtype=self.target.dtype)
        set_input, invoke, get_output = self.interpreter.set_tensor, self.interpreter.invoke, self.interpreter.get_tensor
        for i in range(images.shape[0]):
            set_input(self.source.index, quantize_input(self.preprocess(images[i : i + 1]), self.source))
            invoke()
            out[i] = get_output(self.target.index).reshape(-1)
        return dequantize_output(out, self.target)


@dataclass
class Scorer:
    """Top-k hits over labelled images and agreement with the reference, accumulated per batch."""

    labels: np.ndarray  # the class index each image should get; -1 when unknown
    hits: np.ndarray = field(default_factory=lambda: np.zeros(3, dtype=np.int64))
    seen: int = 0
    agree: int = 0
    abs_sum: float = 0.0
    abs_max: float = 0.0
    compared: int = 0
    top1: list[np.ndarray] = field(default_factory=list)
    nan_values: int = 0
    inf_values: int = 0
    zero_vectors: int = 0
    first_bad: int = -1

    def _count_unscorable(self, outputs: np.ndarray) -> None:
        """NaN, Inf and all-zero rows: ``max`` and ``argmax`` would silently rank them."""
        nan, inf = np.isnan(outputs), np.isinf(outputs)
        zero = ~outputs.any(axis=1)
        bad_rows = nan.any(axis=1) | inf.any(axis=1) | zero
        if bad_rows.any():
            self.nan_values += int(nan.sum())
            self.inf_values += int(inf.sum())
            self.zero_vectors += int(zero.sum())
            if self.first_bad < 0:
                self.first_bad = self.seen + int(np.argmax(bad_rows))

    def numerics(self) -> Numerics:
        return Numerics(self.nan_values, self.inf_values, self.zero_vectors, self.first_bad)

    def add(self, outputs: np.ndarray, reference: np.ndarray | None = None) -> None:
        self._count_unscorable(outputs)
        labels = self.labels[self.seen : self.seen + outputs.shape[0]]
        self.top1.append(np.argmax(outputs, axis=1))
        known = labels >= 0
        if known.any():
            k = min(5, outputs.shape[1])
            # stable descending order: ties go to the lower class index, deterministically
            top = np.argsort(-outputs[known], axis=1, kind="stable")[:, :k]
            hit = top == labels[known][:, None]
            self.hits += [int(hit[:, :n].any(axis=1).sum()) for n in (1, 3, 5)]
        if reference is not None:
            if reference.shape != outputs.shape:
                raise ValueError(f"reference outputs are {reference.shape[1:]} per image, this cell's are {outputs.shape[1:]}")
            diff = np.abs(outputs - reference)
            self.agree += int((outputs.argmax(axis=1) == reference.argmax(axis=1)).sum())
            self.abs_sum += float(diff.sum(dtype=np.float64))
            self.abs_max = max(self.abs_max, float(diff.max(initial=0.0)))
            self.compared += outputs.shape[0]
        self.seen += outputs.shape[0]

    def predictions(self, classes: int) -> bytes:
        """Each image's top-1 class, compactly: what paired (image by image) comparisons need."""
        if not self.top1:
            return b""
        return np.concatenate(self.top1).astype("<u2" if classes <= 65535 else "<u4").tobytes()

    def accuracy(self) -> Accuracy | None:
        labelled = int((self.labels[: self.seen] >= 0).sum())
        if not labelled:
            return None
        top1, top3, top5 = (float(h) / labelled for h in self.hits)
        return Accuracy(top1, top3, top5, labelled)

    def fidelity(self, classes: int) -> Fidelity | None:
        if not self.compared:
            return None
        return Fidelity(self.agree / self.compared, self.abs_sum / (self.compared * classes), self.abs_max, self.compared)


class OutputsReader:
    """Rows of a float32 .npy of outputs, read in step with the evaluation (never all at once)."""

    def __init__(self, path: Path) -> None:
        self._handle: BinaryIO = path.open("rb")
        version = np.lib.format.read_magic(self._handle)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read_header(self._handle)
        if fortran or dtype != np.float32 or len(shape) != 2:
            raise InvalidRequest("the reference outputs are not a (images, classes) float32 array")
        self.shape: tuple[int, int] = (int(shape[0]), int(shape[1]))

    def read(self, rows: int) -> np.ndarray:
        data = self._handle.read(rows * self.shape[1] * 4)
        return np.frombuffer(data, dtype=np.float32).reshape(-1, self.shape[1])

    def close(self) -> None:
        self._handle.close()


class OutputsWriter:
    """A float32 .npy of outputs written row batch by row batch, hashed as it is written."""

    def __init__(self, path: Path, shape: tuple[int, int]) -> None:
        self.path = path
        self.digest = hashlib.sha256()
        self._handle = path.open("wb")
        header = np.lib.format.header_data_from_array_1_0(np.empty((0, shape[1]), dtype=np.float32))
        header["shape"] = shape
        np.lib.format.write_array_header_1_0(self, header)

    def write(self, data: bytes | np.ndarray) -> None:
        payload = data.astype("<f4", copy=False).tobytes() if isinstance(data, np.ndarray) else data
        self.digest.update(payload)
        self._handle.write(payload)

    def close(self) -> str:
        self._handle.close()
        return self.digest.hexdigest()
