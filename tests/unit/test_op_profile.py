"""The per-op profile's logic: events summed per node, nodes given their Keras layers, the table."""

from __future__ import annotations

import ctypes
import json
from dataclasses import replace

import pytest

from device_agent.contract import OpProfile, OpTime
from device_agent.engines.litert_capi import ProfiledEvent
from device_agent.measuring.op_profile import summarize
from host.bench.op_layers import FOLDED_WEIGHTS, attribute, keep_nodes_apart
from host.convert.graph import GraphOp, layers_of
from host.errors import InputError
from host.report.ops import BETWEEN_NODES, op_table, render_ops
from tests.records import cell, run


def _events(spec: list[tuple[str, int, int, int]]) -> tuple[ctypes.Array[ProfiledEvent], list[bytes]]:
    """(tag, event type, node index, elapsed us) each; the tags' bytes are kept alive beside them."""
    tags = [tag.encode() for tag, *_ in spec]
    array = (ProfiledEvent * len(spec))()
    for event, tag, (_, kind, index, elapsed) in zip(array, tags, spec, strict=True):
        event.tag, event.event_type, event.event_metadata1, event.elapsed_time_us = tag, kind, index, elapsed
    return array, tags


def test_events_are_summed_per_node_and_the_invoke_apart():
    run_once = [
        ("Invoke", 1, 0, 100),
        ("Convolution (NHWC, F32) IGEMM", 8, 0, 60),
        ("SOFTMAX", 2, 31, 10),
        ("LiteRT::Run[Buffer sync]", 1, 0, 5),
        ("Invoke", 32, 0, 2**40),
    ]  # telemetry: never a figure
    events, _ = _events(run_once * 3)
    profile = summarize(list(events), "LiteRT 2.3.0 CompiledModel, CPU (XNNPACK, 1 thread)")
    assert (profile.runs, profile.invoke_ms) == (3, 0.3)
    assert {(op.source, op.index, op.name, op.runs, round(op.total_ms, 3)) for op in profile.ops} == {
        ("delegate", 0, "Convolution (NHWC, F32) IGEMM", 3, 0.18),
        ("model", 31, "SOFTMAX", 3, 0.03),
    }


def _node(index: int, kind: str, layer: str) -> GraphOp:
    return GraphOp(index, kind, f"{layer}/out" if layer else "", (layer,) if layer else (), ())


NODES = [
    _node(0, FOLDED_WEIGHTS, ""),
    _node(1, "QUANTIZE", "tfl.quantize"),
    _node(2, "CONV_2D", "stem"),
    _node(3, "DEPTHWISE_CONV_2D", "block0_dw"),
    _node(4, "CONV_2D", "block0_project"),
    _node(5, "ADD", "block0_add"),
    _node(6, "SOFTMAX", "head"),
]


def _op(index: int, name: str, source: str = "delegate") -> OpTime:
    return OpTime(index, name, source, 20, 1.0)


def test_xnnpack_nodes_are_aligned_with_the_ops_the_delegate_took():
    """Folded weights have no node; an op XNNPACK split keeps its layer; the op the runtime ran
    itself is found by its index; a node of no known kind is left unattributed, not guessed."""
    ops = (
        _op(0, "Convert (NC)"),
        _op(1, "Convolution (NHWC, QC8) IGEMM"),
        _op(2, "Convolution (NHWC, QC8) DWConv"),
        _op(3, "Fully Connected (NC, QS8, QC8W) GEMM"),
        _op(4, "Fully Connected (NC, QS8, QC8W) GEMM"),
        _op(5, "Add (ND)"),
        _op(6, "Mystery (ND)"),
        _op(6, "SOFTMAX", "model"),
    )
    layers = attribute(OpProfile("cpu", 20, 10.0, ops), NODES)
    assert layers == ("tfl.quantize", "stem", "block0_dw", "block0_project", "block0_project", "block0_add", "", "head")


def test_nothing_is_attributed_in_a_graph_an_accelerator_rewrote():
    ops = (_op(0, "QUANTIZE", "model"), _op(1, "DELEGATE", "model"))
    assert attribute(OpProfile("npu", 20, 10.0, ops), NODES) == ("", "")


def _profiled(mode: str, backend: str, ops: tuple[OpTime, ...], invoke_ms: float, layers: tuple[str, ...] = ()):
    record = cell("A", mode, backend)
    profile = OpProfile("LiteRT 2.3.0 CompiledModel, CPU (XNNPACK, 1 thread)", 20, invoke_ms, ops)
    return replace(record, result=replace(record.result, op_profile=profile), op_layers=layers)


def test_a_cells_shares_add_up_to_its_invoke_with_the_time_between_nodes_as_its_own_row():
    ops = (_op(0, "Convolution (NHWC, F32) IGEMM"), _op(1, "Fully Connected (NC, F32) GEMM"))
    measured = run(
        "r",
        [
            _profiled(
                "none",
                "cpu1",
                (replace(ops[0], total_ms=6.0), replace(ops[1], total_ms=2.0)),
                10.0,
                ("stem", "block0_expand"),
            ),
            cell("A", "none", "gpu"),
        ],
        modes=("none",),
        backends=("cpu1", "gpu"),
    )
    rows, notes = op_table(measured)
    assert [(r.op, r.layer, round(r.share, 3)) for r in rows] == [
        ("Convolution (NHWC, F32) IGEMM", "stem", 0.6),
        ("Fully Connected (NC, F32) GEMM", "block0_expand", 0.2),
        (BETWEEN_NODES, "", 0.2),
    ]
    assert sum(r.share for r in rows) == pytest.approx(1.0)
    assert "before profiles were taken" in notes[1]
    top = json.loads(render_ops(measured, "json", cell="none/cpu1", top=1))
    assert [r["op"] for r in top["ops"]] == ["Convolution (NHWC, F32) IGEMM"]
    assert render_ops(measured, "csv").splitlines()[0] == "cell,op,layer,ran_on,runs,mean_ms,total_ms,share"


def test_an_unknown_cell_or_format_is_bad_input():
    measured = run("r", [cell("A", "none", "cpu1")], modes=("none",), backends=("cpu1",))
    with pytest.raises(InputError, match="none/cpu4.*cells: none/cpu1"):
        op_table(measured, cell="none/cpu4")
    with pytest.raises(InputError, match="html"):
        render_ops(measured, "html")


def test_an_accelerator_that_fails_profiled_runs_is_tried_once_per_agent():
    from device_agent.contract import CellRequest, CellResult
    from device_agent.serving.profile_refusals import REFUSED, Refusals

    refusals, asked = Refusals(), CellRequest("a" * 64, "gpu", op_profile=True)
    first = CellResult(
        "ok", op_profile=OpProfile(note=f"no per-op profile: GPU {REFUSED} (kLiteRtStatusErrorRuntimeFailure)")
    )
    assert refusals.request(asked).op_profile and refusals.result(asked, first) == first
    assert refusals.request(asked).op_profile is False
    later = refusals.result(asked, CellResult("ok"))
    assert (
        later.op_profile is not None and REFUSED in later.op_profile.note and "not tried again" in later.op_profile.note
    )
    other = CellRequest("a" * 64, "cpu1", op_profile=True)
    assert refusals.request(other).op_profile, "only the backend that failed"


def test_a_layers_share_of_the_device_time_sums_its_nodes():
    from host.quant.device_time import layer_shares

    ops = (_op(0, "Convolution (NHWC, F32) IGEMM"), _op(1, "Fully Connected (NC, F32) GEMM"), _op(2, "Add (ND)"))
    shares = layer_shares(_profiled("integer", "cpu1", ops, 4.0, ("stem", "stem", "")))
    assert (
        shares.shares == {"stem": 0.5}
        and shares.describe("stem") == "50% of cpu1 time"
        and shares.describe("head") == "-"
    )
    missing = layer_shares(cell("A", "integer", "gpu"))
    assert missing.shares == {} and "no per-op profile" in missing.note


def test_a_farm_runs_cells_are_told_apart_by_device():
    ops = (_op(0, "Convolution (NHWC, F32) IGEMM"),)
    first, second = _profiled("none", "cpu1", ops, 2.0), replace(_profiled("none", "cpu1", ops, 4.0), device="B")
    rows, _ = op_table(run("r", [first, second], modes=("none",), backends=("cpu1",)))
    assert {r.cell for r in rows} == {"A none/cpu1", "B none/cpu1"}


def _node(depth: int, tensor: str, strip: bool = True) -> GraphOp:
    return GraphOp(depth, "CONV_2D", tensor, layers_of(tensor, strip=strip), ("x", f"w{depth}"))


def test_nodes_of_a_foreign_tflite_keep_their_own_names():
    """A model zoo's conv2d_1 ... conv2d_3 are three layers: stripping Keras' call-instance suffix
    would make them one row with every run of the three."""
    tensors = ["model/conv2d_1/Conv2D", "model/conv2d_2/Conv2D", "model/conv2d_3/Conv2D", "model/dense_1/MatMul"]
    stripped = [_node(i, t) for i, t in enumerate(tensors)]
    assert {n.layer for n in stripped[:3]} == {"conv2d"}
    kept = keep_nodes_apart(stripped, [_node(i, t, strip=False) for i, t in enumerate(tensors)])
    assert [n.layer for n in kept] == ["conv2d_1", "conv2d_2", "conv2d_3", "dense"]


def test_keras_call_instances_still_name_their_layers():
    tensors = [
        "functional_1/conv2d_1/convolution",
        "functional_1/conv2d_1_2/convolution",
        "functional_1/dense_1/MatMul",
    ]
    kept = keep_nodes_apart(
        [_node(i, t) for i, t in enumerate(tensors)], [_node(i, t, strip=False) for i, t in enumerate(tensors)]
    )
    assert [n.layer for n in kept] == ["conv2d", "conv2d_1", "dense"]
