"""The ``sync:`` service: STAT/STA2/LST2, LIST/LIS2, SEND, RECV and QUIT over the sandbox.

Replies are gathered in a buffer and sent as WRTEs of up to the negotiated payload size, so a
pull moves ~1 MiB per round trip instead of one 64 KiB DATA frame.
"""

from __future__ import annotations

import errno
import os
import stat
import struct

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


async def _send(sandbox: Sandbox, stream: Stream, replies: _Replies, spec: str) -> None:
    """Receive DATA frames until DONE; write them unless the path is refused; then OKAY or FAIL."""
    path, _, mode_text = spec.rpartition(",")
    if not path:
        path, mode_text = spec, "33188"
    try:
        mode = int(mode_text)
    except ValueError:
        mode = 0o100644
    error: str | None = None
    handle = None
    target = None
    try:
        target = sandbox.host_path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
    except (SandboxEscape, OSError) as e:
        error = f"{path}: {e}"
    partial = target.with_name(f".{target.name}.partial") if target is not None and error is None else None
    symlink_target = bytearray()
    if partial is not None and not stat.S_ISLNK(mode):
        try:
            handle = open(partial, "wb")
        except OSError as e:
            error = f"{path}: {e.strerror}"
    mtime = 0
    try:
        while True:
            tag, length = _REQ.unpack(await stream.readexactly(_REQ.size))
            if tag == b"DATA":
                if length > SYNC_DATA_MAX:
                    raise StreamClosed("DATA frame over 64 KiB")
                data = await stream.readexactly(length)
                if stat.S_ISLNK(mode):
                    symlink_target += data
                elif handle is not None:
                    handle.write(data)
            elif tag == b"DONE":
                mtime = length
                break
            else:
                raise StreamClosed(f"unexpected {tag!r} during SEND")
    finally:
        if handle is not None:
            handle.close()
    if error is None and target is not None and partial is not None:
        try:
            if stat.S_ISLNK(mode):
                link = bytes(symlink_target).rstrip(b"\0").decode()
                target.unlink(missing_ok=True)
                os.symlink(link, target)
            else:
                os.chmod(partial, stat.S_IMODE(mode) or 0o644)
                os.replace(partial, target)
                if mtime:
                    os.utime(target, (mtime, mtime))
        except OSError as e:
            error = f"{path}: {e.strerror}"
    if partial is not None and partial.exists():
        partial.unlink()
    if error:
        replies.fail(error)
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
