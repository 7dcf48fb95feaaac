"""DeviceFarmer/STF: reserve phones from a lab's farm, reach them with ``adb connect``, give them back.

The documented REST API, with the user's access token as a bearer token (from ``STF_TOKEN``,
never a command line): ``GET /api/v1/devices`` lists the farm; ``POST /api/v1/user/devices``
``{"serial", "timeout"}`` reserves one (the timeout, in milliseconds, is STF's own backstop: a
reservation this tool could not give back, after a SIGKILL, ends by itself);
``POST /api/v1/user/devices/{serial}/remoteConnect`` returns the ``remoteConnectUrl`` that
``adb connect`` takes; ``DELETE`` on both gives the phone back. Reservations are given back when
the bench ends, fails or is interrupted.

Devices are chosen by serial or by a filter over the farm's fields: ``sdk>=30,abi=arm64-v8a``,
``model~Pixel`` (contains), ``manufacturer!=Samsung``; only present, ready, unowned devices count.
"""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

from host.codec import JsonObject
from host.devices.transport.adb import AdbServerAddress, connect_device, disconnect_device
from host.devices.transport.device import Device
from host.errors import DeviceError, HostError, InputError
from host.params import comma_list

TOKEN_VARIABLE = "STF_TOKEN"
HTTP_TIMEOUT_S = 30.0
_CONDITION = re.compile(r"^\s*([A-Za-z_.]+)\s*(>=|<=|!=|=|>|<|~)\s*(.+?)\s*$")


class StfError(DeviceError):
    """The farm refused or failed a request: what it said, and what to do."""


class StfAuthError(InputError):
    """The farm does not accept the token: the user fixes STF_TOKEN."""


@dataclass(frozen=True)
class FarmDevice:
    serial: str
    fields: JsonObject

    @property
    def free(self) -> bool:
        """Present, ready and nobody's: an entry that does not say so (a malformed one) is not free."""
        f = self.fields
        return f.get("present") is True and f.get("ready") is True and not f.get("owner") and not f.get("using")

    def describe(self) -> str:
        f = self.fields
        maker = f"{f.get('manufacturer', '')} {f.get('model', '')}"
        return f"{self.serial} ({maker}, SDK {f.get('sdk', '?')}, {f.get('abi', '?')})"


ORDERED = (">=", "<=", ">", "<")


def parse_filter(text: str | None) -> list[tuple[str, str, str]]:
    """``--stf-filter`` as (field, op, value) conditions, its syntax checked before the farm is asked."""
    conditions = []
    for condition in comma_list(text, "--stf-filter"):
        found = _CONDITION.match(condition)
        if not found:
            raise InputError(f"--stf-filter: {condition!r} is not FIELD OP VALUE (ops: = != >= <= > < ~)")
        name, op, wanted = found.groups()
        if op in ORDERED:
            try:
                float(wanted)
            except ValueError:
                raise InputError(
                    f"--stf-filter: {condition!r}: {op} compares numbers, and {wanted!r} is not one"
                ) from None
        conditions.append((name, op, wanted))
    return conditions


def _matches(device: FarmDevice, condition: tuple[str, str, str]) -> bool:
    name, op, wanted = condition
    value: Any = device.fields
    for part in name.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if value is None:
        return op == "!="
    text = str(value)
    if op == "~":
        return wanted.lower() in text.lower()
    if op in ("=", "!="):
        return (text.lower() == wanted.lower()) == (op == "=")
    try:
        left, right = float(text), float(wanted)
    except ValueError:
        raise InputError(f"--stf-filter: {name} {op} needs numbers; the farm says {name}={text!r}") from None
    return {">=": left >= right, "<=": left <= right, ">": left > right, "<": left < right}[op]


def select(devices: list[FarmDevice], serials: tuple[str, ...], filter_text: str | None) -> list[FarmDevice]:
    """The devices named (each must be in the farm), or the free ones that pass the filter."""
    if serials:
        known = {d.serial: d for d in devices}
        missing = [s for s in serials if s not in known]
        if missing:
            raise InputError(f"STF has no device {', '.join(missing)}; it has {', '.join(sorted(known)) or 'none'}")
        return [known[s] for s in serials]
    conditions = parse_filter(filter_text)
    chosen = [d for d in devices if d.free and all(_matches(d, c) for c in conditions)]
    if not chosen:
        busy = sum(1 for d in devices if not d.free and all(_matches(d, c) for c in conditions))
        raise InputError(
            f"no free STF device matches {filter_text or 'any'!r} ({len(devices)} in the farm"
            + (f", {busy} matching but in use or offline)" if busy else ")")
        )
    return chosen


class StfClient:
    def __init__(self, url: str, token: str | None = None) -> None:
        self.base = url.rstrip("/")
        self.token = token if token is not None else os.environ.get(TOKEN_VARIABLE, "")
        if not self.token:
            raise InputError(f"--stf needs an access token in ${TOKEN_VARIABLE} (STF: Settings > Keys > Access Tokens)")

    def _request(self, method: str, path: str, body: JsonObject | None = None) -> JsonObject:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"{self.base}/api/v1{path}",
            data=data,
            method=method,
            headers={
                "Authorization": f"Bearer {self.token}",
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as reply:
                body_bytes = reply.read()
        except urllib.error.HTTPError as e:
            said = _description(e)
            if e.code == 401:
                raise StfAuthError(
                    f"STF at {self.base} refused the token in ${TOKEN_VARIABLE} (401{said}): create an "
                    "access token in STF's Settings > Keys"
                ) from None
            raise StfError(f"STF {method} {path}: {e.code}{said}") from None
        except (urllib.error.URLError, OSError, ValueError) as e:
            reason = getattr(e, "reason", e)
            raise StfError(f"STF at {self.base} does not answer ({reason})") from None
        try:
            answer = json.loads(body_bytes or b"{}")
        except ValueError:
            start = body_bytes[:60].decode("utf-8", "replace").strip()
            raise StfError(
                f"STF at {self.base} gave a malformed answer to {method} {path}: not JSON ({start!r}...); is "
                "this the STF server's URL?"
            ) from None
        if not isinstance(answer, dict):
            raise StfError(
                f"STF at {self.base} gave a malformed answer to {method} {path}: JSON that is not an object; is "
                "this the STF server's URL?"
            )
        return answer

    def devices(self) -> list[FarmDevice]:
        listed = self._request("GET", "/devices").get("devices")
        listed = listed if isinstance(listed, list) else []
        return [
            FarmDevice(d["serial"], d)
            for d in listed
            if isinstance(d, dict) and isinstance(d.get("serial"), str) and d["serial"]
        ]

    def reserve(self, serial: str, timeout_s: float) -> None:
        try:
            self._request("POST", "/user/devices", {"serial": serial, "timeout": int(timeout_s * 1000)})
        except StfError as e:
            raise StfError(
                f"{serial} could not be reserved: it is in use by someone else or not available ({e})"
            ) from None

    def remote_connect(self, serial: str) -> str:
        url = self._request("POST", f"/user/devices/{serial}/remoteConnect").get("remoteConnectUrl")
        if not url:
            raise StfError(f"STF gave no remoteConnectUrl for {serial}")
        return str(url)

    def release(self, serial: str) -> list[str]:
        """Give the device back (remote connection, then the reservation); problems, for the user."""
        problems = []
        for path in (f"/user/devices/{serial}/remoteConnect", f"/user/devices/{serial}"):
            try:
                self._request("DELETE", path)
            except HostError as e:
                problems.append(f"{serial}: STF did not release it ({e}); its reservation times out by itself")
        return problems


def _description(error: urllib.error.HTTPError) -> str:
    try:
        said = json.loads(error.read() or b"{}").get("description")
    except (ValueError, OSError, AttributeError):
        said = None
    return f": {said}" if said else ""


@contextmanager
def reserved(
    address: AdbServerAddress,
    stf: StfClient,
    serials: tuple[str, ...],
    filter_text: str | None,
    timeout_s: float,
    say: Callable[[str], None],
) -> Iterator[list[Device]]:
    """Reserve and ``adb connect`` the chosen devices; give every one back however the block ends."""
    chosen = select(stf.devices(), serials, filter_text)
    with ExitStack() as held:
        devices = []
        for farm_device in chosen:
            stf.reserve(farm_device.serial, timeout_s)
            held.callback(_give_back, stf, farm_device.serial, say)
            url = stf.remote_connect(farm_device.serial)
            held.callback(disconnect_device, address, url)
            try:
                connect_device(address, url, timeout_s=30)
            except HostError as e:
                raise StfError(
                    f"STF gave {url} for {farm_device.serial}, but adb cannot connect there: its provider may be "
                    f"gone ({e}); the device was given back"
                ) from None
            say(f"reserved {farm_device.describe()} on STF, connected as {url}")
            devices.append(Device(address, url))
        yield devices


def _give_back(stf: StfClient, serial: str, say: Callable[[str], None]) -> None:
    problems = stf.release(serial)
    for line in problems:
        say(line)
    if not problems:
        say(f"gave {serial} back to STF")
