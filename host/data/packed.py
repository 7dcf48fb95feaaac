"""The evaluation images packed for the device, streamed: decoded in bounded chunks, in parallel
across cores, straight into the file, so host memory does not grow with the number of images.

The file (``device_agent/storage/dataset.py`` defines its layout) is named by its sha256 and kept in the
cache with an index entry keyed by *what it was made from*: the ordered list of source images
(path, size, mtime, label), the model's input size and the crop. A run with ``--limit N`` uses
the first N images of a file made for more (the agent reads a prefix), so a different limit makes
no new copy; a larger limit copies the images already packed and decodes only the rest.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np

from device_agent.storage.dataset import DatasetHeader, DatasetReader
from host.cache import touch
from host.data.images import ImageEntry, decode_rgb, source_digest
from host.errors import DatasetError
from host.fsio import atomic_write, open_private

PACK_VERSION = 2
CHUNK = 128  # images per unit of work: 128 x 224 x 224 x 3 bytes is 19 MB
PARALLEL_FROM = 256  # fewer images than this are decoded in this process (no start-up cost)


@dataclass(frozen=True)
class Packed:
    """The packed file and the images of it that this run evaluates (its first ``count``)."""

    path: Path
    file_sha256: str  # the store name on the device
    count: int  # images evaluated (unreadable ones skipped)
    skipped: tuple[str, ...]

    @property
    def identity(self) -> str:
        """Names exactly the images evaluated: the same for every run that evaluates them."""
        return hashlib.sha256(f"{self.file_sha256}:{self.count}".encode()).hexdigest()


@dataclass
class _Index:
    """What a packed file holds: the first ``covered`` entries of its source list, minus ``skipped``."""

    file: str
    covered: int
    skipped: list[int] = field(default_factory=list)

    def images(self, entries: int) -> int:
        return entries - sum(1 for i in self.skipped if i < entries)


def usable_cores() -> int:
    """The cores this process may run on (a container's share, not the machine's count), at most 8."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    return max(1, min(8, cores))


def source_key(pool: tuple[ImageEntry, ...], size: tuple[int, int], crop: float) -> str:
    return source_digest({"version": PACK_VERSION, "size": size, "crop": crop}, pool)


def _decode_chunk(paths: list[str], size: tuple[int, int], crop: float) -> tuple[np.ndarray, list[int]]:
    """Decode a chunk (in a worker process): the images that decode, and the positions that did not."""
    images, bad = [], []
    for i, path in enumerate(paths):
        pixels = decode_rgb(Path(path), size, crop)
        if pixels is None:
            bad.append(i)
        else:
            images.append(pixels)
    stacked = np.stack(images) if images else np.empty((0, size[0], size[1], 3), dtype=np.uint8)
    return stacked, bad


def _decoded(
    entries: list[ImageEntry], size: tuple[int, int], crop: float, chunk: int, workers: int
) -> Iterator[tuple[list[ImageEntry], np.ndarray, list[int]]]:
    """Chunks in order; at most ``2 x workers`` chunks are in flight, so memory stays bounded."""
    chunks = [entries[i : i + chunk] for i in range(0, len(entries), chunk)]
    if workers <= 1 or len(entries) < PARALLEL_FROM:
        for part in chunks:
            yield (part, *_decode_chunk([str(e.path) for e in part], size, crop))
        return
    # spawn: this process may hold TensorFlow's threads, which a fork would copy half-alive
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        pending: list[tuple[list[ImageEntry], Future[tuple[np.ndarray, list[int]]]]] = []
        for part in chunks:
            pending.append((part, pool.submit(_decode_chunk, [str(e.path) for e in part], size, crop)))
            if len(pending) >= 2 * workers:
                done, future = pending.pop(0)
                yield (done, *future.result())
        for done, future in pending:
            yield (done, *future.result())


class _Writer:
    """Images first (streamed), then labels and the footer; hashed in the same pass."""

    def __init__(self, handle: BinaryIO, size: tuple[int, int]) -> None:
        self.handle, self.size = handle, size
        self.digest = hashlib.sha256()
        self.labels: list[int] = []

    def images(self, pixels: np.ndarray | bytes, labels: list[int]) -> None:
        data = pixels.tobytes() if isinstance(pixels, np.ndarray) else pixels
        self.digest.update(data)
        self.handle.write(data)
        self.labels += labels

    def finish(self) -> str:
        header = DatasetHeader(len(self.labels), self.size[0], self.size[1])
        for data in (np.asarray(self.labels, dtype="<i4").tobytes(), header.footer()):
            self.digest.update(data)
            self.handle.write(data)
        return self.digest.hexdigest()


def _copy_prefix(writer: _Writer, old: Path, count: int) -> None:
    """The images an earlier, shorter file already holds: copied, not decoded again."""
    with DatasetReader(old, count, batch=CHUNK) as reader:
        labels = reader.labels().tolist()
        for start, images in reader.batches():
            writer.images(images, labels[start : start + len(images)])


def _build(
    folder: Path,
    pool: tuple[ImageEntry, ...],
    entries: int,
    size: tuple[int, int],
    crop: float,
    previous: _Index | None,
    on_progress: Callable[[int, int], None],
    workers: int,
) -> _Index:
    tmp = folder / f".pack-{os.getpid()}-{time.monotonic_ns()}.tmp"
    skipped = list(previous.skipped) if previous else []
    start = previous.covered if previous else 0
    try:
        with open_private(tmp) as handle:
            writer = _Writer(handle, size)
            if previous:
                _copy_prefix(writer, folder / f"{previous.file}.qbds", previous.images(previous.covered))
            done = start
            for part, images, bad in _decoded(list(pool[start:entries]), size, crop, CHUNK, workers):
                writer.images(images, [e.label for i, e in enumerate(part) if i not in bad])
                skipped += [done + i for i in bad]
                done += len(part)
                on_progress(done, entries)
            sha = writer.finish()
        os.replace(tmp, folder / f"{sha}.qbds")
    finally:
        tmp.unlink(missing_ok=True)
    return _Index(sha, entries, skipped)


def pack(
    pool: tuple[ImageEntry, ...],
    entries: int,
    size: tuple[int, int],
    crop: float,
    folder: Path,
    *,
    on_progress: Callable[[int, int], None] = lambda done, total: None,
    workers: int | None = None,
) -> Packed:
    """The first ``entries`` images of ``pool`` at ``size``, packed (reused when already packed)."""
    folder.mkdir(parents=True, exist_ok=True)
    index_path = folder / f"{source_key(pool, size, crop)}.json"
    index = None
    if index_path.is_file():
        index = _Index(**json.loads(index_path.read_text()))
        if not (folder / f"{index.file}.qbds").is_file():
            index = None
    if index is None or index.covered < entries:
        old = index
        index = _build(folder, pool, entries, size, crop, old, on_progress, workers or usable_cores())
        atomic_write(index_path, json.dumps(asdict(index)))
        if old is not None and old.file != index.file:
            (folder / f"{old.file}.qbds").unlink(missing_ok=True)
    path = folder / f"{index.file}.qbds"
    touch(path)
    touch(index_path)
    count = index.images(entries)
    if count == 0:
        raise DatasetError(f"no readable evaluation images among the {entries} given: every one failed to decode")
    return Packed(path, index.file, count, tuple(str(pool[i].path) for i in index.skipped if i < entries))
