"""The adb server: find the binary, reach (or start) the server, map adbutils errors.

Honours ``ANDROID_ADB_SERVER_PORT`` like adb itself, and ``--adb-server HOST:PORT`` for a
server on another machine (a lab's device host). A local server that is not running is started
with the adb binary from PATH or, failing that, the one inside the adbutils wheel.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass

import adbutils
from adbutils.errors import AdbConnectionError, AdbError, AdbTimeout

from host.errors import (
    AdbServerError,
    DeviceDisconnected,
    DeviceError,
    DeviceNotFound,
    DeviceOffline,
    DeviceTimeout,
    DeviceUnauthorized,
    InputError,
)

DEFAULT_PORT = 5037
SOCKET_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class AdbServerAddress:
    host: str
    port: int
    named: bool = False  # given with --adb-server: a server we start there is stopped when the command ends

    @property
    def local(self) -> bool:
        return self.host in ("127.0.0.1", "localhost", "::1")


def parse_server(value: str | None) -> AdbServerAddress:
    """``HOST:PORT`` or None (then ANDROID_ADB_SERVER_HOST/PORT or localhost:5037)."""
    if not value:
        host = os.environ.get("ANDROID_ADB_SERVER_HOST", "127.0.0.1")
        return AdbServerAddress(host, int(os.environ.get("ANDROID_ADB_SERVER_PORT", DEFAULT_PORT)))
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise InputError(f"--adb-server must be HOST:PORT, not {value!r}")
    if not 1 <= int(port) <= 65535:
        raise InputError(f"--adb-server {value}: the port must be between 1 and 65535")
    return AdbServerAddress(host.strip("[]"), int(port), named=True)


# Servers this command started at an address the user named; the CLI stops them when it ends.
STARTED: list[AdbServerAddress] = []


def wheel_adb() -> str:
    """The adb binary shipped inside the adbutils wheel (``adb_path()`` prefers one on PATH)."""
    from pathlib import Path

    bundled = Path(adbutils.__file__).parent / "binaries" / "adb"
    return str(bundled) if bundled.is_file() else adbutils.adb_path()


def adb_binary() -> str:
    """adb from PATH if there is one, else the binary inside the adbutils wheel."""
    return shutil.which("adb") or wheel_adb()


def _listening(address: AdbServerAddress) -> bool:
    try:
        with socket.create_connection((address.host, address.port), timeout=1.0):
            return True
    except OSError:
        return False


def _daemon_listening(serial: str) -> bool:
    """Whether a network device's own daemon (``host:port``, as the emulated device is reached) still listens."""
    host, _, port = serial.rpartition(":")
    return bool(host) and port.isdigit() and _listening(AdbServerAddress(host, int(port)))


def client(address: AdbServerAddress, *, start: bool = True) -> adbutils.AdbClient:
    """An adbutils client whose every socket call is bounded by a timeout."""
    if not _listening(address):
        if not (start and address.local):
            raise AdbServerError(f"no adb server at {address.host}:{address.port}")
        try:
            subprocess.run(
                [adb_binary(), "-P", str(address.port), "start-server"], capture_output=True, timeout=60, check=True
            )
        except subprocess.CalledProcessError as e:
            reason = (e.stderr or b"").decode("utf-8", "replace").strip().splitlines()
            raise AdbServerError(
                f"cannot start an adb server on port {address.port}: {reason[-1] if reason else e}"
            ) from e
        except (OSError, subprocess.SubprocessError) as e:
            raise AdbServerError(f"cannot start an adb server on port {address.port}: {e}") from e
        if address.named and address not in STARTED:
            STARTED.append(address)
    return adbutils.AdbClient(host=address.host, port=address.port, socket_timeout=SOCKET_TIMEOUT_S)


def stop_started_servers(keep: bool = False) -> list[str]:
    """Stop the servers this command started at named addresses (unless ``keep``); notes to print."""
    notes = []
    while STARTED:
        address = STARTED.pop()
        where = f"{address.host}:{address.port}"
        if keep:
            notes.append(f"no adb server was listening on {where}: this command started one there; it keeps running")
        else:
            kill_server(address)
            notes.append(f"no adb server was listening on {where}: this command started one there, and stopped it")
    return notes


def kill_server(address: AdbServerAddress) -> None:
    with suppress(AdbError, OSError):
        adbutils.AdbClient(host=address.host, port=address.port).server_kill()


def free_local_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def private_server(binary: str | None = None) -> Iterator[AdbServerAddress]:
    """An adb server of our own on a free local port (never the user's), killed on exit.

    Tests and benchmarks use it; ``ANDROID_ADB_SERVER_PORT`` points at it meanwhile, so every
    adb client in this process (ours and adbutils') talks to it.
    """
    port = free_local_port()
    try:
        subprocess.run(
            [binary or adb_binary(), "-P", str(port), "start-server"], check=True, capture_output=True, timeout=60
        )
    except (OSError, subprocess.SubprocessError) as e:
        raise AdbServerError(f"cannot start an adb server on port {port}: {e}") from e
    address = AdbServerAddress("127.0.0.1", port)
    saved = os.environ.get("ANDROID_ADB_SERVER_PORT")
    os.environ["ANDROID_ADB_SERVER_PORT"] = str(port)
    try:
        yield address
    finally:
        kill_server(address)
        if saved is None:
            os.environ.pop("ANDROID_ADB_SERVER_PORT", None)
        else:
            os.environ["ANDROID_ADB_SERVER_PORT"] = saved


EMULATED_GONE = (
    "the emulated device's daemon is gone (stopped, or it crashed: see its log under "
    "~/.local/share/quantbench/emulator); run the bench again, which starts a new one, or 'host emulator start'"
)


def map_adb_error(
    error: Exception, serial: str, doing: str, *, emulated: bool = False, server: AdbServerAddress | None = None
) -> DeviceError:
    """adbutils' errors (and socket errors under them) as the host's own, with what we were doing.
    For an emulated device, a lost or offline device means its daemon is gone: advice for a
    phone's cable would not help, so the message says what happened and what to do. A lost
    connection while the adb server itself no longer listens is the server's loss, said so."""
    text = str(error)
    lowered = text.lower()
    if isinstance(error, (AdbTimeout, socket.timeout, TimeoutError)):
        return DeviceTimeout(f"{serial}: {doing} timed out")
    lost = (
        isinstance(error, (AdbConnectionError, ConnectionError, EOFError, OSError))
        or "closed" in lowered
        or "reset" in lowered
    )
    if lost and server is not None and not _listening(server):
        return DeviceDisconnected(
            f"the adb server at {server.host}:{server.port} stopped answering during {doing} on {serial} "
            "(killed or restarted): start it again with 'adb start-server'"
        )
    if "not found" in lowered and "device" in lowered:
        if emulated and _daemon_listening(serial):
            where = f" at {server.host}:{server.port}" if server else ""
            return DeviceNotFound(
                f"the adb server{where} no longer knows {serial}: it was restarted (another user's "
                f"'adb kill-server'?), while the emulated device still runs; run again, which connects it, "
                f"or 'adb connect {serial}'"
            )
        return DeviceNotFound(
            f"device {serial} not found: "
            + (EMULATED_GONE if emulated else "run 'host devices' to see what is attached")
        )
    if "unauthorized" in lowered:
        return DeviceUnauthorized(f"device {serial} is unauthorized: accept the USB debugging prompt on the phone")
    if "offline" in lowered:
        return DeviceOffline(
            f"device {serial} is offline: "
            + (EMULATED_GONE if emulated else "reconnect it (adb reconnect) and try again")
        )
    if lost:
        return DeviceDisconnected(
            f"device {serial} disconnected during {doing}" + (f": {EMULATED_GONE}" if emulated else "")
        )
    return DeviceError(f"{serial}: {doing} failed: {text}")


def connect_device(
    address: AdbServerAddress, serial: str, timeout_s: float = 30.0, accept_unauthorized: bool = False
) -> None:
    """``adb connect`` a network device and wait until adb reports it as ``device``."""
    import time

    adb = client(address)
    deadline = time.monotonic() + timeout_s
    state = None
    try:
        adb.connect(serial, timeout=10)
        while time.monotonic() < deadline:
            state = next((d.state for d in adb.list() if d.serial == serial), None)
            if state == "device" or (state == "unauthorized" and accept_unauthorized):
                return
            if state == "offline":  # adb 29 after a daemon restart: reconnect now, not in 10 s
                adb.disconnect(serial)
                adb.connect(serial, timeout=10)
            time.sleep(0.1)
    except (AdbError, OSError) as e:
        raise map_adb_error(e, serial, "adb connect") from e
    if state == "unauthorized":
        raise DeviceUnauthorized(
            f"{serial}: the device does not trust the adb server's key: a server started by another "
            "user or HOME signs with another ~/.android/adbkey; stop it (adb kill-server) and try again"
        )
    raise DeviceError(
        f"{serial}: adb did not report the device as ready within {timeout_s:g} s"
        + (f" (its state: {state})" if state else "")
    )


def disconnect_device(address: AdbServerAddress, serial: str) -> None:
    """``adb disconnect``, quietly: the server or the device may be gone already."""
    with suppress(AdbError, OSError, DeviceError):
        client(address, start=False).disconnect(serial)
