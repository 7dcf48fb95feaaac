"""Task metrics: the device's evidence (confusion matrix, kept detections, points) and the host's
scores from it (mIoU, COCO mAP with pycocotools, PCK), against cases with known answers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from device_agent.contract import DETECTION_FIELDS, EvalParams, TaskEvidence
from device_agent.measuring.tasks import (
    PostProcessCollector,
    RawHeadCollector,
    SegmentCollector,
    TaskOutput,
    collector,
    nms,
)
from host.data.images import ImageEntry
from host.errors import DatasetError
from host.tasks.fit import chosen_task
from host.tasks.labels import CocoAnnotations, PointsFile, check_covers, read_task_labels
from host.tasks.masks import read_mask
from host.tasks.metrics import DetectionImages, detect_metrics, keypoint_metrics, segment_metrics


def test_miou_and_pixel_accuracy_of_a_case_with_a_known_answer():
    # 2 images of 2x2 pixels, 3 classes; class 2 is never in a mask nor predicted: left out of the mean
    masks = np.array([[[0, 0], [1, 1]], [[0, 1], [1, 255]]], dtype=np.uint8)
    scores = np.zeros((2, 2, 2, 3), dtype=np.float32)
    predicted = np.array([[[0, 1], [1, 1]], [[0, 1], [0, 0]]])
    np.put_along_axis(scores, predicted[..., None], 1.0, axis=-1)
    seg = SegmentCollector(TaskOutput("mask", 0, 12, (1, 2, 2, 3)), masks, 3)
    seg.add(scores.reshape(2, -1), 0)
    # 7 pixels scored (the 255 one is not). Class 0: 3 in the masks, 3 predicted, 2 right -> IoU 2 / (3 + 3 - 2);
    # class 1: 4 in the masks, 4 predicted, 3 right -> IoU 3 / (4 + 4 - 3)
    metrics = segment_metrics(seg.evidence(), 2)
    assert metrics.mean_iou == pytest.approx((2 / 4 + 3 / 5) / 2)
    assert metrics.pixel_accuracy == pytest.approx(5 / 7)
    assert metrics.metric == "mIoU" and metrics.value == metrics.mean_iou


def test_a_one_channel_mask_is_foreground_over_one_half():
    masks = np.array([[[1, 0]]], dtype=np.uint8)
    seg = SegmentCollector(TaskOutput("mask", 0, 2, (1, 1, 2, 1)), masks, 2)
    seg.add(np.array([[0.9, 0.2]], dtype=np.float32), 0)
    assert segment_metrics(seg.evidence(), 1).mean_iou == 1.0


def _coco(tmp_path: Path) -> CocoAnnotations:
    data = {
        "images": [{"id": 7, "file_name": "a.jpg", "width": 200, "height": 100}],
        "annotations": [{"id": 1, "image_id": 7, "category_id": 3, "bbox": [20, 10, 100, 50]}],
        "categories": [{"id": 3, "name": "cat"}, {"id": 5, "name": "dog"}],
    }
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(data))
    labels = read_task_labels(path)
    assert isinstance(labels, CocoAnnotations)
    return labels


def _one_detection(xmin: float, ymin: float, xmax: float, ymax: float, cls: int = 0) -> TaskEvidence:
    row = np.array([[0, cls, 0.9, ymin, xmin, ymax, xmax]], dtype="<f4")
    assert row.shape[1] == DETECTION_FIELDS
    return TaskEvidence(task="detect", detections=row.tobytes())


def test_coco_map_of_an_exact_box_is_one_and_of_a_shifted_box_counts_the_thresholds_it_clears(tmp_path):
    labels = _coco(tmp_path)
    images = DetectionImages((7,), ((200, 100),))
    exact = detect_metrics(_one_detection(20 / 200, 10 / 100, 120 / 200, 60 / 100), labels, images, 0)
    assert exact.map_50_95 == pytest.approx(1.0) and exact.map_50 == pytest.approx(1.0)
    # the same box 20 px wider to the right: IoU = 5000 / 6000 = 0.83 clears 0.5 .. 0.8 (7 of 10 thresholds)
    wider = detect_metrics(_one_detection(20 / 200, 10 / 100, 140 / 200, 60 / 100), labels, images, 0)
    assert wider.map_50 == pytest.approx(1.0)
    assert wider.map_50_95 == pytest.approx(0.7)
    # the right box with the wrong class (the second category): nothing found
    wrong = detect_metrics(_one_detection(20 / 200, 10 / 100, 120 / 200, 60 / 100, cls=1), labels, images, 0)
    assert wrong.map_50 == 0.0


def test_no_detection_at_all_scores_zero(tmp_path):
    metrics = detect_metrics(TaskEvidence(task="detect"), _coco(tmp_path), DetectionImages((7,), ((200, 100),)), 0)
    assert metrics.value == 0.0 and metrics.detections == 0


def test_nms_keeps_the_best_of_overlapping_boxes_per_class():
    boxes = np.array([[0, 0, 1, 1], [0, 0, 1, 0.95], [0, 0, 1, 1], [2, 2, 3, 3]], dtype=np.float64)
    scores = np.array([0.9, 0.8, 0.7, 0.6])
    classes = np.array([0, 0, 1, 0])
    assert nms(boxes, scores, classes, 0.7).tolist() == [0, 2, 3]


def test_a_yolo_head_in_input_pixels_becomes_boxes_in_fractions_after_nms():
    # [1, 4 + 2 classes, 8 candidates]: two overlapping class-1 boxes, one under the score floor, five with no score
    head = np.zeros((6, 8), dtype=np.float32)
    head[:, :3] = [[50, 52, 10], [40, 40, 10], [20, 20, 4], [40, 40, 4], [0.0, 0.0, 0.0], [0.8, 0.6, 0.0005]]
    raw = RawHeadCollector(TaskOutput("head", 0, head.size, (1, 6, 8)), (80, 100))
    raw.add(head.reshape(1, -1), 5)
    rows = np.frombuffer(raw.evidence().detections, dtype="<f4").reshape(-1, DETECTION_FIELDS)
    assert rows.shape == (1, DETECTION_FIELDS)
    image, cls, score, ymin, xmin, ymax, xmax = rows[0]
    assert (image, cls) == (5, 1) and score == pytest.approx(0.8)
    assert (ymin, xmin, ymax, xmax) == pytest.approx((20 / 80, 40 / 100, 60 / 80, 60 / 100))


def test_the_post_process_outputs_are_read_up_to_their_count():
    boxes = np.array([[0.1, 0.2, 0.3, 0.4], [0.5, 0.5, 0.6, 0.6], [0, 0, 1, 1]], dtype=np.float32)
    row = np.concatenate([boxes.ravel(), [3, 1, 0], [0.9, 0.4, 0.3], [2]]).astype(np.float32)
    post = PostProcessCollector(
        TaskOutput("boxes", 0, 12, (1, 3, 4)),
        TaskOutput("classes", 12, 15, (1, 3)),
        TaskOutput("scores", 15, 18, (1, 3)),
        TaskOutput("count", 18, 19, (1,)),
    )
    post.add(row[None], 0)
    rows = np.frombuffer(post.evidence().detections, dtype="<f4").reshape(-1, DETECTION_FIELDS)
    assert rows[:, 1].tolist() == [3, 1] and rows[0, 3:].tolist() == pytest.approx([0.1, 0.2, 0.3, 0.4])


def test_the_collector_refuses_outputs_the_model_does_not_have():
    params = EvalParams(dataset_sha256="x", task="keypoints", task_outputs=("landmarks",))
    with pytest.raises(ValueError, match="landmarks"):
        collector(params, {"other": TaskOutput("other", 0, 4, (1, 4))}, (8, 8), None)


def test_keypoint_error_and_pck_in_input_pixels():
    truth = np.array([[[10.0, 10.0], [20.0, 20.0], [np.nan, np.nan]]])  # 1 image, 3 points, one not given
    predicted = np.array([[13.0, 14.0, 0.0, 20.0, 20.0, 0.0, 99.0, 99.0, 0.0]], dtype="<f4")  # x, y, z per point
    metrics = keypoint_metrics(TaskEvidence(task="keypoints", points=predicted.tobytes(), values=9), truth, (100, 100))
    assert metrics.mean_error_px == pytest.approx(2.5)  # 5 px and 0 px
    assert metrics.pck == pytest.approx(1.0)  # both within 5 px (5% of 100)
    tight = keypoint_metrics(TaskEvidence(task="keypoints", points=predicted.tobytes(), values=9), truth, (60, 60))
    assert tight.pck == pytest.approx(0.5)  # 3 px: only the exact point


def test_labels_the_model_cannot_take_and_tasks_the_labels_contradict_are_refused(tmp_path):
    with pytest.raises(DatasetError, match="--task detect needs COCO annotations"):
        chosen_task("detect", None, class_labels=True)
    assert chosen_task("auto", None, class_labels=False)[0] == "none"
    points = tmp_path / "points.json"
    points.write_text(json.dumps({"a.jpg": [[1, 2], None], "b.jpg": [[3, 4], [5, 6]]}))
    labels = read_task_labels(points)
    assert isinstance(labels, PointsFile) and labels.count == 2
    assert chosen_task("auto", labels, class_labels=False)[0] == "keypoints"
    pool = (ImageEntry(tmp_path / "a.jpg", -1),)
    with pytest.raises(DatasetError, match="not in the dataset folder, first 'b.jpg'"):
        check_covers(labels, pool, pool)


@pytest.mark.parametrize(
    "content, match",
    [
        (
            '{"images": [], "annotations": [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1]}], "categories": '
            '[{"id": 1}]}',
            "does not list",
        ),
        (
            '{"images": [{"id": 1, "file_name": "a.jpg"}], "annotations": [{"image_id": 1, "category_id": 1, "bbox": '
            "[0, 0, -1, 1]}], "
            '"categories": [{"id": 1}]}',
            "not \\[x, y, width, height\\]",
        ),
        ('{"a.jpg": [[1, 2]], "b.jpg": [[1, 2], [3, 4]]}', "same number of points"),
        ("[1, 2, 3]", "neither COCO annotations"),
        ('{"a": ', "cannot read"),
    ],
)
def test_malformed_annotations_are_one_line_errors(tmp_path, content, match):
    path = tmp_path / "labels.json"
    path.write_text(content)
    with pytest.raises(DatasetError, match=match):
        read_task_labels(path)


def test_a_mask_with_a_class_the_model_lacks_is_refused(tmp_path):
    path = tmp_path / "a.png"
    Image.fromarray(np.array([[0, 1], [2, 255]], dtype=np.uint8), mode="L").save(path)
    assert read_mask(path, (2, 2), 3).tolist() == [[0, 1], [2, 255]]
    with pytest.raises(DatasetError, match="has class 2, but the model's mask output has 2 classes"):
        read_mask(path, (2, 2), 2)
    Image.new("RGB", (2, 2)).save(path)
    with pytest.raises(DatasetError, match="RGB image"):
        read_mask(path, (2, 2), 2)
