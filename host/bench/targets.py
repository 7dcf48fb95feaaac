"""The devices a bench runs on: the named ones, the only one attached, or an emulated one.

An emulated device started here is stopped when the bench ends (Ctrl-C included). This is the
one place that combines device selection with the emulator, so ``host.devices`` stays free of it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from host.bench.config import BenchConfig
from host.devices.adb import parse_server
from host.devices.device import Device
from host.devices.select import resolve
from host.emulator import manager
from host.errors import HostError


@contextmanager
def bench_devices(config: BenchConfig, stage: Callable[[str], None]) -> Iterator[list[Device]]:
    address = parse_server(config.adb_server)
    devices = resolve(address, config.device)
    if devices:
        yield devices
        return
    stage("no device attached: starting the emulated device")
    state = manager.start(address)
    try:
        yield [Device(address, state.serial)]
    finally:
        manager.stop_state(address, state)


def identity(device: Device) -> str:
    """Cells are keyed by the device's own serial number, so a resumed run finds them again even
    when the adb serial changed; a device that cannot say is keyed by its adb serial."""
    try:
        return device.identity
    except HostError:
        return device.serial
