"""Which Keras layer each profiled node came from: the model's nodes by index, a delegate's by
aligning its graph with the model's.

The profiler names a node the runtime ran itself by its index in the model; that index gives the
op and its output tensor, whose name carries the Keras layer (``host/convert/graph.py``). XNNPACK
profiles the nodes of its own graph instead (``Fully Connected (NC, F32) GEMM`` #4). Its graph is
the delegated TFLite ops in execution order, with two differences: an op may become several
XNNPACK nodes, and some ops become none (the DEQUANTIZE of float16 weights is folded into the
weights). So the delegate's nodes are walked beside the ops it took, each matched to the next op
of a kind it can implement; a node that matches none is left unattributed rather than guessed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from device_agent.contract import CellResult, OpProfile
from device_agent.engines.runtime import inspection_interpreter
from host.convert import graph
from host.convert.graph import GraphOp

# XNNPACK operator names (their first words) and the TFLite ops each implements
XNNPACK_KINDS: dict[str, frozenset[str]] = {
    k: frozenset(v)
    for k, v in {
        "Convolution": {"CONV_2D", "DEPTHWISE_CONV_2D"},
        "Fully Connected": {"CONV_2D", "FULLY_CONNECTED", "BATCH_MATMUL"},
        "Deconvolution": {"TRANSPOSE_CONV"},
        "Add": {"ADD"},
        "Multiply": {"MUL"},
        "Subtract": {"SUB"},
        "Divide": {"DIV"},
        "Mean": {"MEAN"},
        "Sum": {"SUM"},
        "Softmax": {"SOFTMAX"},
        "Static Reshape": {"RESHAPE", "SQUEEZE", "EXPAND_DIMS"},
        "Copy": {"RESHAPE", "SQUEEZE", "EXPAND_DIMS"},
        "Convert": {"QUANTIZE", "DEQUANTIZE"},
        "Max Pooling": {"MAX_POOL_2D"},
        "Average Pooling": {"AVERAGE_POOL_2D"},
        "Clamp": {"RELU", "RELU6", "RELU_N1_TO_1"},
        "HardSwish": {"HARD_SWISH"},
        "Sigmoid": {"LOGISTIC"},
        "Tanh": {"TANH"},
        "Concatenate": {"CONCATENATION"},
        "Transpose": {"TRANSPOSE"},
        "Slice": {"SLICE", "STRIDED_SLICE"},
        "Static Slice": {"SLICE", "STRIDED_SLICE"},
        "Resize": {"RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR"},
        "Constant Pad": {"PAD", "PADV2"},
        "Leaky ReLU": {"LEAKY_RELU"},
        "PReLU": {"PRELU"},
        "Square Root": {"SQRT"},
        "Maximum": {"MAXIMUM"},
        "Minimum": {"MINIMUM"},
        "ELU": {"ELU"},
    }.items()
}
FOLDED_WEIGHTS = "DEQUANTIZE (float16 weights)"  # XNNPACK folds these into the weights: no node of its own
LOOKAHEAD = 4  # model ops a delegate node may skip (folded into weights) before it is left unattributed


def model_nodes(model_content: bytes, known_layers: Sequence[str] = ()) -> list[GraphOp]:
    """Every node of the model by its index, with its layer; float16 weights' DEQUANTIZE marked
    as folded (XNNPACK gives them no node of their own)."""
    interpreter = inspection_interpreter(model_content)
    dtypes = {t["name"]: t["dtype"] for t in interpreter.get_tensor_details()}
    nodes = graph.model_nodes(interpreter, known_layers)
    if not known_layers:
        nodes = keep_nodes_apart(nodes, graph.model_nodes(interpreter, strip=False))
    return [
        replace(node, op_type=FOLDED_WEIGHTS)
        if node.op_type == "DEQUANTIZE" and node.inputs and dtypes.get(node.inputs[0]) is np.float16
        else node
        for node in nodes
    ]


def keep_nodes_apart(stripped: Sequence[GraphOp], own: Sequence[GraphOp]) -> list[GraphOp]:
    """Keras' call-instance suffix stripped where that names each layer once; where it would merge
    nodes whose own names differ (a .tflite from elsewhere, whose ``conv2d``, ``conv2d_1`` ...
    ``conv2d_15`` are sixteen layers), those nodes keep their own names, so each is its own row."""
    owners: dict[str, set[str]] = {}
    for node, named in zip(stripped, own, strict=True):
        owners.setdefault(node.layer, set()).add(named.layer)
    return [named if len(owners[node.layer]) > 1 else node for node, named in zip(stripped, own, strict=True)]


def is_partition(name: str) -> bool:
    """A node standing for a whole partition an accelerator took (LiteRT's dispatch op, a delegate kernel)."""
    return name in ("DELEGATE", "DISPATCH_OP") or name.startswith("LITERT_")


def _kind(xnnpack_name: str) -> frozenset[str] | None:
    matches = [k for k in XNNPACK_KINDS if xnnpack_name.startswith(k)]
    return XNNPACK_KINDS[max(matches, key=len)] if matches else None


def attribute(profile: OpProfile, nodes: Sequence[GraphOp]) -> tuple[str, ...]:
    """The layer of each of ``profile.ops`` (in their order), "" where it cannot be told. Where an
    accelerator took a partition (an NPU's dispatch node), the profiled graph is the rewritten
    one and its indices are not the model's: nothing is attributed then."""
    if any(is_partition(op.name) for op in profile.ops):
        return ("",) * len(profile.ops)
    by_index = {node.depth: node for node in nodes}
    own = {op.index for op in profile.ops if op.source == "model"}
    delegated = [node for node in nodes if node.depth not in own and node.op_type != FOLDED_WEIGHTS]
    matched: dict[int, str] = {}
    position = 0
    for op in sorted((op for op in profile.ops if op.source == "delegate"), key=lambda op: op.index):
        kind = _kind(op.name)
        ahead = delegated[position : position + LOOKAHEAD]
        hit = next((i for i, node in enumerate(ahead) if kind and node.op_type in kind), None)
        if hit is not None:
            matched[op.index] = ahead[hit].layer
            position += hit + 1
        elif position and kind and delegated[position - 1].op_type in kind:
            matched[op.index] = delegated[position - 1].layer  # a second XNNPACK node of the same op
    return tuple(
        by_index[op.index].layer
        if op.source == "model" and op.index in by_index
        else matched.get(op.index, "")
        if op.source == "delegate"
        else ""
        for op in profile.ops
    )


def profiled_layers(result: CellResult, model_path: Path) -> tuple[str, ...]:
    """The layers of a cell's profiled ops, read from its build on this machine (none where it
    has no profile; "" each where the build cannot be read)."""
    profile = result.op_profile
    if profile is None or not profile.ops:
        return ()
    try:
        nodes = model_nodes(model_path.read_bytes())
    except (OSError, ValueError, RuntimeError):
        return ("",) * len(profile.ops)
    return attribute(profile, nodes)
