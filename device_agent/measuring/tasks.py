"""Task evidence gathered on the device while the evaluation runs: a segmenter's confusion matrix
against the masks, a detector's kept boxes, a landmark model's points.

The host scores the task from this evidence (mIoU, COCO mAP, pixel error), so what crosses the
wire stays small whatever the outputs' size: a 256x256 mask output is a 2x2 matrix of counts,
a YOLO head of 8400 candidates is at most MAX_DETECTIONS boxes. Each collector reads only the
output tensors the host named, batch by batch, with nothing growing but the evidence itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from device_agent.contract import DETECTION_FIELDS, MASK_IGNORE, EvalParams, TaskEvidence

MAX_DETECTIONS = 100  # per image: what COCO's AP counts (maxDets 100)
SCORE_FLOOR = 0.001  # a raw head's candidates under this score are dropped before NMS (Ultralytics' val default)
NMS_IOU = 0.7  # a candidate overlapping a better one of its class more than this is dropped (Ultralytics' val default)
MAX_EVIDENCE_BYTES = 48 << 20  # under the wire's 64 MB message limit, with room for the rest of the result


@dataclass(frozen=True)
class TaskOutput:
    """One output the task reads: its columns in a row of side-by-side outputs, and its shape."""

    name: str
    start: int
    stop: int
    shape: tuple[int, ...]

    def rows(self, outputs: np.ndarray) -> np.ndarray:
        return outputs[:, self.start : self.stop]


class Collector(Protocol):
    def add(self, outputs: np.ndarray, first_image: int) -> None: ...
    def evidence(self) -> TaskEvidence: ...


@dataclass
class SegmentCollector:
    """A confusion matrix of the mask's class against the predicted class, pixel by pixel. One
    channel is a binary mask (foreground where it is over 0.5), several are class scores."""

    output: TaskOutput
    masks: np.ndarray  # (images, height, width) uint8, memory-mapped
    classes: int
    confusion: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        if len(self.output.shape) != 4 or self.output.shape[0] != 1:
            raise ValueError(
                f"output {self.output.name} is {list(self.output.shape)}, not a [1, height, width, classes] mask"
            )
        if tuple(self.masks.shape[1:]) != tuple(self.output.shape[1:3]):
            raise ValueError(
                f"the masks are {tuple(self.masks.shape[1:])}, output {self.output.name} is {self.output.shape[1:3]}"
            )
        self.confusion = np.zeros((self.classes, self.classes), dtype=np.int64)

    def add(self, outputs: np.ndarray, first_image: int) -> None:
        height, width, channels = self.output.shape[1:]
        scores = self.output.rows(outputs).reshape(-1, height, width, channels)
        predicted = scores.argmax(axis=-1) if channels > 1 else (scores[..., 0] > 0.5).astype(np.int64)
        truth = np.asarray(self.masks[first_image : first_image + len(scores)], dtype=np.int64)
        if len(truth) != len(scores):
            raise ValueError(f"the masks file has {len(self.masks)} masks, the dataset more images")
        scored = truth != MASK_IGNORE
        cells = truth[scored] * self.classes + np.minimum(predicted[scored], self.classes - 1)
        self.confusion += np.bincount(cells, minlength=self.classes**2).reshape(self.classes, self.classes)

    def evidence(self) -> TaskEvidence:
        return TaskEvidence(task="segment", classes=self.classes, confusion=self.confusion.astype("<i8").tobytes())


@dataclass
class _Detections:
    """Kept detections as float32 rows, bounded by MAX_EVIDENCE_BYTES."""

    rows: list[np.ndarray] = field(default_factory=list)
    size: int = 0

    def keep(self, image: int, classes: np.ndarray, scores: np.ndarray, boxes: np.ndarray) -> None:
        order = np.argsort(-scores, kind="stable")[:MAX_DETECTIONS]
        block = np.empty((len(order), DETECTION_FIELDS), dtype="<f4")
        block[:, 0], block[:, 1], block[:, 2], block[:, 3:] = image, classes[order], scores[order], boxes[order]
        self.size += block.nbytes
        if self.size > MAX_EVIDENCE_BYTES:
            raise ValueError(f"the detections pass {MAX_EVIDENCE_BYTES >> 20} MB: evaluate fewer images (--limit)")
        self.rows.append(block)

    def evidence(self) -> TaskEvidence:
        data = np.concatenate(self.rows) if self.rows else np.empty((0, DETECTION_FIELDS), dtype="<f4")
        return TaskEvidence(task="detect", detections=data.tobytes())


@dataclass
class PostProcessCollector:
    """A model ending in TFLite's detection post-process op: boxes [1, N, 4] (ymin, xmin, ymax,
    xmax in fractions of the input), classes [1, N], scores [1, N] and the count [1], as the op
    writes them: the model already did its NMS."""

    boxes: TaskOutput
    classes: TaskOutput
    scores: TaskOutput
    count: TaskOutput
    found: _Detections = field(default_factory=_Detections)

    def add(self, outputs: np.ndarray, first_image: int) -> None:
        for i, row in enumerate(outputs):
            n = int(np.clip(self.count.rows(row[None])[0, 0], 0, self.scores.stop - self.scores.start))
            boxes = self.boxes.rows(row[None]).reshape(-1, 4)[:n]
            self.found.keep(
                first_image + i,
                self.classes.rows(row[None])[0, :n],
                self.scores.rows(row[None])[0, :n],
                np.clip(boxes, 0.0, 1.0),
            )

    def evidence(self) -> TaskEvidence:
        return self.found.evidence()


@dataclass
class RawHeadCollector:
    """A YOLO-style head ``[1, 4 + classes, candidates]`` (or transposed): centre x, centre y,
    width and height, then one score per class. Boxes in input pixels are scaled to fractions
    (coordinates all under 2 are taken as fractions already); candidates go through a per-class
    greedy NMS here, so only the kept boxes leave the device."""

    head: TaskOutput
    input_size: tuple[int, int]  # height, width
    found: _Detections = field(default_factory=_Detections)

    def __post_init__(self) -> None:
        shape = self.head.shape
        if len(shape) != 3 or shape[0] != 1 or min(shape[1:]) < 5:
            raise ValueError(
                f"output {self.head.name} is {list(shape)}, not a [1, 4 + classes, candidates] detection head"
            )

    def _candidates(self, row: np.ndarray) -> np.ndarray:
        _, a, b = self.head.shape
        grid = self.head.rows(row[None]).reshape(a, b)
        return grid.T if a < b else grid  # (candidates, 4 + classes)

    def add(self, outputs: np.ndarray, first_image: int) -> None:
        for i, row in enumerate(outputs):
            candidates = self._candidates(row)
            scores_all = candidates[:, 4:]
            classes, scores = scores_all.argmax(axis=1), scores_all.max(axis=1)
            keep = scores >= SCORE_FLOOR
            xywh, classes, scores = candidates[keep, :4].astype(np.float64), classes[keep], scores[keep]
            if len(xywh) and np.abs(xywh).max() > 2.0:
                xywh = xywh / np.array([self.input_size[1], self.input_size[0]] * 2)
            boxes = (
                np.stack(
                    [
                        xywh[:, 1] - xywh[:, 3] / 2,
                        xywh[:, 0] - xywh[:, 2] / 2,
                        xywh[:, 1] + xywh[:, 3] / 2,
                        xywh[:, 0] + xywh[:, 2] / 2,
                    ],
                    axis=1,
                )
                if len(xywh)
                else xywh
            )
            kept = nms(boxes, scores, classes, NMS_IOU)
            self.found.keep(first_image + i, classes[kept], scores[kept], np.clip(boxes[kept], 0.0, 1.0))

    def evidence(self) -> TaskEvidence:
        return self.found.evidence()


def nms(boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, iou: float) -> np.ndarray:
    """Indices kept by greedy per-class non-maximum suppression, best score first (boxes are
    ymin, xmin, ymax, xmax). Classes are kept apart by shifting each class's boxes far away."""
    if not len(boxes):
        return np.empty(0, dtype=np.int64)
    shifted = boxes + (classes.astype(np.float64) * 4.0)[:, None]
    areas = np.maximum(0.0, shifted[:, 2] - shifted[:, 0]) * np.maximum(0.0, shifted[:, 3] - shifted[:, 1])
    order = np.argsort(-scores, kind="stable")
    kept: list[int] = []
    while order.size and len(kept) < MAX_DETECTIONS:
        best, rest = order[0], order[1:]
        kept.append(int(best))
        top_left = np.maximum(shifted[best, :2], shifted[rest, :2])
        bottom_right = np.minimum(shifted[best, 2:], shifted[rest, 2:])
        overlap = np.prod(np.clip(bottom_right - top_left, 0.0, None), axis=1)
        union = areas[best] + areas[rest] - overlap
        order = rest[overlap <= iou * np.where(union > 0, union, 1.0)]
    return np.asarray(kept, dtype=np.int64)


@dataclass
class PointsCollector:
    """The keypoint output's values, row by row (x, y[, z, ...] per point, in input pixels)."""

    output: TaskOutput
    rows: list[np.ndarray] = field(default_factory=list)
    size: int = 0

    def add(self, outputs: np.ndarray, first_image: int) -> None:
        block = np.ascontiguousarray(self.output.rows(outputs), dtype="<f4")
        self.size += block.nbytes
        if self.size > MAX_EVIDENCE_BYTES:
            raise ValueError(
                f"the keypoint outputs pass {MAX_EVIDENCE_BYTES >> 20} MB: evaluate fewer images (--limit)"
            )
        self.rows.append(block)

    def evidence(self) -> TaskEvidence:
        values = self.output.stop - self.output.start
        data = np.concatenate(self.rows) if self.rows else np.empty((0, values), dtype="<f4")
        return TaskEvidence(task="keypoints", points=data.tobytes(), values=values)


def collector(
    params: EvalParams, outputs: dict[str, TaskOutput], input_size: tuple[int, int], masks: Path | None
) -> Collector | None:
    """The collector ``params`` asks for, reading the outputs it names; None for no task."""
    if not params.task:
        return None
    missing = [name for name in params.task_outputs if name not in outputs]
    if missing or not params.task_outputs:
        raise ValueError(
            f"task {params.task} reads outputs {list(params.task_outputs)}; the model has {sorted(outputs)}"
        )
    named = [outputs[name] for name in params.task_outputs]
    if params.task == "segment":
        if masks is None or params.task_classes < 1:
            raise ValueError("a segment task needs the masks file and their number of classes")
        return SegmentCollector(named[0], np.load(masks, mmap_mode="r", allow_pickle=False), params.task_classes)
    if params.task == "detect" and len(named) == 4:
        boxes, classes, scores, count = named
        return PostProcessCollector(boxes, classes, scores, count)
    if params.task == "detect" and len(named) == 1:
        return RawHeadCollector(named[0], input_size)
    if params.task == "keypoints" and len(named) == 1:
        return PointsCollector(named[0])
    raise ValueError(f"task {params.task!r} with {len(named)} output(s) is not one this agent gathers")
