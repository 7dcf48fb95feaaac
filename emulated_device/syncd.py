"""ADB's ``sync:`` service as the shell user: STAT/STA2/LST2, LIST/LIS2, SEND, RECV and QUIT.

It runs inside the shell's domain (``jail.py enter`` with ``sync``), as uid 2000, rooted at the
sandbox: every path is the device's own and every permission check is the kernel's, as on a
phone, where adbd's sync runs as the shell user. It speaks the raw protocol on two file
descriptors (the daemon relays the ADB stream), standard library only. Replies are gathered and
written in large blocks so a pull moves about 1 MiB per ADB round trip.
"""

from __future__ import annotations

import errno
import os
import stat
import struct
from collections.abc import Callable

MYPY = False
if MYPY:  # names for the type checker only: the sync server starts for every sync session, without them
    from collections.abc import Callable
    from typing import BinaryIO

_REQ = struct.Struct("<4sI")
_STAT_V1 = struct.Struct("<4sIII")
_STAT_V2 = struct.Struct(
    "<4sIQQIIIIQqqq"
)  # 72 bytes: id, errno, dev, ino, mode, nlink, uid, gid, size, atime, mtime, ctime
_DENT_V1 = struct.Struct("<4sIIII")
_DENT_V2 = struct.Struct("<4sIQQIIIIQqqqI")
_SEND_V2 = struct.Struct("<4sII")  # SND2 again, mode, flags
_RECV_V2 = struct.Struct("<4sI")  # RCV2 again, flags
DRY_RUN = 0x80000000
SYNC_DATA_MAX = 64 * 1024
MAX_PATH = 4096
FLUSH_AT = 1 << 20


class _Closed(Exception):
    """The other side went away mid-message."""


class _Channel:
    def __init__(self, fd_in: int, fd_out: int) -> None:
        self.fd_in, self.fd_out = fd_in, fd_out
        self.pending = bytearray()
        self.out = bytearray()

    def read(self, n: int) -> bytes:
        while len(self.pending) < n:
            chunk = os.read(self.fd_in, max(n - len(self.pending), 1 << 16))
            if not chunk:
                raise _Closed()
            self.pending += chunk
        data = bytes(self.pending[:n])
        del self.pending[:n]
        return data

    def add(self, data: bytes) -> None:
        self.out += data
        if len(self.out) >= FLUSH_AT:
            self.flush()

    def flush(self) -> None:
        data, self.out = bytes(self.out), bytearray()
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd_out, view) :]

    def fail(self, message: str) -> None:
        encoded = message.encode()
        self.add(_REQ.pack(b"FAIL", len(encoded)) + encoded)


def _v2_fields(st: os.stat_result) -> tuple[int, ...]:
    """What sync's second version says of a file (STA2/LST2 and each DNT2), after its error field."""
    return (st.st_dev, st.st_ino, st.st_mode, st.st_nlink, st.st_uid, st.st_gid, st.st_size,
            int(st.st_atime), int(st.st_mtime), int(st.st_ctime))  # fmt: skip


def _stat_v2(tag: bytes, st: os.stat_result | None, error: int = 0) -> bytes:
    if st is None:
        return _STAT_V2.pack(tag, error, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    return _STAT_V2.pack(tag, 0, *_v2_fields(st))


def _stat(channel: _Channel, tag: bytes, path: str) -> None:
    try:
        st: os.stat_result | None = os.lstat(path) if tag == b"LST2" else os.stat(path)
        error = 0
    except OSError as e:
        st, error = None, e.errno or errno.EIO
    if tag == b"STAT":
        channel.add(
            _STAT_V1.pack(
                b"STAT", st.st_mode if st else 0, (st.st_size & 0xFFFFFFFF) if st else 0, int(st.st_mtime) if st else 0
            )
        )
    else:
        channel.add(_stat_v2(tag, st, error))


def _list(channel: _Channel, tag: bytes, path: str) -> None:
    try:
        names = sorted(os.listdir(path))
    except OSError:
        names = []
    for name in names:
        try:
            st = os.lstat(os.path.join(path, name))
        except OSError:
            continue
        encoded = name.encode("utf-8", "surrogateescape")
        if tag == b"LIST":
            channel.add(
                _DENT_V1.pack(b"DENT", st.st_mode, st.st_size & 0xFFFFFFFF, int(st.st_mtime), len(encoded)) + encoded
            )
        else:
            channel.add(_DENT_V2.pack(b"DNT2", 0, *_v2_fields(st), len(encoded)) + encoded)
    channel.add(b"DONE" + bytes(16 if tag == b"LIST" else 72))


def _send_spec(spec: str) -> tuple[str, int]:
    """``path,mode`` split at the last comma (a path may contain commas)."""
    path, _, mode_text = spec.rpartition(",")
    if not path:
        return spec, 0o100644
    try:
        return path, int(mode_text)
    except ValueError:
        return path, 0o100644


def _mkdirs(folder: str) -> None:
    """The parents of a pushed file, as adbd makes them (``fixed_push_mkdir``)."""
    if folder and not os.path.isdir(folder):
        os.makedirs(folder, 0o771, exist_ok=True)


def _frames(channel: _Channel, sink: Callable[[bytes], object]) -> int:
    """DATA frames into ``sink`` until DONE; the mtime DONE carries."""
    while True:
        tag, length = _REQ.unpack(channel.read(_REQ.size))
        if tag == b"DONE":
            return length
        if tag != b"DATA" or length > SYNC_DATA_MAX:
            raise _Closed()
        sink(channel.read(length))


def _open_partial(path: str, partial: str, is_link: bool) -> tuple[BinaryIO | None, str | None]:
    """The file a SEND writes into, or AOSP's failure text (file_sync_service.cpp)."""
    try:
        _mkdirs(os.path.dirname(path))
    except OSError as e:
        return None, f"secure_mkdirs failed: {e.strerror}"
    if os.path.isdir(path):
        return None, f"couldn't create file: {os.strerror(errno.EISDIR)}"
    try:
        return (None if is_link else open(partial, "wb")), None
    except OSError as e:
        return None, f"couldn't create file: {e.strerror}"


def _place(path: str, partial: str, mode: int, link: bytes | None, mtime: int) -> str | None:
    """The received file (or symlink) into place; the error, if any."""
    try:
        if link is not None:
            if os.path.lexists(path):
                os.unlink(path)
            os.symlink(link.rstrip(b"\0").decode("utf-8", "surrogateescape"), path)
        else:
            os.chmod(partial, stat.S_IMODE(mode) or 0o644)
            os.replace(partial, path)
            if mtime:
                os.utime(path, (mtime, mtime))
        return None
    except OSError as e:
        return f"{path}: {e.strerror}"


def _send(channel: _Channel, spec: str, dry_run: bool = False) -> None:
    """DATA frames until DONE into a partial file, renamed into place (or a symlink); OKAY or FAIL.
    A dry run (``sendrecv_v2_dry_run_send``, adb's push speed test) reads and writes nothing."""
    path, mode = _send_spec(spec)
    if dry_run:
        _frames(channel, lambda data: None)
        channel.add(_REQ.pack(b"OKAY", 0))
        return
    is_link = stat.S_ISLNK(mode)
    partial = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.partial")
    handle, error = _open_partial(path, partial, is_link)
    link = bytearray()
    try:
        mtime = _frames(
            channel, link.extend if is_link else (handle.write if handle is not None else lambda data: None)
        )
    except BaseException:  # the client left mid-transfer: nothing of it stays
        if os.path.lexists(partial) and handle is not None:
            os.unlink(partial)
        raise
    finally:
        if handle is not None:
            handle.close()
    if error is None:
        error = _place(path, partial, mode, bytes(link) if is_link else None, mtime)
    if os.path.lexists(partial):
        os.unlink(partial)
    if error:
        channel.fail(error)
    else:
        channel.add(_REQ.pack(b"OKAY", 0))


def _recv(channel: _Channel, path: str) -> None:
    try:
        handle = open(path, "rb")  # noqa: SIM115 - opened apart from reading: each failure is said in its own words
    except OSError as e:
        channel.fail(f"open failed: {e.strerror}")
        return
    with handle:
        while True:
            try:
                block = handle.read(SYNC_DATA_MAX)
            except OSError as e:
                channel.fail(f"read failed: {e.strerror}")
                return
            if not block:
                break
            channel.add(_REQ.pack(b"DATA", len(block)) + block)
    channel.add(_REQ.pack(b"DONE", 0))


def _send_v2(channel: _Channel, tag: bytes, path: str) -> bool:
    """sendrecv_v2's SND2: the mode and flags follow; no compression is offered."""
    _id, mode, flags = _SEND_V2.unpack(channel.read(_SEND_V2.size))
    if flags & ~DRY_RUN:
        channel.fail(f"{path}: compression is not supported by this device")
        return False
    _send(channel, f"{path},{mode}", dry_run=bool(flags & DRY_RUN))
    return True


def _recv_v2(channel: _Channel, tag: bytes, path: str) -> bool:
    _id, flags = _RECV_V2.unpack(channel.read(_RECV_V2.size))
    if flags:
        channel.fail(f"{path}: compression is not supported by this device")
        return False
    _recv(channel, path)
    return True


def _simple(answer: Callable[[_Channel, str], None]) -> Callable[[_Channel, bytes, str], bool]:
    def handle(channel: _Channel, tag: bytes, path: str) -> bool:
        answer(channel, path)
        return True

    return handle


def _tagged(answer: Callable[[_Channel, bytes, str], None]) -> Callable[[_Channel, bytes, str], bool]:
    def handle(channel: _Channel, tag: bytes, path: str) -> bool:
        answer(channel, tag, path)
        return True

    return handle


# each request: answered, and whether the session goes on
_REQUESTS: dict[bytes, Callable[[_Channel, bytes, str], bool]] = {
    b"SEND": _simple(_send),
    b"SND2": _send_v2,
    b"RECV": _simple(_recv),
    b"RCV2": _recv_v2,
    **dict.fromkeys((b"STAT", b"STA2", b"LST2"), _tagged(_stat)),
    **dict.fromkeys((b"LIST", b"LIS2"), _tagged(_list)),
}


def serve(fd_in: int, fd_out: int) -> int:
    """Answer sync requests until QUIT or the end of the stream; 0 when the client ended it."""
    channel = _Channel(fd_in, fd_out)
    try:
        while True:
            tag, length = _REQ.unpack(channel.read(_REQ.size))
            if tag == b"QUIT":
                break
            if length > MAX_PATH:
                channel.fail("path too long")
                break
            path = channel.read(length).decode("utf-8", "surrogateescape")
            handler = _REQUESTS.get(tag)
            if handler is None:
                channel.fail(f"unknown sync request {tag!r}")
                break
            if not handler(channel, tag, path):
                break
            channel.flush()
    except (_Closed, BrokenPipeError):
        return 0
    channel.flush()
    return 0
