"""``adb shell`` with standard input, speaking the shell v2 protocol over an adbutils transport.

adbutils' ``shell2`` cannot send standard input; secrets (the agent's session token) must reach
the device without appearing on any command line, so they go in as stdin frames. Frames are
``[u8 id][u32 LE length][data]``: 0 stdin, 1 stdout, 2 stderr, 3 exit (one byte), 4 close-stdin.
"""

from __future__ import annotations

import struct

from adbutils import AdbConnection, AdbDevice
from adbutils.errors import AdbError

STDIN, STDOUT, STDERR, EXIT, CLOSE_STDIN = 0, 1, 2, 3, 4
_HEADER = struct.Struct("<BI")


def _read_exact(connection: AdbConnection, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = connection.conn.recv(size - len(data))
        if not chunk:
            raise AdbError("the device closed the shell before it exited")
        data += chunk
    return data


def run(device: AdbDevice, command: str, stdin: bytes, timeout: float) -> tuple[int, bytes, bytes]:
    """(exit code, stdout, stderr) of ``command`` fed ``stdin``; needs the device's shell_v2."""
    connection = device.open_transport(timeout=timeout)
    try:
        connection.send_command(f"shell,v2,raw:{command}")
        connection.check_okay()
        sock = connection.conn
        sock.settimeout(timeout)
        sock.sendall(_HEADER.pack(STDIN, len(stdin)) + stdin + _HEADER.pack(CLOSE_STDIN, 0))
        out, err = bytearray(), bytearray()
        while True:
            kind, length = _HEADER.unpack(_read_exact(connection, _HEADER.size))
            data = _read_exact(connection, length) if length else b""
            if kind == STDOUT:
                out += data
            elif kind == STDERR:
                err += data
            elif kind == EXIT:
                return (data[0] if data else 255), bytes(out), bytes(err)
    finally:
        connection.close()
