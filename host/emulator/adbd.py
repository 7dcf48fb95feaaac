"""The emulated device's ADB daemon: accepts the adb server's connections and routes services.

    python -m host.emulator.adbd --root DIR [--port P] [--authorized-key FILE ...]

Like a phone, it lets in only a host whose ADB key it trusts (by default the key of the user who
started it, ``~/.android/adbkey.pub``); any other host stays ``unauthorized``. It listens on
loopback only, advertises only what it implements, and serves ``shell:`` (v1/v2), ``exec:``,
``sync:`` and ``tcp:PORT``; anything else is refused with CLSE.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from host.emulator import services
from host.emulator.auth import PublicKey, load_keys, user_key_path
from host.emulator.profiles import DEFAULT_PROFILE, PROFILES, Profile
from host.emulator.props import default_props
from host.emulator.sandbox import Sandbox
from host.emulator.sync import serve_sync
from host.emulator.transport import A_CLSE, A_OKAY, Connection, Stream, StreamClosed

FEATURES = ("shell_v2", "stat_v2", "ls_v2", "fixed_push_mkdir")
LOOPBACK = "127.0.0.1"  # like a phone's adbd over USB, reachable from this machine only


class EmulatedAdbd:
    def __init__(self, root: Path, props: dict[str, str], trusted: list[PublicKey], profile: Profile, offline: bool = False) -> None:
        self.trusted = trusted
        self.sandbox = Sandbox(root)
        self.props = props
        self.sandbox.install(props, profile, offline)
        self.process_groups: set[int] = set()
        self.writers: set[asyncio.StreamWriter] = set()
        self.banner = (
            "device::" + "".join(f"{k}={props[k]};" for k in ("ro.product.name", "ro.product.model", "ro.product.device"))
            + "features=" + ",".join(FEATURES)
        )

    async def handle_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.add(writer)
        try:
            await Connection(reader, writer, self.banner, self.open_service, self.trusted).serve()
        finally:
            self.writers.discard(writer)

    async def open_service(self, service: str, connection: Connection, remote_id: int) -> None:
        """Accept (OKAY) or refuse (CLSE) one OPEN, then serve it until either side closes."""
        name, _, argument = service.partition(":")
        if name == "tcp":
            await self._open_tcp(argument, connection, remote_id)
            return
        handler = self._handler(name, argument)
        if handler is None:
            await connection.send(A_CLSE, 0, remote_id)
            return
        stream = connection.new_stream(remote_id)
        try:
            await connection.send(A_OKAY, stream.local_id, remote_id)
            await handler(stream)
        except StreamClosed:
            pass
        finally:
            await stream.close()

    def _handler(self, name: str, argument: str) -> Callable[[Stream], Coroutine[Any, Any, None]] | None:
        options = name.split(",")
        track = self.process_groups.add
        if options[0] == "shell" and "v2" in options[1:]:
            return lambda stream: services.serve_shell_v2(self.sandbox, stream, argument, track)
        if options[0] in ("shell", "exec"):
            return lambda stream: services.serve_shell_v1(self.sandbox, stream, argument, track)
        if name == "sync":
            return lambda stream: serve_sync(self.sandbox, stream)
        return None

    async def _open_tcp(self, argument: str, connection: Connection, remote_id: int) -> None:
        port_text = argument.split(":")[0]
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", int(port_text)), timeout=5)
        except (OSError, ValueError, asyncio.TimeoutError):
            await connection.send(A_CLSE, 0, remote_id)  # connect first, refuse if nothing listens
            return
        stream = connection.new_stream(remote_id)
        await connection.send(A_OKAY, stream.local_id, remote_id)
        await services.serve_tcp(stream, reader, writer)

    def shutdown(self) -> None:
        """Drop the adb server's connections (it would keep them open forever) and kill shells."""
        for writer in list(self.writers):
            writer.close()
        for group in self.process_groups:
            services._kill_group(group)


async def run(root: Path, host: str, port: int, trusted: list[PublicKey], profile: Profile, offline: bool) -> None:
    server_ready = asyncio.get_running_loop().create_future()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    daemon: EmulatedAdbd | None = None

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server_ready
        assert daemon is not None
        await daemon.handle_connection(reader, writer)

    server = await asyncio.start_server(handle, host, port, limit=4 << 20)
    bound = server.sockets[0].getsockname()[1]
    daemon = EmulatedAdbd(root, default_props(root), trusted, profile, offline)
    server_ready.set_result(None)
    print(f"LISTENING {bound}", flush=True)
    await stop.wait()
    server.close()
    daemon.shutdown()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m host.emulator.adbd")
    parser.add_argument("--root", type=Path, required=True, help="sandbox folder standing in for the device's filesystem")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--authorized-key", type=Path, action="append", default=None,
                        help="adb public key file of a host to trust (default: this user's ~/.android/adbkey.pub)")
    parser.add_argument("--trust-no-key", action="store_true", help="a phone that has paired with no computer: every host stays unauthorized")
    parser.add_argument("--profile", choices=sorted(PROFILES), default=DEFAULT_PROFILE, help="the kind of phone to imitate")
    parser.add_argument("--offline", action="store_true", help="a phone without internet: Termux's pkg and pip cannot download")
    args = parser.parse_args(argv)
    args.root.mkdir(parents=True, exist_ok=True)
    trusted = [] if args.trust_no_key else load_keys(args.authorized_key or [user_key_path()])
    if not trusted and not args.trust_no_key:
        print(f"warning: no trusted adb key found ({', '.join(map(str, args.authorized_key or [user_key_path()]))}): "
              "every host will see this device as unauthorized", flush=True)
    try:
        asyncio.run(run(args.root, LOOPBACK, args.port, trusted, PROFILES[args.profile], args.offline))
    except OSError as e:
        print(f"error: cannot listen on {LOOPBACK}:{args.port}: {e.strerror}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
