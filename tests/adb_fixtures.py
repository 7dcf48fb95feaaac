"""A private adb server (never the user's) and emulated devices connected to it."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from host.devices.transport.adb import AdbServerAddress, private_server, wheel_adb
from host.emulator import manager


def adb_binaries() -> dict[str, str]:
    """The adb inside the adbutils wheel (36) and Debian's (29) when installed."""
    found = {"adb-wheel": wheel_adb()}
    debian = shutil.which("adb", path="/usr/bin:/usr/lib/android-sdk/platform-tools")
    if debian and os.path.realpath(debian) != os.path.realpath(found["adb-wheel"]):
        found["adb-debian"] = debian
    return found


@dataclass(frozen=True)
class AdbServer:
    binary: str
    address: AdbServerAddress


@contextmanager
def private_adb_server(binary: str) -> Iterator[AdbServer]:
    with private_server(binary) as address:
        yield AdbServer(binary, address)


@contextmanager
def emulated_device(server: AdbServer, root: Path, profile: str = "shell-python") -> Iterator[manager.EmulatorState]:
    """An emulated phone; by default one whose shell can run Python (the ADB tests need no Termux)."""
    state = manager.start(server.address, 0, root, profile=profile)
    try:
        yield state
    finally:
        manager.stop_state(server.address, state)


@contextmanager
def isolated_host(root: Path) -> Iterator[AdbServer]:
    """This machine as a fresh user would have it: data and cache folders under ``root`` and a
    private adb server; every emulated device started meanwhile is stopped at the end."""
    import pytest

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("QUANTBENCH_DATA_DIR", str(root / "data"))
        patch.setenv("QUANTBENCH_CACHE_DIR", str(root / "cache"))
        with private_adb_server(wheel_adb()) as server:
            try:
                yield server
            finally:
                manager.stop(server.address, everything=True)
