"""Sync SEND with 64 KiB DATA frames over an adbutils transport.

adbutils' own ``sync.push`` sends 4 KiB frames, two socket writes each, which halves throughput
against ``adb push`` (measured: 198 vs 418 MB/s for 50 MB on the emulated device). The protocol
allows 64 KiB per DATA frame; this writes those, one ``sendall`` per frame, over the same
adbutils connection.
"""

from __future__ import annotations

import socket
import stat
import struct
import time
from pathlib import Path

from adbutils import AdbDevice
from adbutils.errors import AdbError

DATA_MAX = 64 * 1024


def _send_all(sock: socket.socket, parts: list[bytes | memoryview]) -> None:
    """sendmsg with gather buffers (no copy into one frame), resuming after short writes."""
    pending = [memoryview(p) for p in parts]
    while pending:
        sent = sock.sendmsg(pending)
        while sent and pending:
            if sent >= len(pending[0]):
                sent -= len(pending[0])
                pending.pop(0)
            else:
                pending[0] = pending[0][sent:]
                sent = 0


def push_file(device: AdbDevice, local: Path, remote: str, mode: int = 0o644) -> int:
    """Push ``local`` to ``remote`` through ``device.open_transport()``; returns bytes sent."""
    connection = device.open_transport()
    try:
        connection.send_command("sync:")
        connection.check_okay()
        spec = f"{remote},{stat.S_IFREG | mode}".encode()
        sock = connection.conn
        sock.sendall(b"SEND" + struct.pack("<I", len(spec)) + spec)
        total = 0
        header = struct.Struct("<4sI")
        with local.open("rb") as handle:
            while chunk := handle.read(16 * DATA_MAX):
                view = memoryview(chunk)
                parts: list[bytes | memoryview] = []
                for start in range(0, len(view), DATA_MAX):
                    block = view[start : start + DATA_MAX]
                    parts += [header.pack(b"DATA", len(block)), block]
                _send_all(sock, parts)
                total += len(chunk)
        sock.sendall(header.pack(b"DONE", int(time.time())))
        reply = connection.read(8)
        if len(reply) < 8:
            raise AdbError("connection closed before the device answered the push")
        status, length = header.unpack(reply)
        if status != b"OKAY":
            message = connection.read(length).decode("utf-8", "replace") if status == b"FAIL" else repr(status)
            raise AdbError(f"device refused the push: {message}")
        return total
    finally:
        connection.close()
