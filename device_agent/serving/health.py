"""The standard gRPC health service (grpc.health.v1), served from our own generated code.

Check answers the current status of a service name ("" is the whole server); Watch streams the
status now and again whenever it changes, until the client leaves.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import grpc

from device_agent._protos import health_pb2, health_pb2_grpc

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
SERVICE_UNKNOWN = health_pb2.HealthCheckResponse.SERVICE_UNKNOWN


class HealthServicer(health_pb2_grpc.HealthServicer):
    def __init__(self) -> None:
        self._status: dict[str, health_pb2.HealthCheckResponse.ServingStatus] = {}
        self._changed = threading.Condition()

    def set(self, service: str, status: health_pb2.HealthCheckResponse.ServingStatus) -> None:
        with self._changed:
            self._status[service] = status
            self._changed.notify_all()

    def Check(self, request: Any, context: grpc.ServicerContext) -> Any:
        with self._changed:
            status = self._status.get(request.service)
        if status is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"unknown service {request.service!r}")
        return health_pb2.HealthCheckResponse(status=status)

    def Watch(self, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        last = None
        while context.is_active():
            with self._changed:
                status = self._status.get(request.service, SERVICE_UNKNOWN)
                if status == last:
                    self._changed.wait(timeout=1.0)
                    continue
            last = status
            yield health_pb2.HealthCheckResponse(status=status)
