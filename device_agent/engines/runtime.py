"""Pick the TFLite runtime: ai_edge_litert, else tflite_runtime, else tensorflow.lite."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from device_agent.errors import DeviceAgentError

# The TFLite interpreter's tensor detail (get_input_details()): its API's own dict of name, index,
# shape, dtype and quantization, which LiteRT's engine imitates; untyped at that boundary.
TensorDetail = dict[str, Any]


@dataclass(frozen=True)
class Runtime:
    """The interpreter module in use, its name and version, and its op-resolver enum."""

    name: str
    version: str
    interpreter_class: Any
    load_delegate: Any
    op_resolver_type: Any


@dataclass(frozen=True)
class TensorInfo:
    """An input or output tensor as the interpreter describes it, typed."""

    index: int
    shape: tuple[int, ...]
    dtype: np.dtype[Any]
    scale: float
    zero_point: int


def tensor_info(detail: TensorDetail) -> TensorInfo:
    """The interpreter's detail dict (its only API for this) as a TensorInfo."""
    scale, zero_point = detail.get("quantization", (0.0, 0))
    return TensorInfo(
        int(detail["index"]),
        tuple(int(d) for d in detail["shape"]),
        np.dtype(detail["dtype"]),
        float(scale),
        int(zero_point),
    )


class RuntimeMissing(DeviceAgentError):
    """No TFLite runtime is importable on this device."""


def _version_of(distribution: str, module: Any) -> str:
    from importlib import metadata

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return str(getattr(module, "__version__", "unknown"))


@cache
def find_runtime() -> Runtime:
    errors: list[str] = []
    for module_name, distribution in (
        ("ai_edge_litert.interpreter", "ai-edge-litert"),
        ("tflite_runtime.interpreter", "tflite-runtime"),
        ("tensorflow.lite.python.interpreter", "tensorflow"),
    ):
        try:
            module = importlib.import_module(module_name)
        except Exception as e:  # an import can fail with anything on a broken install
            errors.append(f"{distribution}: {e}")
            continue
        return Runtime(
            name=distribution,
            version=_version_of(distribution, module),
            interpreter_class=module.Interpreter,
            load_delegate=module.load_delegate,
            op_resolver_type=getattr(module, "OpResolverType", None),
        )
    raise RuntimeMissing("no TFLite runtime: pip install ai-edge-litert (" + "; ".join(errors) + ")")


def inspection_interpreter(model_content: bytes) -> Any:
    """An interpreter over the model's own kernels, with no default delegate applied.

    XNNPACK would otherwise replace nodes by one DELEGATE node and hide what the model holds.
    """
    runtime = find_runtime()
    kwargs: dict[str, object] = {"model_content": model_content}
    if runtime.op_resolver_type is not None:
        kwargs["experimental_op_resolver_type"] = runtime.op_resolver_type.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    return runtime.interpreter_class(**kwargs)
