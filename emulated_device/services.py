"""adbd's services on the emulated device: shell (v1, v2, with or without a PTY), exec, sync,
``abb_exec``, tcp forwards, ``reverse:``, and a production build's ``root:``/``unroot:``/``remount:``.

Every process runs in the shell's domain (``domains.py``): uid 2000, its own namespaces rooted at
the sandbox. Each is started in a session of its own so that a client that leaves (CLSE) has the
whole process group killed, as adbd does.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import struct
from collections.abc import Callable
from dataclasses import dataclass

from emulated_device.domains import SHELL, Domains, Entry
from emulated_device.sandbox import Sandbox
from emulated_device.transport import Stream, StreamClosed

SHELL_STDIN, SHELL_STDOUT, SHELL_STDERR, SHELL_EXIT, SHELL_CLOSE_STDIN, SHELL_WINDOW = 0, 1, 2, 3, 4, 5
_V2_HEADER = struct.Struct("<BI")
READ_SIZE = 64 * 1024
LOG_KEEP = 2000
LOG_TRIM_BYTES = 1 << 20
DRAIN_S = 5.0  # how long a closed forward may take to hand its last bytes to the socket
TIOCSWINSZ, TIOCGPTPEER, TIOCSPTLCK = 0x5414, 0x5441, 0x40045431
# what a production (user) build's adbd answers; AOSP daemon/restart_service.cpp, remount_service.cpp
PRODUCTION_ANSWERS = {
    "root": "adbd cannot run as root in production builds\n",
    "unroot": "adbd not running as root\n",
    "remount": 'Not running as root. Try "adb root" first.\n',
    "disable-verity": "verity cannot be disabled/enabled - USER build\n",
    "enable-verity": "verity cannot be disabled/enabled - USER build\n",
}


def kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


@dataclass(frozen=True)
class ShellRequest:
    """What a ``shell``/``exec`` OPEN asks for: the command, the v2 framing, a PTY, TERM."""

    command: str
    v2: bool
    pty: bool
    term: str = ""

    @classmethod
    def parse(cls, name: str, argument: str) -> ShellRequest:
        options = name.split(",")
        v2 = "v2" in options[1:]
        if options[0] == "exec":
            return cls(argument, False, False)
        pty = "pty" in options[1:] or ("raw" not in options[1:] and not argument.strip())
        term = next((o.split("=", 1)[1] for o in options[1:] if o.startswith("TERM=")), "")
        return cls(argument, v2, pty, term)


class ServiceContext:
    """What every service needs: the sandbox, the domains, the properties, the process groups."""

    def __init__(self, sandbox: Sandbox, domains: Domains, props: dict[str, str]) -> None:
        self.sandbox = sandbox
        self.domains = domains
        self.props = props
        self.process_groups: set[int] = set()
        self.command_log = sandbox.internal / "commands.log"

    def shell_entry(self, request: ShellRequest) -> Entry:
        env = self.sandbox.shell_env(self.props, tty=request.pty)
        if request.term:
            env["TERM"] = request.term
        # "$0" is what the device's shell calls itself in its messages: "/system/bin/sh: ...: not found"
        argv = ["/system/bin/sh", "-c", request.command] if request.command.strip() else ["/system/bin/sh"]
        return self.domains.enter(SHELL, argv, env, tty=request.pty)

    def record(self, request: ShellRequest, code: int) -> None:
        """Each shell command's exit status, newest last (a phone's adbd logs its own), the last
        LOG_KEEP kept: it shows a client that ran a command the phone lacks (127)."""
        with self.command_log.open("a") as log:
            log.write(f"{code}\t{request.command[:300]!r}\n")
            grown = log.tell() > LOG_TRIM_BYTES
        if grown:  # rarely: keep the newest lines
            lines = self.command_log.read_text().splitlines()
            self.command_log.write_text("\n".join(lines[-LOG_KEEP:]) + "\n")

    def open_pty(self) -> tuple[int, int]:
        """A terminal from the shell domain's own devpts (so ``tty`` names it there, ``/dev/pts/N``)."""
        import fcntl

        master = os.open(f"/proc/{self.domains.holders[SHELL]}/root/dev/ptmx", os.O_RDWR | os.O_NOCTTY)
        try:
            fcntl.ioctl(master, TIOCSPTLCK, struct.pack("i", 0))
            slave = fcntl.ioctl(master, TIOCGPTPEER, os.O_RDWR | os.O_NOCTTY)
        except OSError:
            os.close(master)
            raise
        return master, slave

    async def spawn(self, entry: Entry, merge_stderr: bool, pty_slave: int | None = None) -> asyncio.subprocess.Process:
        if pty_slave is not None:
            proc = await asyncio.create_subprocess_exec(
                *entry.argv, env=entry.env, stdin=pty_slave, stdout=pty_slave, stderr=pty_slave, start_new_session=True
            )
        else:
            proc = await asyncio.create_subprocess_exec(
                *entry.argv,
                env=entry.env,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT if merge_stderr else asyncio.subprocess.PIPE,
                start_new_session=True,
            )
        self.process_groups.add(proc.pid)
        proc_wait = proc.wait

        async def wait_and_forget() -> int:
            code = await proc_wait()
            self.process_groups.discard(proc.pid)
            return code

        proc.wait = wait_and_forget  # type: ignore[method-assign]
        return proc


def _exit_byte(code: int) -> bytes:
    return bytes([code & 0xFF if code >= 0 else (128 - code) & 0xFF])


def _kill_if_running(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        kill_group(proc.pid)


# -- shell and exec --------------------------------------------------------------------------------------
async def serve_shell(device: ServiceContext, stream: Stream, request: ShellRequest) -> None:
    if request.pty:
        await _serve_pty(device, stream, request)
    elif request.v2:
        await _serve_v2(device, stream, request)
    else:
        await _serve_v1(device, stream, request)


async def _serve_v1(device: ServiceContext, stream: Stream, request: ShellRequest) -> None:
    """``shell:CMD`` and ``exec:CMD``: raw bytes, stderr merged, no exit status."""
    code = await _relay_raw(device, stream, device.shell_entry(request), merge_stderr=True)
    if code is not None:
        device.record(request, code)


async def _relay_raw(
    device: ServiceContext, stream: Stream, entry: Entry, merge_stderr: bool, chunk: int = READ_SIZE
) -> int | None:
    """A process's output as raw stream bytes, the stream's bytes as its input; its exit status,
    or None when the client left first (then its whole process group is killed)."""
    proc = await device.spawn(entry, merge_stderr=merge_stderr)
    stream.on_close.append(lambda: _kill_if_running(proc))
    assert proc.stdout is not None and proc.stdin is not None
    pump_in = asyncio.create_task(_pump_raw(stream, proc.stdin))
    try:
        while data := await proc.stdout.read(chunk):
            await stream.write(data)
        return await proc.wait()
    except StreamClosed:
        _kill_if_running(proc)
        return None
    finally:
        pump_in.cancel()
        await stream.close()


async def _pump_raw(stream: Stream, stdin: asyncio.StreamWriter) -> None:
    try:
        while data := await stream.read():
            stdin.write(data)
            await stdin.drain()
    except (StreamClosed, ConnectionError):
        pass
    finally:
        stdin.close()


class _Framer:
    def __init__(self, stream: Stream) -> None:
        self.stream = stream
        self.lock = asyncio.Lock()

    async def frame(self, kind: int, data: bytes) -> None:
        async with self.lock:
            await self.stream.write(_V2_HEADER.pack(kind, len(data)) + data)


async def _serve_v2(device: ServiceContext, stream: Stream, request: ShellRequest) -> None:
    """``shell,v2,raw:CMD``: framed stdout/stderr, stdin and close-stdin, exit code, then CLSE."""
    proc = await device.spawn(device.shell_entry(request), merge_stderr=False)
    stream.on_close.append(lambda: _kill_if_running(proc))
    assert proc.stdout is not None and proc.stderr is not None and proc.stdin is not None
    framer = _Framer(stream)

    async def relay(source: asyncio.StreamReader, kind: int) -> None:
        while chunk := await source.read(READ_SIZE):
            await framer.frame(kind, chunk)

    stdin = proc.stdin
    pump_in = asyncio.create_task(_pump_v2(stream, stdin.write, stdin.close, stdin.drain))
    try:
        await asyncio.gather(relay(proc.stdout, SHELL_STDOUT), relay(proc.stderr, SHELL_STDERR))
        code = await proc.wait()
        device.record(request, code)
        await framer.frame(SHELL_EXIT, _exit_byte(code))
    except StreamClosed:
        _kill_if_running(proc)
    finally:
        pump_in.cancel()
        await stream.close()


async def _pump_v2(
    stream: Stream,
    write: Callable[[bytes], object],
    close_stdin: Callable[[], object],
    drain: Callable[[], object] | None,
    window: Callable[[bytes], None] | None = None,
) -> None:
    try:
        while True:
            kind, length = _V2_HEADER.unpack(await stream.readexactly(_V2_HEADER.size))
            data = await stream.readexactly(length) if length else b""
            if kind == SHELL_STDIN:
                write(data)
                if drain is not None:
                    await drain()  # type: ignore[misc]
            elif kind == SHELL_CLOSE_STDIN:
                close_stdin()
            elif kind == SHELL_WINDOW and window is not None:
                window(data)
    except (StreamClosed, ConnectionError, OSError):
        pass
    finally:
        close_stdin()


def _set_window(master: int, text: bytes) -> None:
    """A v2 window-size frame, ``ROWSxCOLS,XPIXxYPIX``, onto the PTY."""
    try:
        size, _, pixels = text.rstrip(b"\0").decode().partition(",")
        rows, cols = (int(v) for v in size.split("x"))
        xpix, ypix = (int(v) for v in pixels.split("x")) if pixels else (0, 0)
    except ValueError:
        return
    import fcntl

    fcntl.ioctl(master, TIOCSWINSZ, struct.pack("HHHH", rows, cols, xpix, ypix))


async def _serve_pty(device: ServiceContext, stream: Stream, request: ShellRequest) -> None:
    """A terminal: the shell on a PTY (prompt, job control, echo), v1 raw or v2 framed."""
    master, slave = device.open_pty()
    os.set_blocking(master, False)
    try:
        proc = await device.spawn(device.shell_entry(request), merge_stderr=True, pty_slave=slave)
    finally:
        os.close(slave)
    stream.on_close.append(lambda: _kill_if_running(proc))
    framer = _Framer(stream)
    loop = asyncio.get_running_loop()
    output: asyncio.Queue[bytes] = asyncio.Queue()

    def readable() -> None:
        try:
            output.put_nowait(os.read(master, READ_SIZE))
        except OSError:  # EIO: the last process holding the terminal is gone
            loop.remove_reader(master)
            output.put_nowait(b"")

    loop.add_reader(master, readable)

    def to_terminal(data: bytes) -> None:
        os.write(master, data)

    pump_in = asyncio.create_task(
        _pump_v2(stream, to_terminal, lambda: None, None, lambda text: _set_window(master, text))
        if request.v2
        else _pump_pty_raw(stream, to_terminal)
    )
    try:
        while chunk := await output.get():
            if request.v2:
                await framer.frame(SHELL_STDOUT, chunk)
            else:
                await stream.write(chunk)
        code = await proc.wait()
        if request.v2:
            await framer.frame(SHELL_EXIT, _exit_byte(code))
    except StreamClosed:
        _kill_if_running(proc)
    finally:
        loop.remove_reader(master)
        os.close(master)
        pump_in.cancel()
        await stream.close()


async def _pump_pty_raw(stream: Stream, write: Callable[[bytes], None]) -> None:
    try:
        while data := await stream.read():
            write(data)
    except (StreamClosed, OSError):
        pass


# -- abb_exec ----------------------------------------------------------------------------------------------------
async def serve_abb_exec(device: ServiceContext, stream: Stream, argument: str) -> None:
    """``abb_exec:SERVICE\0ARG...``: ``cmd SERVICE ARG...`` in the shell's domain, raw both ways
    (what ``adb install`` streams an APK into on Android 10+)."""
    argv = ["/system/bin/cmd", *argument.split("\0")]
    await _relay_raw(
        device, stream, device.domains.enter(SHELL, argv, device.sandbox.shell_env(device.props)), merge_stderr=True
    )


# -- sync -----------------------------------------------------------------------------------------------------------
async def serve_sync(device: ServiceContext, stream: Stream) -> None:
    """``sync:`` by a sync server in the shell's domain (``syncd.py``), as uid 2000: the daemon
    only relays bytes, so what may be listed, read and written is the kernel's decision."""
    await _relay_raw(
        device, stream, device.domains.enter(SHELL, None, {}, sync=True), merge_stderr=False, chunk=1 << 20
    )


# -- tcp forwards ------------------------------------------------------------------------------------------------
async def relay_tcp(stream: Stream, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Relay a TCP connection over a stream; EOF from either side becomes CLSE (no half-close).
    A CLSE closes the socket only once what came before it is written (the host's last WRTE
    and its CLSE can arrive together)."""

    async def to_target() -> None:
        try:
            while data := await stream.read():
                writer.write(data)
                await writer.drain()
        except (StreamClosed, ConnectionError, OSError):
            pass
        finally:
            writer.close()

    upstream = asyncio.create_task(to_target())
    try:
        while data := await reader.read(READ_SIZE * 4):
            await stream.write(data)
    except StreamClosed:  # the host closed: what it wrote before its CLSE still goes to the socket
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(upstream), DRAIN_S)
    except (ConnectionError, OSError):
        pass
    finally:
        upstream.cancel()
        writer.close()
        await stream.close()


def production_answer(name: str) -> str | None:
    return PRODUCTION_ANSWERS.get(name)
