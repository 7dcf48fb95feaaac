"""What a .tflite model really holds: IO dtypes, weight and activation dtypes, float kernels.

The converter checks every produced model against its mode's promises with these facts, and the
tests use the same facts, so "full_integer" can never quietly ship float kernels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from device_agent.engines.runtime import inspection_interpreter
from host.errors import ConversionError

WEIGHT_OPS = frozenset({"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV", "CONV_3D"})
_BOUNDARY_OPS = frozenset({"QUANTIZE", "DEQUANTIZE"})


@dataclass(frozen=True)
class TfliteFacts:
    input_dtype: str
    output_dtype: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    weight_dtypes: frozenset[str]
    activation_dtypes: frozenset[str]
    float_kernels: tuple[str, ...]
    float_weight_ops: tuple[str, ...] = ()  # each weighted op whose weights stayed float32, by op type
    input_count: int = 1  # the model's inputs (several: fed from tensor samples, never from images)

    @property
    def is_float(self) -> bool:
        """Nothing quantized: a source the quantizer's modes can be made from."""
        dtypes = {self.input_dtype or "float32", self.output_dtype, *self.weight_dtypes, *self.activation_dtypes}
        return dtypes <= {"float32"}

    @property
    def is_float_source(self) -> bool:
        """Float computation throughout, weights stored as float32 or float16 (a model zoo's
        float16 file is widened into a source by ``host.convert.normalize``)."""
        computed = {self.input_dtype or "float32", self.output_dtype, *self.activation_dtypes}
        return computed <= {"float32"} and self.weight_dtypes <= {"float32", "float16"}


_PACKED_TYPES = {17: "int4", 20: "uint4"}  # schema TensorType values the interpreter reports as int8/uint8


def _packed_tensors(model_content: bytes) -> dict[int, str]:
    """The main subgraph's 4-bit tensors, read from the flatbuffer: the interpreter shows an INT4
    tensor as int8, so "int4 weights" is checked against the file's own tensor types."""
    from ai_edge_litert import schema_py_generated as schema

    graph = schema.Model.GetRootAs(model_content, 0).Subgraphs(0)
    types = ((i, graph.Tensors(i).Type()) for i in range(graph.TensorsLength()))
    return {i: _PACKED_TYPES[t] for i, t in types if t in _PACKED_TYPES}


def quantized_weight_ops(model_content: bytes) -> set[str]:
    """The output names of the weighted ops whose weights a build stores quantized (int4, int8,
    ...): what a recipe can change the precision of."""
    interpreter = inspection_interpreter(model_content)
    name_of = {t["index"]: t["name"] for t in interpreter.get_tensor_details()}
    dtype_of = {t["index"]: np.dtype(t["dtype"]).name for t in interpreter.get_tensor_details()} | _packed_tensors(
        model_content
    )
    ops = interpreter._get_ops_details()  # the public API has no op listing
    produced_by = {out: op for op in ops for out in op["outputs"]}
    found: set[str] = set()
    for op in ops:
        if op["op_name"] in WEIGHT_OPS and len(op["inputs"]) > 1 and op["inputs"][1] >= 0 and op["outputs"]:
            weight = op["inputs"][1]
            source = produced_by.get(weight)
            weight = source["inputs"][0] if source is not None and source["op_name"] == "DEQUANTIZE" else weight
            if dtype_of[weight] != "float32":
                found.add(name_of[op["outputs"][0]])
    return found


def inspect_tflite(model_content: bytes) -> TfliteFacts:
    """Read a model's tensors and ops without running it."""
    try:
        interpreter = inspection_interpreter(model_content)
    except (ValueError, RuntimeError) as e:
        raise ConversionError(f"the produced model does not load in the TFLite interpreter: {e}") from e
    tensors = interpreter.get_tensor_details()
    dtype_of = {t["index"]: np.dtype(t["dtype"]).name for t in tensors} | _packed_tensors(model_content)
    ops = interpreter._get_ops_details()  # the public API has no op listing
    produced_by = {out: op for op in ops for out in op["outputs"]}
    weight_dtypes: set[str] = set()
    activation_dtypes: set[str] = set()
    float_kernels: list[str] = []
    float_weight_ops: list[str] = []
    for op in ops:
        name = op["op_name"]
        if name in WEIGHT_OPS and len(op["inputs"]) > 1 and op["inputs"][1] >= 0:
            weight = op["inputs"][1]
            source = produced_by.get(weight)
            if source is not None and source["op_name"] == "DEQUANTIZE":
                weight = source["inputs"][0]
            weight_dtypes.add(dtype_of[weight])
            if dtype_of[weight] == "float32":
                float_weight_ops.append(name)
            activation_dtypes.update(dtype_of[o] for o in op["outputs"])
        if name not in _BOUNDARY_OPS:
            touched = [i for i in (*op["inputs"], *op["outputs"]) if i >= 0]
            if any(dtype_of[i] == "float32" for i in touched):
                float_kernels.append(name)
    inputs, outputs = interpreter.get_input_details(), interpreter.get_output_details()
    return TfliteFacts(
        input_dtype=_value_input_dtype(inputs),
        output_dtype=np.dtype(outputs[0]["dtype"]).name,
        input_shape=tuple(int(d) for d in inputs[0]["shape"]),
        output_shape=tuple(int(d) for d in outputs[0]["shape"]),
        weight_dtypes=frozenset(weight_dtypes),
        activation_dtypes=frozenset(activation_dtypes),
        float_kernels=tuple(dict.fromkeys(float_kernels)),
        float_weight_ops=tuple(float_weight_ops),
        input_count=len(inputs),
    )


def _value_input_dtype(inputs: list[dict[str, object]]) -> str:
    """The type of the first input that carries values (float, or a quantized integer): token ids
    and indices (an integer with no scale) are what they are in every mode, so a mode's promise
    about its input is about the others; "" when every input is such an index."""
    for detail in inputs:
        dtype = np.dtype(detail["dtype"])  # type: ignore[call-overload]
        scale = (detail.get("quantization") or (0.0, 0))[0]  # type: ignore[index]
        if not np.issubdtype(dtype, np.integer) or scale:
            return str(dtype.name)
    return ""


def classifier_output_problem(model_content: bytes) -> str | None:
    """Why labels cannot score this model, or None for a classifier's one ``[1, classes]`` output.
    Top-k reads one score vector per image: a detector's boxes, a segmenter's mask or a landmark
    model's several heads would be scored as if they were class scores."""
    outputs = inspection_interpreter(model_content).get_output_details()
    shapes = [tuple(int(d) for d in o["shape"]) for o in outputs]
    if len(shapes) != 1:
        listed = ", ".join(f"{o['name']} {list(shape)}" for o, shape in zip(outputs, shapes, strict=True))
        return f"the model has {len(shapes)} outputs ({listed[:200]}), not one score vector per image"
    if len(shapes[0]) != 2 or shapes[0][0] != 1:
        return f"the model's output is {list(shapes[0])}, not one score vector [1, classes] per image"
    return None


def single_input_problem(facts: TfliteFacts) -> str | None:
    """Why a model cannot be benched or calibrated here: every input past the first would be left
    at zeros while the first gets an image, and its latency and quality measured as if that were real."""
    if facts.input_count != 1:
        return (
            f"takes {facts.input_count} inputs; the evaluation and calibration feed one image, so the others would run "
            "on zeros: only single-input image models are supported"
        )
    return None
