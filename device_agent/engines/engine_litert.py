"""A model compiled by LiteRT's CompiledModel for one accelerator, behind the interpreter's face.

The worker times and evaluates a model through five calls (``get_input_details``,
``get_output_details``, ``set_tensor``, ``invoke``, ``get_tensor``); :class:`CompiledModel`
answers them over LiteRT's C API so the timing loop and the scorer are the same code for every
engine. ``invoke`` writes the input buffer, runs, and reads the output back: a GPU or NPU that
works asynchronously has finished when ``invoke`` returns, so its time is inside the sample.

Coverage is counted, not asked for: LiteRT's ``IsFullyAccelerated`` has reported True while the
work silently ran on XNNPACK (``NPU|CPU``), so an accelerator is always applied alone and the
ops it took are counted in the compiled model (``accelerated_ops``). Profiling is not used for this:
the WebGPU accelerator fails every run of a model compiled with profiling on.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from typing import Any

import numpy as np

from device_agent.engines import litert_capi as capi
from device_agent.engines.litert_capi import Library, LiteRtError
from device_agent.engines.runtime import TensorDetail
from device_agent.errors import DeviceAgentError

# LiteRT refuses an opaque option without a destructor; the payloads are ours (kept in _Handles)
_KEEP_PAYLOAD = ctypes.CFUNCTYPE(None, ctypes.c_void_p)(lambda payload: None)


@dataclass(frozen=True)
class Folders:
    """Where LiteRT finds its accelerators, NPU compiler plugins and vendor dispatch libraries."""

    runtime: str
    compiler: str = ""
    dispatch: str = ""
    compiler_cache: str = ""  # where the NPU compiler plugin keeps what it compiled (a warm start reads it)


@dataclass(frozen=True)
class Tensor:
    index: int
    name: str
    shape: tuple[int, ...]
    dtype: np.dtype[Any]
    scale: float
    zero_point: int
    element_type: int

    def detail(self) -> TensorDetail:
        """The interpreter's detail dict for this tensor (what ``runtime.tensor_info`` reads)."""
        return {
            "index": self.index,
            "name": self.name,
            "shape": np.array(self.shape, dtype=np.int32),
            "dtype": self.dtype.type,
            "quantization": (self.scale, self.zero_point),
        }


class UnsupportedTensor(DeviceAgentError):
    """A model input or output of an element type this agent cannot feed or read."""


class _Handles:
    """Every LiteRT object made so far, destroyed in reverse order whatever failed."""

    def __init__(self, library: Library) -> None:
        self.library = library
        self.made: list[tuple[str, ctypes.c_void_p]] = []
        self.keep: list[object] = []  # payloads and arrays LiteRT points into

    def add(self, destroy: str, handle: ctypes.c_void_p) -> ctypes.c_void_p:
        self.made.append((destroy, handle))
        return handle

    def close(self) -> None:
        while self.made:
            destroy, handle = self.made.pop()
            self.library.destroy(destroy, handle)
        self.keep.clear()


def _environment(library: Library, handles: _Handles, folders: Folders) -> ctypes.c_void_p:
    tags = [
        (capi.ENV_RUNTIME_LIBRARY_DIR, folders.runtime),
        (capi.ENV_COMPILER_PLUGIN_DIR, folders.compiler),
        (capi.ENV_DISPATCH_DIR, folders.dispatch),
        (capi.ENV_COMPILER_CACHE_DIR, folders.compiler_cache),
    ]
    chosen = [(tag, path.encode()) for tag, path in tags if path]
    options = (capi.EnvOption * len(chosen))()
    for slot, (tag, path) in zip(options, chosen, strict=True):
        slot.tag, slot.value.type, slot.value.str_value = tag, capi.ANY_STRING, path
    handles.keep.append(options)
    env = ctypes.c_void_p()
    library.call("LiteRtCreateEnvironment", len(chosen), options, ctypes.byref(env))
    return handles.add("LiteRtDestroyEnvironment", env)


def _tensor(library: Library, handle: ctypes.c_void_p, index: int, name: str) -> Tensor:
    ranked = capi.RankedTensorType()
    library.call("LiteRtGetRankedTensorType", handle, ctypes.byref(ranked))
    if ranked.element_type not in capi.ELEMENT_TYPES:
        raise UnsupportedTensor(
            f"the model's {name} has LiteRT element type {ranked.element_type}, which this agent cannot feed or read"
        )
    shape = tuple(max(1, int(ranked.layout.dimensions[d])) for d in range(ranked.layout.rank))  # dynamic batch -> 1
    kind = ctypes.c_int()
    library.call("LiteRtGetQuantizationTypeId", handle, ctypes.byref(kind))
    scale, zero_point = 0.0, 0
    if kind.value == capi.QUANT_PER_TENSOR:
        quantization = capi.PerTensorQuantization()
        library.call("LiteRtGetPerTensorQuantization", handle, ctypes.byref(quantization))
        scale, zero_point = float(quantization.scale), int(quantization.zero_point)
    return Tensor(
        index, name, shape, np.dtype(capi.ELEMENT_TYPES[ranked.element_type]), scale, zero_point, ranked.element_type
    )


def _options(library: Library, handles: _Handles, accelerators: int, opaque: dict[str, str]) -> ctypes.c_void_p:
    options = ctypes.c_void_p()
    library.call("LiteRtCreateOptions", ctypes.byref(options))
    handles.add("LiteRtDestroyOptions", options)
    library.call("LiteRtSetOptionsHardwareAccelerators", options, accelerators)
    for identifier, toml in opaque.items():
        buffer, pointer = capi.make_payload(toml)
        handles.keep.append(buffer)
        item = ctypes.c_void_p()
        library.call(
            "LiteRtCreateOpaqueOptions",
            identifier.encode(),
            pointer,
            ctypes.cast(_KEEP_PAYLOAD, ctypes.c_void_p),
            ctypes.byref(item),
        )
        library.call("LiteRtAddOpaqueOptions", options, item)  # the options own it from here
    return options


class CompiledModel:
    """One model compiled for ``accelerators`` (a LiteRtHwAccelerators mask), ready to run."""

    def __init__(
        self,
        library: Library,
        model_path: str,
        total_ops: int,
        folders: Folders,
        accelerators: int,
        opaque: dict[str, str] | None = None,
    ) -> None:
        self.library = library
        self.total_ops = total_ops
        self.ops_after: list[int] = []
        self.handles = _Handles(library)
        try:
            self._build(model_path, folders, accelerators, dict(opaque or {}))
        except BaseException:
            self.handles.close()
            raise

    def _build(self, model_path: str, folders: Folders, accelerators: int, opaque: dict[str, str]) -> None:
        library, handles = self.library, self.handles
        self.env = _environment(library, handles, folders)
        model = ctypes.c_void_p()
        library.call("LiteRtCreateModelFromFile", self.env, model_path.encode(), ctypes.byref(model))
        handles.add("LiteRtDestroyModel", model)
        signature = ctypes.c_void_p()
        library.call("LiteRtGetModelSignature", model, 0, ctypes.byref(signature))
        self.inputs = self._signature_tensors(signature, "Input")
        self.outputs = self._signature_tensors(signature, "Output")
        options = _options(library, handles, accelerators, opaque)
        self.compiled = ctypes.c_void_p()
        library.call("LiteRtCreateCompiledModel", self.env, model, options, ctypes.byref(self.compiled))
        handles.add("LiteRtDestroyCompiledModel", self.compiled)
        self.ops_after = _main_ops(library, model)  # an NPU compiler plugin rewrites its partitions in place
        self.input_buffers = self._buffers(self.inputs, "Input")
        self.output_buffers = self._buffers(self.outputs, "Output")
        self.host_inputs = [np.zeros(t.shape, dtype=t.dtype) for t in self.inputs]
        self.host_outputs = [np.zeros(t.shape, dtype=t.dtype) for t in self.outputs]
        self._bind_hot_path()

    def _signature_tensors(self, signature: ctypes.c_void_p, side: str) -> list[Tensor]:
        count = ctypes.c_size_t()
        self.library.call(f"LiteRtGetNumSignature{side}s", signature, ctypes.byref(count))
        tensors = []
        for i in range(count.value):
            handle = ctypes.c_void_p()
            self.library.call(f"LiteRtGetSignature{side}TensorByIndex", signature, i, ctypes.byref(handle))
            index = i if side == "Input" else 1000 + i  # interpreter-style indices, distinct per side
            name = ctypes.c_char_p()
            self.library.call("LiteRtGetTensorName", handle, ctypes.byref(name))  # the interpreter's name for it too
            tensors.append(
                _tensor(
                    self.library, handle, index, (name.value or b"").decode(errors="replace") or f"{side.lower()}{i}"
                )
            )
        return tensors

    def _buffers(self, tensors: list[Tensor], side: str) -> Any:
        array = (ctypes.c_void_p * len(tensors))()
        for i, tensor in enumerate(tensors):
            requirements = ctypes.c_void_p()  # owned by the compiled model
            self.library.call(
                f"LiteRtGetCompiledModel{side}BufferRequirements", self.compiled, 0, i, ctypes.byref(requirements)
            )
            ranked = capi.RankedTensorType()
            ranked.element_type = tensor.element_type
            ranked.layout.rank = len(tensor.shape)
            for d, size in enumerate(tensor.shape):
                ranked.layout.dimensions[d] = size
            buffer = ctypes.c_void_p()
            self.library.call(
                "LiteRtCreateManagedTensorBufferFromRequirements",
                self.env,
                ctypes.byref(ranked),
                requirements,
                ctypes.byref(buffer),
            )
            self.handles.add("LiteRtDestroyTensorBuffer", buffer)
            array[i] = buffer
        self.handles.keep.append(array)
        return array

    # -- the interpreter's face ----------------------------------------------------------------
    def get_input_details(self) -> list[TensorDetail]:
        return [t.detail() for t in self.inputs]

    def get_output_details(self) -> list[TensorDetail]:
        return [t.detail() for t in self.outputs]

    def set_tensor(self, index: int, value: np.ndarray) -> None:
        target = self.host_inputs[index]
        np.copyto(target, np.asarray(value, dtype=target.dtype).reshape(target.shape))

    def get_tensor(self, index: int) -> np.ndarray:
        return self.host_outputs[index - 1000].copy()

    def allocate_tensors(self) -> None:
        """Buffers were made from the compiled model's requirements already."""

    def invoke(self) -> None:
        """Write the inputs, run, read the outputs: the hot path, one ctypes call per step and no
        lookups (each lookup and argument conversion costs microseconds a sub-millisecond model shows)."""
        lock, unlock, address, where = self._lock, self._unlock, self._address, self._where
        for buffer, data, size in self._writes:
            status = lock(buffer, where, capi.LOCK_WRITE)
            if status:
                raise LiteRtError("LiteRtLockTensorBuffer", status)
            ctypes.memmove(address, data, size)
            unlock(buffer)
        status = self._run(self.compiled, 0, self._counts[0], self.input_buffers, self._counts[1], self.output_buffers)
        if status:
            raise LiteRtError("LiteRtRunCompiledModel", status)
        for buffer, data, size in self._reads:
            status = lock(buffer, where, capi.LOCK_READ)
            if status:
                raise LiteRtError("LiteRtLockTensorBuffer", status)
            ctypes.memmove(data, address, size)
            unlock(buffer)

    def _bind_hot_path(self) -> None:
        lib = self.library.lib
        self._lock, self._unlock, self._run = (
            lib.LiteRtLockTensorBuffer,
            lib.LiteRtUnlockTensorBuffer,
            lib.LiteRtRunCompiledModel,
        )
        self._address = ctypes.c_void_p()
        self._where = ctypes.byref(self._address)
        self._counts = (len(self.inputs), len(self.outputs))
        self._writes = [(self.input_buffers[i], h.ctypes.data, h.nbytes) for i, h in enumerate(self.host_inputs)]
        self._reads = [(self.output_buffers[i], h.ctypes.data, h.nbytes) for i, h in enumerate(self.host_outputs)]

    # -- what ran where ------------------------------------------------------------------------
    def accelerated_ops(self, partitions_in_model: bool) -> int:
        """Ops on the accelerator, counted from the model LiteRT compiled (never its own verdict).

        The accelerator was applied alone: LiteRT refuses to compile a model with an op left for
        the CPU then, so every op sits in the accelerator's partitions (a GPU's delegate nodes);
        an NPU compiler plugin replaces each partition it took by one dispatch op in the model,
        so whatever else is left in the main subgraph is what it did not take.
        """
        if not partitions_in_model:  # a GPU's partitions are delegate nodes: compiled alone, it took every op
            return self.total_ops
        left = sum(1 for code in self.ops_after if code != capi.CUSTOM_OP)
        return max(0, self.total_ops - left)

    def supports_fp16(self) -> bool | None:
        """Whether the GPU environment computes in fp16 (None: LiteRT cannot say)."""
        answer = ctypes.c_bool()
        try:
            self.library.call("LiteRtEnvironmentSupportsFP16", self.env, ctypes.byref(answer))
        except LiteRtError:
            return None
        return bool(answer.value)

    def accelerator_names(self) -> list[tuple[str, int]]:
        """The accelerators registered in this model's environment: (name, hardware mask)."""
        return _registered(self.library, self.env)

    def close(self) -> None:
        self.handles.close()


def _main_ops(library: Library, model: ctypes.c_void_p) -> list[int]:
    """The op codes of the model's main subgraph, as LiteRT holds it now."""
    subgraph, count = ctypes.c_void_p(), ctypes.c_size_t()
    library.call("LiteRtGetModelSubgraph", model, 0, ctypes.byref(subgraph))
    library.call("LiteRtGetNumSubgraphOps", subgraph, ctypes.byref(count))
    codes = []
    for i in range(count.value):
        op, code = ctypes.c_void_p(), ctypes.c_int()
        library.call("LiteRtGetSubgraphOp", subgraph, i, ctypes.byref(op))
        library.call("LiteRtGetOpCode", op, ctypes.byref(code))
        codes.append(code.value)
    return codes


def registered_accelerators(library: Library, folders: Folders) -> list[tuple[str, int]]:
    """The accelerators an environment with these folders registers: (name, hardware mask)."""
    handles = _Handles(library)
    try:
        return _registered(library, _environment(library, handles, folders))
    finally:
        handles.close()


def _registered(library: Library, env: ctypes.c_void_p) -> list[tuple[str, int]]:
    count = ctypes.c_size_t()
    library.call("LiteRtGetNumAccelerators", env, ctypes.byref(count))
    found = []
    for i in range(count.value):
        accelerator, name, hardware = ctypes.c_void_p(), ctypes.c_char_p(), ctypes.c_int()
        library.call("LiteRtGetAccelerator", env, i, ctypes.byref(accelerator))
        library.call("LiteRtGetAcceleratorName", accelerator, ctypes.byref(name))
        library.call("LiteRtGetAcceleratorHardwareSupport", accelerator, ctypes.byref(hardware))
        found.append(((name.value or b"").decode(), hardware.value))
    return found
