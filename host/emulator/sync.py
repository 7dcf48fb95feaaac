"""The ``sync:`` service: STAT/STA2/LST2, LIST/LIS2, SEND, RECV and QUIT over the sandbox.

Replies are gathered in a buffer and sent as WRTEs of up to the negotiated payload size, so a
pull moves ~1 MiB per round trip instead of one 64 KiB DATA frame.
"""

from __future__ import annotations

import errno
import os
import stat
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from host.emulator.sandbox import Sandbox, SandboxEscape
from host.emulator.transport import Stream, StreamClosed

_REQ = struct.Struct("<4sI")
_STAT_V1 = struct.Struct("<4sIII")
_STAT_V2 = struct.Struct("<4sIQQIIIIQqqq")  # 72 bytes: id, errno, dev, ino, mode, nlink, uid, gid, size, atime, mtime, ctime
_DENT_V1 = struct.Struct("<4sIIII")
_DENT_V2 = struct.Struct("<4sIQQIIIIQqqqI")
SYNC_DATA_MAX = 64 * 1024
MAX_PATH = 4096


class _Replies:
    def __init__(self, stream: Stream) -> None:
        self.stream = stream
        self.buffer = bytearray()

    def add(self, data: bytes) -> None:
        self.buffer += data

    async def maybe_flush(self) -> None:
        if len(self.buffer) >= self.stream.connection.max_payload:
            await self.flush()

    async def flush(self) -> None:
        if self.buffer:
            data, self.buffer = bytes(self.buffer), bytearray()
            await self.stream.write(data)

    def fail(self, message: str) -> None:
        encoded = message.encode()
        self.add(_REQ.pack(b"FAIL", len(encoded)) + encoded)


def _errno_of(error: OSError) -> int:
    return error.errno or errno.EIO


def _stat_v2(tag: bytes, st: os.stat_result | None, error: int = 0) -> bytes:
    if st is None:
        return _STAT_V2.pack(tag, error, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    return _STAT_V2.pack(tag, 0, st.st_dev, st.st_ino, st.st_mode, st.st_nlink, st.st_uid, st.st_gid, st.st_size,
                         int(st.st_atime), int(st.st_mtime), int(st.st_ctime))


async def serve_sync(sandbox: Sandbox, stream: Stream) -> None:
    replies = _Replies(stream)
    try:
        while True:
            tag, length = _REQ.unpack(await stream.readexactly(_REQ.size))
            if tag == b"QUIT":
                break
            if length > MAX_PATH:
                replies.fail("path too long")
                await replies.flush()
                break
            path = (await stream.readexactly(length)).decode("utf-8", "replace")
            if tag == b"SEND":
                await _send(sandbox, stream, replies, path)
            elif tag == b"RECV":
                await _recv(sandbox, replies, path)
            elif tag in (b"STAT", b"STA2", b"LST2"):
                _stat(sandbox, replies, tag, path)
            elif tag in (b"LIST", b"LIS2"):
                await _list(sandbox, replies, tag, path)
            else:
                replies.fail(f"unknown sync request {tag!r}")
                await replies.flush()
                break
            await replies.flush()
    except StreamClosed:
        return
    await stream.close()


def _stat(sandbox: Sandbox, replies: _Replies, tag: bytes, path: str) -> None:
    try:
        target = sandbox.host_path(path)
        st = os.lstat(target) if tag == b"LST2" else os.stat(target)
    except SandboxEscape:
        st, error = None, errno.EACCES
    except OSError as e:
        st, error = None, _errno_of(e)
    else:
        error = 0
    if tag == b"STAT":
        replies.add(_STAT_V1.pack(b"STAT", st.st_mode if st else 0, (st.st_size & 0xFFFFFFFF) if st else 0, int(st.st_mtime) if st else 0))
    else:
        replies.add(_stat_v2(tag, st, error))


async def _list(sandbox: Sandbox, replies: _Replies, tag: bytes, path: str) -> None:
    try:
        folder = sandbox.host_path(path)
        names = sorted(os.listdir(folder))
    except (SandboxEscape, OSError):
        names, folder = [], None
    for name in names:
        assert folder is not None
        try:
            st = os.lstat(folder / name)
        except OSError:
            continue
        encoded = name.encode()
        if tag == b"LIST":
            replies.add(_DENT_V1.pack(b"DENT", st.st_mode, st.st_size & 0xFFFFFFFF, int(st.st_mtime), len(encoded)) + encoded)
        else:
            replies.add(_DENT_V2.pack(b"DNT2", 0, st.st_dev, st.st_ino, st.st_mode, st.st_nlink, st.st_uid, st.st_gid,
                                      st.st_size, int(st.st_atime), int(st.st_mtime), int(st.st_ctime), len(encoded)) + encoded)
        await replies.maybe_flush()
    replies.add(b"DONE" + bytes(16 if tag == b"LIST" else 72))


def _send_spec(spec: str) -> tuple[str, int]:
    """``path,mode`` split at the last comma (a path may contain commas)."""
    path, _, mode_text = spec.rpartition(",")
    if not path:
        return spec, 0o100644
    try:
        return path, int(mode_text)
    except ValueError:
        return path, 0o100644


@dataclass
class _Incoming:
    """Where a SEND's bytes go: a partial file renamed into place at DONE, or a symlink target."""

    path: str
    mode: int
    target: Path | None = None
    partial: Path | None = None
    handle: BinaryIO | None = None
    link: bytearray = field(default_factory=bytearray)
    error: str | None = None

    def open(self, sandbox: Sandbox) -> None:
        try:
            self.target = sandbox.host_path(self.path, write=True)
            self.target.parent.mkdir(parents=True, exist_ok=True)
            self.partial = self.target.with_name(f".{self.target.name}.partial")
            if not stat.S_ISLNK(self.mode):
                self.handle = open(self.partial, "wb")
        except (SandboxEscape, OSError) as e:
            self.error = f"{self.path}: {getattr(e, 'strerror', None) or e}"

    def write(self, data: bytes) -> None:
        if stat.S_ISLNK(self.mode):
            self.link += data
        elif self.handle is not None:
            self.handle.write(data)

    def abandon(self) -> None:
        """The client left mid-transfer: nothing of it stays."""
        if self.handle is not None:
            self.handle.close()
        if self.partial is not None:
            self.partial.unlink(missing_ok=True)

    def finish(self, mtime: int) -> None:
        if self.handle is not None:
            self.handle.close()
        if self.error is None and self.target is not None and self.partial is not None:
            try:
                if stat.S_ISLNK(self.mode):
                    self.target.unlink(missing_ok=True)
                    os.symlink(bytes(self.link).rstrip(b"\0").decode(), self.target)
                else:
                    os.chmod(self.partial, stat.S_IMODE(self.mode) or 0o644)
                    os.replace(self.partial, self.target)
                    if mtime:
                        os.utime(self.target, (mtime, mtime))
            except OSError as e:
                self.error = f"{self.path}: {e.strerror}"
        if self.partial is not None and self.partial.exists():
            self.partial.unlink()


async def _send(sandbox: Sandbox, stream: Stream, replies: _Replies, spec: str) -> None:
    """Receive DATA frames until DONE; write them unless the path is refused; then OKAY or FAIL."""
    incoming = _Incoming(*_send_spec(spec))
    incoming.open(sandbox)
    mtime = 0
    try:
        while True:
            tag, length = _REQ.unpack(await stream.readexactly(_REQ.size))
            if tag == b"DATA":
                if length > SYNC_DATA_MAX:
                    raise StreamClosed("DATA frame over 64 KiB")
                incoming.write(await stream.readexactly(length))
            elif tag == b"DONE":
                mtime = length
                break
            else:
                raise StreamClosed(f"unexpected {tag!r} during SEND")
    except BaseException:
        incoming.abandon()
        raise
    incoming.finish(mtime)
    if incoming.error:
        replies.fail(incoming.error)
    else:
        replies.add(_REQ.pack(b"OKAY", 0))


async def _recv(sandbox: Sandbox, replies: _Replies, path: str) -> None:
    try:
        source = sandbox.host_path(path)
        handle = open(source, "rb")
    except SandboxEscape as e:
        replies.fail(str(e))
        return
    except IsADirectoryError:
        replies.fail(f"{path}: is a directory")
        return
    except OSError as e:
        replies.fail(f"{path}: {e.strerror}")
        return
    with handle:
        while block := handle.read(SYNC_DATA_MAX):
            replies.add(_REQ.pack(b"DATA", len(block)) + block)
            await replies.maybe_flush()
    replies.add(_REQ.pack(b"DONE", 0))
