"""LiteRT's C API (``libLiteRt.so``) through ``ctypes``: the prototypes this agent calls, and nothing else.

Phones have no ``ai_edge_litert`` wheel; Google publishes ``libLiteRt.so`` prebuilt per platform
(``android_arm64``, ``linux_x86_64``, ...), and the same library is inside the wheel on x86. The
prototypes follow ``litert/c/*.h`` of the LiteRT version in ``KNOWN_VERSIONS``; a library of any
other version is refused before a single call (``accelerators.installed``), because a changed
signature would not fail cleanly through ``ctypes`` but corrupt memory. The signatures are
v2.2.0's headers, which 2.3 keeps; later sources dropped the buffer counts of
``LiteRtRunCompiledModel``, and calling 2.3 that way crashes it.

Every call returns a ``LiteRtStatus``; ``Library.call`` turns a non-zero one into
:class:`LiteRtError` with the call's name and the status's name, which is what a user can search
LiteRT's issues for.
"""

from __future__ import annotations

import ctypes
from ctypes import (
    POINTER,
    Structure,
    Union,
    c_bool,
    c_char_p,
    c_double,
    c_float,
    c_int,
    c_int32,
    c_int64,
    c_size_t,
    c_uint32,
    c_uint64,
    c_void_p,
)

from device_agent.errors import DeviceAgentError

KNOWN_VERSIONS = ("2.3",)  # major.minor of the C API these prototypes were written against
TENSOR_MAX_RANK = 8

# LiteRtHwAccelerators
HW_CPU, HW_GPU, HW_NPU = 1, 2, 4
# LiteRtTensorBufferLockMode
LOCK_READ, LOCK_WRITE = 0, 1
# LiteRtEnvOptionTag
ENV_COMPILER_PLUGIN_DIR, ENV_DISPATCH_DIR, ENV_RUNTIME_LIBRARY_DIR = 0, 1, 22
ENV_COMPILER_CACHE_DIR = 18  # kLiteRtEnvOptionTagCompilerCacheDir: the NPU JIT compilation cache
# LiteRtAnyType
ANY_STRING = 8
# LiteRtQuantizationTypeId
QUANT_PER_TENSOR = 1
CUSTOM_OP = 32  # kLiteRtOpCodeTflCustom: what an NPU compiler plugin leaves for each partition it took
COMPILATION_ERROR = 504  # kLiteRtStatusErrorCompilation: "Some ops are not accelerated" without the CPU
# LiteRtElementType -> numpy dtype name
ELEMENT_TYPES = {
    1: "float32",
    2: "int32",
    3: "uint8",
    4: "int64",
    6: "bool",
    7: "int16",
    9: "int8",
    10: "float16",
    11: "float64",
    16: "uint32",
    17: "uint16",
}
STATUS_NAMES = {
    0: "Ok",
    1: "ErrorInvalidArgument",
    2: "ErrorMemoryAllocationFailure",
    3: "ErrorRuntimeFailure",
    4: "ErrorMissingInputTensor",
    5: "ErrorUnsupported",
    6: "ErrorNotFound",
    7: "ErrorTimeoutExpired",
    8: "ErrorWrongVersion",
    9: "ErrorUnknown",
    10: "ErrorAlreadyExists",
    100: "Cancelled",
    500: "ErrorFileIO",
    501: "ErrorInvalidFlatbuffer",
    502: "ErrorDynamicLoading",
    503: "ErrorSerialization",
    504: "ErrorCompilation",
    1000: "ErrorIndexOOB",
    4000: "ErrorUnsupportedRuntimeVersion",
    4001: "ErrorUnsupportedCompilerVersion",
    4002: "ErrorIncompatibleByteCodeVersion",
}


class LiteRtError(DeviceAgentError):
    """A LiteRT call returned an error status."""

    def __init__(self, call: str, status: int) -> None:
        self.call, self.status = call, status
        super().__init__(f"{call} failed: kLiteRtStatus{STATUS_NAMES.get(status, str(status))}")


class AnyValue(Union):
    _fields_ = [
        ("bool_value", c_bool),
        ("int_value", c_int64),
        ("real_value", c_double),
        ("str_value", c_char_p),
        ("ptr_value", c_void_p),
    ]


class Any_(Structure):
    _anonymous_ = ("value",)
    _fields_ = [("type", c_int), ("value", AnyValue)]


class EnvOption(Structure):
    _fields_ = [("tag", c_int), ("value", Any_)]


class Layout(Structure):
    _fields_ = [
        ("rank", c_uint32, 7),
        ("has_strides", c_uint32, 1),
        ("dimensions", c_int32 * TENSOR_MAX_RANK),
        ("strides", c_uint32 * TENSOR_MAX_RANK),
    ]


class RankedTensorType(Structure):
    _fields_ = [("element_type", c_int), ("layout", Layout)]


class PerTensorQuantization(Structure):
    _fields_ = [("scale", c_float), ("zero_point", c_int64)]


class MemoryUsage(Structure):
    _fields_ = [
        ("total_allocated_bytes", c_size_t),
        ("in_use_allocated_bytes", c_size_t),
        ("private_footprint_bytes", c_size_t),
    ]


class ProfiledEvent(Structure):
    """``ProfiledEventData`` of litert_profiler_event.h: one begin/end pair the profiler recorded."""

    _fields_ = [
        ("tag", c_char_p),
        ("event_type", c_int),
        ("start_timestamp_us", c_uint64),
        ("elapsed_time_us", c_uint64),
        ("begin_mem_usage", MemoryUsage),
        ("end_mem_usage", MemoryUsage),
        ("event_metadata1", c_uint64),
        ("event_metadata2", c_uint64),
        ("event_source", c_int),
    ]


# LiteRtProfilerEventType and ProfiledEventSource
OPERATOR_INVOKE_EVENT, DELEGATE_OPERATOR_INVOKE_EVENT = 1 << 1, 1 << 2
SOURCE_LITERT, SOURCE_INTERPRETER, SOURCE_DELEGATE = 0, 1, 2
RUNTIME_OPTIONS = "runtime_options_string"  # LrtGetRuntimeOptionsIdentifier(): its TOML turns profiling on

assert ctypes.sizeof(EnvOption) == 24 and ctypes.sizeof(Layout) == 68  # litert_environment_options.h, litert_layout.h

P = c_void_p  # every LiteRt handle is an opaque pointer
PP = POINTER(c_void_p)
_STATUS_CALLS: dict[str, list[object]] = {
    "LiteRtCreateEnvironment": [c_int, POINTER(EnvOption), PP],
    "LiteRtCreateModelFromFile": [P, c_char_p, PP],
    "LiteRtGetModelSubgraph": [P, c_size_t, PP],
    "LiteRtGetNumSubgraphOps": [P, POINTER(c_size_t)],
    "LiteRtGetSubgraphOp": [P, c_size_t, PP],
    "LiteRtGetOpCode": [P, POINTER(c_int)],
    "LiteRtGetModelSignature": [P, c_size_t, PP],
    "LiteRtGetNumSignatureInputs": [P, POINTER(c_size_t)],
    "LiteRtGetNumSignatureOutputs": [P, POINTER(c_size_t)],
    "LiteRtGetSignatureInputTensorByIndex": [P, c_size_t, PP],
    "LiteRtGetSignatureOutputTensorByIndex": [P, c_size_t, PP],
    "LiteRtGetRankedTensorType": [P, POINTER(RankedTensorType)],
    "LiteRtGetTensorName": [P, POINTER(c_char_p)],
    "LiteRtGetQuantizationTypeId": [P, POINTER(c_int)],
    "LiteRtGetPerTensorQuantization": [P, POINTER(PerTensorQuantization)],
    "LiteRtCreateOptions": [PP],
    "LiteRtSetOptionsHardwareAccelerators": [P, c_int],
    "LiteRtCreateOpaqueOptions": [c_char_p, c_void_p, c_void_p, PP],
    "LiteRtAddOpaqueOptions": [P, P],
    "LiteRtCreateCompiledModel": [P, P, P, PP],
    "LiteRtGetCompiledModelInputBufferRequirements": [P, c_size_t, c_size_t, PP],
    "LiteRtGetCompiledModelOutputBufferRequirements": [P, c_size_t, c_size_t, PP],
    "LiteRtCreateManagedTensorBufferFromRequirements": [P, POINTER(RankedTensorType), P, PP],
    "LiteRtLockTensorBuffer": [P, PP, c_int],
    "LiteRtUnlockTensorBuffer": [P],
    "LiteRtRunCompiledModel": [P, c_size_t, c_size_t, PP, c_size_t, PP],  # 2.2/2.3: counts before each array
    "LiteRtEnvironmentSupportsFP16": [P, POINTER(c_bool)],
    "LiteRtGetNumAccelerators": [P, POINTER(c_size_t)],
    "LiteRtGetAccelerator": [P, c_size_t, PP],
    "LiteRtGetAcceleratorName": [P, POINTER(c_char_p)],
    "LiteRtGetAcceleratorHardwareSupport": [P, POINTER(c_int)],
    "LiteRtCompiledModelGetProfiler": [P, PP],
    "LiteRtStartProfiler": [P],
    "LiteRtStopProfiler": [P],
    "LiteRtResetProfiler": [P],
    "LiteRtGetNumProfilerEvents": [P, POINTER(c_int)],
    "LiteRtGetProfilerEvents": [P, c_int, POINTER(ProfiledEvent)],
}
_VOID_CALLS = (
    "LiteRtDestroyEnvironment",
    "LiteRtDestroyModel",
    "LiteRtDestroyOptions",
    "LiteRtDestroyCompiledModel",
    "LiteRtDestroyTensorBuffer",
)
REQUIRED = tuple(_STATUS_CALLS) + _VOID_CALLS


class Library:
    """The loaded ``libLiteRt.so`` with typed prototypes; ``call`` raises on a non-Ok status."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.lib = ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)  # accelerators resolve LiteRt* symbols from it
        self._missing = [name for name in REQUIRED if not hasattr(self.lib, name)]
        for name, argtypes in _STATUS_CALLS.items():
            if name not in self._missing:
                function = getattr(self.lib, name)
                function.argtypes, function.restype = argtypes, c_int
        for name in _VOID_CALLS:
            if name not in self._missing:
                function = getattr(self.lib, name)
                function.argtypes, function.restype = [P], None

    def missing(self) -> list[str]:
        """Functions this binding needs that the library does not export (none may be called then)."""
        return list(self._missing)

    def call(self, name: str, *args: object) -> None:
        status = getattr(self.lib, name)(*args)
        if status != 0:
            raise LiteRtError(name, status)

    def destroy(self, name: str, handle: c_void_p) -> None:
        if handle:
            getattr(self.lib, name)(handle)


def make_payload(text: str) -> tuple[ctypes.Array[ctypes.c_char], c_void_p]:
    """A NUL-terminated copy of ``text`` for an opaque option's payload, kept alive by the caller."""
    buffer = ctypes.create_string_buffer(text.encode())
    return buffer, ctypes.cast(buffer, c_void_p)
