"""Accuracy (top-1/3/5) and each output's fidelity against reference outputs, over the dataset in batches.

Inputs are the dataset's uint8 images through the named preset, then quantized with the model's
own input scale and zero point when its input is uint8/int8; outputs are dequantized with the
output's parameters. Images run in dataset order, the same for every mode and backend. Nothing
grows with the number of images but the labels (4 bytes each): scores are accumulated batch by
batch, the reference outputs are read in step, and this cell's outputs are written as they come.
Every output tensor is compared with the reference's (SNR, cosine, abs error, and top-1 agreement
for a classifier-shaped one): a detector's scores matter as much as its boxes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from device_agent.contract import SNR_CEILING_DB, Accuracy, Fidelity, Numerics, OutputFidelity
from device_agent.engines.runtime import TensorDetail, TensorInfo, tensor_info
from device_agent.errors import InvalidRequest


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


@dataclass(frozen=True)
class OutputSlot:
    """One output tensor's columns in a row of concatenated outputs (one row per image)."""

    name: str
    start: int
    stop: int
    classifier: bool  # rank 2, one row per image, several classes: top-1 agreement means something

    @property
    def values(self) -> int:
        return self.stop - self.start


def output_slots(outputs: list[TensorInfo], names: list[str]) -> tuple[OutputSlot, ...]:
    """Every output's place in a concatenated row, in the model's output order."""
    slots, start = [], 0
    for tensor, name in zip(outputs, names, strict=True):
        size = int(np.prod(tensor.shape)) if tensor.shape else 1
        classifier = len(tensor.shape) == 2 and tensor.shape[0] == 1 and tensor.shape[1] > 1
        slots.append(OutputSlot(name, start, start + size, classifier))
        start += size
    return tuple(slots)


def in_name_order(details: list[TensorDetail]) -> list[TensorDetail]:
    """Outputs sorted by tensor name when every name is there and distinct: the interpreter lists
    them in the subgraph's order and LiteRT's CompiledModel in the signature's, and each cell's
    rows must line up with the reference's whichever engine made them."""
    names = [d.get("name") for d in details]
    if all(names) and len(set(names)) == len(names):
        return sorted(details, key=lambda d: str(d["name"]))
    return list(details)


class Runner:
    """The model over images or tensor samples, one invoke per sample: a preprocessed batch of
    224x224 floats would not fit in cache, and measured ~25% slower than this loop. Every output
    is read, dequantized and laid side by side in one row per sample (``slots`` says where)."""

    def __init__(self, interpreter: Any, preprocess: Callable[[np.ndarray], np.ndarray]) -> None:
        self.interpreter = interpreter
        self.preprocess = preprocess
        inputs = interpreter.get_input_details()
        self.sources = [tensor_info(d) for d in inputs]
        self.source_names = [str(d.get("name") or "") for d in inputs]
        self.source = self.sources[0]
        details = in_name_order(interpreter.get_output_details())
        self.targets = [tensor_info(d) for d in details]
        self.slots = output_slots(self.targets, [str(d.get("name") or f"output_{i}") for i, d in enumerate(details)])
        self.width = self.slots[-1].stop if self.slots else 0
        self.classes = self.slots[0].values if self.slots else 0
        self._feeds: list[int] = []  # for tensor samples: the dataset's input that feeds each model input
        self._detections: tuple[OutputSlot, ...] = ()  # boxes, classes, scores, count of a post-process op

    @property
    def detects(self) -> bool:
        """The model ends in a post-process op: an image with no detection is an all-zero row, legitimately."""
        return bool(self._detections)

    def written_rows_only(self, names: tuple[str, ...]) -> None:
        """Zero what TFLite's detection post-process op leaves unwritten: the rows of boxes,
        classes and scores past its count (uninitialised memory, NaN included), which would
        otherwise count as unscorable numbers and as errors against the reference."""
        by_name = {slot.name: slot for slot in self.slots}
        if names and len(names) == 4 and all(name in by_name for name in names):
            self._detections = tuple(by_name[name] for name in names)

    def check(self, image_shape: tuple[int, ...]) -> None:
        if len(self.sources) != 1:
            raise ValueError(
                f"the model takes {len(self.sources)} inputs; images feed one: give a tensor dataset (.npz)"
            )
        if tuple(image_shape) != self.source.shape[1:]:
            raise ValueError(f"dataset images are {tuple(image_shape)}, the model takes {self.source.shape[1:]}")

    def check_tensors(self, specs: list[tuple[str, tuple[int, ...]]]) -> None:
        """Line the dataset's inputs up with the model's: by tensor name, else (names differ, as
        two converters may name them) by position when the count and every shape agree."""
        names = [name for name, _ in specs]
        if sorted(names) == sorted(self.source_names):
            self._feeds = [names.index(name) for name in self.source_names]
        elif len(specs) == len(self.sources):
            self._feeds = list(range(len(specs)))
        else:
            raise ValueError(f"the dataset has inputs {names}, the model takes {self.source_names}")
        for model_input, feed in enumerate(self._feeds):
            if tuple(specs[feed][1]) != self.sources[model_input].shape:
                raise ValueError(
                    f"dataset input {specs[feed][0]} is {list(specs[feed][1])}, the model's "
                    f"{self.source_names[model_input]} takes {list(self.sources[model_input].shape)}"
                )

    def outputs(self, images: np.ndarray) -> np.ndarray:
        """Dequantized outputs (n, width) for a batch of uint8 images, every output side by side."""
        out = np.empty((images.shape[0], self.width), dtype=np.float32)
        set_input, invoke = self.interpreter.set_tensor, self.interpreter.invoke
        for i in range(images.shape[0]):
            set_input(self.source.index, quantize_input(self.preprocess(images[i : i + 1]), self.source))
            invoke()
            self._read(out, i)
        return out

    def tensor_outputs(self, arrays: list[np.ndarray]) -> np.ndarray:
        """Dequantized outputs (n, width) for a batch of tensor samples (one array per dataset input)."""
        count = arrays[0].shape[0]
        out = np.empty((count, self.width), dtype=np.float32)
        set_input, invoke = self.interpreter.set_tensor, self.interpreter.invoke
        for i in range(count):
            for source, feed in zip(self.sources, self._feeds, strict=True):
                set_input(source.index, tensor_input(arrays[feed][i], source))
            invoke()
            self._read(out, i)
        return out

    def _read(self, out: np.ndarray, row: int) -> None:
        get_output = self.interpreter.get_tensor
        for slot, target in zip(self.slots, self.targets, strict=True):
            out[row, slot.start : slot.stop] = dequantize_output(get_output(target.index).reshape(-1), target)
        if self._detections:
            boxes, classes, scores, count = self._detections
            kept = int(np.clip(np.nan_to_num(out[row, count.start]), 0, scores.values))
            for slot, width in ((boxes, 4), (classes, 1), (scores, 1)):
                out[row, slot.start + kept * width : slot.stop] = 0.0


def tensor_input(value: np.ndarray, tensor: TensorInfo) -> np.ndarray:
    """A sample for a model input: a float value quantized when the input is (a full-integer
    build), else cast to the input's type (token ids, an int32 window) as given."""
    if tensor.scale and np.issubdtype(value.dtype, np.floating) and tensor.dtype != np.float32:
        return quantize_input(value, tensor)
    return value.astype(tensor.dtype, copy=False)


@dataclass
class _OutputSums:
    """One output's agreement with the reference, as sums that do not grow with the images."""

    slot: OutputSlot
    signal: float = 0.0  # sum of reference**2
    noise: float = 0.0  # sum of (output - reference)**2
    cosine: float = 0.0  # sum over images of each image's cosine similarity
    abs_sum: float = 0.0
    abs_max: float = 0.0
    agree: int = 0

    def add(self, outputs: np.ndarray, reference: np.ndarray) -> None:
        ours = outputs[:, self.slot.start : self.slot.stop].astype(np.float64)
        theirs = reference[:, self.slot.start : self.slot.stop].astype(np.float64)
        diff = ours - theirs
        self.signal += float(np.square(theirs).sum())
        self.noise += float(np.square(diff).sum())
        self.abs_sum += float(np.abs(diff).sum())
        self.abs_max = max(self.abs_max, float(np.abs(diff).max(initial=0.0)))
        norms = np.linalg.norm(ours, axis=1) * np.linalg.norm(theirs, axis=1)
        dots = np.einsum("ij,ij->i", ours, theirs)
        both_zero = ~ours.any(axis=1) & ~theirs.any(axis=1)  # two silent outputs agree exactly
        self.cosine += float(
            np.where(both_zero, 1.0, np.divide(dots, norms, out=np.zeros_like(dots), where=norms > 0)).sum()
        )
        if self.slot.classifier:
            self.agree += int((ours.argmax(axis=1) == theirs.argmax(axis=1)).sum())

    def result(self, images: int) -> OutputFidelity:
        return OutputFidelity(
            name=self.slot.name,
            values=self.slot.values,
            snr_db=snr_db(self.signal, self.noise),
            cosine=self.cosine / images,
            mean_abs_error=self.abs_sum / (images * max(1, self.slot.values)),
            max_abs_error=self.abs_max,
            top1_agreement=self.agree / images if self.slot.classifier else None,
        )


def snr_db(signal: float, noise: float) -> float:
    """10 log10(signal / noise) in dB, held inside +-SNR_CEILING_DB (an exact match is the ceiling)."""
    if noise <= 0.0:
        return SNR_CEILING_DB
    if signal <= 0.0:
        return -SNR_CEILING_DB
    return float(np.clip(10.0 * np.log10(signal / noise), -SNR_CEILING_DB, SNR_CEILING_DB))


@dataclass
class Scorer:
    """Top-k hits over labelled images and each output's agreement with the reference, per batch.

    Top-k reads the first output (labels are only accepted for a model with one classifier output)."""

    labels: np.ndarray  # the class index each image should get; -1 when unknown
    slots: tuple[OutputSlot, ...] = ()  # empty: one output over the whole row
    hits: np.ndarray = field(default_factory=lambda: np.zeros(3, dtype=np.int64))
    seen: int = 0
    compared: int = 0
    top1: list[np.ndarray] = field(default_factory=list)
    sums: list[_OutputSums] = field(default_factory=list)
    nan_values: int = 0
    inf_values: int = 0
    zero_vectors: int = 0
    first_bad: int = -1
    zero_rows_allowed: bool = False  # a detector's outputs for an image where it found nothing are all zero

    def _count_unscorable(self, outputs: np.ndarray) -> None:
        """NaN, Inf and all-zero rows: ``max`` and ``argmax`` would silently rank them."""
        nan, inf = np.isnan(outputs), np.isinf(outputs)
        zero = ~outputs.any(axis=1) & (not self.zero_rows_allowed)
        bad_rows = nan.any(axis=1) | inf.any(axis=1) | zero
        if bad_rows.any():
            self.nan_values += int(nan.sum())
            self.inf_values += int(inf.sum())
            self.zero_vectors += int(zero.sum())
            if self.first_bad < 0:
                self.first_bad = self.seen + int(np.argmax(bad_rows))

    def numerics(self) -> Numerics:
        return Numerics(self.nan_values, self.inf_values, self.zero_vectors, self.first_bad)

    def _layout(self, width: int) -> tuple[OutputSlot, ...]:
        if not self.slots:
            self.slots = (OutputSlot("output_0", 0, width, width > 1),)
        return self.slots

    def add(self, outputs: np.ndarray, reference: np.ndarray | None = None) -> None:
        self._count_unscorable(outputs)
        first = self._layout(outputs.shape[1])[0]
        scores = outputs[:, first.start : first.stop]
        labels = self.labels[self.seen : self.seen + outputs.shape[0]]
        if first.classifier:
            self.top1.append(np.argmax(scores, axis=1))
        known = labels >= 0
        if known.any():
            k = min(5, scores.shape[1])
            # stable descending order: ties go to the lower class index, deterministically
            top = np.argsort(-scores[known], axis=1, kind="stable")[:, :k]
            hit = top == labels[known][:, None]
            self.hits += [int(hit[:, :n].any(axis=1).sum()) for n in (1, 3, 5)]
        if reference is not None:
            if reference.shape != outputs.shape:
                raise ValueError(
                    f"reference outputs are {reference.shape[1:]} per image, this cell's are {outputs.shape[1:]}"
                )
            if not self.sums:
                self.sums = [_OutputSums(slot) for slot in self.slots]
            for sums in self.sums:
                sums.add(outputs, reference)
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

    def fidelity(self) -> Fidelity | None:
        """Every output's agreement; the headline figures are the first output's agreement and the
        worst output's SNR, with mean and max abs error over every value."""
        if not self.compared:
            return None
        outputs = tuple(s.result(self.compared) for s in self.sums)
        values = sum(o.values for o in outputs)
        return Fidelity(
            top1_agreement=outputs[0].top1_agreement,
            mean_abs_error=sum(s.abs_sum for s in self.sums) / (self.compared * max(1, values)),
            max_abs_error=max(o.max_abs_error for o in outputs),
            count=self.compared,
            snr_db=min(o.snr_db for o in outputs),
            outputs=outputs,
        )


class OutputsReader:
    """Rows of a float32 .npy of outputs, read in step with the evaluation (never all at once)."""

    def __init__(self, path: Path) -> None:
        self._handle: BinaryIO = path.open("rb")
        version = np.lib.format.read_magic(self._handle)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read_header(self._handle)
        if fortran or dtype != np.float32 or len(shape) != 2:
            raise InvalidRequest("the reference outputs are not an (images, output values) float32 array")
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
