"""LiteRT's quantizer as the second route to a build: a float .tflite with no Keras source goes
through every mode the quantizer makes; each build is read back from its flatbuffer (int4 tensors
really INT4, sizes in the ratio the bits promise); a recipe file adds a build named after it; a
Keras model gets both routes side by side."""

from __future__ import annotations

import json

import pytest

from host.cli import main
from host.convert.inspect import inspect_tflite
from host.convert.modes import GROUPS, MODES_BY_NAME
from tests.builders import function_tflite, write_image_folder


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    root = tmp_path_factory.mktemp("function")
    return function_tflite(root), write_image_folder(root / "images", classes=2, per_class=4, size=16)


@pytest.fixture(scope="module")
def converted(source, tmp_path_factory):
    model, images = source
    out = tmp_path_factory.mktemp("out")
    assert (
        main(
            [
                "convert",
                str(model),
                "--modes",
                "all,dynamic_wi4_b32",
                "--calibration",
                str(images),
                "--out",
                str(out),
                "--no-cache",
            ]
        )
        == 0
    )
    return out, json.loads((out / "manifest.json").read_text())


def test_every_quantizer_mode_is_made_from_a_float_tflite_and_the_graph_modes_are_skipped(converted):
    out, manifest = converted
    assert set(manifest["modes"]) == {"none", *GROUPS["quantizer"], "dynamic_wi4_b32"}, manifest["failed"]
    assert not manifest["failed"]
    for mode in GROUPS["tensorflow"]:
        if mode != "none":
            assert "Keras/SavedModel graph" in manifest["skipped"][mode]
    assert manifest["modes"]["none"]["made_by"] == "the given function.tflite"
    assert all(
        manifest["modes"][m]["made_by"] == "ai-edge-quantizer 0.10.0" for m in (*GROUPS["quantizer"], "dynamic_wi4_b32")
    )
    assert manifest["model"]["kind"] == "tflite_file" and manifest["model"]["input_shape"] == [1, 16, 16, 3]


def test_each_build_keeps_its_promise_read_from_the_file(converted):
    out, _ = converted
    facts = {
        m: inspect_tflite((out / f"{m}.tflite").read_bytes()) for m in ("none", *GROUPS["quantizer"], "dynamic_wi4_b32")
    }
    for name in (*GROUPS["quantizer"], "dynamic_wi4_b32"):
        mode = MODES_BY_NAME[name]
        assert mode.weight_dtype in facts[name].weight_dtypes, (name, facts[name].weight_dtypes)
        assert (facts[name].input_dtype, facts[name].output_dtype) == (
            (mode.io_dtype,) * 2 if mode.io_dtype else ("float32",) * 2
        )
    assert "int4" in facts["dynamic_wi4"].weight_dtypes and "int4" in facts["weight_only_wi4"].weight_dtypes
    assert facts["a16w8"].activation_dtypes >= {"int16"} and facts["a8w8"].activation_dtypes == {"int8"}


def test_sizes_follow_the_bits(converted):
    """The fully connected weights are 1 MiB of float32: int8 keeps a quarter of them, int4 an eighth."""
    out, _ = converted
    size = {p.stem: p.stat().st_size for p in out.glob("*.tflite")}
    weights = 8 * 8 * 16 * 256 * 4
    for name, bits in (
        ("dynamic_wi8", 8),
        ("weight_only_wi8", 8),
        ("dynamic_wi4", 4),
        ("weight_only_wi4", 4),
        ("dynamic_wi4_b32", 4),
    ):
        expected = weights * bits / 32
        assert expected * 0.95 < size[name] - (size["none"] - weights) < expected * 1.25, (name, size[name])


def test_a_recipe_file_adds_a_build_named_after_it(source, tmp_path):
    model, _ = source
    recipe = tmp_path / "fc_only_int4.json"
    recipe.write_text(
        json.dumps(
            [
                {
                    "regex": ".*",
                    "operation": "FULLY_CONNECTED",
                    "algorithm_key": "min_max_uniform_quantize",
                    "op_config": {
                        "weight_tensor_config": {
                            "num_bits": 4,
                            "symmetric": True,
                            "granularity": "CHANNELWISE",
                            "dtype": "INT",
                        },
                        "compute_precision": "INTEGER",
                        "explicit_dequantize": False,
                    },
                }
            ]
        )
    )
    out = tmp_path / "out"
    assert main(["convert", str(model), "--modes", "none", "--recipe", str(recipe), "--out", str(out)]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["modes"]) == {"none", "fc_only_int4"} and manifest["modes"]["fc_only_int4"][
        "made_by"
    ].startswith("ai-edge")
    facts = inspect_tflite((out / "fc_only_int4.tflite").read_bytes())
    assert facts.weight_dtypes == {"int4", "float32"} and facts.float_weight_ops == (
        "CONV_2D",
    )  # the recipe left the conv alone


def test_a_recipe_file_that_is_not_one_and_graph_modes_named_on_a_tflite_are_refused(source, tmp_path, capsys):
    model, _ = source
    bad = tmp_path / "bad.json"
    bad.write_text('{"regex": ".*"}')
    assert main(["convert", str(model), "--recipe", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "a recipe is a JSON list" in capsys.readouterr().err
    assert main(["convert", str(model), "--modes", "integer", "--out", str(tmp_path / "o")]) == 2
    assert "Keras/SavedModel graph" in capsys.readouterr().err


def test_an_already_quantized_tflite_is_not_converted_again(converted, tmp_path, capsys):
    out, _ = converted
    assert main(["convert", str(out / "dynamic_wi8.tflite"), "--out", str(tmp_path / "o")]) == 2
    assert "is already quantized" in capsys.readouterr().err


def test_keep_float_varies_the_quantizers_a8w8_through_its_recipe(source, tmp_path):
    """No TensorFlow graph here: the variant is the quantizer's a8w8 with no_quantize entries."""
    model, images = source
    out = tmp_path / "out"
    argv = ["convert", str(model), "--modes", "a8w8,dynamic_wi4", "--calibration", str(images), "--out", str(out)]
    assert main([*argv, "--keep-float", "FULLY_CONNECTED"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["modes"]) == {
        "a8w8",
        "a8w8+keep1",
        "dynamic_wi4",
        "dynamic_wi4+keep1",
    }  # every quantizer mode asked for
    assert manifest["modes"]["a8w8+keep1"]["variant_of"] == "a8w8"
    base, kept = (inspect_tflite((out / f"{m}.tflite").read_bytes()) for m in ("a8w8", "a8w8+keep1"))
    assert base.float_weight_ops == () and kept.float_weight_ops == ("FULLY_CONNECTED", "FULLY_CONNECTED")
    dynamic = inspect_tflite((out / "dynamic_wi4+keep1.tflite").read_bytes())
    assert dynamic.float_weight_ops == ("FULLY_CONNECTED", "FULLY_CONNECTED") and dynamic.weight_dtypes == {
        "int4",
        "float32",
    }
    assert main([*argv, "--keep-float", "CONV2D"]) == 1  # that build alone fails, naming what the model has
    manifest = json.loads((out / "manifest.json").read_text())
    assert "did you mean CONV_2D" in manifest["failed"]["a8w8+keep1"] and "a8w8" in manifest["modes"]
    # a dynamic variant needs no calibration images; an op type the model lacks fails that build alone
    assert (
        main(["convert", str(model), "--modes", "dynamic_wi8", "--keep-float", "MEAN", "--out", str(tmp_path / "m")])
        == 1
    )
    assert (
        "names no layer or op type"
        in json.loads((tmp_path / "m" / "manifest.json").read_text())["failed"]["dynamic_wi8+keep1"]
    )


def test_debug_and_tune_on_a_tflite_say_what_they_need(source, tmp_path, capsys):
    """TensorFlow's quantization debugger (under debug and tune) reads the graph a .tflite lacks."""
    model, images = source
    assert main(["debug", str(model), "--calibration", str(images), "--out", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "need the Keras/SavedModel graph" in err[0] and "--modes quantizer" in err[0]
