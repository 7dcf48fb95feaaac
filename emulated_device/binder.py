"""The device's services: where the phone's own commands (``commands.py``) are answered.

A unix socket in ``<root>.private/internal/socket``, seen by every domain as
``/dev/socket/qbdevice``. The native client (``native/qbdevice.c``) sends its argv, environment
and folder, with its standard streams as file descriptors; the caller's domain comes from the
kernel (SO_PEERCRED's pid, matched to a domain's PID namespace), never from the request. One
thread per call, so a ``run-as`` or a following ``logcat`` never holds up another command.
"""

from __future__ import annotations

import array
import contextlib
import logging
import os
import socket
import struct
import threading
from collections.abc import Callable
from pathlib import Path

from emulated_device.commands import COMMANDS, caller_alive
from emulated_device.phone import Call, Phone

log = logging.getLogger(__name__)
SOCKET_NAME = "qbdevice"
MAGIC = b"QBD1"
MAX_REQUEST = 1 << 20


class BadRequest(ValueError):
    """A request that is not the client's format."""


def _strings(data: bytes, offset: int) -> tuple[list[str], int]:
    (count,) = struct.unpack_from("<I", data, offset)
    offset += 4
    items = []
    for _ in range(count):
        (size,) = struct.unpack_from("<I", data, offset)
        offset += 4
        items.append(data[offset : offset + size].decode("utf-8", "surrogateescape"))
        offset += size
    return items, offset


def parse_request(data: bytes) -> tuple[list[str], dict[str, str], str]:
    """argv, environment and working folder from the client's request body."""
    try:
        argv, offset = _strings(data, 0)
        environ, offset = _strings(data, offset)
        (size,) = struct.unpack_from("<I", data, offset)
        cwd = data[offset + 4 : offset + 4 + size].decode("utf-8", "surrogateescape")
    except struct.error as e:
        raise BadRequest(f"truncated request: {e}") from e
    if not argv:
        raise BadRequest("no argv")
    env = dict(entry.split("=", 1) for entry in environ if "=" in entry)
    return argv, env, cwd


class Services:
    """The socket server; ``start`` returns once it listens."""

    def __init__(self, phone: Phone) -> None:
        self.phone = phone
        self.path = phone.sandbox.internal / "socket" / SOCKET_NAME
        self.listener: socket.socket | None = None

    def start(self) -> None:
        self.path.unlink(missing_ok=True)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(self.path))
        os.chmod(self.path, 0o666)  # every domain may ask; who asks is the kernel's answer
        listener.listen(64)
        self.listener = listener
        threading.Thread(target=self._accept, name="device-services", daemon=True).start()

    def stop(self) -> None:
        if self.listener is not None:
            self.listener.close()
        Path(self.path).unlink(missing_ok=True)

    def _accept(self) -> None:
        assert self.listener is not None
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        fds: list[int] = []
        try:
            with conn:
                pid, _uid, _gid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
                fds, body = _receive(conn)
                domain = self.phone.domains.domain_of_pid(pid)
                if domain is None or len(fds) != 3:
                    return
                argv, env, cwd = parse_request(body)
                handler = COMMANDS.get(os.path.basename(argv[0]))
                call = Call(argv, env, cwd, (fds[0], fds[1], fds[2]), domain, caller_alive(conn.fileno()))
                if handler is None:
                    call.err(f"{argv[0]}: inaccessible or not found\n")
                    status = 127
                else:
                    status = _run(handler, self.phone, call)
                conn.sendall(struct.pack("<i", status))
        except (OSError, BadRequest) as e:
            log.debug("device service call failed: %s", e)
        finally:
            for fd in fds:
                os.close(fd)


def _run(handler: Callable[[Phone, Call], int], phone: Phone, call: Call) -> int:
    try:
        return handler(phone, call)
    except BrokenPipeError:
        return 141  # the reader went away (``getprop | head -1``): SIGPIPE, as a phone's command gets
    except Exception as e:  # a fault of ours: said on the caller's stderr, never a dead service
        log.exception("device command %s failed", call.argv[0])
        with contextlib.suppress(OSError):
            call.err(f"{call.argv[0]}: {e}\n")
        return 1


def _receive(conn: socket.socket) -> tuple[list[int], bytes]:
    """The header with the three descriptors, then the body."""
    fds = array.array("i")
    header, ancillary, _flags, _address = conn.recvmsg(8, socket.CMSG_SPACE(3 * fds.itemsize))
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[: len(data) - (len(data) % fds.itemsize)])
    received = list(fds)
    try:
        if len(header) < 8:
            header += _exactly(conn, 8 - len(header))
        if header[:4] != MAGIC:
            raise BadRequest("not a qbdevice request")
        (size,) = struct.unpack("<I", header[4:])
        if size > MAX_REQUEST:
            raise BadRequest(f"request of {size} bytes")
        return received, _exactly(conn, size)
    except BaseException:
        for fd in received:
            os.close(fd)
        raise


def _exactly(conn: socket.socket, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise BadRequest("request cut short")
        data += chunk
    return bytes(data)
