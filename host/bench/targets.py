"""The devices a bench runs on: the named ones, every ready one (``--all-devices``), phones
reserved from DeviceFarmer/STF (``--stf``, given back when the bench ends), the only one
attached, or an emulated one.

An emulated device started here is stopped when the bench ends (Ctrl-C included). This is the
one place that combines device selection with the emulator, so ``host.devices`` stays free of it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager

from host.bench.config import BenchConfig
from host.devices.launch import leftovers
from host.devices.launch.provision import provision
from host.devices.selection import stf
from host.devices.selection.resolve import every_ready, resolve
from host.devices.transport.adb import parse_server
from host.devices.transport.device import Device
from host.emulator import manager
from host.emulator.profiles import DEFAULT_PROFILE as TERMUX_PROFILE
from host.errors import HostError


@contextmanager
def bench_devices(config: BenchConfig, stage: Callable[[str], None]) -> Iterator[list[Device]]:
    """The devices to bench; emulated ones are held (and stopped by the last bench using them)."""
    address = parse_server(config.adb_server)
    with ExitStack() as held:
        if config.stf:
            farm = stf.StfClient(config.stf)
            devices = held.enter_context(stf.reserved(address, farm, config.device, config.stf_filter, config.stf_timeout * 60,
                                                      stage))
        elif config.all_devices:
            devices = every_ready(address)
        else:
            devices = resolve(address, config.device)
        if not devices:
            stage("no device attached: starting the emulated device (a phone with Termux, reached through run-as)")
            devices = [Device(address, manager.shared(address).serial)]
        for device in devices:
            emulated = manager.find(device.serial)
            if emulated is not None:
                held.enter_context(manager.in_use(address, emulated))
                if emulated.profile == TERMUX_PROFILE:  # our own phone: its Termux gets the agent's packages
                    provision(device, functools.partial(_say, stage, device.serial))
        for line in leftovers.reap(address, {d.serial for d in devices}):
            stage(line)
        yield devices


def _say(stage: Callable[[str], None], serial: str, text: str) -> None:
    stage(f"{serial}: {text}")


def identity(device: Device) -> str:
    """Cells are keyed by the device's own serial number, so a resumed run finds them again even
    when the adb serial changed; a device that cannot say is keyed by its adb serial."""
    try:
        return device.identity
    except HostError:
        return device.serial
