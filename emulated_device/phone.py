"""What the phone's commands are called with and answer from: one ``Call`` (who asks, their argv,
environment, folder and streams) and the ``Phone`` behind them (its description, runtime
properties, the log). ``commands.py`` and ``termux_commands.py`` answer; ``binder.py`` delivers."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from emulated_device.domains import Domains
from emulated_device.power import PowerModel
from emulated_device.sandbox import DeviceJson, Sandbox


@dataclass
class Call:
    """One command the device's services answer."""

    argv: list[str]
    env: dict[str, str]
    cwd: str
    fds: tuple[int, int, int]  # the caller's stdin, stdout, stderr
    domain: str  # "shell", or the calling app's package
    alive: Callable[[], bool] = lambda: True  # whether the caller still waits for the answer

    @property
    def args(self) -> list[str]:
        return self.argv[1:]

    def out(self, text: str) -> None:
        _write_all(self.fds[1], text.encode())

    def err(self, text: str) -> None:
        _write_all(self.fds[2], text.encode())


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


@dataclass
class LogEntry:
    when: float
    pid: int
    priority: str
    tag: str
    message: str


@dataclass
class Phone:
    """The state behind the commands: the device's description, runtime properties, the log."""

    sandbox: Sandbox
    domains: Domains
    device: DeviceJson
    runtime_props: dict[str, str] = field(default_factory=dict)
    log: list[LogEntry] = field(default_factory=list)
    log_changed: threading.Condition = field(default_factory=threading.Condition)
    power: PowerModel | None = None  # the energy meters' model (None: the phone has no energy meters)

    @property
    def props(self) -> dict[str, str]:
        return {**self.device["props"], **self.runtime_props}

    def apps(self) -> dict[str, DeviceJson]:
        return {a["package"]: a for a in self.device["profile"]["apps"]}

    def battery(self) -> tuple[str, str, str]:
        """The battery as scripted (``thermal.set_battery``): level (%), temperature (tenths of a
        degree), what it is really plugged into (ac, usb, wireless, none)."""
        level, temperature, plugged = (self.state("battery", "100 250 usb").split() + ["100", "250", "usb"])[:3]
        return level, temperature, plugged

    def state(self, name: str, default: str) -> str:
        path = self.sandbox.internal / name
        return path.read_text().strip() if path.is_file() else default
