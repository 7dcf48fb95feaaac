"""``host debug`` and ``host convert --keep-float`` on a model whose sensitive layers are known by
construction (``tests/builders.outlier_model``): real converter, real quantizer, real interpreter."""

from __future__ import annotations

import json

import numpy as np
import pytest

from host.cli import main
from host.convert import tfenv
from host.convert.inspect import inspect_tflite
from tests.builders import OUTLIER_CONSUMER, OUTLIER_PRODUCER, outlier_workspace


@pytest.fixture(scope="module")
def outlier(tmp_path_factory):
    return outlier_workspace(tmp_path_factory.mktemp("outlier"))


def _top1(tflite: bytes, folder) -> float:
    from host.data.images import list_images, load_image_set

    listing = list_images(folder)
    images = load_image_set(listing.entries, (32, 32), class_names=listing.class_names)
    interpreter = tfenv.tf().lite.Interpreter(model_content=tflite)
    interpreter.allocate_tensors()
    (entry,), (exit_,) = interpreter.get_input_details(), interpreter.get_output_details()
    hits = 0
    for pixels, label in zip(images.images, images.labels, strict=True):
        interpreter.set_tensor(entry["index"], (pixels[np.newaxis] / 127.5 - 1.0).astype(np.float32))
        interpreter.invoke()
        hits += int(np.argmax(interpreter.get_tensor(exit_["index"])) == label)
    return 100 * hits / len(images.labels)


def test_debug_ranks_the_outlier_layer_first_and_writes_every_output(outlier, tmp_path, capsys):
    out = tmp_path / "debug"
    assert (
        main(
            [
                "debug",
                str(outlier / "outlier.keras"),
                "--calibration",
                str(outlier / "calibration"),
                "--dataset",
                str(outlier / "eval"),
                "--preset",
                "mobilenet",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    printed = " ".join(capsys.readouterr().out.split())  # the console wraps at its width
    report = json.loads((out / "debug.json").read_text())
    layers = report["layers"]
    assert layers[0]["layer"] == OUTLIER_PRODUCER and layers[0]["suspect"]
    # the per-tensor number alone would not rank it: its RMSE in steps looks healthy
    assert layers[0]["rmse_over_scale"] < 0.7 and layers[0]["signal_lost"] > 0.5
    assert layers[0]["collapsed_channels"] >= 20 and layers[0]["widest_channel_ratio"] > 50
    assert {e["layer"] for e in layers if e["suspect"]} >= {OUTLIER_PRODUCER, OUTLIER_CONSUMER}
    assert not any(e["suspect"] for e in layers if e["layer"] in ("features", "pool"))
    assert "suspect 1: mix" in printed and "--keep-float mix,wide" in printed
    explorer = json.loads((out / "model-explorer.json").read_text())
    names = {
        t["name"] for t in tfenv.tf().lite.Interpreter(model_path=str(out / "integer.tflite")).get_tensor_details()
    }
    assert explorer["results"] and set(explorer["results"]) <= names  # node data lands on the build's tensors
    assert explorer["thresholds"][0].keys() == {"value", "bgColor"}
    assert 'id="error-by-depth"' in (out / "debug.html").read_text()


def test_debug_on_the_quantizers_a8w8_finds_the_same_outlier_layer_and_shows_the_validator_beside(
    outlier, tmp_path, capsys
):
    out = tmp_path / "debug8"
    assert (
        main(
            [
                "debug",
                str(outlier / "outlier.keras"),
                "--mode",
                "a8w8",
                "--calibration",
                str(outlier / "calibration"),
                "--dataset",
                str(outlier / "eval"),
                "--preset",
                "mobilenet",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    printed = " ".join(capsys.readouterr().out.split())
    report = json.loads((out / "debug.json").read_text())
    assert report["mode"] == "a8w8" and (out / "a8w8.tflite").is_file()
    first = report["layers"][0]
    assert first["layer"] == OUTLIER_PRODUCER and first["suspect"] and first["collapsed_channels"] >= 20
    assert all(e["accumulated"] for e in report["layers"])  # against the float build's tensors, error carried along
    assert first["validator_mse"] is not None and first["validator_snr"] is not None
    assert "LiteRT quantizer's" in printed and first["added_signal_lost"] > 0.5  # its own share, not what it inherited


def test_keep_float_builds_a_variant_named_in_the_manifest_that_recovers_accuracy(outlier, tmp_path, capsys):
    out = tmp_path / "builds"
    assert (
        main(
            [
                "convert",
                str(outlier / "outlier.keras"),
                "--modes",
                "none,integer",
                "--calibration",
                str(outlier / "calibration"),
                "--preset",
                "mobilenet",
                "--keep-float",
                f"{OUTLIER_PRODUCER},{OUTLIER_CONSUMER}",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    manifest = json.loads((out / "manifest.json").read_text())
    variant = manifest["modes"]["integer+keep2"]
    assert variant["variant_of"] == "integer" and variant["float_layers"] == [OUTLIER_PRODUCER, OUTLIER_CONSUMER]
    facts = inspect_tflite((out / "integer+keep2.tflite").read_bytes())
    assert "CONV_2D" in facts.float_kernels and "int8" in facts.activation_dtypes  # float where asked, int8 elsewhere
    top1 = {
        mode: _top1((out / f"{mode}.tflite").read_bytes(), outlier / "eval")
        for mode in ("none", "integer", "integer+keep2")
    }
    assert top1["none"] == 100.0
    assert top1["integer"] < 60.0, top1  # the outlier ruins int8 ...
    assert top1["integer+keep2"] > 90.0, top1  # ... and the pair in float repairs it


@pytest.mark.parametrize(
    "keep, only", [(OUTLIER_PRODUCER, OUTLIER_PRODUCER), (OUTLIER_CONSUMER, OUTLIER_CONSUMER), ("MEAN", "")]
)
def test_one_layer_or_an_op_type_alone_is_kept(outlier, tmp_path, keep, only):
    out = tmp_path / "one"
    assert (
        main(
            [
                "convert",
                str(outlier / "outlier.keras"),
                "--modes",
                "integer",
                "--calibration",
                str(outlier / "calibration"),
                "--keep-float",
                keep,
                "--out",
                str(out),
            ]
        )
        == 0
    )
    variant = json.loads((out / "manifest.json").read_text())["modes"]["integer+keep1"]
    assert variant["keep_float"] == [keep] and variant["float_layers"] == ([only] if only else [])


def test_an_unknown_layer_fails_the_variant_alone_and_suggests_names(outlier, tmp_path, capsys):
    out = tmp_path / "typo"
    code = main(
        [
            "convert",
            str(outlier / "outlier.keras"),
            "--modes",
            "integer",
            "--calibration",
            str(outlier / "calibration"),
            "--keep-float",
            "mixx",
            "--out",
            str(out),
        ]
    )
    assert code == 1
    manifest = json.loads((out / "manifest.json").read_text())
    assert "integer" in manifest["modes"]
    assert (
        "names no layer or op type" in manifest["failed"]["integer+keep1"]
        and "did you mean mix" in manifest["failed"]["integer+keep1"]
    )
    assert not (out / "integer+keep1.tflite").exists()
