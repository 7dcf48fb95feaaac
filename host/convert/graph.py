"""A model's ops as the user knows them: TFLite op, output tensor, and the Keras layers in it.

The converter fuses a convolution with its BatchNorm and activation and names the fused op's
output tensor after all of them (``model/block7_project_bn_1/batchnorm/add_1;model/block7_project_1/
convolution;...``). Users think in Keras layer names, the converter's debugger and denylists in
tensor names: this module is the one mapping between the two.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from device_agent.engines.runtime import inspection_interpreter
from host.errors import ConversionError

_INSTANCE_SUFFIX = re.compile(r"_\d+$")
NOT_LAYERS = frozenset({"QUANTIZE", "DEQUANTIZE", "NumericVerify"})


@dataclass(frozen=True)
class GraphOp:
    """One op of the float graph, in execution order (``depth``)."""

    depth: int
    op_type: str
    tensor: str  # its output tensor's name: what the converter's denylist calls a node
    layers: tuple[str, ...]  # the Keras layers fused into it, outermost first
    inputs: tuple[str, ...]  # names of the tensors it reads

    @property
    def layer(self) -> str:
        """The name to show: the layer that owns the op's weights when there is one (a conv, not its BN)."""
        if self.layers:
            return self.layers[-1]
        return (
            f"{self.op_type} (model output)"
            if self.tensor.startswith("StatefulPartitionedCall")
            else self.tensor.split(";")[0]
        )


def layers_of(tensor_name: str, known: Iterable[str] = (), strip: bool = True) -> tuple[str, ...]:
    """The Keras layers a (possibly fused) tensor name mentions.

    With the model's layer names known, a path component matches a layer exactly or with Keras'
    call-instance suffix (``block7_project_1``); without them the suffix is stripped, unless
    ``strip`` is False (a .tflite from elsewhere: ``conv2d_1`` is a layer of its own there).
    """
    known_set = set(known)
    found: list[str] = []
    for part in tensor_name.split(";"):
        components = part.split("/")
        for component in components if known_set or len(components) == 1 else components[1:]:  # [0]: the model
            base = _INSTANCE_SUFFIX.sub("", component)
            if known_set:
                name = component if component in known_set else base if base in known_set else None
            else:
                name = (base if strip else component) if base != component else None
            if name and name not in found:
                found.append(name)
            if name:
                break  # the first layer in a path is the layer; later components are its internals
    return tuple(found)


def graph_ops(model_content: bytes, known_layers: Sequence[str] = ()) -> list[GraphOp]:
    """The ops of a float (or calibrated) model, each with its Keras layers."""
    try:
        interpreter = inspection_interpreter(model_content)
    except (ValueError, RuntimeError) as e:
        raise ConversionError(f"the calibrated model does not load in the TFLite interpreter: {e}") from e
    kept = [op for op in model_nodes(interpreter, known_layers) if op.op_type not in NOT_LAYERS and op.tensor]
    return [replace(op, depth=depth) for depth, op in enumerate(kept)]


def model_nodes(interpreter: Any, known_layers: Sequence[str] = (), strip: bool = True) -> list[GraphOp]:
    """Every node of a loaded model, ``depth`` its index in the model, each with its Keras layers
    (``strip``: as ``layers_of``)."""
    names = {t["index"]: t["name"] for t in interpreter.get_tensor_details()}
    nodes: list[GraphOp] = []
    for op in interpreter._get_ops_details():  # the public API has no op listing
        outputs = [i for i in op["outputs"] if i >= 0]
        tensor = names[outputs[0]] if outputs else ""
        inputs = tuple(names[i] for i in op["inputs"] if i >= 0)
        layers = layers_of(tensor, known_layers, strip)
        if not layers:  # a model output takes the signature's name; its weights still carry the layer's
            layers = tuple(
                dict.fromkeys(name for weight in inputs[1:] for name in layers_of(weight, known_layers, strip))
            )
        nodes.append(GraphOp(int(op["index"]), op["op_name"], tensor, layers, inputs))
    return nodes


def neighbours(ops: Sequence[GraphOp]) -> dict[str, tuple[str, ...]]:
    """For each op (by tensor), the ops that consume its output: the producer/consumer pairs
    whose quantization can only be undone together."""
    consumers: dict[str, list[str]] = {op.tensor: [] for op in ops}
    for op in ops:
        for name in op.inputs:
            if name in consumers:
                consumers[name].append(op.tensor)
    return {tensor: tuple(found) for tensor, found in consumers.items()}
