"""Image folders to uint8 NHWC arrays, resized once on the host.

Two layouts are read: class subfolders (``root/<class>/<image>``, labels are the sorted folder
index) and a flat folder (``root/<image>``, unlabelled unless a labels file says otherwise).
Every image becomes 3-channel RGB whatever its mode (grayscale, RGBA, palette, CMYK); files that
cannot be decoded are skipped and counted, never fatal, unless nothing readable is left.
"""

from __future__ import annotations

import hashlib
import json
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from host.errors import DatasetError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".jfif"})


@dataclass(frozen=True)
class ImageEntry:
    path: Path
    label: int  # -1 when unknown
    origin: str = ""  # where the label came from ("labels.txt line 17", "folder cat"), for messages


@dataclass(frozen=True)
class ImageListing:
    """The images of a folder in a deterministic order, with class names when known."""

    root: Path
    entries: tuple[ImageEntry, ...]
    class_names: tuple[str, ...] = ()


@dataclass(frozen=True)
class ImageSet:
    """Decoded images (uint8 NHWC), their labels, and a content hash over both."""

    images: np.ndarray
    labels: np.ndarray
    sha256: str
    skipped: tuple[str, ...] = field(default=())
    class_names: tuple[str, ...] = ()

    @property
    def count(self) -> int:
        return int(self.images.shape[0])


def _is_image(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def list_images(root: Path | str) -> ImageListing:
    """List a folder's images: class subfolders (all of them, empty ones too) if any has images, else flat files."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"image folder {root} does not exist or is not a folder")
    subdirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    # every class folder keeps its index (as Keras' image_dataset_from_directory numbers them): an
    # empty one skipped would shift the label of every class after it
    class_dirs = subdirs if any(_is_image(f) for d in subdirs for f in d.iterdir()) else []
    if class_dirs:
        entries = [
            ImageEntry(f, label, f"class folder {d.name!r}")
            for label, d in enumerate(class_dirs)
            for f in sorted(d.iterdir())
            if _is_image(f)
        ]
        listing = ImageListing(root, tuple(entries), tuple(d.name for d in class_dirs))
    else:
        listing = ImageListing(root, tuple(ImageEntry(f, -1) for f in sorted(root.iterdir()) if _is_image(f)))
    if not listing.entries:
        raise DatasetError(
            f"no images in {root}: expected image files ({', '.join(sorted(IMAGE_SUFFIXES))}) "
            "directly in it or in one subfolder per class"
        )
    return listing


def decode_rgb(path: Path, size: tuple[int, int], crop_fraction: float = 1.0) -> np.ndarray | None:
    """Decode one image to uint8 RGB of ``size`` (height, width); None if it cannot be read.

    ``crop_fraction`` < 1 takes a central crop first (0.875 is the ImageNet evaluation custom). A JPEG is
    decoded at the smallest 1/2^k scale that still covers the crop at ``size`` (Pillow's ``draft``),
    which makes a 500x375 photo for a 224x224 model several times cheaper to decode.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # an image past Pillow's pixel limit (a decompression bomb: a small file that decodes to
            # gigabytes) is an unreadable image like any other, never a traceback or a full decode
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                if img.format == "JPEG":  # let the decoder scale by 1/2, 1/4 or 1/8 first: far less to decode
                    img.draft(img.mode, (math.ceil(size[1] / crop_fraction), math.ceil(size[0] / crop_fraction)))
                img.load()
                if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
                    rgba = img.convert("RGBA")
                    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                    img = Image.alpha_composite(background, rgba)
                rgb: Image.Image = img.convert("RGB")
    except (
        OSError,
        UnidentifiedImageError,
        ValueError,
        SyntaxError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
    ):
        return None
    if crop_fraction < 1.0:
        w, h = rgb.size
        cw, ch = max(1, round(w * crop_fraction)), max(1, round(h * crop_fraction))
        left, top = (w - cw) // 2, (h - ch) // 2
        rgb = rgb.crop((left, top, left + cw, top + ch))
    height, width = size
    if rgb.size != (width, height):
        rgb = rgb.resize((width, height), Image.Resampling.BILINEAR)
    return np.asarray(rgb, dtype=np.uint8)


def load_image_set(
    entries: tuple[ImageEntry, ...] | list[ImageEntry],
    size: tuple[int, int],
    *,
    crop_fraction: float = 1.0,
    class_names: tuple[str, ...] = (),
    what: str = "images",
) -> ImageSet:
    """Decode entries into one array; skip unreadable files; refuse an empty result."""
    arrays: list[np.ndarray] = []
    labels: list[int] = []
    skipped: list[str] = []
    for entry in entries:
        pixels = decode_rgb(entry.path, size, crop_fraction)
        if pixels is None:
            skipped.append(str(entry.path))
            continue
        arrays.append(pixels)
        labels.append(entry.label)
    if not arrays:
        where = entries[0].path.parent if entries else "the folder"
        raise DatasetError(f"no readable {what} in {where}: {len(skipped)} file(s) could not be decoded")
    images = np.stack(arrays)
    label_array = np.asarray(labels, dtype=np.int32)
    return ImageSet(images, label_array, hash_arrays(images, label_array), tuple(skipped), class_names)


def source_digest(header: dict[str, object], entries: tuple[ImageEntry, ...] | list[ImageEntry]) -> str:
    """Names what images are made from without reading them: ``header`` (the size, a format
    version) and the ordered source files by path, size, mtime and label. A file edited or
    replaced gets a new mtime, so the name changes with it."""
    digest = hashlib.sha256(json.dumps(header).encode())
    for entry in entries:
        st = entry.path.stat()
        digest.update(f"{entry.path}\0{st.st_size}\0{st.st_mtime_ns}\0{entry.label}\n".encode())
    return digest.hexdigest()


def hash_arrays(*arrays: np.ndarray) -> str:
    """Content hash of arrays including their shapes and dtypes."""
    digest = hashlib.sha256()
    for array in arrays:
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def load_folder(
    root: Path | str, size: tuple[int, int], *, count: int | None = None, offset: int = 0, crop_fraction: float = 1.0
) -> ImageSet:
    """Load ``count`` images of a folder starting at ``offset`` in its deterministic order."""
    listing = list_images(root)
    entries = listing.entries[offset:] if count is None else listing.entries[offset : offset + count]
    if not entries:
        raise DatasetError(f"{root} has {len(listing.entries)} images, none left after skipping {offset}")
    return load_image_set(entries, size, crop_fraction=crop_fraction, class_names=listing.class_names)


def round_robin(entries: tuple[ImageEntry, ...]) -> tuple[ImageEntry, ...]:
    """Interleave classes (first of each class, then second of each, ...), order otherwise kept.

    A calibration or evaluation slice taken from the front then covers every class instead of
    only the first folders.
    """
    by_label: dict[int, list[ImageEntry]] = {}
    for entry in entries:
        by_label.setdefault(entry.label, []).append(entry)
    queues = [by_label[label] for label in sorted(by_label)]
    longest = max((len(q) for q in queues), default=0)
    return tuple(q[i] for i in range(longest) for q in queues if i < len(q))
