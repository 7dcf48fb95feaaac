"""The host's side of the agent contract: every call has a deadline; status codes become our errors.

Requests and results are the contract's dataclasses (``device_agent.contract``), converted by
``device_agent.wire`` strictly: a result this host cannot read is an ``AgentProtocolError``, never
a silently emptied field.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import grpc
from google.protobuf.message import Message

from device_agent._protos import agent_pb2, agent_pb2_grpc, health_pb2, health_pb2_grpc
from device_agent.contract import (
    DEVICE_INFO_DEADLINE_S,
    HEARTBEAT,
    HEARTBEAT_S,
    CellRequest,
    CellResult,
    DeviceInfo,
    Progress,
    PruneRequest,
    PruneResponse,
    StoreStatus,
)
from device_agent.errors import WireError
from device_agent.wire import event_from_message, from_message, to_message
from host.errors import (
    AgentError,
    AgentProtocolError,
    AgentRequestError,
    AgentTimeout,
    AgentUnauthenticated,
    AgentUnavailable,
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
    grpc.StatusCode.RESOURCE_EXHAUSTED: UploadRejected,
    grpc.StatusCode.DATA_LOSS: UploadRejected,
}


def map_rpc_error(error: grpc.RpcError) -> AgentError:
    """A gRPC failure as the host's own error type, with the agent's words and the status name."""
    code = error.code() if hasattr(error, "code") else None
    details = error.details() if hasattr(error, "details") else str(error)
    kind = _CODE_TO_ERROR.get(code, AgentError) if code is not None else AgentError
    name = code.name if code is not None else "UNKNOWN"
    return kind(f"agent: {details or name} ({name})")


T = TypeVar("T")


def _read(message: Message, cls: type[T]) -> T:
    try:
        return from_message(message, cls)
    except WireError as e:
        raise AgentProtocolError(f"the agent answered with a message this host cannot read: {e}") from e


class SilenceWatch:
    """Cancels a streaming call that has heard nothing for ``silence_s``."""

    def __init__(self, call: grpc.Future, silence_s: float) -> None:
        self.fired = False
        self._call, self._silence_s = call, silence_s
        self._heard, self._done = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._watch, name="agent-silence", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._done.is_set():
            if not self._heard.wait(self._silence_s):
                if not self._done.is_set():
                    self.fired = True
                    self._call.cancel()
                return
            self._heard.clear()

    def heard(self) -> None:
        self._heard.set()

    def stop(self) -> None:
        self._done.set()
        self._heard.set()


class AgentClient:
    """One channel to one agent; ``deadline_s`` bounds every unary call, ``silence_s`` a cell's quiet."""

    silence_s = 6 * HEARTBEAT_S

    def __init__(self, target: str, token: str, *, deadline_s: float = 30.0) -> None:
        self.target = target
        self.deadline_s = deadline_s
        self._metadata = (("authorization", f"Bearer {token}"),)
        self._channel = grpc.insecure_channel(
            target,
            options=[
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ],
        )
        self._stub = agent_pb2_grpc.AgentStub(self._channel)
        self._health = health_pb2_grpc.HealthStub(self._channel)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> AgentClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: Callable[..., Message], request: Message, deadline_s: float | None = None) -> Message:
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
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))

    def device_info(self) -> DeviceInfo:
        """What the device is and which backends run there: past the agent's longest library probe,
        so a delegate that hangs on load costs its backend, never the session."""
        reply = self._call(self._stub.GetDeviceInfo, agent_pb2.DeviceInfoRequest(), DEVICE_INFO_DEADLINE_S)
        info: DeviceInfo = _read(reply, DeviceInfo)
        return info

    def store_status(self) -> StoreStatus:
        """The store's free space and contents (cheap: no backend is probed)."""
        status: StoreStatus = _read(self._call(self._stub.GetStoreStatus, agent_pb2.StoreStatusRequest()), StoreStatus)
        return status

    def stat(self, sha256: str) -> tuple[bool, int]:
        """Whether the store holds a file of that content (it holds only verified files), and its size."""
        reply = self._call(self._stub.StatFile, agent_pb2.StatFileRequest(sha256=sha256))
        return bool(reply.exists), int(reply.size_bytes)

    def adopt(self, sha256: str, deadline_s: float = 600.0) -> bool:
        """Move a file pushed over ADB into the store once its bytes hash to ``sha256``."""
        reply = self._call(self._stub.AdoptFile, agent_pb2.AdoptFileRequest(sha256=sha256), deadline_s)
        return not reply.already_present

    def prune(self, request: PruneRequest) -> PruneResponse:
        """Bound the agent's store (least recently used files go first, kept ones never)."""
        response: PruneResponse = _read(self._call(self._stub.PruneStore, to_message(request)), PruneResponse)
        return response

    def upload(self, path: Path, sha256: str | None = None, deadline_s: float = 600.0) -> bool:
        """Stream a file into the agent's store unless it is there; True if it was sent."""
        sha256 = sha256 or sha256_file(path)
        size = path.stat().st_size
        if self.stat(sha256)[0]:
            return False

        def chunks() -> Iterator[Any]:
            with path.open("rb") as handle:
                first = True
                while True:
                    block = handle.read(CHUNK_BYTES)
                    if first or block:
                        yield agent_pb2.UploadChunk(
                            sha256=sha256 if first else "", size_bytes=size if first else 0, data=block
                        )
                    if not block:
                        return
                    first = False

        self._call(self._stub.UploadFile, chunks(), deadline_s)
        return True

    def run_cell(
        self, request: CellRequest, *, deadline_s: float, on_progress: Callable[[Progress], None] | None = None
    ) -> CellResult:
        """Run one cell; progress events go to ``on_progress``; returns the result. The agent
        speaks at least every HEARTBEAT_S while a job runs: silence for ``silence_s`` means it is
        stopped or frozen, and the cell ends then, not at its whole deadline."""
        call = self._stub.RunCell(to_message(request), timeout=deadline_s, metadata=self._metadata)
        watch = SilenceWatch(call, self.silence_s)
        try:
            for message in call:
                watch.heard()
                try:
                    event = event_from_message(message)
                except WireError as e:
                    raise AgentProtocolError(f"the agent answered with a message this host cannot read: {e}") from e
                if isinstance(event, CellResult):
                    return event
                if on_progress and event.phase != HEARTBEAT:
                    on_progress(event)
        except grpc.RpcError as e:
            if watch.fired:
                raise AgentTimeout(
                    f"agent: not a word from it for {self.silence_s:g} s during the cell (the agent is "
                    "stopped or frozen)"
                ) from None
            raise map_rpc_error(e) from e
        finally:
            watch.stop()
        raise AgentError("agent: the cell stream ended without a result")
