"""Decoded image sets kept on this machine, named by what they were decoded from.

A run whose builds all come from the conversion cache still needs its calibration images'
content hash, which is part of every calibrated build's cache key. Decoding 100 photos at 224 to
get it took 0.42 s of each such run. The decoded arrays are kept instead, under a name made from
the ordered source files (path, size, mtime, label) and the size, as the packed datasets are.
Reading one back checks it against its own content hash, so a damaged entry is decoded again
rather than trusted. The entry is a cache: when it cannot be written the run goes on without it.
"""

from __future__ import annotations

import contextlib
import io
import zipfile
from pathlib import Path

import numpy as np

from host.cache import touch
from host.data.images import ImageEntry, ImageSet, hash_arrays, load_image_set, source_digest
from host.errors import OutputError
from host.fsio import atomic_write
from host.paths import cache_dir

DECODED_VERSION = 1
FOLDER = "decoded"  # under the cache folder, pruned with the other caches (host.cache.PRUNED)


def decoded_image_set(
    entries: tuple[ImageEntry, ...] | list[ImageEntry],
    size: tuple[int, int],
    *,
    class_names: tuple[str, ...] = (),
    what: str = "images",
    folder: Path | None = None,
) -> ImageSet:
    """``load_image_set(entries, size)``, decoded once per set of unchanged source files."""
    try:
        name = source_digest({"version": DECODED_VERSION, "size": list(size)}, entries)
    except OSError:  # a file gone since it was listed: decoding says which, and skips it
        return load_image_set(entries, size, class_names=class_names, what=what)
    path = (folder or cache_dir() / FOLDER) / f"{name}.npz"
    kept = _read(path, class_names)
    if kept is not None:
        touch(path)
        return kept
    image_set = load_image_set(entries, size, class_names=class_names, what=what)
    _write(path, image_set)
    return image_set


def _read(path: Path, class_names: tuple[str, ...]) -> ImageSet | None:
    try:
        with np.load(path, allow_pickle=False) as kept:
            images, labels = kept["images"], kept["labels"]
            sha256, skipped = str(kept["sha256"]), tuple(str(s) for s in kept["skipped"])
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    if hash_arrays(images, labels) != sha256:
        return None
    return ImageSet(images, labels, sha256, skipped, class_names)


def _write(path: Path, image_set: ImageSet) -> None:
    buffer = io.BytesIO()
    np.savez(
        buffer,
        images=image_set.images,
        labels=image_set.labels,
        sha256=np.array(image_set.sha256),
        skipped=np.array(image_set.skipped, dtype=str),
    )
    with contextlib.suppress(OutputError):  # a full or read-only cache folder: the next run decodes again
        atomic_write(path, buffer.getvalue())
