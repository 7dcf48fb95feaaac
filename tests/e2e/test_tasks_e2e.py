"""Task metrics end to end on the emulated device: a segmenter with PNG masks (mIoU), a YOLO-style
detector with COCO annotations (pycocotools mAP) and a landmark model with a keypoints JSON (PCK).

Each model has a known answer by construction (tests/builders.py), so the float build must score
(nearly) perfectly: a label lined up with the wrong image, a box left in the model's input
coordinates or a class mapped to the wrong category would show as a low score here. The pick
then weighs the task's metric, and labels that do not fit the model are refused before any cell.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from host.cli import main
from tests.adb_fixtures import isolated_host
from tests.builders import (
    fixed_box_detector,
    fixed_points_model,
    postprocess_detector_tflite,
    threshold_segmenter,
    write_box_annotations,
    write_flat_images,
    write_masks,
    write_points,
    write_sized_images,
)

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "docs" / "run.schema.json").read_text())
FAST = ["--min-runs", "10", "--min-seconds", "0.05", "--warmup-seconds", "0.01"]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("tasks")
    with isolated_host(root):
        yield root


def _bench(env, model, images, labels, modes, backends, name):
    argv = [
        "bench",
        "--model",
        str(model),
        "--dataset",
        str(images),
        "--labels",
        str(labels),
        "--calibration",
        str(images),
        "--modes",
        modes,
        "--backends",
        backends,
        "--db",
        str(env / "r.sqlite"),
        "--json",
        str(env / f"{name}.json"),
        *FAST,
    ]
    assert main(argv) == 0
    run = json.loads((env / f"{name}.json").read_text())
    jsonschema.validate(run, SCHEMA)  # each task's metrics as the contract documents them
    return run


def _ok(run):
    return {(c["mode"], c["backend"]): c for c in run["cells"] if c["status"] == "ok"}


def test_a_segmenter_is_scored_by_miou_against_its_masks(env, capsys):
    model = env / "seg.keras"
    threshold_segmenter().save(model)
    images = write_flat_images(env / "seg-images", count=12)
    masks = write_masks(images, env / "masks")
    run = _bench(env, model, images, masks, "none,integer,full_integer,weight_only_wi8,a8w8", "cpu1,gpu", "seg")
    cells = _ok(run)
    assert {m for m, _ in cells} == {"none", "integer", "full_integer", "weight_only_wi8", "a8w8"}, run["cells"]
    for cell in cells.values():
        assert cell["task"]["task"] == "segment" and cell["task"]["count"] == 12, cell
        assert cell["accuracy"] is None and cell["fidelity"] is not None or cell["mode"] == "none"
    float_cell = cells[("none", "cpu1")]["task"]
    assert float_cell["mean_iou"] > 0.99 and float_cell["pixel_accuracy"] > 0.99, float_cell
    capsys.readouterr()
    assert main(["report", run["run_id"], "--db", str(env / "r.sqlite")]) == 0
    assert "Summary (12 images): size, mIoU / pixel accuracy" in capsys.readouterr().out, (
        "the summary names the task's metric"
    )
    assert main(["report", run["run_id"], "--tables", "accuracy", "--db", str(env / "r.sqlite")]) == 0
    assert "Segmentation: mIoU / pixel accuracy (12 images)" in capsys.readouterr().out
    assert main(["recommend", run["run_id"], "--db", str(env / "r.sqlite")]) == 0
    assert "within 1 point of the float build's mIoU" in capsys.readouterr().out


def test_a_detector_is_scored_by_coco_map_and_a_build_under_the_floor_is_never_picked(env, capsys):
    model = env / "det.keras"
    fixed_box_detector().save(model)
    images = write_sized_images(env / "det-images", 12, (64, 48))  # not the model's 32x32: boxes must be scaled back
    coco = write_box_annotations(images, env / "instances.json")
    run = _bench(env, model, images, coco, "none,dynamic_range,integer", "cpu1", "det")
    cells = _ok(run)
    assert cells[("none", "cpu1")]["task"]["map_50_95"] == pytest.approx(1.0), cells[("none", "cpu1")]
    assert all(c["task"]["metric"] == "mAP@0.5:0.95" and c["task"]["detections"] >= 12 for c in cells.values())
    capsys.readouterr()
    assert main(["recommend", run["run_id"], "--db", str(env / "r.sqlite")]) == 0
    said = capsys.readouterr().out
    assert "mAP@0.5:0.95" in said
    picked = said.split("recommended: ")[1].split(" on ")[0]
    assert 100 * cells[(picked, "cpu1")]["task"]["value"] >= 99.0, said  # within a point of float's 100%


def test_a_detector_ending_in_the_post_process_op_is_read_as_the_op_wrote_it(env, capsys):
    """The op leaves rows past its count unwritten (NaN among them): they are zeroed on the
    device, so no cell is 'numerics' and the float build's fidelity to itself is exact; a
    quantized build's requantized outputs are followed to the op's."""
    model = env / "postprocess.tflite"
    model.write_bytes(postprocess_detector_tflite(env / "postprocess-savedmodel"))
    images = env / "det-images"
    assert images.is_dir(), "runs after the YOLO-style detector test"
    run = _bench(env, model, images, env / "instances.json", "none,dynamic_wi8,a8w8", "cpu1", "post")
    cells = {c["mode"]: c for c in run["cells"]}
    assert all(c["status"] == "ok" for c in cells.values()), {m: c["error"] for m, c in cells.items()}
    assert cells["none"]["task"]["map_50_95"] == pytest.approx(1.0) and cells["dynamic_wi8"]["task"][
        "map_50_95"
    ] == pytest.approx(1.0)
    assert cells["a8w8"]["task"]["detections"] >= 12  # scored from its requantized outputs, whatever its mAP
    capsys.readouterr()
    assert main(["recommend", run["run_id"], "--db", str(env / "r.sqlite")]) == 0
    picked = capsys.readouterr().out.split("recommended: ")[1].split(" on ")[0]
    assert cells[picked]["task"]["map_50_95"] >= 0.99


def test_a_landmark_model_is_scored_by_pck_in_input_pixels(env):
    model = env / "points.keras"
    fixed_points_model().save(model)
    images = write_sized_images(env / "pts-images", 12, (48, 64))
    points = write_points(images, env / "points.json")
    run = _bench(env, model, images, points, "none,integer", "cpu1,npu", "pts")
    cells = _ok(run)
    assert len(cells) == 4, run["cells"]
    for cell in cells.values():
        assert cell["task"]["pck"] == pytest.approx(1.0) and cell["task"]["mean_error_px"] < 0.5, cell


def test_labels_that_do_not_fit_are_refused_in_one_line(env, tmp_path, capsys):
    model, images = env / "points.keras", env / "pts-images"
    assert model.is_file(), "runs after the landmark test"
    four = json.loads((env / "points.json").read_text())
    (tmp_path / "four.json").write_text(json.dumps({k: [*v, [1.0, 1.0]] for k, v in four.items()}))
    (tmp_path / "extra.json").write_text(json.dumps({**four, "missing.png": four["000.png"]}))
    cases = [
        (["--labels", str(tmp_path / "four.json")], "no output holds 4 x 2 or x 3 values"),
        (["--labels", str(tmp_path / "extra.json")], "not in the dataset folder, first 'missing.png'"),
        (["--labels", str(env / "points.json"), "--task", "segment"], "--task segment needs a folder of PNG masks"),
        (["--labels", str(env / "points.json"), "--crop", "0.875"], "for classification only"),
    ]
    for extra, message in cases:
        capsys.readouterr()
        argv = [
            "bench",
            "--model",
            str(model),
            "--dataset",
            str(images),
            "--modes",
            "none",
            "--backends",
            "cpu1",
            "--db",
            str(tmp_path / "r.sqlite"),
            *extra,
            *FAST,
        ]
        assert main(argv) == 2, extra
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, err
