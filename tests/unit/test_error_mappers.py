"""ADB and gRPC failures become the host's own errors, with the exit code their class names."""

from __future__ import annotations

import grpc
import pytest
from adbutils.errors import AdbConnectionError, AdbError, AdbTimeout

from host.devices.agent.client import map_rpc_error
from host.devices.transport.adb import map_adb_error
from host.errors import (
    AgentError,
    AgentRequestError,
    AgentTimeout,
    AgentUnauthenticated,
    AgentUnavailable,
    DeviceDisconnected,
    DeviceError,
    DeviceNotFound,
    DeviceOffline,
    DeviceTimeout,
    DeviceUnauthorized,
    ExitCode,
    UploadRejected,
)


@pytest.mark.parametrize(
    ("error", "kind", "words"),
    [
        (AdbTimeout("read timed out"), DeviceTimeout, "push timed out"),
        (TimeoutError(), DeviceTimeout, "timed out"),
        (AdbError("device 'X' not found"), DeviceNotFound, "not found"),
        (
            AdbError("device unauthorized.\nThis adb server's $ADB_VENDOR_KEYS is not set"),
            DeviceUnauthorized,
            "accept the USB debugging prompt",
        ),
        (AdbError("device offline"), DeviceOffline, "offline"),
        (AdbConnectionError("closed"), DeviceDisconnected, "disconnected during push"),
        (ConnectionResetError(104, "reset"), DeviceDisconnected, "disconnected during push"),
        (AdbError("something else entirely"), DeviceError, "push failed: something else entirely"),
    ],
)
def test_adb_errors(error, kind, words):
    mapped = map_adb_error(error, "SERIAL1", "push")
    assert type(mapped) is kind and words in str(mapped)


def test_an_emulated_device_that_is_gone_is_not_told_to_reconnect_a_cable():
    for error in (
        AdbError("device offline"),
        AdbConnectionError("closed"),
        AdbError("device '127.0.0.1:5555' not found"),
    ):
        text = str(map_adb_error(error, "127.0.0.1:5555", "shell", emulated=True))
        assert (
            "emulated device's daemon is gone" in text and "run the bench again" in text and "adb reconnect" not in text
        )


def test_adb_exit_codes_follow_who_can_fix_it():
    assert map_adb_error(AdbError("device 'X' not found"), "X", "shell").exit_code == ExitCode.USAGE
    assert map_adb_error(AdbConnectionError("closed"), "X", "shell").exit_code == ExitCode.FAILED


class _RpcError(grpc.RpcError):
    """A failed call as grpc raises it (the channel's own class is private)."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        self._code, self._details = code, details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (grpc.StatusCode.UNAVAILABLE, AgentUnavailable),
        (grpc.StatusCode.DEADLINE_EXCEEDED, AgentTimeout),
        (grpc.StatusCode.UNAUTHENTICATED, AgentUnauthenticated),
        (grpc.StatusCode.INVALID_ARGUMENT, AgentRequestError),
        (grpc.StatusCode.NOT_FOUND, AgentRequestError),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, UploadRejected),
        (grpc.StatusCode.DATA_LOSS, UploadRejected),
        (grpc.StatusCode.INTERNAL, AgentError),
    ],
)
def test_grpc_status_codes(code, kind):
    mapped = map_rpc_error(_RpcError(code, "what the agent said"))
    assert type(mapped) is kind
    assert str(mapped) == f"agent: what the agent said ({code.name})"
