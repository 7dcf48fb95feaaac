"""LiteRT's log names the ops its GPU accelerator refused; the cell's reason carries them."""

from __future__ import annotations

import os

from device_agent.engines.native_log import captured_stderr, first_error, log_reason, refused_ops

LOG = """INFO: Created TensorFlow Lite XNNPACK delegate for CPU.
ERROR: Following operations are not supported by GPU delegate:
CONV_2D: Tensor type(INT16) is not supported. model/block0/Relu6;model/block0/conv
CONV_2D: Tensor type(INT16) is not supported. model/block1/conv
MEAN: Tensor type(INT16) is not supported. model/pool/Mean
RESHAPE: Max version supported: 1. Requested version 2. model/head/flatten
1 operations will run on the GPU, and the remaining 4 operations will run on the CPU.
""".splitlines()


def test_the_refused_ops_are_grouped_by_reason_and_counted():
    assert refused_ops(LOG) == (
        "CONV_2D, MEAN: Tensor type(INT16) is not supported (3 nodes); RESHAPE: Max version supported: 1 (1 node)"
    )
    assert refused_ops(LOG[:1]) == "", "no list in the log: nothing is claimed"


def test_what_a_library_writes_on_fd_2_is_captured_and_still_reaches_stderr(capfd):
    with captured_stderr() as lines:
        os.write(2, b"ERROR: Following operations are not supported by GPU delegate:\nADD: no. x\n")
    assert refused_ops(lines) == "ADD: no (1 node)"
    assert "ADD: no. x" in capfd.readouterr().err, "the agent's log keeps every line"


def test_without_a_list_the_first_error_is_the_reason_with_its_next_line():
    log = [
        "INFO: [openvino_compiler_plugin.cc:614] Model loaded",
        "ERROR: [openvino_compiler_plugin.cc:714] Exception in compilation: Exception from "
        "src/core/reference/src/op/transpose.cpp:127:",
        "Transpose for i4/u4 dtype is supported only for ndims <= 3",
        "",
        "ERROR: [compiled_model.cc:1400] Plugin errs: IntelOpenVINO compiler plugin (ver 0.1.0)",
    ]
    assert first_error(log) == (
        "Exception in compilation: Exception from src/core/reference/src/op/transpose.cpp:127: "
        "Transpose for i4/u4 dtype is supported only for ndims <= 3"
    )
    assert log_reason(log) == first_error(log) and log_reason(LOG) == refused_ops(LOG)
    assert first_error(["INFO: fine", "WARNING: meh"]) == ""
