"""Device selection for commands: resolve a serial, or fall back to the emulated device."""

from __future__ import annotations

from dataclasses import dataclass

from host.devices.adb import parse_server
from host.devices.device import Device, DeviceProps, list_devices, resolve_serial
from host.errors import DeviceError, DeviceNotFound


@dataclass(frozen=True)
class DeviceRow:
    serial: str
    state: str
    props: DeviceProps | None
    note: str = ""


def describe_devices(adb_server: str | None) -> list[DeviceRow]:
    """Every device the adb server knows, with properties for those that are ready."""
    from host.emulator import manager

    address = parse_server(adb_server)
    emulated = {s.serial for s in manager.running()}
    rows = []
    for entry in list_devices(address):
        props = None
        note = "emulated" if entry.serial in emulated else ""
        if entry.state == "device":
            try:
                props = Device(address, entry.serial).props()
            except DeviceError as e:
                note = str(e)
        rows.append(DeviceRow(entry.serial, entry.state, props, note))
    known = {r.serial for r in rows}
    rows.extend(DeviceRow(s, "not connected", None, "emulated; run 'host emulator stop' or restart it") for s in sorted(emulated - known))
    return rows


def open_device(adb_server: str | None, serial: str | None) -> Device:
    """The named device, or the only one attached; an error when there is none."""
    address = parse_server(adb_server)
    resolved = resolve_serial(address, serial)
    if resolved is None:
        raise DeviceNotFound("no device attached: connect a phone, or run 'host emulator start'")
    return Device(address, resolved)
