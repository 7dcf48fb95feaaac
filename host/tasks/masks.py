"""Segmentation masks packed for the device at the mask output's resolution, in evaluation order.

Each PNG is read as class indices (a palette PNG's indices, a grey PNG's values), resized with
nearest-neighbour (a class never blends into another), and written into one uint8 ``.npy`` of
``(images, height, width)`` mask by mask, so host memory holds one mask at a time. The file is
named by its sha256 like every file the agent stores; the device memory-maps it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
from numpy.lib.format import open_memmap
from PIL import Image, UnidentifiedImageError

from device_agent.contract import MASK_IGNORE
from host.data.images import ImageEntry
from host.errors import DatasetError
from host.hashing import sha256_file
from host.tasks.labels import MaskFolder


def read_mask(path: Path, size: tuple[int, int], classes: int) -> np.ndarray:
    """One mask as (height, width) class indices; values past the model's classes are refused."""
    try:
        with Image.open(path) as image:
            if image.mode not in ("P", "L", "1", "I", "I;16"):
                raise DatasetError(
                    f"{path} is a {image.mode} image; a mask is one channel of class indices (palette or grey)"
                )
            indexed = image if image.mode in ("P", "L") else image.convert("L")
            resized = indexed.resize((size[1], size[0]), Image.Resampling.NEAREST)
            values = np.asarray(resized, dtype=np.uint8)
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError) as e:
        raise DatasetError(f"cannot read mask {path}: {str(e)[:120]}") from e
    bad = values[(values >= classes) & (values != MASK_IGNORE)]
    if bad.size:
        raise DatasetError(
            f"{path} has class {int(bad.max())}, but the model's mask output has {classes} classes "
            f"(0..{classes - 1}; {MASK_IGNORE} is not scored)"
        )
    return values


def pack_masks(
    masks: MaskFolder, evaluated: list[ImageEntry], size: tuple[int, int], classes: int, folder: Path
) -> tuple[Path, str]:
    """The masks of ``evaluated`` at ``size`` (height, width): the packed file and its sha256."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".masks-{os.getpid()}-{time.monotonic_ns()}.npy"
    try:
        packed = open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(len(evaluated), size[0], size[1]))
        for i, entry in enumerate(evaluated):
            packed[i] = read_mask(masks.mask_for(entry.path), size, classes)
        packed.flush()
        del packed
        sha = sha256_file(tmp)
        target = folder / f"masks-{sha}.npy"
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target, sha
