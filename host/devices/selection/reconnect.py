"""A device that dropped off mid-run: wait for it, reconnect it where adb can, for a bounded time.

Phones drop off a lab host for ordinary reasons: USB re-enumerates, a hub resets, the adb server
is restarted (or killed) and comes back without its network devices. Waiting a little and, for
network devices (``host:port`` serials: Wi-Fi adb, STF's remote connections, the emulated
device), running ``adb connect`` again brings most of them back; the bench then goes on with a
new agent session instead of failing every remaining cell. A local adb server that is gone is
started again by the next adb call (``host.devices.transport.adb.client``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from host.devices.transport.adb import connect_device
from host.devices.transport.device import Device, list_devices
from host.errors import HostError

NETWORK_SERIAL = re.compile(r"^[\w.\-\[\]:]+:\d+$")
POLL_S = 1.0


def is_network_device(serial: str) -> bool:
    return bool(NETWORK_SERIAL.match(serial))


def _state(device: Device) -> str | None:
    try:
        return next((e.state for e in list_devices(device.address) if e.serial == device.serial), None)
    except HostError:
        return None  # the adb server itself is away (or restarting)


def wait_for_device(device: Device, bound_s: float, say: Callable[[str], None]) -> bool:
    """True once adb reports the device ready again within ``bound_s``; False if it stays away."""
    deadline = time.monotonic() + bound_s
    told = False
    while True:
        state = _state(device)
        if state == "device":
            if told:
                say(f"{device.serial}: back")
            return True
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        if not told:
            say(
                f"{device.serial}: dropped off ({state or 'not listed'}); waiting up to {bound_s:g} s for it"
                + (", reconnecting with adb connect" if is_network_device(device.serial) else "")
            )
            told = True
        if is_network_device(device.serial) and state in (None, "offline"):
            try:
                connect_device(device.address, device.serial, timeout_s=min(5.0, max(left, 0.5)))
                continue
            except HostError:
                pass  # not reachable yet
        time.sleep(min(POLL_S, max(left, 0.05)))
