"""A bench's task from labels to scores: what each cell asks the device to gather, and the score.

Made in two steps like the rest of a bench's inputs: ``choose`` before any device starts (the
labels read and checked against the folder), ``prepare`` once the builds exist and the images
are packed (the outputs each build's task reads, the masks packed beside the images, the
labels lined up with the images the device evaluates).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from PIL import Image

from device_agent.contract import TaskEvidence
from host.data.images import ImageEntry
from host.errors import DatasetError
from host.results import TaskMetrics
from host.tasks.fit import ModelOutputs, TaskName, chosen_task, model_outputs, segment_geometry, task_outputs
from host.tasks.labels import (
    CocoAnnotations,
    MaskFolder,
    PointsFile,
    TaskLabels,
    check_covers,
    is_task_labels,
    read_task_labels,
)
from host.tasks.masks import pack_masks
from host.tasks.metrics import DetectionImages, detect_metrics, keypoint_metrics, points_in_input, segment_metrics


@dataclass(frozen=True)
class TaskPlan:
    task: TaskName
    how: str  # how it was chosen, said in the run's notes
    labels: TaskLabels | None = None
    outputs: dict[str, tuple[str, ...]] = field(default_factory=dict)  # build sha256 -> the outputs its task reads
    masks: tuple[Path, str] | None = None  # segment: the packed masks and their sha256
    classes: int = 0
    input_size: tuple[int, int] = (0, 0)
    label_offset: int = 0
    detection_images: DetectionImages | None = None
    points: np.ndarray | None = None  # keypoints: (images, points, 2) in the model's input pixels
    postprocess: dict[str, tuple[str, ...]] = field(
        default_factory=dict
    )  # build sha256 -> its post-process op's outputs

    @property
    def scored(self) -> bool:
        """Whether cells gather evidence for the host to score (segment, detect, keypoints)."""
        return self.task in ("segment", "detect", "keypoints")

    def score(self, evidence: TaskEvidence | None, images: int) -> TaskMetrics | None:
        """The cell's task metric; None when the cell gathered no evidence (it did not evaluate)."""
        if evidence is None or not self.scored or evidence.task != self.task:
            return None
        if self.task == "segment":
            return segment_metrics(evidence, images)
        if self.task == "detect":
            assert isinstance(self.labels, CocoAnnotations) and self.detection_images is not None
            return detect_metrics(evidence, self.labels, self.detection_images, self.label_offset)
        assert self.points is not None
        return keypoint_metrics(evidence, self.points, self.input_size)


def choose(
    asked: str,
    labels_path: Path | None,
    class_labels: bool,
    crop: float,
    pool: tuple[ImageEntry, ...] = (),
    evaluated: tuple[ImageEntry, ...] = (),
) -> TaskPlan:
    """The task and its labels, read and checked against the image folder: no device is needed."""
    labels = read_task_labels(labels_path) if labels_path is not None and is_task_labels(labels_path) else None
    task, how = chosen_task(asked, labels, class_labels)
    if task in ("segment", "detect", "keypoints"):
        if crop < 1.0:
            raise DatasetError(
                f"--crop {crop:g} cuts the image the {task} labels describe: it is for classification only"
            )
        if labels is None:
            raise DatasetError(f"--task {task} needs its labels (--labels)")
        check_covers(labels, pool, evaluated)
    return TaskPlan(task, how, labels if task != "none" else None)


def prepare(
    plan: TaskPlan,
    builds: dict[str, Path],
    evaluated: list[ImageEntry],
    input_size: tuple[int, int],
    label_offset: int,
    folder: Path,
) -> TaskPlan:
    """The plan with each build's outputs and the labels lined up with ``evaluated`` (the images
    the device runs, in its order). The first build must fit; a later build that does not is
    left unscored, never refused. Every build ending in the detection post-process op is named
    whatever the task: the agent zeroes the rows that op leaves unwritten."""
    if not builds:
        return plan
    shapes = {sha: model_outputs(path.read_bytes()) for sha, path in builds.items()}  # one build in memory at a time
    plan = replace(plan, postprocess={sha: facts.postprocess for sha, facts in shapes.items() if facts.postprocess})
    if not plan.scored:
        return plan
    first = next(iter(shapes.values()))
    task_outputs(plan.task, first, plan.labels)  # raises, naming the outputs, when the labels do not fit
    outputs = {sha: _fitting(plan, facts) for sha, facts in shapes.items()}
    plan = replace(
        plan,
        outputs={sha: names for sha, names in outputs.items() if names},
        input_size=input_size,
        label_offset=label_offset,
    )
    if isinstance(plan.labels, MaskFolder):
        height, width, classes = segment_geometry(first)
        return replace(
            plan, classes=classes, masks=pack_masks(plan.labels, evaluated, (height, width), classes, folder)
        )
    sizes = [_image_size(e.path) for e in evaluated]
    if isinstance(plan.labels, CocoAnnotations):
        ids = plan.labels.image_ids()
        return replace(plan, detection_images=DetectionImages(tuple(ids[e.path.name] for e in evaluated), tuple(sizes)))
    assert isinstance(plan.labels, PointsFile)
    points = points_in_input(plan.labels, [e.path.name for e in evaluated], sizes, input_size)
    if np.isnan(points).any(axis=2).all():
        raise DatasetError(f"{plan.labels.path} gives no point for any evaluated image")
    return replace(plan, points=points)


def _fitting(plan: TaskPlan, facts: ModelOutputs) -> tuple[str, ...]:
    try:
        return task_outputs(plan.task, facts, plan.labels)
    except DatasetError:
        return ()


def _image_size(path: Path) -> tuple[int, int]:
    """(width, height) from the file's header, without decoding it."""
    try:
        with Image.open(path) as image:
            width, height = image.size
            return int(width), int(height)
    except (OSError, ValueError) as e:
        raise DatasetError(f"cannot read the size of {path}: {e}") from e
