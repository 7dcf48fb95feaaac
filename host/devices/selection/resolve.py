"""Which device a command uses: one resolver for ``bench``, ``doctor`` and ``devices``.

The same situation gets the same message and exit code everywhere: a named serial that is not
attached is ``DeviceNotFound`` (exit 2), several devices and none named is ``AmbiguousDevice``
(exit 2), an unauthorized or offline device says so. Emulated devices are recognised from their
own properties (``ro.quantbench.emulated=1``), so this layer needs nothing from the emulator.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from host.devices.transport.adb import AdbServerAddress
from host.devices.transport.device import Device, DeviceEntry, DeviceProps, list_devices
from host.errors import AmbiguousDevice, DeviceError, DeviceNotFound, DeviceOffline, DeviceUnauthorized


@dataclass(frozen=True)
class Attached:
    """A device the adb server knows, with its properties when it is ready."""

    serial: str
    state: str
    props: DeviceProps | None
    note: str = ""

    @property
    def emulated(self) -> bool:
        return bool(self.props and self.props.emulated)


def check_state(entry: DeviceEntry) -> None:
    if entry.state == "unauthorized":
        raise DeviceUnauthorized(f"device {entry.serial} is unauthorized: accept the USB debugging prompt on the phone")
    if entry.state == "offline":
        raise DeviceOffline(f"device {entry.serial} is offline: reconnect it (adb reconnect) and try again")
    if entry.state != "device":
        raise DeviceError(f"device {entry.serial} is {entry.state}, not ready")


def attached(address: AdbServerAddress) -> list[Attached]:
    """Every device the adb server knows; properties for those that are ready."""
    rows = []
    for entry in list_devices(address):
        props, note = None, ""
        if entry.state == "device":
            try:
                props = Device(address, entry.serial).props()
            except DeviceError as e:
                note = str(e)
        rows.append(Attached(entry.serial, entry.state, props, "emulated" if props and props.emulated else note))
    return rows


def named(address: AdbServerAddress, serials: Sequence[str]) -> list[Device]:
    """The named devices, each attached and ready, or the reason one is not."""
    entries = {e.serial: e for e in list_devices(address)}
    devices = []
    for serial in dict.fromkeys(serials):
        entry = entries.get(serial)
        if entry is None:
            raise DeviceNotFound(
                f"device {serial} not found: attached are {', '.join(entries) or 'none'} ('host devices' lists them)"
            )
        check_state(entry)
        devices.append(Device(address, serial))
    return devices


def resolve(address: AdbServerAddress, serials: Sequence[str]) -> list[Device]:
    """The named devices; else the only real device attached; else the emulated ones that run
    (the first is used); else none, and the caller decides (bench starts an emulated device)."""
    if serials:
        return named(address, serials)
    ready = [a for a in attached(address) if a.state == "device"]
    real = [a for a in ready if not a.emulated]
    if len(real) > 1:
        raise AmbiguousDevice(
            f"{len(real)} devices attached ({', '.join(a.serial for a in real)}): choose one with --device"
        )
    chosen = real or [a for a in ready if a.emulated]
    return [Device(address, chosen[0].serial)] if chosen else []


def every_ready(address: AdbServerAddress) -> list[Device]:
    """Every device the server has ready (a farm host's phones; emulated ones too); the others are
    named with their state, since the user asked for all of them."""
    rows = list_devices(address)
    ready = [Device(address, e.serial) for e in rows if e.state == "device"]
    if not ready:
        states = ", ".join(f"{e.serial} {e.state}" for e in rows) or "none attached"
        raise DeviceNotFound(f"--all-devices: no device is ready ({states})")
    return ready


def resolve_one(address: AdbServerAddress, serial: str | None) -> Device:
    """Exactly one device for commands that never start an emulated one (doctor, provision)."""
    devices = resolve(address, [serial] if serial else [])
    if not devices:
        raise DeviceNotFound("no device attached: connect a phone with USB debugging on, or run 'host emulator start'")
    return devices[0]
