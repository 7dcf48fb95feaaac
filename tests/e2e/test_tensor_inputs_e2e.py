"""Models no image feeds, benched with tensor samples on the emulated device: a two-input model
(a float sensor window and int32 token ids) as given builds, fed from a folder of .npz samples
and from one .npz, each input matched by name; every cell's fidelity is measured against the
float build, and data that does not fit is exit 2 in one line before any device starts."""

from __future__ import annotations

import json

import numpy as np
import pytest

from host.cli import main
from host.hashing import sha256_file
from tests.adb_fixtures import isolated_host
from tests.builders import two_input_tflite, write_flat_images, write_two_input_samples

FAST = ["--min-runs", "10", "--min-seconds", "0.05", "--warmup-seconds", "0.01"]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("tensors")
    with isolated_host(root):
        builds = root / "builds"
        builds.mkdir()
        for mode, optimize in (("none", False), ("dynamic_range", True)):
            (builds / f"{mode}.tflite").write_bytes(two_input_tflite(optimize=optimize))
        entries = {
            m: {"path": f"{m}.tflite", "sha256": sha256_file(builds / f"{m}.tflite")} for m in ("none", "dynamic_range")
        }
        (builds / "manifest.json").write_text(json.dumps({"model": {"name": "two-input"}, "modes": entries}))
        yield root


@pytest.mark.parametrize("form", ["samples", "samples.npz"])
def test_a_two_input_model_is_benched_from_tensor_samples(env, form):
    data = write_two_input_samples(env / form, count=10)
    out = env / f"{form}.json"
    assert (
        main(
            [
                "bench",
                "--model",
                str(env / "builds"),
                "--dataset",
                str(data),
                "--backends",
                "cpu1,npu",
                "--db",
                str(env / "r.sqlite"),
                "--json",
                str(out),
                *FAST,
            ]
        )
        == 0
    )
    run = json.loads(out.read_text())
    assert run["dataset"]["count"] == 10
    cells = {(c["mode"], c["backend"]): c for c in run["cells"]}
    assert all(c["status"] == "ok" for c in cells.values()), [(k, c["error"]) for k, c in cells.items()]
    for key, cell in cells.items():
        if key != ("none", "cpu1"):
            assert 20 < cell["fidelity"]["snr_db"] < 150, (
                key,
                cell["fidelity"],
            )  # int8 weights move the scores a little
            assert len(cell["fidelity"]["outputs"]) == 1


def test_tensor_data_that_does_not_fit_and_images_for_a_two_input_model_are_refused(env, tmp_path, capsys):
    np.savez(tmp_path / "renamed.npz", window=np.zeros((3, 64, 3), np.float32), tokens=np.zeros((3, 8), np.int32))
    np.savez(tmp_path / "short.npz", window=np.zeros((3, 60, 3), np.float32), ids=np.zeros((3, 8), np.int32))
    images = write_flat_images(tmp_path / "images", count=3)
    cases = [
        (tmp_path / "renamed.npz", "has no array for input 'ids'"),
        (tmp_path / "short.npz", "is [60, 3]; the input takes [1, 64, 3]"),
        (images, "holds images, but the model takes ids [1, 8], window [1, 64, 3]"),
    ]
    for data, message in cases:
        capsys.readouterr()
        assert (
            main(
                [
                    "bench",
                    "--model",
                    str(env / "builds"),
                    "--dataset",
                    str(data),
                    "--backends",
                    "cpu1",
                    "--db",
                    str(tmp_path / "r.sqlite"),
                    *FAST,
                ]
            )
            == 2
        )
        captured = capsys.readouterr()
        assert message in captured.err and len(captured.err.strip().splitlines()) == 1, captured.err
        assert "emulated device" not in captured.out + captured.err, "refused before any device starts"


def test_a_two_input_keras_model_converts_from_tensor_calibration_and_benches(env, capsys):
    """Every mode that applies converts: TensorFlow's calibrated modes take the samples by the
    signature's input names, the quantizer's by its own; int16x8 fails alone, with TensorFlow's
    reason (an int32 index input has no float range to record)."""
    from tests.builders import two_input_model

    model = env / "two.keras"
    two_input_model().save(model)
    samples = write_two_input_samples(env / "calibration", count=8, seed=1)
    data = write_two_input_samples(env / "evaluation", count=6, seed=2)
    out = env / "keras.json"
    assert (
        main(
            [
                "bench",
                "--model",
                str(model),
                "--modes",
                "all",
                "--dataset",
                str(data),
                "--calibration",
                str(samples),
                "--backends",
                "cpu1",
                "--db",
                str(env / "r.sqlite"),
                "--json",
                str(out),
                *FAST,
            ]
        )
        == 1
    )  # int16x8 fails
    cells = {c["mode"]: c for c in json.loads(out.read_text())["cells"]}
    failed = {mode for mode, c in cells.items() if c["status"] != "ok"}
    assert failed == {"int16x8"}, {m: c["error"] for m, c in cells.items() if c["status"] != "ok"}
    assert "Max and min for dynamic tensors" in cells["int16x8"]["error"]
    assert {"integer", "full_integer", "a8w8", "a16w8", "dynamic_wi8", "weight_only_wi4"} <= set(cells)
    for mode, cell in cells.items():
        if mode not in failed | {"none"}:
            assert cell["fidelity"]["snr_db"] > 0, (
                mode,
                cell["fidelity"],
            )  # the outputs still follow the float build's
    assert cells["float16"]["fidelity"]["snr_db"] > 50
    assert cells["integer"]["fidelity"]["snr_db"] > 15  # TensorFlow's calibration fed each input its own samples


@pytest.mark.parametrize("mode", ["integer", "a8w8"])
def test_a_two_input_model_is_debugged_layer_by_layer_from_tensor_samples(env, mode, capsys):
    """TensorFlow's integer build (its calibrator takes each sample by signature name) and the
    quantizer's (its validator too): every quantized op measured over the samples."""
    model = env / "two.keras"
    assert model.is_file(), "runs after the Keras conversion test"
    capsys.readouterr()
    assert (
        main(
            [
                "debug",
                str(model),
                "--calibration",
                str(env / "calibration"),
                "--dataset",
                str(env / "evaluation"),
                "--mode",
                mode,
            ]
        )
        == 0
    )
    said = capsys.readouterr().out
    assert "quantized ops measured on 6 images (calibrated on 8)" in said, said[-400:]
    assert (
        main(
            [
                "tune",
                str(model),
                "--calibration",
                str(env / "calibration"),
                "--dataset",
                str(env / "evaluation"),
                "--out",
                str(env / "tuned"),
            ]
        )
        == 2
    )
    assert "has no 'label' array per sample" in capsys.readouterr().err


def test_labelled_tensor_samples_score_top_k_and_tune_reaches_its_target(env, capsys):
    """A 'label' array per sample scores the classifier's top-k as class folders do, and tune's
    search (calibrated on tensor samples, measured on the device) runs to a tuned build folder."""
    model = env / "two.keras"
    labelled = write_two_input_samples(env / "labelled.npz", count=12, seed=3, labels=tuple(i % 4 for i in range(12)))
    out = env / "labelled.json"
    assert (
        main(
            [
                "bench",
                "--model",
                str(model),
                "--modes",
                "none,integer",
                "--dataset",
                str(labelled),
                "--calibration",
                str(env / "calibration"),
                "--backends",
                "cpu1",
                "--db",
                str(env / "r.sqlite"),
                "--json",
                str(out),
                *FAST,
            ]
        )
        == 0
    )
    cells = {c["mode"]: c for c in json.loads(out.read_text())["cells"]}
    assert cells["none"]["accuracy"]["count"] == 12 and cells["integer"]["accuracy"]["count"] == 12, cells
    capsys.readouterr()
    assert (
        main(
            [
                "tune",
                str(model),
                "--calibration",
                str(env / "calibration"),
                "--dataset",
                str(labelled),
                "--backend",
                "cpu1",
                "--out",
                str(env / "tuned"),
                "--db",
                str(env / "r.sqlite"),
            ]
        )
        == 0
    )
    assert json.loads((env / "tuned" / "manifest.json").read_text())["modes"], "a tuned build folder"
