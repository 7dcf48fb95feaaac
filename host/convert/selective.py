"""Integer builds with chosen layers left in float, from one calibration.

The converter is asked once to calibrate (``_experimental_calibrate_only``: a float model that
carries every tensor's range); each selective build is then the MLIR quantizer run over that
model with a denylist, which is what TensorFlow's ``QuantizationDebugger`` does for
``get_nondebug_quantized_model``. A search that tries twenty fallbacks therefore calibrates once
and quantizes twenty times in well under a second each.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from host.convert import tfenv
from host.convert.graph import GraphOp, graph_ops
from host.errors import InputError

BASE_MODE = "integer"  # float input/output with float fallback: the only mode where float layers are legal


@dataclass(frozen=True)
class KeepFloat:
    """What stays in float: the user's words, and the converter's node and op names for them."""

    requested: tuple[str, ...]
    nodes: tuple[str, ...] = ()
    op_types: tuple[str, ...] = ()
    layers: tuple[str, ...] = ()  # one name per node (the layer holding its weights), for manifests and tables


def variant_name(keep: KeepFloat) -> str:
    """The build's mode name in manifests and tables: ``integer+keep2`` keeps two layers in float."""
    return f"{BASE_MODE}+keep{len(keep.requested)}"


def resolve(requested: Sequence[str], ops: Sequence[GraphOp]) -> KeepFloat:
    """Map layer names (any layer fused into an op) or op types (``CONV_2D``) to denylist entries."""
    op_types = {op.op_type for op in ops}
    nodes: list[str] = []
    types: list[str] = []
    layers: list[str] = []
    for name in requested:
        if name.upper() in op_types and name.upper() == name:
            types.append(name)
            continue
        matched = [op for op in ops if name in op.layers or name == op.tensor]
        if not matched:
            known = sorted({layer for op in ops for layer in op.layers} | op_types)
            close = difflib.get_close_matches(name, known, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else f"; layers are e.g. {', '.join(known[:6])}"
            raise InputError(f"--keep-float {name!r} names no layer or op type of this model{hint}")
        for op in matched:
            if op.tensor not in nodes:
                nodes.append(op.tensor)
                layers.append(op.layer)
    return KeepFloat(tuple(requested), tuple(nodes), tuple(types), tuple(layers))


def calibrate(converter: Any, representative: Callable[[], Iterator[list[np.ndarray]]]) -> bytes:
    """A float model with every tensor's calibrated range, ready to be quantized many ways."""
    tf = tfenv.tf()
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.experimental_mlir_quantizer = True
    converter._experimental_calibrate_only = True  # what QuantizationDebugger sets; no public switch exists
    with tfenv.silenced():
        return bytes(converter.convert())


def quantize(calibrated: bytes, keep: KeepFloat | None = None, *, numeric_verify: bool = False) -> bytes:
    """The integer build of a calibrated model, ``keep`` left in float; with ``numeric_verify``
    every quantized op is shadowed by its float twin (the debugger's instrumented model)."""
    tfenv.tf()
    from tensorflow.lite.python import convert  # the quantizer QuantizationDebugger calls

    with tfenv.silenced():
        return bytes(
            convert.mlir_quantize(
                calibrated,
                enable_numeric_verify=numeric_verify,
                denylisted_nodes=list(keep.nodes) if keep and keep.nodes else None,
                denylisted_ops=list(keep.op_types) if keep and keep.op_types else None,
            )
        )


@dataclass
class Calibrated:
    """One calibration of one model, and everything built from it."""

    model: bytes
    ops: list[GraphOp]

    @classmethod
    def from_converter(
        cls, converter: Any, representative: Callable[[], Iterator[list[np.ndarray]]], known_layers: Sequence[str] = ()
    ) -> Calibrated:
        model = calibrate(converter, representative)
        return cls(model, graph_ops(model, known_layers))

    def keep(self, requested: Sequence[str]) -> KeepFloat:
        return resolve(requested, self.ops)

    def build(self, keep: KeepFloat | None = None) -> bytes:
        return quantize(self.model, keep)
