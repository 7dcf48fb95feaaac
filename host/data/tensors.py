"""Evaluation data that is not images: ``.npz``/``.npy`` samples keyed by input name, packed for the device.

Two forms, the ones ai-edge-quantizer's calibration and NumPy users already have:

- ``FILE.npz``: one array per input, samples stacked on the first axis (read whole: keep it under
  MAX_NPZ_BYTES, or use a folder);
- a folder of ``.npz`` files, one sample each (an array per input), or of ``.npy`` files for a
  one-input model, read one file at a time in name order (streamed: memory holds one sample).

An array is matched to a model input by the input's signature name or tensor name
(``serving_default_audio:0``, ``audio``); one array for a one-input model needs no name. A sample
may leave out the batch dimension. Float data packs as float32 (a full-integer build quantizes it
on the device with its own input scale), integer data (token ids) as the input's integer type.
An integer array named ``label`` or ``labels`` (one class index per sample) is not an input: it
labels the samples, and a classifier's top-k is scored on them as on class folders.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from device_agent.storage.dataset import TensorHeader, TensorSpec
from host.errors import DatasetError
from host.fsio import open_private

TENSOR_SUFFIXES = (".npz", ".npy")
LABEL_KEYS = ("label", "labels")
MAX_NPZ_BYTES = 1 << 30  # one .npz is read whole; past this, a folder of samples streams


@dataclass(frozen=True)
class ModelInput:
    """One model input as the data must feed it: its tensor name, the names a user may key it by."""

    name: str
    dtype: str
    shape: tuple[int, ...]

    @property
    def keys(self) -> tuple[str, ...]:
        bare = re.sub(r":\d+$", "", self.name)
        return tuple(dict.fromkeys((self.name, bare, bare.removeprefix("serving_default_"))))


def model_inputs(model_content: bytes) -> tuple[ModelInput, ...]:
    from device_agent.engines.runtime import inspection_interpreter

    details = inspection_interpreter(model_content).get_input_details()
    return tuple(
        ModelInput(str(d["name"]), np.dtype(d["dtype"]).name, tuple(int(v) for v in d["shape"])) for d in details
    )


def is_tensor_data(path: Path) -> bool:
    """Whether ``--dataset`` names tensor samples (an .npz file, a folder of .npz/.npy) rather than images."""
    if path.is_file():
        return path.suffix.lower() in TENSOR_SUFFIXES
    return path.is_dir() and any(p.suffix.lower() in TENSOR_SUFFIXES for p in path.iterdir() if p.is_file())


class TensorSamples:
    """The samples of an .npz file or a folder, as dicts of arrays keyed by the names they were saved under."""

    def __init__(self, path: Path) -> None:
        self.path = path
        if path.is_file():
            self._arrays = _load_npz(path, whole=True)
            counts = {len(a) if a.ndim else 0 for a in self._arrays.values()}
            if len(counts) != 1 or 0 in counts:
                raise DatasetError(
                    f"{path}: every array needs the samples on its first axis, and as many of them "
                    f"(found {sorted(counts)})"
                )
            self.count, self._files = counts.pop(), tuple[Path, ...]()
        else:
            self._files = tuple(
                sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in TENSOR_SUFFIXES)
            )
            self.count, self._arrays = len(self._files), {}
        if self.count == 0:
            raise DatasetError(f"{path} holds no samples")

    def sample(self, index: int) -> dict[str, np.ndarray]:
        if not self._files:
            return {key: array[index] for key, array in self._arrays.items()}
        file = self._files[index]
        if file.suffix.lower() == ".npy":
            try:
                return {"": np.load(file, allow_pickle=False)}
            except (OSError, ValueError) as e:
                raise DatasetError(f"cannot read {file}: {str(e)[:120]}") from e
        return _load_npz(file, whole=False)

    def fed(self, inputs: tuple[ModelInput, ...], count: int) -> Iterator[list[np.ndarray]]:
        """The first ``count`` samples, each a list with one array per model input, in the model's
        order, shaped as the input takes it (batch of one) and typed for packing."""
        for index in range(min(count, self.count)):
            yield match(self.sample(index), inputs, f"{self.path} sample {index}")

    def labelled(self, inputs: tuple[ModelInput, ...], count: int) -> Iterator[tuple[list[np.ndarray], int]]:
        """``fed``'s samples with each one's class (-1 when the data has no labels)."""
        for index in range(min(count, self.count)):
            arrays = self.sample(index)
            yield match(arrays, inputs, f"{self.path} sample {index}"), label_of(arrays, f"{self.path} sample {index}")


def label_of(arrays: dict[str, np.ndarray], where: str) -> int:
    key = next((k for k in LABEL_KEYS if k in arrays), None)
    if key is None:
        return -1
    value = np.asarray(arrays[key])
    if value.size != 1 or not (np.issubdtype(value.dtype, np.integer) and int(value.reshape(-1)[0]) >= 0):
        raise DatasetError(f"{where} {key} is {value.reshape(-1)[:4].tolist()}: one class index (0 or more) per sample")
    return int(value.reshape(-1)[0])


def _load_npz(path: Path, whole: bool) -> dict[str, np.ndarray]:
    try:
        if whole and path.stat().st_size > MAX_NPZ_BYTES:
            raise DatasetError(
                f"{path} is over {MAX_NPZ_BYTES >> 30} GB: save one .npz per sample in a folder (streamed)"
            )
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise DatasetError(f"cannot read {path}: {str(e)[:120]}") from e


def key_for(arrays: Mapping[str, object], name: str) -> str | None:
    """The key under which ``arrays`` holds the input called ``name``: any name it goes by."""
    return next((key for key in ModelInput(name, "", ()).keys if key in arrays), None)


def match(arrays: dict[str, np.ndarray], inputs: tuple[ModelInput, ...], where: str) -> list[np.ndarray]:
    """One array per model input, found by name (any of its keys), shaped and typed for it."""
    fed = []
    data = {k: v for k, v in arrays.items() if k not in LABEL_KEYS}
    for model_input in inputs:
        key = key_for(data, model_input.name)
        if key is None and len(inputs) == 1 and len(data) == 1:
            key = next(iter(data))
        if key is None:
            raise DatasetError(f"{where} has no array for input {model_input.keys[-1]!r} (it has {sorted(arrays)[:8]})")
        fed.append(_fit(data[key], model_input, f"{where} {key or 'array'}"))
    return fed


def _fit(array: np.ndarray, model_input: ModelInput, where: str) -> np.ndarray:
    if array.size != int(np.prod(model_input.shape)) or array.shape not in (model_input.shape, model_input.shape[1:]):
        raise DatasetError(f"{where} is {list(array.shape)}; the input takes {list(model_input.shape)}")
    if np.issubdtype(array.dtype, np.floating):
        if not np.all(np.isfinite(array)):
            raise DatasetError(f"{where} holds NaN or Inf")
        return array.reshape(model_input.shape).astype(np.float32)
    if np.issubdtype(array.dtype, np.integer) or array.dtype == np.bool_:
        kind = np.dtype(model_input.dtype)
        target = kind if np.issubdtype(kind, np.integer) else np.dtype(np.float32)
        return array.reshape(model_input.shape).astype(target)
    raise DatasetError(f"{where} is {array.dtype}, not numbers")


@dataclass(frozen=True)
class PackedTensors:
    path: Path
    file_sha256: str
    count: int
    labels: tuple[int, ...] = ()  # each sample's class, -1 unknown

    @property
    def identity(self) -> str:
        return hashlib.sha256(f"{self.file_sha256}:{self.count}".encode()).hexdigest()


def pack_tensors(samples: TensorSamples, inputs: tuple[ModelInput, ...], count: int, folder: Path) -> PackedTensors:
    """The first ``count`` samples packed for the device (device_agent/storage/dataset.py's tensor layout),
    written sample by sample and hashed in the same pass."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".tensors-{os.getpid()}-{time.monotonic_ns()}.tmp"
    digest, specs, written, labels = hashlib.sha256(), None, 0, []
    try:
        with open_private(tmp) as handle:
            for fed, label in samples.labelled(inputs, count):
                specs = specs or tuple(
                    TensorSpec(i.name, a.dtype.name, a.shape) for i, a in zip(inputs, fed, strict=True)
                )
                if [a.dtype.name for a in fed] != [spec.dtype for spec in specs]:
                    raise DatasetError(
                        f"{samples.path} sample {written} holds {[a.dtype.name for a in fed]}, the first held "
                        f"{[spec.dtype for spec in specs]}: every sample needs the same kinds of numbers"
                    )
                data = b"".join(np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<")).tobytes() for a in fed)
                digest.update(data)
                handle.write(data)
                written += 1
                labels.append(label)
            assert specs is not None
            for block in (np.asarray(labels, dtype="<i4").tobytes(), TensorHeader(written, specs).footer()):
                digest.update(block)
                handle.write(block)
        sha = digest.hexdigest()
        target = folder / f"{sha}.qbts"
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return PackedTensors(target, sha, written, tuple(labels))
