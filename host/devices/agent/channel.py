"""How the host reaches the agent's port on the device: through the adb server's own connection.

An ``adb forward`` is opened by the adb server on *its* machine: with a lab's server on another
host, a forward's port is there, not here. So the channel relays instead: a listener on this
machine's loopback (a free port, for this session only) whose every connection opens a stream
to ``tcp:PORT`` on the device through the adb server (adbutils' ``create_connection``, the
``tcp:`` service a forward uses too) and copies bytes both ways. Any adb server this machine
can reach works, local or remote, and closing the session leaves nothing on the server.

ADB streams have no half-close: when either side ends, both are closed (gRPC then reconnects
through a new stream if it needs one).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from dataclasses import dataclass, field

from host.devices.transport.device import Device
from host.errors import DeviceError

CHUNK = 256 * 1024


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while True:
            data = source.recv(CHUNK)
            if not data:
                break
            sink.sendall(data)
    except OSError:
        pass  # either end went away: both are closed below
    finally:
        for end in (source, sink):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
            end.close()


@dataclass
class Channel:
    """A loopback address that reaches ``remote_port`` on the device, until closed."""

    device: Device
    remote_port: int
    listener: socket.socket = field(init=False)
    closed: threading.Event = field(default_factory=threading.Event)
    streams: list[socket.socket] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        threading.Thread(target=self._accept, name=f"relay-{self.device.serial}", daemon=True).start()

    @property
    def local_port(self) -> int:
        return int(self.listener.getsockname()[1])

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.local_port}"

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed
            try:
                upstream = self.device.open_stream(self.remote_port)
            except DeviceError:
                client.close()  # gRPC sees the connection drop and reports the agent unreachable
                continue
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with contextlib.suppress(OSError):
                upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            upstream.settimeout(None)
            with self._lock:
                if self.closed.is_set():
                    client.close()
                    upstream.close()
                    return
                self.streams += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=(source, sink), name="relay-pump", daemon=True).start()

    def close(self) -> None:
        """Stop accepting and end every relayed stream (their ADB streams close with them)."""
        with self._lock:
            self.closed.set()
            streams, self.streams = self.streams, []
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept (close alone does not on Linux)
        self.listener.close()
        for end in streams:
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
            end.close()


def open_channel(device: Device, remote_port: int) -> Channel:
    return Channel(device, remote_port)
