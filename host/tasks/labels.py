"""Labels that score a task other than classification, read and checked before any device work.

``--labels`` names them by form: a folder of PNG masks (segmentation: one ``<image stem>.png``
per image, each pixel its class, 255 not scored), a COCO-format annotations JSON (detection:
``images``, ``annotations`` with ``bbox`` [x, y, width, height] in the image's pixels, and
``categories``), or a keypoints JSON (``{"image file name": [[x, y], ...]}`` in the image's
pixels, ``null`` for a point that is not visible). A text file is a classification labels file
(``host.data.datasets``), as it always was.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from host.codec import JsonObject
from host.data.images import ImageEntry
from host.errors import DatasetError

MAX_LABELS_BYTES = 512 << 20  # an annotations file past this is refused before it is parsed


@dataclass(frozen=True)
class MaskFolder:
    """Segmentation: a PNG mask per image, found by the image's stem."""

    path: Path

    def mask_for(self, image: Path) -> Path:
        mask = self.path / f"{image.stem}.png"
        if not mask.is_file():
            raise DatasetError(f"no mask for {image.name}: expected {mask}")
        return mask


@dataclass(frozen=True)
class CocoAnnotations:
    """Detection: the COCO dataset dict (pycocotools reads it as it is)."""

    path: Path
    data: JsonObject

    def image_ids(self) -> dict[str, int]:
        """COCO image id by file name (the base name: COCO's file_name carries no folder)."""
        return {Path(str(image["file_name"])).name: int(image["id"]) for image in self.data["images"]}

    def category_ids(self) -> list[int]:
        """Category ids in id order: a model's class c is the c-th of them (plus --label-offset)."""
        return sorted(int(c["id"]) for c in self.data["categories"])


@dataclass(frozen=True)
class PointsFile:
    """Keypoints: (points, 2) float arrays by image file name, NaN where a point is not given."""

    path: Path
    points: dict[str, np.ndarray]

    @property
    def count(self) -> int:
        return len(next(iter(self.points.values())))


TaskLabels = MaskFolder | CocoAnnotations | PointsFile


def is_task_labels(path: Path | None) -> bool:
    """Whether ``--labels`` names task labels (a folder or a JSON) rather than a class index file."""
    return path is not None and (path.is_dir() or path.suffix.lower() == ".json")


def read_task_labels(path: Path) -> TaskLabels:
    if path.is_dir():
        if not any(p.suffix.lower() == ".png" for p in path.iterdir()):
            raise DatasetError(f"{path} holds no PNG masks (one <image stem>.png per image, each pixel its class)")
        return MaskFolder(path)
    data = _read_json(path)
    if isinstance(data, dict) and {"images", "annotations", "categories"} <= data.keys():
        return _coco(path, data)
    if isinstance(data, dict) and data and all(isinstance(v, list | None) for v in data.values()):
        return _points(path, data)
    raise DatasetError(
        f"{path} is neither COCO annotations (images, annotations, categories) nor keypoints "
        '({"image.jpg": [[x, y], ...]})'
    )


def _read_json(path: Path) -> Any:
    try:
        if not path.is_file():
            raise DatasetError(f"{path} is not a regular file")
        if path.stat().st_size > MAX_LABELS_BYTES:
            raise DatasetError(f"{path} is over {MAX_LABELS_BYTES >> 20} MB")
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as e:
        raise DatasetError(f"cannot read {path}: {str(e)[:160]}") from e


def _coco(path: Path, data: JsonObject) -> CocoAnnotations:
    try:
        images = {int(image["id"]) for image in data["images"]}
        categories = {int(c["id"]) for c in data["categories"]}
        for i, ann in enumerate(data["annotations"]):
            box = [float(v) for v in ann["bbox"]]
            if len(box) != 4 or not np.all(np.isfinite(box)) or box[2] < 0 or box[3] < 0:
                raise DatasetError(f"{path}: annotation {i} has bbox {ann['bbox']}, not [x, y, width, height]")
            if int(ann["image_id"]) not in images or int(ann["category_id"]) not in categories:
                raise DatasetError(
                    f"{path}: annotation {i} names image {ann['image_id']} or category {ann['category_id']}, "
                    "which the file does not list"
                )
            ann.setdefault("area", box[2] * box[3])
            ann.setdefault("iscrowd", 0)
            ann.setdefault("id", i + 1)
    except (KeyError, TypeError, ValueError) as e:
        raise DatasetError(f"{path}: not COCO annotations ({type(e).__name__}: {str(e)[:80]})") from e
    if not categories:
        raise DatasetError(f"{path} lists no categories")
    return CocoAnnotations(path, data)


def _points(path: Path, data: JsonObject) -> PointsFile:
    points: dict[str, np.ndarray] = {}
    for name, listed in data.items():
        try:
            array = np.array(
                [[np.nan, np.nan] if p is None else [float(p[0]), float(p[1])] for p in listed or []], dtype=np.float64
            )
        except (TypeError, ValueError, IndexError) as e:
            raise DatasetError(f"{path}: the points of {name!r} are not [[x, y], ...]") from e
        points[Path(name).name] = array.reshape(-1, 2)
    counts = {len(p) for p in points.values()}
    if len(counts) != 1 or 0 in counts:
        raise DatasetError(f"{path}: every image needs the same number of points (found {sorted(counts)})")
    return PointsFile(path, points)


def check_covers(labels: TaskLabels, pool: tuple[ImageEntry, ...], evaluated: tuple[ImageEntry, ...]) -> None:
    """Labels for images that are not in the folder, or evaluated images without labels: refused,
    named, before any device work (a mask is checked when it is packed)."""
    names = {e.path.name for e in pool}
    if isinstance(labels, CocoAnnotations):
        listed = labels.image_ids()
        annotated = {int(a["image_id"]) for a in labels.data["annotations"]}
        absent = sorted(name for name, image_id in listed.items() if image_id in annotated and name not in names)
        unlisted = [e.path.name for e in evaluated if e.path.name not in listed]
    elif isinstance(labels, PointsFile):
        absent = sorted(name for name in labels.points if name not in names)
        unlisted = [e.path.name for e in evaluated if e.path.name not in labels.points]
    else:
        return
    if absent:
        raise DatasetError(
            f"{labels.path} labels {len(absent)} image(s) that are not in the dataset folder, first {absent[0]!r}"
        )
    if unlisted:
        raise DatasetError(f"{labels.path} has no entry for {len(unlisted)} evaluated image(s), first {unlisted[0]!r}")
