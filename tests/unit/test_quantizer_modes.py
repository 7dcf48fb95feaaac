"""The quantizer's modes in the one mode table, its recipe files, its promises, and a runtime
without the kernel a build needs told apart from a failure (no model is built here)."""

from __future__ import annotations

import json

import pytest

from device_agent.engines.kernels import missing_kernel
from host.convert.inspect import TfliteFacts
from host.convert.modes import GROUPS, MODES_BY_NAME, QUANTIZER, ModeRequest
from host.convert.promises import check_promises
from host.convert.recipes import recipe_modes
from host.errors import ConversionError, InputError, ModeError

DYNAMIC_INT8 = [
    {
        "regex": ".*",
        "operation": "*",
        "algorithm_key": "min_max_uniform_quantize",
        "op_config": {
            "weight_tensor_config": {"num_bits": 8, "symmetric": True, "granularity": "CHANNELWISE", "dtype": "INT"},
            "compute_precision": "INTEGER",
            "explicit_dequantize": False,
        },
    }
]
STATIC_A8W8 = [
    {
        **DYNAMIC_INT8[0],
        "op_config": {
            **DYNAMIC_INT8[0]["op_config"],
            "activation_tensor_config": {
                "num_bits": 8,
                "symmetric": False,
                "granularity": "TENSORWISE",
                "dtype": "INT",
            },
        },
    }
]


def facts(
    weights: set[str], io: str = "float32", activations: set[str] | None = None, float_ops: tuple[str, ...] = ()
) -> TfliteFacts:
    return TfliteFacts(
        io, io, (1, 8, 8, 3), (1, 4), frozenset(weights), frozenset(activations or {"float32"}), (), float_ops
    )


def test_the_groups_name_each_tool_and_all_names_both():
    assert ModeRequest.parse("quantizer").names == list(GROUPS["quantizer"])
    assert all(MODES_BY_NAME[m].tool == QUANTIZER for m in GROUPS["quantizer"])
    assert set(ModeRequest.parse("all").names) == set(GROUPS["tensorflow"]) | set(GROUPS["quantizer"])
    assert (
        "dynamic_wi4" in ModeRequest.parse("post_training").names
        and "qat" not in ModeRequest.parse("post_training").names
    )
    assert "dynamic_wi4_b32" not in ModeRequest.parse("all").names  # named only (see the mode table)
    assert "dynamic_wi4_b32" in ModeRequest.parse("all,dynamic_wi4_b32").names


def test_a_tflite_source_skips_the_graph_modes_in_a_group_and_refuses_one_named():
    runnable, skipped = ModeRequest.parse("all").select(has_calibration=True, has_training=True, has_graph=False)
    assert [m.name for m in runnable] == ["none", *GROUPS["quantizer"]]
    assert set(skipped) == set(GROUPS["tensorflow"]) - {"none"} and "Keras/SavedModel graph" in skipped["integer"]
    with pytest.raises(ModeError, match="Keras/SavedModel graph"):
        ModeRequest.parse("none,integer").select(has_calibration=True, has_training=False, has_graph=False)


def test_a_recipe_file_is_a_mode_named_after_it_and_asks_for_calibration_when_static(tmp_path):
    (tmp_path / "mine.json").write_text(json.dumps(DYNAMIC_INT8))
    (tmp_path / "static-8.json").write_text(json.dumps(STATIC_A8W8))
    modes = recipe_modes((str(tmp_path / "mine.json"), str(tmp_path / "static-8.json")))
    assert [(m.name, m.needs_calibration, m.tool) for m in modes] == [
        ("mine", False, QUANTIZER),
        ("static-8", True, QUANTIZER),
    ]
    request = ModeRequest.parse("none", modes)
    assert request.names == ["none", "mine", "static-8"] and request.needs_calibration


@pytest.mark.parametrize(
    ("name", "content", "said"),
    [
        ("broken.json", "{not json", "is not JSON"),
        ("entry.json", '{"regex": ".*"}', "a recipe is a JSON list"),
        ("empty.json", "[]", "a recipe is a JSON list"),
        (
            "wrong.json",
            '[{"regex": ".*", "operation": "*", "algorithm_key": "no_such_algorithm", "op_config": {}}]',
            "not a recipe the quantizer accepts",
        ),
        ("a8w8.json", json.dumps(DYNAMIC_INT8), "'a8w8' is already a build"),
        ("all.json", json.dumps(DYNAMIC_INT8), "'all' is already a group of modes"),
        ("quantizer.json", json.dumps(DYNAMIC_INT8), "'quantizer' is already a group of modes"),
        ("deep.json", "[" * 200_000 + "]" * 200_000, "nests too deeply"),
        (
            "nan.json",
            json.dumps(DYNAMIC_INT8).replace('"num_bits": 8', '"num_bits": NaN'),
            "NaN is not a number a recipe can hold",
        ),
        (
            "bits3.json",
            json.dumps(DYNAMIC_INT8).replace('"num_bits": 8', '"num_bits": 3'),
            "entry 0: op_config.weight_tensor_config.num_bits is 3: one of 2, 4, 8, 16",
        ),
        ("text.json", json.dumps(DYNAMIC_INT8).replace('"num_bits": 8', '"num_bits": "8"'), "num_bits is '8'"),
        (
            "flag.json",
            json.dumps(DYNAMIC_INT8).replace('"symmetric": true', '"symmetric": "yes"'),
            "symmetric is 'yes'",
        ),
    ],
)
def test_a_bad_recipe_file_is_refused_before_any_work(tmp_path, name, content, said):
    (tmp_path / name).write_text(content)
    with pytest.raises(InputError, match=said):
        recipe_modes((str(tmp_path / name),))


def test_a_missing_recipe_file_is_named(tmp_path):
    with pytest.raises(InputError, match="No such file"):
        recipe_modes((str(tmp_path / "nope.json"),))


def test_a_recipe_that_is_a_fifo_or_a_device_is_refused_without_reading_it(tmp_path):
    """A FIFO would wait forever for a writer, /dev/zero would be read until memory runs out."""
    import os

    os.mkfifo(tmp_path / "fifo.json")
    (tmp_path / "zero.json").symlink_to("/dev/zero")
    for name in ("fifo.json", "zero.json"):
        with pytest.raises(InputError, match="is not a regular file"):
            recipe_modes((str(tmp_path / name),))
    (tmp_path / "big.json").write_text("[" + " " * (2 << 20) + "]")
    with pytest.raises(InputError, match="is over 1024 KB"):
        recipe_modes((str(tmp_path / "big.json"),))


def test_the_quantizer_promises_are_checked_on_the_file():
    int4 = MODES_BY_NAME["dynamic_wi4"]
    assert check_promises(int4, facts({"int4"}), "uint8") == []
    notes = check_promises(int4, facts({"int4", "float32"}, float_ops=("DEPTHWISE_CONV_2D",) * 3), "uint8")
    assert notes == ["weights left in float32 (the recipe's ops or granularity do not cover them): 3 DEPTHWISE_CONV_2D"]
    with pytest.raises(ConversionError, match="stored no weight as int4"):
        check_promises(int4, facts({"int8", "float32"}), "uint8")  # an int8 build under the int4 name is refused
    with pytest.raises(ConversionError, match="promises int16"):
        check_promises(MODES_BY_NAME["a16w8"], facts({"int8"}, io="int8", activations={"int8"}), "uint8")
    assert check_promises(MODES_BY_NAME["a16w8"], facts({"int8"}, io="int16", activations={"int16"}), "uint8") == []


def test_a_recipe_that_quantized_nothing_is_refused(tmp_path):
    (tmp_path / "mine.json").write_text(json.dumps(DYNAMIC_INT8))
    (mode,) = recipe_modes((str(tmp_path / "mine.json"),))
    with pytest.raises(ConversionError, match="quantized nothing"):
        check_promises(mode, facts({"float32"}), "uint8")


# the runtimes' own words (tflite-runtime 2.14.0 on an int4 weight-only build; an op newer than the runtime)
DEQUANTIZE_INT4 = (
    "/tensorflow/tensorflow/lite/kernels/dequantize.cc:58 op_context.input->type == kTfLiteUInt8 || "
    "op_context.input->type == kTfLiteInt8 || op_context.input->type == kTfLiteInt16 || "
    "op_context.input->type == kTfLiteFloat16 was not true.Node number 0 (DEQUANTIZE) failed to prepare."
    "Failed to apply the default TensorFlow Lite delegate indexed at 0."
)
NEWER_OP = (
    "Didn't find op for builtin opcode 'FULLY_CONNECTED' version '13'. "
    "An older version of this builtin might be supported."
)


def test_a_runtime_without_the_kernel_is_named_with_the_op():
    reason = missing_kernel(DEQUANTIZE_INT4, "tflite-runtime 2.14.0")
    assert reason is not None and reason.startswith(
        "tflite-runtime 2.14.0's DEQUANTIZE kernel does not take this build's tensor type"
    )
    assert "uint8, int8, int16, float16" in reason
    newer = missing_kernel(NEWER_OP, "tflite-runtime 2.14.0")
    assert newer is not None and "no FULLY_CONNECTED kernel of version 13" in newer
    assert (
        missing_kernel("Node number 3 (CONV_2D) failed to invoke.", "ai-edge-litert 2.3.0") is None
    )  # a failure, not a lack
    assert missing_kernel("std::bad_alloc", "ai-edge-litert 2.3.0") is None


def test_a_quantizer_builds_cache_identity_needs_no_quantizer_and_follows_its_recipe(tmp_path, monkeypatch):
    from host.convert.quantizer_route import recipe_identity

    monkeypatch.setitem(__import__("sys").modules, "ai_edge_quantizer", None)  # any import of it now fails
    identities = [json.dumps(recipe_identity(MODES_BY_NAME[name]), sort_keys=True) for name in GROUPS["quantizer"]]
    assert len(set(identities)) == len(identities)  # every recipe its own key
    monkeypatch.undo()
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(DYNAMIC_INT8))
    (mode,) = recipe_modes((str(path),))
    assert recipe_identity(mode) == DYNAMIC_INT8
    path.write_text(json.dumps(STATIC_A8W8))  # edited after the run began: the key follows the file
    assert recipe_identity(mode) == STATIC_A8W8
    path.unlink()
    with pytest.raises(InputError, match="cannot be read again"):
        recipe_identity(mode)
