"""ADB transport, device side: packets, the CNXN handshake, and streams with flow control.

One ``Connection`` per TCP connection from the adb server. Streams follow the protocol's rule
of one WRTE in flight per direction: we wait for the host's OKAY after each WRTE we send, and
we OKAY the host's WRTE only once its bytes are consumed (real backpressure).
"""

from __future__ import annotations

import asyncio
import logging
import os
import struct
from collections.abc import Callable, Coroutine
from typing import Any

from emulated_device.auth import TOKEN_SIZE, PublicKey, verify

log = logging.getLogger(__name__)

A_SYNC = 0x434E5953
A_CNXN = 0x4E584E43
A_OPEN = 0x4E45504F
A_OKAY = 0x59414B4F
A_CLSE = 0x45534C43
A_WRTE = 0x45545257
A_AUTH = 0x48545541
A_STLS = 0x534C5453
AUTH_TOKEN, AUTH_SIGNATURE, AUTH_RSAPUBLICKEY = 1, 2, 3
VERSION = 0x01000001
VERSION_MIN = 0x01000000  # before 0x01000001, every packet's data_check is the sum of its payload bytes
MAX_PAYLOAD_V1 = 4096
MAX_PAYLOAD = 1 << 20
HEADER = struct.Struct("<6I")


class StreamClosed(ConnectionError):
    """The other side closed the stream (or the whole connection went away)."""


class Stream:
    """One ADB stream: ordered bytes both ways, closed by CLSE from either side."""

    def __init__(self, connection: Connection, local_id: int, remote_id: int) -> None:
        self.connection = connection
        self.local_id = local_id
        self.remote_id = remote_id
        self._inbox: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._buffer = bytearray()
        self._offset = 0
        self._okay = asyncio.Event()
        self.closed = False
        self.opened: asyncio.Future[bool] = asyncio.get_running_loop().create_future()  # for streams this side opens
        self._sent_close = False
        self.on_close: list[Callable[[], None]] = []

    # -- incoming --------------------------------------------------------------------------
    def _deliver(self, data: bytes) -> None:
        self._inbox.put_nowait(data)

    async def _pull(self) -> bool:
        """Move the next WRTE payload into the buffer and OKAY it; False at end of stream."""
        if self.closed and self._inbox.empty():
            return False
        item = await self._inbox.get()
        if item is None:
            return False
        if self._offset:
            del self._buffer[: self._offset]
            self._offset = 0
        self._buffer += item
        if not self.closed:
            await self.connection.send(A_OKAY, self.local_id, self.remote_id)
        return True

    async def read(self) -> bytes:
        """Whatever is available next (at least one byte); b"" at end of stream."""
        if self._offset >= len(self._buffer) and not await self._pull():
            return b""
        data = bytes(self._buffer[self._offset :])
        self._buffer.clear()
        self._offset = 0
        return data

    async def readexactly(self, n: int) -> bytes:
        while len(self._buffer) - self._offset < n:
            if not await self._pull():
                raise StreamClosed("stream ended mid-message")
        data = bytes(self._buffer[self._offset : self._offset + n])
        self._offset += n
        return data

    # -- outgoing --------------------------------------------------------------------------
    def _acknowledge(self) -> None:
        self._okay.set()

    async def write(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data)
        size = self.connection.max_payload
        for start in range(0, len(view), size):
            if self.closed:
                raise StreamClosed("stream closed by the host")
            self._okay.clear()
            await self.connection.send(A_WRTE, self.local_id, self.remote_id, view[start : start + size])
            await self._okay.wait()
        if self.closed:
            raise StreamClosed("stream closed by the host")

    async def close(self) -> None:
        """Close from our side (sends CLSE once)."""
        if not self._sent_close:
            self._sent_close = True
            if not self.connection.lost:
                await self.connection.send(A_CLSE, self.local_id, self.remote_id)
        self._closed_by_any()

    def _closed_by_any(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._okay.set()
        self._inbox.put_nowait(None)
        if not self.opened.done():
            self.opened.set_result(False)
        self.connection.streams.pop(self.local_id, None)
        for callback in self.on_close:
            try:
                callback()
            except Exception:  # a cleanup callback must not break the transport
                log.exception("stream close callback failed")


ServiceOpener = Callable[[str, "Connection", int], Coroutine[Any, Any, None]]


class Connection:
    """One adb-server connection; ``open_service`` decides how each OPEN is served."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        banner: str,
        open_service: ServiceOpener,
        trusted: list[PublicKey],
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.banner = banner
        self.open_service = open_service
        self.trusted = trusted  # the keys of the hosts this device has paired with
        self.token = b""
        self.authorized = False
        self._host_maxdata = MAX_PAYLOAD
        self.max_payload = MAX_PAYLOAD
        self.version = VERSION  # the lower of ours and the host's
        self.streams: dict[int, Stream] = {}
        self.connected = False
        self.lost = False
        self._next_id = 1
        self._send_lock = asyncio.Lock()
        self.tasks: set[asyncio.Task[None]] = set()

    async def open_stream(self, service: str) -> Stream | None:
        """A stream this device opens to the host (``reverse:`` forwards); None if the host refuses."""
        stream = self.new_stream(0)
        await self.send(A_OPEN, stream.local_id, 0, service.encode() + b"\0")
        if await stream.opened:
            return stream
        return None

    def new_stream(self, remote_id: int) -> Stream:
        stream = Stream(self, self._next_id, remote_id)
        self._next_id += 1
        self.streams[stream.local_id] = stream
        return stream

    async def send(self, command: int, arg0: int, arg1: int, payload: bytes | memoryview = b"") -> None:
        if self.lost:
            raise StreamClosed("connection lost")
        check = sum(bytes(payload)) & 0xFFFFFFFF if self.version < VERSION else 0
        header = HEADER.pack(command, arg0, arg1, len(payload), check, command ^ 0xFFFFFFFF)
        async with self._send_lock:
            self.writer.write(header)
            if len(payload):
                self.writer.write(payload)
            try:
                await self.writer.drain()
            except (ConnectionError, OSError) as e:
                self.lost = True
                raise StreamClosed("connection lost") from e

    async def serve(self) -> None:
        try:
            while True:
                header = await self.reader.readexactly(HEADER.size)
                command, arg0, arg1, length, _check, magic = HEADER.unpack(header)
                if magic != command ^ 0xFFFFFFFF or length > MAX_PAYLOAD:
                    log.warning("bad packet header; dropping the connection")
                    return
                payload = await self.reader.readexactly(length) if length else b""
                if self.version < VERSION and self.connected and _check != sum(payload) & 0xFFFFFFFF:
                    log.warning("bad data checksum from a version %#x host; dropping the connection", self.version)
                    return
                await self._dispatch(command, arg0, arg1, payload)
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            return
        finally:
            self.lost = True
            for stream in list(self.streams.values()):
                stream._closed_by_any()
            for task in list(self.tasks):
                task.cancel()
            self.writer.close()

    async def _challenge(self) -> None:
        self.token = os.urandom(TOKEN_SIZE)
        await self.send(A_AUTH, AUTH_TOKEN, 0, self.token)

    async def _accept(self) -> None:
        limit = MAX_PAYLOAD if self.version >= VERSION else MAX_PAYLOAD_V1
        self.max_payload = max(MAX_PAYLOAD_V1, min(limit, self._host_maxdata))
        for stream in list(self.streams.values()):
            stream._closed_by_any()
        self.authorized = self.connected = True
        await self.send(A_CNXN, VERSION, self.max_payload, self.banner.encode())

    async def _authenticate(self, command: int, arg0: int, arg1: int, payload: bytes) -> None:
        """CNXN and AUTH: a signature from a trusted key gets CNXN, anything else a new token.

        A host that then offers its public key (AUTH RSAPUBLICKEY) would make a phone ask its
        user; this device never asks, so such a host stays unauthorized, as adb reports it."""
        if command == A_CNXN:
            self._host_maxdata = arg1
            self.version = max(VERSION_MIN, min(VERSION, arg0))
            if self.authorized:
                await self._accept()
            else:
                await self._challenge()
        elif arg0 == AUTH_SIGNATURE and self.token:
            if any(verify(self.token, payload, key) for key in self.trusted):
                await self._accept()
            else:
                await self._challenge()

    async def _dispatch(self, command: int, arg0: int, arg1: int, payload: bytes) -> None:
        if command in (A_CNXN, A_AUTH):
            await self._authenticate(command, arg0, arg1, payload)
            return
        if not self.connected:
            return  # the protocol says to ignore anything before CNXN
        if command == A_OPEN:
            service = payload.rstrip(b"\0").decode("utf-8", "replace")
            task = asyncio.create_task(self.open_service(service, self, arg0))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
            return
        target = self.streams.get(arg1)
        if command == A_OKAY and target and not target.opened.done() and target.remote_id == 0:
            target.remote_id = arg0  # the host accepted a stream this device opened
            target.opened.set_result(True)
        elif command == A_OKAY and target:
            target._acknowledge()
        elif command == A_WRTE:
            if target:
                target._deliver(payload)
            else:
                await self.send(A_CLSE, 0, arg0)
        elif command == A_CLSE and target:  # the client left; CLSE for ids we no longer know is the host's echo
            target._sent_close = True
            target._closed_by_any()
