"""The packed evaluation dataset: one file the host writes once and the agent reads in batches.

Layout, chosen so the host can write and hash it in one pass and the agent can read any prefix
without loading the rest::

    images   count x height x width x channels uint8 (NHWC), image after image
    labels   count int32 little-endian (-1: unknown)
    footer   JSON {"format", "count", "height", "width", "channels"}
    trailer  u64 little-endian footer length, then the magic b"QBDSET01"

The agent reads images in batches into one reused buffer, so its memory does not grow with the
number of images (a memory map would count every page it touched as resident).

A model whose inputs are not one image (audio, text, sensor windows, several inputs) is fed from
a *tensor* dataset instead, laid out the same way without labels::

    samples  count x (each input's values, in the footer's order), sample after sample
    labels   count int32 little-endian (-1: unknown)
    footer   JSON {"format", "count", "inputs": [{"name", "dtype", "shape"}]} (shape per sample)
    trailer  u64 little-endian footer length, then the magic b"QBTSET01"
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Generic, Protocol, TypeVar

import numpy as np

from device_agent.errors import InvalidRequest

MAGIC = b"QBDSET01"
TENSOR_MAGIC = b"QBTSET01"
TRAILER = struct.Struct("<Q8s")
FORMAT = 1


@dataclass(frozen=True)
class DatasetHeader:
    count: int
    height: int
    width: int
    channels: int = 3

    @property
    def image_bytes(self) -> int:
        return self.height * self.width * self.channels

    @property
    def labels_offset(self) -> int:
        return self.count * self.image_bytes

    def footer(self) -> bytes:
        text = json.dumps(
            {
                "format": FORMAT,
                "count": self.count,
                "height": self.height,
                "width": self.width,
                "channels": self.channels,
            }
        ).encode()
        return text + TRAILER.pack(len(text), MAGIC)


def read_header(handle: BinaryIO, size: int) -> DatasetHeader:
    """The header from the file's end; a file that is not a packed dataset is an InvalidRequest."""
    magic, data, length = _footer(handle, size)
    if magic != MAGIC:
        raise InvalidRequest("the dataset file holds tensors, not images")
    try:
        header = DatasetHeader(int(data["count"]), int(data["height"]), int(data["width"]), int(data["channels"]))
    except (ValueError, KeyError, TypeError) as e:
        raise InvalidRequest(f"the dataset file's footer is damaged: {e}") from e
    if header.labels_offset + 4 * header.count + length + TRAILER.size != size:
        raise InvalidRequest("the dataset file's size does not match its footer (truncated?)")
    return header


class _Header(Protocol):
    @property
    def count(self) -> int: ...
    @property
    def labels_offset(self) -> int: ...


H = TypeVar("H", bound=_Header)


class _Reader(Generic[H]):
    """A packed file read from its start in batches: its header, its first ``limit`` items (all
    when 0), their labels (4 bytes each: small even for 50,000 items)."""

    def __init__(self, path: Path, limit: int, batch: int, read_header: Callable[[BinaryIO, int], H]) -> None:
        self.path = path
        self._handle = path.open("rb")
        try:
            self.header: H = read_header(self._handle, path.stat().st_size)
        except BaseException:
            self._handle.close()
            raise
        self.count = min(limit, self.header.count) if limit > 0 else self.header.count
        self.batch = max(1, batch)

    def close(self) -> None:
        self._handle.close()

    def __enter__(self: R) -> R:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def labels(self) -> np.ndarray:
        """Each item's class (-1: unknown)."""
        self._handle.seek(self.header.labels_offset)
        return np.frombuffer(self._handle.read(4 * self.count), dtype="<i4").astype(np.int64)


R = TypeVar("R", bound="_Reader[Any]")


class DatasetReader(_Reader[DatasetHeader]):
    """Reads the first ``limit`` images (all when 0) in batches of ``batch`` images."""

    def __init__(self, path: Path, limit: int = 0, batch: int = 64) -> None:
        super().__init__(path, limit, batch, read_header)

    def batches(self) -> Iterator[tuple[int, np.ndarray]]:
        """(index of the first image, images) per batch; the array is reused: copy what you keep."""
        h = self.header
        buffer = np.empty((self.batch, h.height, h.width, h.channels), dtype=np.uint8)
        self._handle.seek(0)
        for start in range(0, self.count, self.batch):
            n = min(self.batch, self.count - start)
            view = buffer.data.cast("B")[: n * h.image_bytes]
            if self._handle.readinto(view) != n * h.image_bytes:
                raise InvalidRequest(f"the dataset file ends inside image {start + n} (truncated?)")
            yield start, buffer[:n]


@dataclass(frozen=True)
class TensorSpec:
    """One input of a tensor dataset: the model input it feeds (by tensor name), and each sample's part."""

    name: str
    dtype: str  # numpy's name: float32, int32, int8, ...
    shape: tuple[int, ...]  # one sample's, batch dimension included (as the model takes it)

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * np.dtype(self.dtype).itemsize


@dataclass(frozen=True)
class TensorHeader:
    count: int
    inputs: tuple[TensorSpec, ...]

    @property
    def sample_bytes(self) -> int:
        return sum(spec.nbytes for spec in self.inputs)

    @property
    def labels_offset(self) -> int:
        return self.count * self.sample_bytes

    def footer(self) -> bytes:
        text = json.dumps(
            {
                "format": FORMAT,
                "count": self.count,
                "inputs": [{"name": s.name, "dtype": s.dtype, "shape": list(s.shape)} for s in self.inputs],
            }
        ).encode()
        return text + TRAILER.pack(len(text), TENSOR_MAGIC)


def _footer(handle: BinaryIO, size: int) -> tuple[bytes, dict[str, Any], int]:
    if size < TRAILER.size:
        raise InvalidRequest("the dataset file is too short to be a packed dataset")
    handle.seek(size - TRAILER.size)
    length, magic = TRAILER.unpack(handle.read(TRAILER.size))
    if magic not in (MAGIC, TENSOR_MAGIC) or length > size - TRAILER.size:
        raise InvalidRequest("the dataset file is not a packed dataset (no QBDSET01 or QBTSET01 trailer)")
    handle.seek(size - TRAILER.size - length)
    try:
        data = json.loads(handle.read(length))
    except ValueError as e:
        raise InvalidRequest(f"the dataset file's footer is damaged: {e}") from e
    if not isinstance(data, dict):
        raise InvalidRequest("the dataset file's footer is damaged: not an object")
    return magic, data, length


def read_tensor_header(handle: BinaryIO, size: int) -> TensorHeader:
    magic, data, length = _footer(handle, size)
    if magic != TENSOR_MAGIC:
        raise InvalidRequest("the dataset file holds images, not tensors")
    try:
        specs = tuple(
            TensorSpec(str(i["name"]), str(np.dtype(str(i["dtype"])).name), tuple(int(d) for d in i["shape"]))
            for i in data["inputs"]
        )
        header = TensorHeader(int(data["count"]), specs)
    except (ValueError, KeyError, TypeError) as e:
        raise InvalidRequest(f"the dataset file's footer is damaged: {e}") from e
    if (
        not specs
        or any(d < 1 for s in specs for d in s.shape)
        or header.labels_offset + 4 * header.count + length + TRAILER.size != size
    ):
        raise InvalidRequest("the dataset file's size does not match its footer (truncated?)")
    return header


def is_tensor_dataset(path: Path) -> bool:
    with path.open("rb") as handle:
        size = path.stat().st_size
        return _footer(handle, size)[0] == TENSOR_MAGIC


class TensorReader(_Reader[TensorHeader]):
    """The first ``limit`` samples (all when 0) in batches: one array per input, (n, *shape[1:])."""

    def __init__(self, path: Path, limit: int = 0, batch: int = 64) -> None:
        super().__init__(path, limit, batch, read_tensor_header)

    def batches(self) -> Iterator[tuple[int, list[np.ndarray]]]:
        """(index of the first sample, one array per input with the samples stacked on axis 0)."""
        specs, size = self.header.inputs, self.header.sample_bytes
        self._handle.seek(0)
        for start in range(0, self.count, self.batch):
            n = min(self.batch, self.count - start)
            data = self._handle.read(n * size)
            if len(data) != n * size:
                raise InvalidRequest(f"the dataset file ends inside sample {start + n} (truncated?)")
            rows = np.frombuffer(data, dtype=np.uint8).reshape(n, size)
            arrays, offset = [], 0
            for spec in specs:
                part = np.ascontiguousarray(rows[:, offset : offset + spec.nbytes])
                arrays.append(part.view(np.dtype(spec.dtype).newbyteorder("<")).reshape(n, *spec.shape))
                offset += spec.nbytes
            yield start, arrays


def open_dataset(path: Path, limit: int = 0, batch: int = 64) -> DatasetReader | TensorReader:
    """The reader for whichever kind of packed dataset ``path`` is."""
    return TensorReader(path, limit, batch) if is_tensor_dataset(path) else DatasetReader(path, limit, batch)
