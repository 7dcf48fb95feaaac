"""The agent's gRPC server: validate, delegate to plain Python, map errors to status codes.

Every call but health needs ``authorization: Bearer <token>``; the server binds the loopback
address unless told otherwise; files are reached only through the content-addressed store.
"""

from __future__ import annotations

import functools
import hmac
import inspect
import os
import platform
import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import grpc

from device_agent import __version__
from device_agent._protos import agent_pb2, agent_pb2_grpc, health_pb2_grpc
from device_agent.contract import (
    START_KINDS,
    Backend,
    CellRequest,
    CellResult,
    CellStatus,
    DeviceInfo,
    LatencyParams,
    PruneRequest,
)
from device_agent.engines import accelerators, backends
from device_agent.engines.runtime import RuntimeMissing, find_runtime
from device_agent.errors import DeviceAgentError, InvalidRequest, WireError
from device_agent.measuring import deviceinfo
from device_agent.measuring.preprocess import get_preset
from device_agent.serving import profile_refusals
from device_agent.serving.health import SERVING, HealthServicer
from device_agent.serving.jobs import answered, probe_library, probe_litert, run_job
from device_agent.serving.probe_cache import ProbeCache, signature
from device_agent.storage.store import (
    DEFAULT_MAX_UPLOAD,
    FileStore,
    InvalidName,
    Mismatch,
    NotInStore,
    TooLarge,
    free_bytes,
)
from device_agent.wire import event_message, from_message, to_message

HEALTH_PREFIX = "/grpc.health.v1.Health/"
MAX_MESSAGE_BYTES = 64 << 20
REPORTED_BACKENDS = ("cpu1", "cpu4", "gpu", "gpu-fp32", "nnapi", "npu")


@dataclass(frozen=True)
class AgentConfig:
    root: Path
    token: str
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD
    gpu_delegate: str = ""
    nnapi_delegate: str = ""
    incoming: Path | None = None  # where the host pushes files over ADB for AdoptFile


class Activity:
    """When the agent last served a call, and how many calls are running now.

    An agent whose host went away (unplugged phone, killed controller) exits after an idle
    period instead of lingering on the device.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active = 0
        self._last = time.monotonic()

    def begin(self) -> None:
        with self._lock:
            self._active += 1

    def end(self) -> None:
        with self._lock:
            self._active -= 1
            self._last = time.monotonic()

    def idle_seconds(self) -> float:
        with self._lock:
            return 0.0 if self._active else time.monotonic() - self._last


Handler = TypeVar("Handler", bound=Callable[..., object])


def _tracked(method: Handler) -> Handler:
    """Count a unary or streaming RPC as activity from its start to its last message."""
    if inspect.isgeneratorfunction(method):

        @functools.wraps(method)
        def stream(self: AgentServicer, request: object, context: grpc.ServicerContext) -> Iterator[object]:
            self.activity.begin()
            try:
                yield from method(self, request, context)
            finally:
                self.activity.end()

        return stream  # type: ignore[return-value]

    @functools.wraps(method)
    def unary(self: AgentServicer, request: object, context: grpc.ServicerContext) -> object:
        self.activity.begin()
        try:
            return method(self, request, context)
        finally:
            self.activity.end()

    return unary  # type: ignore[return-value]


class _TokenInterceptor(grpc.ServerInterceptor):
    """Rejects every non-health call without the session token, before any handler runs."""

    def __init__(self, token: str) -> None:
        self._expected = f"Bearer {token}".encode()

    def intercept_service(self, continuation: Callable[[Any], Any], details: Any) -> Any:
        if details.method.startswith(HEALTH_PREFIX):
            return continuation(details)
        metadata = dict(details.invocation_metadata or ())
        given = str(metadata.get("authorization", "")).encode()
        if hmac.compare_digest(given, self._expected):
            return continuation(details)
        handler = continuation(details)
        if handler is None:
            return None

        def deny(request: Any, context: grpc.ServicerContext) -> Any:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong session token")

        kind = (
            ("stream" if handler.request_streaming else "unary")
            + "_"
            + ("stream" if handler.response_streaming else "unary")
        )
        return getattr(grpc, f"{kind}_rpc_method_handler")(deny)


def _abort(context: grpc.ServicerContext, error: DeviceAgentError) -> NoReturn:
    """Map the agent's errors to status codes (the client maps them back)."""
    codes: tuple[tuple[type[DeviceAgentError], grpc.StatusCode], ...] = (
        (NotInStore, grpc.StatusCode.NOT_FOUND),
        (TooLarge, grpc.StatusCode.RESOURCE_EXHAUSTED),
        (Mismatch, grpc.StatusCode.DATA_LOSS),
        (InvalidRequest, grpc.StatusCode.INVALID_ARGUMENT),
        (InvalidName, grpc.StatusCode.INVALID_ARGUMENT),
        (WireError, grpc.StatusCode.INVALID_ARGUMENT),
    )
    code = next((c for kind, c in codes if isinstance(error, kind)), grpc.StatusCode.INTERNAL)
    context.abort(code, str(error))
    raise AssertionError("context.abort raises")


def _litert_availability(root: Path, spec: backends.BackendSpec, probes: ProbeCache) -> str | None:
    """Why LiteRT cannot run this backend's accelerator (None: it can), probed once per provisioned
    release and accelerator kind (gpu and gpu-fp32 load the same accelerator), kept across sessions
    (``probe_cache``): each probe loads the accelerator in a throwaway process."""
    stamp = signature(
        accelerators.litert_folder(root) / accelerators.MANIFEST
    )  # None: nothing provisioned, cheap to say
    return probes.get(f"litert:{spec.kind}", stamp, lambda: probe_litert(str(root), spec.name), answered)


def _library_availability(library: str, probes: ProbeCache) -> str | None:
    """Whether a delegate library loads (None: it does); kept across sessions when it is a file
    here, asked each time when the loader finds it by name."""
    return probes.get(
        f"library:{library}",
        signature(Path(library)) if os.path.isabs(library) else None,
        lambda: probe_library(library),
        answered,
    )


def _probe_for(
    spec: backends.BackendSpec, config: AgentConfig, root: Path, probes: ProbeCache
) -> Callable[[], str | None] | None:
    """What must be loaded to tell whether this backend runs here (None: nothing)."""
    library = backends.library_for(spec, config.gpu_delegate, config.nnapi_delegate)
    if library:
        return lambda: _library_availability(library, probes)  # in a throwaway process: a library may crash on load
    if backends.uses_litert(spec, config.gpu_delegate):
        return lambda: _litert_availability(root, spec, probes)
    return None


def _backends(config: AgentConfig, root: Path, probes: ProbeCache, runtime_error: str) -> tuple[Backend, ...]:
    """Each backend with the reason it cannot run. The libraries are loaded in throwaway processes
    at the same time, each within its own timeout: one that hangs on load costs its backend, said
    so, and the answer still comes well inside the host's deadline for it."""
    facts = deviceinfo.platform_facts()
    names = list(REPORTED_BACKENDS)
    if f"cpu{deviceinfo.cores()}" not in names:
        names.insert(2, f"cpu{deviceinfo.cores()}")
    specs = {name: backends.parse_backend(name) for name in names}
    platform = {name: backends.platform_availability(spec, facts) for name, spec in specs.items()}
    probing = {
        name: probe
        for name, spec in specs.items()
        if platform[name][0] and (probe := _probe_for(spec, config, root, probes)) is not None
    }
    with futures.ThreadPoolExecutor(max_workers=max(1, len(probing)), thread_name_prefix="probe") as pool:
        pending = {name: pool.submit(probe) for name, probe in probing.items()}
        errors = {name: future.result() for name, future in pending.items()}
    reported = []
    for name, spec in specs.items():
        available, reason = platform[name]
        error = errors.get(name)
        if error is not None:
            available = False
            reason = (
                backends.missing_library_reason(spec, facts, error)
                if backends.library_for(spec, config.gpu_delegate, config.nnapi_delegate)
                else ("emulated device: " if facts.emulated else "") + error
            )
        if available and runtime_error:
            available, reason = False, runtime_error
        reported.append(Backend(name, available, reason))
    return tuple(reported)


def device_info(config: AgentConfig, root: Path, probes: ProbeCache | None = None) -> DeviceInfo:
    """What this device is and which backends it can run, with the reason for each it cannot."""
    try:
        runtime = find_runtime()
        runtime_name, runtime_version = runtime.name, runtime.version
    except RuntimeMissing as e:
        runtime_name, runtime_version = "", str(e)
    facts = deviceinfo.platform_facts()
    summary = deviceinfo.summary()
    reported = _backends(config, root, probes or ProbeCache(root), "" if runtime_name else runtime_version)
    return DeviceInfo(
        agent_version=__version__,
        runtime=runtime_name,
        runtime_version=runtime_version,
        python=platform.python_version(),
        abi=summary.abi,
        cores=deviceinfo.cores(),
        android=facts.android,
        sdk=facts.sdk,
        model=summary.model,
        soc=summary.soc,
        properties=summary.properties,
        backends=reported,
        root=str(root),
        store_free_bytes=free_bytes(root),
    )


class AgentServicer(agent_pb2_grpc.AgentServicer):
    """Thin: validate, delegate to the store, the worker supervisor or device facts, map errors."""

    def __init__(self, config: AgentConfig, activity: Activity | None = None) -> None:
        self.config = config
        self.activity = activity or Activity()
        self.store = FileStore(config.root, config.max_upload_bytes, config.incoming)
        self._one_cell_at_a_time = threading.Lock()
        self._profile_refusals = profile_refusals.Refusals()  # accelerators that failed a profiled run here
        self._probes = ProbeCache(self.store.root)

    @_tracked
    def GetDeviceInfo(
        self, request: agent_pb2.DeviceInfoRequest, context: grpc.ServicerContext
    ) -> agent_pb2.DeviceInfo:
        return to_message(device_info(self.config, self.store.root, self._probes))

    @_tracked
    def GetStoreStatus(
        self, request: agent_pb2.StoreStatusRequest, context: grpc.ServicerContext
    ) -> agent_pb2.StoreStatus:
        return to_message(self.store.status())

    @_tracked
    def StatFile(self, request: agent_pb2.StatFileRequest, context: grpc.ServicerContext) -> agent_pb2.StatFileResponse:
        try:
            stat = self.store.stat(request.sha256)
        except DeviceAgentError as e:
            _abort(context, e)
        return agent_pb2.StatFileResponse(exists=stat.exists, size_bytes=stat.size_bytes)

    @_tracked
    def UploadFile(
        self, request_iterator: Iterator[agent_pb2.UploadChunk], context: grpc.ServicerContext
    ) -> agent_pb2.UploadResponse:
        first = next(request_iterator, None)
        if first is None:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "empty upload")
            raise AssertionError("abort raises")

        def chunks() -> Iterator[bytes]:
            yield first.data
            for chunk in request_iterator:
                yield chunk.data

        try:
            present = self.store.receive(first.sha256, first.size_bytes, chunks())
        except DeviceAgentError as e:
            _abort(context, e)
        return agent_pb2.UploadResponse(sha256=first.sha256, size_bytes=first.size_bytes, already_present=present)

    @_tracked
    def AdoptFile(self, request: agent_pb2.AdoptFileRequest, context: grpc.ServicerContext) -> agent_pb2.UploadResponse:
        try:
            present = self.store.adopt(request.sha256)
            size = self.store.stat(request.sha256).size_bytes
        except DeviceAgentError as e:
            _abort(context, e)
        return agent_pb2.UploadResponse(sha256=request.sha256, size_bytes=size, already_present=present)

    @_tracked
    def PruneStore(self, request: agent_pb2.PruneRequest, context: grpc.ServicerContext) -> agent_pb2.PruneResponse:
        try:
            for name in request.keep_sha256:
                self.store.path(name)  # names are checked like every other
            return to_message(self.store.prune(from_message(request, PruneRequest)))
        except DeviceAgentError as e:
            _abort(context, e)

    @_tracked
    def RunCell(self, request: agent_pb2.CellRequest, context: grpc.ServicerContext) -> Iterator[agent_pb2.CellEvent]:
        try:
            job = self._validated(from_message(request, CellRequest))
        except DeviceAgentError as e:
            _abort(context, e)
        available, reason = backends.platform_availability(
            backends.parse_backend(job.backend), deviceinfo.platform_facts()
        )
        if not available:
            yield event_message(CellResult(status=CellStatus.UNAVAILABLE, error=reason, phase="start"))
            return
        with self._one_cell_at_a_time:
            for event in run_job(
                str(self.store.root), self._profile_refusals.request(job), cancelled=lambda: not context.is_active()
            ):
                yield event_message(
                    self._profile_refusals.result(job, event) if isinstance(event, CellResult) else event
                )

    def _validated(self, job: CellRequest) -> CellRequest:
        """Every name resolvable, every setting possible; defaults filled in from the agent's config."""
        backends.parse_backend(job.backend)
        self.store.require(job.model_sha256)
        (job.latency or LatencyParams()).validate()
        if job.energy is not None:
            job.energy.validate()
        if job.evaluation is not None:
            self.store.require(job.evaluation.dataset_sha256)
            for stored in (job.evaluation.reference_outputs_sha256, job.evaluation.task_labels_sha256):
                if stored:
                    self.store.require(stored)
            get_preset(job.evaluation.preset)
        start = job.start or "cold"
        if start not in START_KINDS:
            raise InvalidRequest(f"start must be one of {', '.join(START_KINDS)}, got {job.start[:40]!r}")
        return replace(
            job,
            start=start,
            gpu_delegate=job.gpu_delegate or self.config.gpu_delegate,
            nnapi_delegate=job.nnapi_delegate or self.config.nnapi_delegate,
        )


def create_server(
    config: AgentConfig, address: str = "127.0.0.1:0", activity: Activity | None = None
) -> tuple[grpc.Server, int]:
    """A started server on ``address`` (port 0 picks a free one); returns it and its port."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=8),
        interceptors=[_TokenInterceptor(config.token)],
        options=[
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.so_reuseport", 0),
        ],  # no other process may bind the agent's port too and take its calls
    )
    agent_pb2_grpc.add_AgentServicer_to_server(AgentServicer(config, activity), server)
    health_servicer = HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    port = server.add_insecure_port(address)
    if port == 0:
        raise OSError(f"cannot listen on {address}")
    server.start()
    for service in ("", "quantbench.agent.v1.Agent"):
        health_servicer.set(service, SERVING)
    return server, port
