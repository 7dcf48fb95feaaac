"""What a build must look like for its mode, checked on the file itself, and the tools' own
reasons in one line.

A mode's promise (its input/output type, its weight and activation types) is read back from the
produced flatbuffer, so neither TensorFlow's converter nor the quantizer can hand over something
else under the mode's name: a quantizer recipe that quantized no weight at all (blockwise scales
on a layer the quantizer does not block) is refused, since its build would be the float model
under another name.
"""

from __future__ import annotations

import re
from collections import Counter

from host.convert.inspect import TfliteFacts
from host.convert.modes import QUANTIZED_IO, QUANTIZER, QuantMode
from host.errors import ConversionError


def expected_io(mode: QuantMode, io_type: str) -> str:
    if mode.io_dtype:
        return mode.io_dtype
    return io_type if mode.io == QUANTIZED_IO else "float32"


def check_promises(mode: QuantMode, facts: TfliteFacts, io_type: str) -> list[str]:
    """Fail on a broken promise; return notes for what is legal but worth knowing."""
    io = expected_io(mode, io_type)
    if mode.recipe_file is None and (facts.input_dtype or io, facts.output_dtype) != (io, io):
        raise ConversionError(
            f"{_maker(mode)} produced {facts.input_dtype} input / {facts.output_dtype} output, but mode {mode.name} "
            f"promises {io}"
        )
    if mode.name == "full_integer" and facts.float_kernels:
        raise ConversionError(
            "ops with no int8 kernel stayed float: "
            + ", ".join(facts.float_kernels)
            + "; use mode 'integer' (float fallback) for this model"
        )
    if mode.recipe_file is not None and facts.is_float:
        raise ConversionError(
            f"the recipe {mode.recipe_file} quantized nothing in this model: the build would be the float model"
        )
    notes = []
    if mode.weight_dtype != "float32" and mode.weight_dtype not in facts.weight_dtypes:
        if mode.tool == QUANTIZER:
            raise ConversionError(
                f"the quantizer stored no weight as {mode.weight_dtype} "
                f"(found {', '.join(sorted(facts.weight_dtypes)) or 'none'}): the build would be the float model"
            )
        notes.append(f"no weight tensor was stored as {mode.weight_dtype} (the converter skips small tensors)")
    elif mode.tool == QUANTIZER and facts.float_weight_ops:
        left = Counter(facts.float_weight_ops)
        notes.append(
            "weights left in float32 (the recipe's ops or granularity do not cover them): "
            + ", ".join(f"{count} {op}" for op, count in left.items())
        )
    if mode.activation_dtype == "int16" and "int16" not in facts.activation_dtypes:
        notes.append("no activation was int16")
    if mode.name == "integer" and facts.float_kernels:
        notes.append("float fallback kernels: " + ", ".join(facts.float_kernels))
    return notes


def _maker(mode: QuantMode) -> str:
    return "the quantizer" if mode.tool == QUANTIZER else "converter"


def converter_reason(error: BaseException) -> str:
    """The converter's own reason in one line, without its MLIR dump."""
    text = str(error)
    lines = []
    for line in text.splitlines():
        line = re.sub(r"^loc\(.*?\)\)*:\s*", "", line.strip())
        if line.startswith("error:") or line.startswith("TF Select ops:") or "not supported" in line:
            lines.append(line.removeprefix("error:").strip())
    reason = "; ".join(dict.fromkeys(lines)) or (text.strip().splitlines() or [type(error).__name__])[0]
    return reason[:500]
