"""A task's quality from the device's evidence: mIoU, COCO mAP, keypoint error.

Detection uses ``pycocotools`` (COCOeval, ``bbox``): the reference every detection paper's
mAP@0.5:0.95 and mAP@0.5 come from. Segmentation's mIoU and pixel accuracy come from the
confusion matrix (per class: intersection over union, classes no pixel names or predicts left
out), as mmsegmentation and torchmetrics compute them. Keypoints: mean distance in the model's
input pixels and PCK@0.05 (within 5% of the input's longer side).
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass

import numpy as np

from device_agent.contract import DETECTION_FIELDS, TaskEvidence
from host.codec import JsonObject
from host.results import TaskMetrics
from host.tasks.labels import CocoAnnotations, PointsFile

PCK_FRACTION = 0.05


def segment_metrics(evidence: TaskEvidence, images: int) -> TaskMetrics:
    classes = evidence.classes
    confusion = np.frombuffer(evidence.confusion, dtype="<i8").reshape(classes, classes).astype(np.float64)
    return _segment(confusion, images)


def _segment(confusion: np.ndarray, images: int) -> TaskMetrics:
    hits = np.diag(confusion)
    union = confusion.sum(axis=0) + confusion.sum(axis=1) - hits
    present = union > 0
    miou = float((hits[present] / union[present]).mean()) if present.any() else 0.0
    pixels = confusion.sum()
    accuracy = float(hits.sum() / pixels) if pixels else 0.0
    return TaskMetrics("segment", "mIoU", miou, images, mean_iou=miou, pixel_accuracy=accuracy)


@dataclass(frozen=True)
class DetectionImages:
    """The evaluated images in order: their COCO ids and their sizes (width, height) in pixels."""

    ids: tuple[int, ...]
    sizes: tuple[tuple[int, int], ...]


def detect_metrics(
    evidence: TaskEvidence, labels: CocoAnnotations, images: DetectionImages, label_offset: int
) -> TaskMetrics:
    rows = np.frombuffer(evidence.detections, dtype="<f4").reshape(-1, DETECTION_FIELDS)
    results = coco_results(rows, labels.category_ids(), images, label_offset)
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress and its table
        stats = _coco_stats(labels.data, results, list(images.ids))
    return TaskMetrics(
        "detect",
        "mAP@0.5:0.95",
        max(0.0, stats[0]),
        len(images.ids),
        map_50_95=max(0.0, stats[0]),
        map_50=max(0.0, stats[1]),
        detections=len(results),
    )


def coco_results(
    rows: np.ndarray, categories: list[int], images: DetectionImages, label_offset: int
) -> list[JsonObject]:
    """Detections as COCO results: boxes from fractions of the model's input to the image's pixels
    (the evaluation resizes the whole image, so a fraction of the input is a fraction of the image);
    a class with no category (past the list) is dropped."""
    results = []
    for image, cls, score, ymin, xmin, ymax, xmax in rows.tolist():
        category = int(cls) + label_offset
        if not 0 <= category < len(categories) or not 0 <= int(image) < len(images.ids):
            continue
        width, height = images.sizes[int(image)]
        box = [xmin * width, ymin * height, max(0.0, xmax - xmin) * width, max(0.0, ymax - ymin) * height]
        results.append(
            {
                "image_id": images.ids[int(image)],
                "category_id": categories[category],
                "bbox": box,
                "score": float(score),
            }
        )
    return results


def _coco_stats(dataset: JsonObject, results: list[JsonObject], image_ids: list[int]) -> list[float]:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    truth = COCO()
    truth.dataset = dataset
    truth.createIndex()
    if not results:
        return [0.0] * 12
    found = truth.loadRes(results)
    evaluation = COCOeval(truth, found, "bbox")
    evaluation.params.imgIds = image_ids
    evaluation.evaluate()
    evaluation.accumulate()
    evaluation.summarize()
    return [float(v) for v in evaluation.stats]


def keypoint_metrics(evidence: TaskEvidence, truth: np.ndarray, input_size: tuple[int, int]) -> TaskMetrics:
    """``truth`` is (images, points, 2) in the model's input pixels, NaN where not given."""
    images, points = truth.shape[:2]
    predicted = np.frombuffer(evidence.points, dtype="<f4").reshape(images, points, -1)[:, :, :2].astype(np.float64)
    given = ~np.isnan(truth).any(axis=2)
    error = np.linalg.norm(predicted - truth, axis=2)[given]
    pck = float((error <= PCK_FRACTION * max(input_size)).mean())
    return TaskMetrics("keypoints", "PCK@0.05", pck, images, mean_error_px=float(error.mean()), pck=pck)


def points_in_input(
    labels: PointsFile, names: list[str], sizes: list[tuple[int, int]], input_size: tuple[int, int]
) -> np.ndarray:
    """Each evaluated image's points moved from its own pixels to the model's input pixels."""
    height, width = input_size
    scale = np.array([[width / w, height / h] for w, h in sizes], dtype=np.float64)[:, None, :]
    return np.stack([labels.points[name] for name in names]) * scale
