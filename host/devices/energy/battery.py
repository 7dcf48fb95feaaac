"""The battery unplugged for a fuel-gauge measurement, and always plugged back.

``dumpsys battery unplug`` freezes what the framework reports (as on battery: no charging-only
behaviour) until ``dumpsys battery reset``. The reset runs however the measurement ends: normally,
on Ctrl-C or SIGTERM (the ``finally`` below), or when the agent crashes (an exception through the
same block). A controller killed outright cannot run it, so the unplug is first recorded on this
machine, and the next bench or ``host doctor`` for that device resets it (``reap``).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

from host.devices.transport.adb import AdbServerAddress
from host.devices.transport.device import Device
from host.errors import HostError
from host.paths import data_dir
from host.processes import alive

UNPLUG = "dumpsys battery unplug"
RESET = "dumpsys battery reset"


def _folder() -> Path:
    return data_dir() / "unplugged"


def _record(device: Device) -> Path:
    folder = _folder()
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{os.getpid()}-{device.serial.replace(':', '_').replace('/', '_')}.json"
    path = folder / name
    path.write_text(
        json.dumps(
            {
                "host_pid": os.getpid(),
                "serial": device.serial,
                "adb_host": device.address.host,
                "adb_port": device.address.port,
            }
        )
    )
    return path


@contextlib.contextmanager
def unplugged(device: Device) -> Iterator[None]:
    """The battery reported unplugged for the block, reset afterwards whatever happens."""
    record = _record(device)
    try:
        device.check_shell(UNPLUG)
        yield
    finally:
        try:
            device.shell(RESET)
            record.unlink(missing_ok=True)
        except HostError:
            pass  # the device is gone: the record stays, and the next run resets it


def reap(address: AdbServerAddress, serials: set[str] | None = None) -> list[str]:
    """Reset the battery of devices a killed controller left unplugged; what was done, for the user."""
    done = []
    for path in sorted(_folder().glob("*.json")) if _folder().is_dir() else []:
        try:
            record = json.loads(path.read_text())
            pid, serial = int(record["host_pid"]), str(record["serial"])
            where = (str(record["adb_host"]), int(record["adb_port"]))
        except (OSError, ValueError, KeyError, TypeError):
            path.unlink(missing_ok=True)
            continue
        if alive(pid) or where != (address.host, address.port) or (serials is not None and serial not in serials):
            continue
        try:
            Device(address, serial).check_shell(RESET)
            done.append(f"reset the battery of {serial}, left unplugged by controller {pid}")
            path.unlink(missing_ok=True)
        except HostError:
            continue  # not reachable now: try again next time
    return done
