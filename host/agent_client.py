"""The host's side of the agent contract: every call has a deadline; status codes become our errors.

Results come back as frozen dataclasses whose fields follow the design's JSON cell contract, so
the rest of the host never touches protobuf.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import json_format

from device_agent._protos import agent_pb2, agent_pb2_grpc, health_pb2, health_pb2_grpc
from device_agent.measure import LatencyParams
from host.errors import (
    AgentError,
    AgentRequestError,
    AgentTimeout,
    AgentUnauthenticated,
    AgentUnavailable,
    ModelRejected,
    UploadRejected,
)
from host.hashing import sha256_file

CHUNK_BYTES = 1 << 20
MAX_MESSAGE_BYTES = 64 << 20

_CODE_TO_ERROR: dict[grpc.StatusCode, type[AgentError]] = {
    grpc.StatusCode.UNAVAILABLE: AgentUnavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: AgentTimeout,
    grpc.StatusCode.UNAUTHENTICATED: AgentUnauthenticated,
    grpc.StatusCode.INVALID_ARGUMENT: AgentRequestError,
    grpc.StatusCode.NOT_FOUND: AgentRequestError,
    grpc.StatusCode.FAILED_PRECONDITION: ModelRejected,
    grpc.StatusCode.RESOURCE_EXHAUSTED: UploadRejected,
    grpc.StatusCode.DATA_LOSS: UploadRejected,
}


def map_rpc_error(error: grpc.RpcError) -> AgentError:
    code = error.code() if hasattr(error, "code") else None
    details = error.details() if hasattr(error, "details") else str(error)
    kind = _CODE_TO_ERROR.get(code, AgentError)
    name = code.name if code is not None else "UNKNOWN"
    return kind(f"agent: {details or name} ({name})")


@dataclass(frozen=True)
class Backend:
    name: str
    available: bool
    reason: str = ""


@dataclass(frozen=True)
class DeviceInfo:
    agent_version: str
    runtime: str
    runtime_version: str
    python: str
    abi: str
    cores: int
    android: bool
    sdk: int
    model: str
    soc: str
    root: str
    properties: dict[str, str] = field(default_factory=dict)
    backends: tuple[Backend, ...] = ()

    def backend(self, name: str) -> Backend | None:
        return next((b for b in self.backends if b.name == name), None)


@dataclass(frozen=True)
class Progress:
    phase: str
    fraction: float = 0.0
    message: str = ""
    worker_pid: int = 0


@dataclass(frozen=True)
class CellResult:
    """One cell's outcome, fields as in the design's JSON (latency_ms, memory_mb, ...)."""

    status: str
    error: str = ""
    phase: str = ""
    size_bytes: int | None = None
    latency_ms: dict[str, float] | None = None
    samples_ms: tuple[float, ...] = ()
    memory_mb: dict[str, float] | None = None
    delegation: dict[str, Any] | None = None
    accuracy: dict[str, float] | None = None
    fidelity: dict[str, float] | None = None
    outputs_sha256: str = ""
    accuracy_note: str = ""
    evaluate_seconds: float = 0.0
    evaluated_images: int = 0


def cell_result_from_proto(message: Any) -> CellResult:
    data = json_format.MessageToDict(message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)
    latency = None
    samples: tuple[float, ...] = ()
    if message.HasField("latency"):
        lat = message.latency
        samples = tuple(lat.samples_ms)
        latency = {"init": lat.init_ms, "first": lat.first_ms, "mean": lat.mean, "std": lat.std, "min": lat.min,
                   "p50": lat.p50, "p90": lat.p90, "p95": lat.p95, "p99": lat.p99, "max": lat.max, "count": lat.count,
                   "warmup_count": lat.warmup_count, "warmup_total": lat.warmup_total_ms}
    memory = {"init_rss": message.memory.init_rss_mb, "peak_rss": message.memory.peak_rss_mb} if message.HasField("memory") else None
    delegation = None
    if message.HasField("delegation"):
        d = message.delegation
        delegation = {"delegate": d.delegate, "delegated_nodes": d.delegated_nodes, "total_nodes": d.total_nodes, "fallback": d.fallback}
    accuracy = dict(data["accuracy"]) if message.HasField("accuracy") else None
    fidelity = dict(data["fidelity"]) if message.HasField("fidelity") else None
    return CellResult(
        status=message.status, error=message.error, phase=message.phase,
        size_bytes=message.size_bytes or None, latency_ms=latency, samples_ms=samples, memory_mb=memory,
        delegation=delegation, accuracy=accuracy, fidelity=fidelity, outputs_sha256=message.outputs_sha256,
        accuracy_note=message.accuracy_note, evaluate_seconds=message.evaluate_seconds,
        evaluated_images=message.evaluated_images,
    )


class AgentClient:
    """One channel to one agent; ``deadline_s`` bounds every unary call."""

    def __init__(self, target: str, token: str, *, deadline_s: float = 30.0) -> None:
        self.target = target
        self.deadline_s = deadline_s
        self._metadata = (("authorization", f"Bearer {token}"),)
        self._channel = grpc.insecure_channel(
            target, options=[("grpc.max_send_message_length", MAX_MESSAGE_BYTES), ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES)],
        )
        self._stub = agent_pb2_grpc.AgentStub(self._channel)
        self._health = health_pb2_grpc.HealthStub(self._channel)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> AgentClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: Callable[..., Any], request: Any, deadline_s: float | None = None) -> Any:
        try:
            return method(request, timeout=deadline_s or self.deadline_s, metadata=self._metadata)
        except grpc.RpcError as e:
            raise map_rpc_error(e) from e

    def health(self, deadline_s: float = 5.0) -> str:
        """The health status name (SERVING, NOT_SERVING, ...); never needs the token."""
        try:
            reply = self._health.Check(health_pb2.HealthCheckRequest(service=""), timeout=deadline_s)
        except grpc.RpcError as e:
            raise map_rpc_error(e) from e
        return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)

    def device_info(self) -> DeviceInfo:
        reply = self._call(self._stub.GetDeviceInfo, agent_pb2.DeviceInfoRequest())
        return DeviceInfo(
            agent_version=reply.agent_version, runtime=reply.runtime, runtime_version=reply.runtime_version,
            python=reply.python, abi=reply.abi, cores=reply.cores, android=reply.android, sdk=reply.sdk,
            model=reply.model, soc=reply.soc, root=reply.root, properties=dict(reply.properties),
            backends=tuple(Backend(b.name, b.available, b.reason) for b in reply.backends),
        )

    def stat(self, sha256: str) -> tuple[bool, int]:
        reply = self._call(self._stub.StatFile, agent_pb2.StatFileRequest(sha256=sha256))
        return reply.exists, reply.size_bytes

    def upload(self, path: Path, sha256: str | None = None, deadline_s: float = 600.0) -> bool:
        """Stream a file into the agent's store unless it is there; True if it was sent."""
        sha256 = sha256 or sha256_file(path)
        size = path.stat().st_size
        exists, stored_size = self.stat(sha256)
        if exists and stored_size == size:
            return False

        def chunks() -> Iterator[Any]:
            with path.open("rb") as handle:
                first = True
                while True:
                    block = handle.read(CHUNK_BYTES)
                    if first or block:
                        yield agent_pb2.UploadChunk(sha256=sha256 if first else "", size_bytes=size if first else 0, data=block)
                    if not block:
                        return
                    first = False

        self._call(self._stub.UploadFile, chunks(), deadline_s)
        return True

    def run_cell(
        self, request: Any, *, deadline_s: float, on_progress: Callable[[Progress], None] | None = None,
    ) -> CellResult:
        """Run one cell; progress events go to ``on_progress``; returns the result event."""
        try:
            for event in self._stub.RunCell(request, timeout=deadline_s, metadata=self._metadata):
                if event.HasField("progress"):
                    p = event.progress
                    if on_progress:
                        on_progress(Progress(p.phase, p.fraction, p.message, p.worker_pid))
                elif event.HasField("result"):
                    return cell_result_from_proto(event.result)
        except grpc.RpcError as e:
            raise map_rpc_error(e) from e
        raise AgentError("agent: the cell stream ended without a result")


def cell_request(
    model_sha256: str, backend: str, *, warmup_runs: int = LatencyParams.warmup_runs,
    warmup_seconds: float = LatencyParams.warmup_seconds, min_runs: int = LatencyParams.min_runs,
    min_seconds: float = LatencyParams.min_seconds, max_seconds: float = LatencyParams.max_seconds, seed: int = 0,
    timeout_s: float = 900.0,
    dataset_sha256: str = "", preset: str = "mobilenet", limit: int = 0, label_offset: int = 0,
    reference_outputs_sha256: str = "", save_outputs: bool = False, gpu_delegate: str = "", nnapi_delegate: str = "",
) -> Any:
    """Build a CellRequest message from plain values (the only place the host builds one)."""
    request = agent_pb2.CellRequest(
        model_sha256=model_sha256, backend=backend, timeout_seconds=timeout_s, gpu_delegate=gpu_delegate,
        nnapi_delegate=nnapi_delegate,
        latency=agent_pb2.LatencyParams(warmup_runs=warmup_runs, warmup_seconds=warmup_seconds, min_runs=min_runs,
                                        min_seconds=min_seconds, max_seconds=max_seconds, seed=seed),
    )
    if dataset_sha256:
        request.evaluation.CopyFrom(agent_pb2.EvalParams(
            dataset_sha256=dataset_sha256, preset=preset, limit=limit, label_offset=label_offset,
            reference_outputs_sha256=reference_outputs_sha256, save_outputs=save_outputs,
        ))
    return request
