"""A private adb server (never the user's) and emulated devices connected to it."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from host.devices.adb import AdbServerAddress, kill_server, wheel_adb
from host.emulator import manager


def adb_binaries() -> dict[str, str]:
    """The adb inside the adbutils wheel (36) and Debian's (29) when installed."""
    found = {"adb-wheel": wheel_adb()}
    debian = shutil.which("adb", path="/usr/bin:/usr/lib/android-sdk/platform-tools")
    if debian and os.path.realpath(debian) != os.path.realpath(found["adb-wheel"]):
        found["adb-debian"] = debian
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class AdbServer:
    binary: str
    address: AdbServerAddress


@contextmanager
def private_adb_server(binary: str) -> Iterator[AdbServer]:
    """Start ``binary`` as an adb server on a free port, point ANDROID_ADB_SERVER_PORT at it."""
    port = free_port()
    subprocess.run([binary, "-P", str(port), "start-server"], check=True, capture_output=True, timeout=60)
    saved = os.environ.get("ANDROID_ADB_SERVER_PORT")
    os.environ["ANDROID_ADB_SERVER_PORT"] = str(port)
    try:
        yield AdbServer(binary, AdbServerAddress("127.0.0.1", port))
    finally:
        kill_server(AdbServerAddress("127.0.0.1", port))
        if saved is None:
            os.environ.pop("ANDROID_ADB_SERVER_PORT", None)
        else:
            os.environ["ANDROID_ADB_SERVER_PORT"] = saved


@contextmanager
def emulated_device(server: AdbServer, root: Path) -> Iterator[manager.EmulatorState]:
    state = manager.start(server.address, 0, root)
    try:
        yield state
    finally:
        manager.stop_state(server.address, state)
