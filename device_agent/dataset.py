"""The packed evaluation dataset: one file the host writes once and the agent reads in batches.

Layout, chosen so the host can write and hash it in one pass and the agent can read any prefix
without loading the rest::

    images   count x height x width x channels uint8 (NHWC), image after image
    labels   count int32 little-endian (-1: unknown)
    footer   JSON {"format", "count", "height", "width", "channels"}
    trailer  u64 little-endian footer length, then the magic b"QBDSET01"

The agent reads images in batches into one reused buffer, so its memory does not grow with the
number of images (a memory map would count every page it touched as resident).
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from device_agent.errors import InvalidRequest

MAGIC = b"QBDSET01"
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
        text = json.dumps({"format": FORMAT, "count": self.count, "height": self.height, "width": self.width,
                           "channels": self.channels}).encode()
        return text + TRAILER.pack(len(text), MAGIC)


def read_header(handle: BinaryIO, size: int) -> DatasetHeader:
    """The header from the file's end; a file that is not a packed dataset is an InvalidRequest."""
    if size < TRAILER.size:
        raise InvalidRequest("the dataset file is too short to be a packed dataset")
    handle.seek(size - TRAILER.size)
    length, magic = TRAILER.unpack(handle.read(TRAILER.size))
    if magic != MAGIC or length > size - TRAILER.size:
        raise InvalidRequest("the dataset file is not a packed dataset (no QBDSET01 trailer)")
    handle.seek(size - TRAILER.size - length)
    try:
        data = json.loads(handle.read(length))
        header = DatasetHeader(int(data["count"]), int(data["height"]), int(data["width"]), int(data["channels"]))
    except (ValueError, KeyError, TypeError) as e:
        raise InvalidRequest(f"the dataset file's footer is damaged: {e}") from e
    if header.labels_offset + 4 * header.count + length + TRAILER.size != size:
        raise InvalidRequest("the dataset file's size does not match its footer (truncated?)")
    return header


class DatasetReader:
    """Reads the first ``limit`` images (all when 0) in batches of ``batch`` images."""

    def __init__(self, path: Path, limit: int = 0, batch: int = 64) -> None:
        self.path = path
        self._handle = path.open("rb")
        self.header = read_header(self._handle, path.stat().st_size)
        self.count = min(limit, self.header.count) if limit > 0 else self.header.count
        self.batch = max(1, batch)

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> DatasetReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def labels(self) -> np.ndarray:
        """The labels of the images read (4 bytes each: small even for 50,000 images)."""
        self._handle.seek(self.header.labels_offset)
        return np.frombuffer(self._handle.read(4 * self.count), dtype="<i4").astype(np.int64)

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
