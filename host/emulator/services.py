"""Shell (v1, v2, exec) and tcp forwarding services of the emulated device.

Shell commands run as the device's shell user (``sandbox.py`` says what that means), each in
its own session so that a client that leaves (CLSE) can have the whole process group killed, as
adbd does. Run as root, the emulated device drops every capability for them first, so file
modes bind them as they bind a phone's shell user.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import signal
import struct
from collections.abc import Callable

from host.emulator.sandbox import Sandbox
from host.emulator.transport import Stream, StreamClosed

SHELL_STDIN, SHELL_STDOUT, SHELL_STDERR, SHELL_EXIT, SHELL_CLOSE_STDIN, SHELL_WINDOW = 0, 1, 2, 3, 4, 5
_V2_HEADER = struct.Struct("<BI")
READ_SIZE = 64 * 1024


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


PR_CAPBSET_DROP = 24
LAST_CAPABILITY = 63


def drop_capabilities() -> None:
    """In the child, before exec: as root, empty the bounding set so the shell runs without any
    capability (file modes then apply to it); as any other user there is nothing to drop."""
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in range(LAST_CAPABILITY + 1):
        libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0)


async def _start(sandbox: Sandbox, command: str, merge_stderr: bool, track: Callable[[int], None]) -> asyncio.subprocess.Process:
    # "$0" is what the device's shell calls itself in its messages: "/system/bin/sh: ...: not found"
    argv = [sandbox.shell, "-c", sandbox.rewrite_command(command), "/system/bin/sh"] if command.strip() else [sandbox.shell]
    proc = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT if merge_stderr else asyncio.subprocess.PIPE,
        cwd=sandbox.workdir, env=sandbox.shell_env(), start_new_session=True, preexec_fn=drop_capabilities,
    )
    track(proc.pid)
    return proc


async def serve_shell_v1(sandbox: Sandbox, stream: Stream, command: str, track: Callable[[int], None]) -> None:
    """``shell:CMD`` and ``exec:CMD``: raw bytes, stderr merged, no exit status."""
    proc = await _start(sandbox, command, True, track)
    stream.on_close.append(lambda: _kill_if_running(proc))
    assert proc.stdout is not None and proc.stdin is not None
    pump_in = asyncio.create_task(_pump_stdin_raw(stream, proc.stdin))
    try:
        while chunk := await proc.stdout.read(READ_SIZE):
            await stream.write(sandbox.device_view(chunk))
        await proc.wait()
    except StreamClosed:
        _kill_if_running(proc)
    finally:
        pump_in.cancel()
        await stream.close()


async def _pump_stdin_raw(stream: Stream, stdin: asyncio.StreamWriter) -> None:
    try:
        while data := await stream.read():
            stdin.write(data)
            await stdin.drain()
    except (StreamClosed, ConnectionError):
        pass
    finally:
        stdin.close()


async def serve_shell_v2(sandbox: Sandbox, stream: Stream, command: str, track: Callable[[int], None]) -> None:
    """``shell,v2,...:CMD``: framed stdout/stderr, stdin and close-stdin, exit code, then CLSE."""
    proc = await _start(sandbox, command, False, track)
    stream.on_close.append(lambda: _kill_if_running(proc))
    assert proc.stdout is not None and proc.stderr is not None and proc.stdin is not None
    lock = asyncio.Lock()

    async def frame(kind: int, data: bytes) -> None:
        async with lock:
            await stream.write(_V2_HEADER.pack(kind, len(data)) + data)

    async def relay(source: asyncio.StreamReader, kind: int) -> None:
        while chunk := await source.read(READ_SIZE):
            await frame(kind, sandbox.device_view(chunk))

    pump_in = asyncio.create_task(_pump_stdin_v2(stream, proc.stdin))
    try:
        await asyncio.gather(relay(proc.stdout, SHELL_STDOUT), relay(proc.stderr, SHELL_STDERR))
        code = await proc.wait()
        await frame(SHELL_EXIT, bytes([code & 0xFF if code >= 0 else (128 - code) & 0xFF]))
    except StreamClosed:
        _kill_if_running(proc)
    finally:
        pump_in.cancel()
        await stream.close()


async def _pump_stdin_v2(stream: Stream, stdin: asyncio.StreamWriter) -> None:
    try:
        while True:
            kind, length = _V2_HEADER.unpack(await stream.readexactly(_V2_HEADER.size))
            data = await stream.readexactly(length) if length else b""
            if kind == SHELL_STDIN:
                stdin.write(data)
                await stdin.drain()
            elif kind == SHELL_CLOSE_STDIN:
                stdin.close()
    except (StreamClosed, ConnectionError):
        pass
    finally:
        stdin.close()


def _kill_if_running(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        _kill_group(proc.pid)


async def serve_tcp(stream: Stream, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Relay an accepted ``tcp:PORT`` stream; EOF from the target becomes CLSE (no half-close)."""
    stream.on_close.append(writer.close)

    async def to_target() -> None:
        while data := await stream.read():
            writer.write(data)
            await writer.drain()

    upstream = asyncio.create_task(to_target())
    try:
        while data := await reader.read(READ_SIZE * 4):
            await stream.write(data)
    except (StreamClosed, ConnectionError, OSError):
        pass
    finally:
        upstream.cancel()
        writer.close()
        await stream.close()
