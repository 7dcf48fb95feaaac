"""Backends: ``cpuN`` (XNNPACK, N threads), ``gpu`` / ``gpu-fp32`` / ``npu`` (LiteRT's
accelerators, ``accelerators.py``), ``nnapi``, and ``gpu`` through a classic delegate library when
one is given.

Availability is decided from facts (Android version, whether the delegate library loads) and
always carries a precise reason when the answer is no. Creating an interpreter for a backend
also measures delegation coverage: how many of the model's nodes the delegate took.
"""

from __future__ import annotations

import ctypes
import re
from dataclasses import dataclass
from typing import Any, Literal

from device_agent.contract import Delegation
from device_agent.engines.runtime import Runtime
from device_agent.errors import DeviceAgentError, InvalidRequest

BackendKind = Literal["cpu", "gpu", "npu", "nnapi"]
_ACCELERATED: dict[str, BackendKind] = {"gpu": "gpu", "gpu-fp32": "gpu", "nnapi": "nnapi", "npu": "npu"}

DEFAULT_GPU_DELEGATE = "libtensorflowlite_gpu_delegate.so"
DEFAULT_NNAPI_DELEGATE = "libtensorflowlite_nnapi_delegate.so"
NNAPI_MIN_SDK = 27  # Android 8.1
NNAPI_LAST_SDK = 34  # Android 14; NNAPI is removed from Android 15 (SDK 35)


class BackendError(InvalidRequest):
    """A backend name that does not parse."""


class BackendUnavailable(DeviceAgentError):
    """This device cannot run the backend (no library, no LiteRT, no accelerator): the cell is unavailable."""


class AcceleratorFallback(DeviceAgentError):
    """The accelerator took none of the model, or will not run it without the CPU: no GPU/NPU figure."""


@dataclass(frozen=True)
class BackendSpec:
    name: str
    kind: BackendKind
    threads: int = 1


def parse_backend(name: str) -> BackendSpec:
    match = re.fullmatch(r"cpu(\d+)", name)
    if match:
        threads = int(match.group(1))
        if not 1 <= threads <= 256:
            raise BackendError(f"backend {name!r}: thread count must be 1..256")
        return BackendSpec(name, "cpu", threads)
    if name in _ACCELERATED:
        return BackendSpec(name, _ACCELERATED[name])
    raise BackendError(f"unknown backend {name!r}: use cpuN (cpu1, cpu4, ...), gpu, gpu-fp32, npu or nnapi")


def uses_litert(spec: BackendSpec, gpu_delegate: str = "") -> bool:
    """GPU and NPU run through LiteRT's CompiledModel, unless a classic GPU delegate library is given."""
    return spec.kind == "npu" or (spec.kind == "gpu" and (spec.name == "gpu-fp32" or not gpu_delegate))


@dataclass(frozen=True)
class PlatformFacts:
    android: bool
    sdk: int
    emulated: bool
    description: str  # "Linux x86_64", "Android 14 (SDK 34)"
    software_gpu: str = ""  # an emulated device's GPU ("SwiftShader (fp32)"); empty: none, or real hardware
    software_npu: str = ""
    missing_gpu: str = ""  # an emulated device without a software GPU: what to install for one


def platform_availability(spec: BackendSpec, facts: PlatformFacts) -> tuple[bool, str]:
    """(available, reason) from the device's facts alone: nothing is loaded here.

    Delegate libraries are untrusted code: whether one loads is found out only in a worker or a
    throwaway probe process (``library_error``), never in the agent, so a library that crashes
    on load costs exactly its own cells.
    """
    if facts.emulated and spec.kind == "gpu" and not facts.software_gpu and facts.missing_gpu:
        return False, f"emulated device: this machine has no software Vulkan for its GPU; {facts.missing_gpu}"
    if spec.kind == "nnapi":
        if not facts.android:
            return False, f"NNAPI exists only on Android; this device is {facts.description}"
        if facts.sdk < NNAPI_MIN_SDK:
            return False, f"NNAPI needs Android 8.1 (SDK {NNAPI_MIN_SDK}) or later; this device is SDK {facts.sdk}"
        if facts.sdk > NNAPI_LAST_SDK:
            return False, f"NNAPI was removed in Android 15 (SDK 35); this device is SDK {facts.sdk}"
    return True, ""


def library_for(spec: BackendSpec, gpu_delegate: str = "", nnapi_delegate: str = "") -> str | None:
    """The classic delegate library a backend needs, or None (the CPU, and LiteRT's accelerators)."""
    if uses_litert(spec, gpu_delegate):
        return None
    if spec.kind == "gpu":
        return gpu_delegate or DEFAULT_GPU_DELEGATE
    if spec.kind == "nnapi":
        return nnapi_delegate or DEFAULT_NNAPI_DELEGATE
    return None


def library_error(library: str) -> str | None:
    """None if the shared library loads, else the loader's message. Loads it: call this only in a
    worker or probe process."""
    try:
        ctypes.CDLL(library)
    except OSError as e:
        return str(e)
    return None


def missing_library_reason(spec: BackendSpec, facts: PlatformFacts, error: str) -> str:
    """Why the backend is unavailable when its library does not load, with the fix."""
    prefix = "emulated device: " if facts.emulated else ""
    name, flag = ("GPU", "--gpu-delegate") if spec.kind == "gpu" else ("NNAPI", "--nnapi-delegate")
    return f"{prefix}no {name} delegate library ({error}); push one and pass {flag} PATH"


def make_interpreter(
    runtime: Runtime, model_path: str, spec: BackendSpec, gpu_delegate: str = "", nnapi_delegate: str = ""
) -> Any:
    """The interpreter for a backend; raises whatever the runtime raises (the worker maps it)."""
    if spec.kind == "cpu":
        return runtime.interpreter_class(model_path=model_path, num_threads=spec.threads)
    library = (
        (gpu_delegate or DEFAULT_GPU_DELEGATE) if spec.kind == "gpu" else (nnapi_delegate or DEFAULT_NNAPI_DELEGATE)
    )
    delegate = runtime.load_delegate(library)
    return runtime.interpreter_class(model_path=model_path, experimental_delegates=[delegate], num_threads=1)


def software_hardware(spec: BackendSpec, facts: PlatformFacts) -> str:
    """The emulated device's software GPU or NPU that runs this backend; empty on real hardware."""
    if not facts.emulated:
        return ""
    return facts.software_gpu if spec.kind == "gpu" else facts.software_npu if spec.kind == "npu" else ""


def delegation_coverage(interpreter: Any, total_nodes: int, delegate_name: str) -> Delegation:
    """Count original nodes inside DELEGATE partitions (walk back from each partition's outputs).

    The runtime keeps the original nodes first and appends one DELEGATE node per partition, so
    the nodes a delegate took are those between its partition's inputs and outputs.
    """
    ops = interpreter._get_ops_details()  # no public API lists nodes
    original, delegates = ops[:total_nodes], [op for op in ops[total_nodes:] if op["op_name"] == "DELEGATE"]
    producer = {out: op["index"] for op in original for out in op["outputs"]}
    by_index = {op["index"]: op for op in original}
    taken: set[int] = set()
    for node in delegates:
        boundary = set(node["inputs"])
        stack = [t for t in node["outputs"] if t in producer]
        while stack:
            index = producer[stack.pop()]
            if index in taken:
                continue
            taken.add(index)
            stack.extend(t for t in by_index[index]["inputs"] if t >= 0 and t not in boundary and t in producer)
    return Delegation(
        len(taken),
        total_nodes,
        delegate=delegate_name,
        fallback=not taken,
        engine="tflite-interpreter",
        accelerator="XNNPACK" if delegate_name == "xnnpack" else f"{delegate_name} delegate",
    )
