"""Make a third-party float .tflite a source the quantizer can work from, and prove the copy equal.

Files from other converters and older TensorFlow releases differ from what ai-edge-quantizer reads
in three ways, each fixed on a copy with the schema LiteRT ships (``ai_edge_litert``'s generated
flatbuffer classes, never a parser of our own):

- float16 weights behind ``DEQUANTIZE`` ops (the converter's float16 pattern): a float model in
  all but storage, which the quantizer would take as already quantized. The weight is widened to
  float32 and the ``DEQUANTIZE`` removed.
- op codes kept only in the legacy ``deprecated_builtin_code`` byte: the quantizer reads
  ``builtin_code`` alone, sees ``ADD`` (0) everywhere and quantizes nothing. The effective code
  (the larger of the two, as the runtime reads it) goes into ``builtin_code``.
- no signature: calibration feeds a signature's inputs by name. A ``serving_default`` signature
  is added with the subgraph's inputs and outputs in tensor order.

The copy is then loaded and run beside the original on seeded random inputs; the largest
difference over every output is reported, and a copy that disagrees is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from host.errors import ModelLoadError

_FLOAT32, _FLOAT16 = 0, 1
_DEQUANTIZE = 6
_PLACEHOLDER_FOR_GREATER_OP_CODES = 127
_TFLITE_IDENTIFIER = b"TFL3"
# float16 -> float32 is exact, so outputs may differ only by kernel choice (XNNPACK packs the
# widened weights the same way); more than this, relative to the output's size, is a broken copy
_RELATIVE_TOLERANCE = 1e-4


@dataclass(frozen=True)
class Normalized:
    """The copy and what changed; ``content`` is the original bytes when nothing needed changing."""

    content: bytes
    widened_weights: int = 0
    opcodes_moved: int = 0
    signature_added: bool = False
    max_abs_error: float = 0.0

    @property
    def changed(self) -> bool:
        return bool(self.widened_weights or self.opcodes_moved or self.signature_added)

    def describe(self, name: str) -> str:
        """One line for the console: what was rewritten, and how close the copy runs."""
        done = [
            f"{self.widened_weights} float16 weights widened to float32" if self.widened_weights else "",
            f"{self.opcodes_moved} legacy op codes moved into builtin_code" if self.opcodes_moved else "",
            "a serving_default signature added" if self.signature_added else "",
        ]
        return (
            f"normalised a copy of {name}: {', '.join(d for d in done if d)} "
            f"(outputs match the original on random inputs: max abs error {self.max_abs_error:.3g})"
        )


def normalize_float_tflite(content: bytes, name: str) -> Normalized:
    """The copy of ``content`` the quantizer can read, checked against the original; the
    original itself when nothing needs changing."""
    from ai_edge_litert import schema_py_generated as schema

    try:
        model = schema.ModelT.InitFromPackedBuf(bytearray(content), 0)
    except Exception as e:  # a flatbuffer that does not parse raises whatever the reader hit
        raise ModelLoadError(
            f"{name} is not a valid TFLite model (its flatbuffer does not parse: {type(e).__name__})"
        ) from e
    if any(getattr(b, "offset", 0) > 1 for b in model.buffers or []):
        return Normalized(content)  # weights outside the flatbuffer (over 2 GB): left as the converter wrote them
    moved = _move_legacy_opcodes(model)
    widened = sum(_widen_float16_weights(model, graph) for graph in model.subgraphs or [])
    signature = _add_signature(model, schema)
    if not (moved or widened or signature):
        return Normalized(content)
    copy = _pack(model, schema)
    error = _max_abs_difference(content, copy, name)
    return Normalized(copy, widened, moved, signature, error)


def _move_legacy_opcodes(model: Any) -> int:
    moved = 0
    for code in model.operatorCodes or []:
        effective = max(code.builtinCode, code.deprecatedBuiltinCode)
        if code.builtinCode != effective:
            code.builtinCode = effective
            moved += 1
        code.deprecatedBuiltinCode = min(effective, _PLACEHOLDER_FOR_GREATER_OP_CODES)
    return moved


def _widen_float16_weights(model: Any, graph: Any) -> int:
    """Replace each DEQUANTIZE of a constant float16 tensor by the float32 constant it computes."""
    codes = [c.builtinCode for c in model.operatorCodes or []]
    tensors, buffers = graph.tensors or [], model.buffers
    kept_ops, widened, dropped = [], 0, set()
    for op in graph.operators or []:
        source = (
            tensors[op.inputs[0]]
            if codes[op.opcodeIndex] == _DEQUANTIZE and op.inputs is not None and len(op.inputs)
            else None
        )
        data = buffers[source.buffer].data if source is not None and source.type == _FLOAT16 and source.buffer else None
        if source is None or data is None or not len(data):
            kept_ops.append(op)
            continue
        target = tensors[op.outputs[0]]
        widened_values = np.frombuffer(bytes(np.asarray(data, dtype=np.uint8)), dtype="<f2").astype("<f4")
        buffers.append(_buffer(widened_values.tobytes()))
        target.buffer, target.type = len(buffers) - 1, _FLOAT32
        dropped.add(op.inputs[0])
        widened += 1
    graph.operators = kept_ops
    _drop_unused_tensors(model, graph, dropped)
    return widened


def _buffer(payload: bytes) -> Any:
    from ai_edge_litert import schema_py_generated as schema

    buffer = schema.BufferT()
    buffer.data = np.frombuffer(payload, dtype=np.uint8)
    return buffer


def _drop_unused_tensors(model: Any, graph: Any, candidates: set[int]) -> None:
    """Remove the float16 originals no op reads any more, renumbering every reference; their
    buffers are emptied (buffer indices stay: other subgraphs may share them)."""
    used = {i for op in graph.operators or [] for i in (*_ints(op.inputs), *_ints(op.intermediates))}
    used |= set(_ints(graph.inputs)) | set(_ints(graph.outputs))
    gone = {i for i in candidates if i not in used}
    if not gone:
        return
    freed = {graph.tensors[index].buffer for index in gone}
    for (
        subgraph
    ) in model.subgraphs:  # a buffer another tensor still reads (converters share equal constants) keeps its data
        freed -= {t.buffer for i, t in enumerate(subgraph.tensors or []) if subgraph is not graph or i not in gone}
    for buffer in freed:
        model.buffers[buffer].data = None
    renumber = {old: new for new, old in enumerate(i for i in range(len(graph.tensors)) if i not in gone)}
    graph.tensors = [t for i, t in enumerate(graph.tensors) if i not in gone]

    def remap(indices: Any) -> Any:
        return None if indices is None else [renumber[i] if i >= 0 else i for i in _ints(indices)]

    for op in graph.operators or []:
        op.inputs, op.outputs, op.intermediates = remap(op.inputs), remap(op.outputs), remap(op.intermediates)
    graph.inputs, graph.outputs = remap(graph.inputs), remap(graph.outputs)
    graph_index = model.subgraphs.index(graph)
    for signature in model.signatureDefs or []:
        if signature.subgraphIndex == graph_index:
            for entry in (*(signature.inputs or []), *(signature.outputs or [])):
                entry.tensorIndex = renumber[entry.tensorIndex]


def _add_signature(model: Any, schema: Any) -> bool:
    if model.signatureDefs:
        return False
    graph = model.subgraphs[0]

    def entries(indices: list[int], prefix: str) -> list[Any]:
        names = [_tensor_name(graph.tensors[i]) for i in indices]
        unique = len(set(names)) == len(names) and all(names)
        out = []
        for position, index in enumerate(indices):
            entry = schema.TensorMapT()
            entry.name, entry.tensorIndex = names[position] if unique else f"{prefix}_{position}", index
            out.append(entry)
        return out

    signature = schema.SignatureDefT()
    signature.signatureKey, signature.subgraphIndex = "serving_default", 0
    signature.inputs, signature.outputs = entries(_ints(graph.inputs), "input"), entries(_ints(graph.outputs), "output")
    model.signatureDefs = [signature]
    return True


def _ints(indices: Any) -> list[int]:
    """A vector of the object API (a numpy array, a list or None) as plain ints."""
    return [] if indices is None else [int(i) for i in indices]


def _tensor_name(tensor: Any) -> str:
    name = tensor.name
    return name.decode("utf-8", "replace") if isinstance(name, bytes) else str(name or "")


def _pack(model: Any, schema: Any) -> bytes:
    import flatbuffers

    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=_TFLITE_IDENTIFIER)
    return bytes(builder.Output())


def _max_abs_difference(original: bytes, copy: bytes, name: str) -> float:
    """Both models on the same seeded random inputs; the largest difference over all outputs."""
    from device_agent.engines.runtime import inspection_interpreter

    try:
        before, after = inspection_interpreter(original), inspection_interpreter(copy)
        before.allocate_tensors()
        after.allocate_tensors()
    except (ValueError, RuntimeError) as e:
        raise ModelLoadError(f"{name}: the normalised copy does not load ({str(e).splitlines()[0][:200]})") from e
    rng = np.random.default_rng(0)
    for detail, twin in zip(before.get_input_details(), after.get_input_details(), strict=True):
        values = random_input(rng, tuple(int(d) for d in detail["shape"]), np.dtype(detail["dtype"]))
        before.set_tensor(detail["index"], values)
        after.set_tensor(twin["index"], values)
    before.invoke()
    after.invoke()
    worst = 0.0
    for detail, twin in zip(before.get_output_details(), after.get_output_details(), strict=True):
        expected = before.get_tensor(detail["index"]).astype(np.float64)
        got = after.get_tensor(twin["index"]).astype(np.float64)
        error = float(np.max(np.abs(expected - got), initial=0.0))
        scale = float(np.max(np.abs(expected), initial=0.0))
        if not np.isfinite(error) or error > _RELATIVE_TOLERANCE * max(scale, 1.0):
            raise ModelLoadError(
                f"{name}: the normalised copy's output {detail['name']} differs from the original by "
                f"{error:.3g} (outputs up to {scale:.3g}); the file is left as it is, bench it as it is"
            )
        worst = max(worst, error)
    return worst


def random_input(rng: np.random.Generator, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """Seeded inputs of any dtype: floats in [-1, 1), integers small and non-negative (token
    ids, indices), booleans at random."""
    if dtype.kind == "f":
        return rng.uniform(-1.0, 1.0, size=shape).astype(dtype)
    if dtype.kind in "iu":
        return rng.integers(0, 8, size=shape).astype(dtype)
    if dtype.kind == "b":
        return rng.integers(0, 2, size=shape).astype(bool)
    raise ModelLoadError(f"model input of dtype {dtype.name} cannot be fed random values")
