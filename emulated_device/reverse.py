"""``reverse:``: forwards from the device to the host (``adb reverse``), per ADB connection.

The device listens on its loopback; each connection to it opens a stream to the host
(``OPEN tcp:PORT``) that the adb server connects on its side. Requests and answers are those of
AOSP's ``handle_forward_request`` (the same code serves ``host:forward``): ``OKAY``, then for
``tcp:0`` the port chosen as a length-prefixed string; ``list-forward`` (no OKAY on a device) one
length-prefixed block of ``serial local remote`` lines; ``FAIL`` with a length-prefixed message otherwise.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from emulated_device.services import relay_tcp
from emulated_device.transport import Connection, Stream

LOOPBACK = "127.0.0.1"
SERIAL = "UsbFfs"  # how adbd names the transport a reverse forward belongs to


def _okay(text: str | None = None) -> bytes:
    return b"OKAY" + (f"{len(text.encode()):04x}".encode() + text.encode() if text is not None else b"")


def _fail(text: str) -> bytes:
    return b"FAIL" + f"{len(text.encode()):04x}".encode() + text.encode()


@dataclass
class Forward:
    device: str  # "tcp:PORT" on the device
    host: str  # "tcp:PORT" on the host
    server: asyncio.base_events.Server


@dataclass
class ReverseForwards:
    """The reverse forwards of one ADB connection; they end with it."""

    connection: Connection
    forwards: dict[str, Forward] = field(default_factory=dict)

    async def handle(self, request: str) -> bytes:
        if request == "list-forward":
            listing = "".join(f"{SERIAL} {f.device} {f.host}\n" for f in self.forwards.values())
            return f"{len(listing.encode()):04x}".encode() + listing.encode()  # a device sends no OKAY before the list
        if request == "killforward-all":
            for spec in list(self.forwards):
                self._remove(spec)
            return _okay()
        if request.startswith("killforward:"):
            spec = request.split(":", 1)[1]
            if spec not in self.forwards:
                return _fail(f"listener '{spec}' not found")
            self._remove(spec)
            return _okay()
        if request.startswith("forward:"):
            return await self._add(request[len("forward:") :])
        return _fail(f"unknown reverse request: {request}")

    async def _add(self, spec: str) -> bytes:
        no_rebind = spec.startswith("norebind:")
        spec = spec.removeprefix("norebind:")
        device, _, host = spec.partition(";")
        if not (device.startswith("tcp:") and host.startswith("tcp:") and device[4:].isdigit() and host[4:].isdigit()):
            return _fail(f"cannot bind listener: only tcp:PORT forwards are emulated ({spec})")
        if device in self.forwards:
            if no_rebind:
                return _fail("cannot rebind existing socket")
            self._remove(device)
        try:
            server = await asyncio.start_server(lambda r, w: self._accepted(host, r, w), LOOPBACK, int(device[4:]))
        except OSError as e:
            return _fail(f"cannot bind listener: {e.strerror}")
        bound = server.sockets[0].getsockname()[1]
        name = f"tcp:{bound}"
        self.forwards[name] = Forward(name, host, server)
        return _okay(str(bound)) if device == "tcp:0" else _okay()

    def _remove(self, spec: str) -> None:
        forward = self.forwards.pop(spec)
        forward.server.close()

    async def _accepted(self, host: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        stream: Stream | None = None
        try:
            stream = await self.connection.open_stream(host)
        except ConnectionError:
            stream = None
        if stream is None:
            writer.close()
            return
        await relay_tcp(stream, reader, writer)

    def close(self) -> None:
        for spec in list(self.forwards):
            self._remove(spec)
