"""``host emulator start|stop`` options as declared parameters."""

from __future__ import annotations

from dataclasses import dataclass

from emulated_device.profiles import DEFAULT_PROFILE, PROFILES
from host.devices.options import ADB_SERVER
from host.params import Param, between


@dataclass(frozen=True)
class StartOptions:
    port: int = Param(
        0, "TCP port of its adbd on 127.0.0.1 (default: a free one)", metavar="P", check=between(0, 65535)
    ).field()
    root: str | None = Param(None, "sandbox folder standing in for the device's filesystem", metavar="DIR").field()
    profile: str = Param(
        DEFAULT_PROFILE,
        "the kind of phone to imitate: stock (no Python, no Termux), termux-release "
        "(F-Droid/Play Termux: not debuggable), termux (GitHub Termux: debuggable), shell-python (a "
        "Python the shell can run)",
        choices=tuple(PROFILES),
    ).field()
    offline: bool = Param(False, "a phone without its own internet (Termux's pkg and pip cannot download)").field()
    adb_server: str | None = ADB_SERVER.field()


@dataclass(frozen=True)
class StopOptions:
    serial: str | None = Param(
        None, "the emulated device to stop (default: the only one running)", metavar="SERIAL"
    ).field()
    all: bool = Param(False, "stop every emulated device").field()
    adb_server: str | None = ADB_SERVER.field()
