"""The emulated device's ADB daemon: accepts the adb server's connections and routes services.

    python -m emulated_device.adbd --root DIR [--port P] [--authorized-key FILE ...]

Like a phone, it lets in only a host whose ADB key it trusts (by default the key of the user who
started it, ``~/.android/adbkey.pub``); any other host stays ``unauthorized``. It listens on
loopback only and advertises Android 14's features that it implements: ``shell:`` (v1/v2, PTY),
``exec:``, ``sync:`` (v1 and ``sendrecv_v2`` without compression), ``abb_exec:``, ``tcp:PORT``,
``reverse:``, and a production build's answers to ``root:``, ``unroot:`` and ``remount:``;
anything else is refused with CLSE. Every process it starts runs confined in the shell's domain
(``domains.py``); the phone's own commands are answered by its services (``binder.py``).
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

from emulated_device import drivers, services
from emulated_device.auth import PublicKey, load_keys, user_key_path
from emulated_device.binder import Services
from emulated_device.domains import DomainError, Domains, preflight
from emulated_device.phone import Phone
from emulated_device.power import FuelGauge, PowerModel
from emulated_device.profiles import DEFAULT_PROFILE, PROFILES, Profile
from emulated_device.props import default_props
from emulated_device.reverse import ReverseForwards
from emulated_device.sandbox import Sandbox
from emulated_device.transport import A_CLSE, A_OKAY, Connection, Stream, StreamClosed

# Android 14's adbd features, less those it would need and this device does not emulate:
# abb (the framed binder bridge), the sendrecv_v2 compressions (brotli, lz4, zstd), delayed_ack, track_app
FEATURES = (
    "shell_v2",
    "cmd",
    "stat_v2",
    "ls_v2",
    "fixed_push_mkdir",
    "apex",
    "abb_exec",
    "fixed_push_symlink_timestamp",
    "remount_shell",
    "sendrecv_v2",
    "sendrecv_v2_dry_run_send",
)
LOOPBACK = "127.0.0.1"  # like a phone's adbd over USB, reachable from this machine only


class EmulatedAdbd:
    def __init__(
        self, root: Path, props: dict[str, str], trusted: list[PublicKey], profile: Profile, offline: bool = False
    ) -> None:
        preflight()
        self.trusted = trusted
        self.sandbox = Sandbox(root)
        software = drivers.find()
        props = {**props, **software.props()}
        device = self.sandbox.install(props, profile, offline)
        drivers.install(self.sandbox.root, software)
        self.domains = Domains(self.sandbox.root, self.sandbox.internal, profile)
        self.domains.start()
        power = PowerModel(self.sandbox.root, self.domains.holders)
        phone = Phone(self.sandbox, self.domains, device, power=power)
        self.services = Services(phone)
        self.services.start()
        self.gauge = FuelGauge(power, self.sandbox.internal, lambda: phone.battery()[2] != "none")
        self.gauge.start()
        self.device = services.ServiceContext(self.sandbox, self.domains, props)
        self.writers: set[asyncio.StreamWriter] = set()
        self.banner = (
            "device::"
            + "".join(f"{k}={props[k]};" for k in ("ro.product.name", "ro.product.model", "ro.product.device"))
            + "features="
            + ",".join(FEATURES)
        )
        self.reverse: dict[Connection, ReverseForwards] = {}

    async def handle_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.add(writer)
        connection = Connection(reader, writer, self.banner, self.open_service, self.trusted)
        try:
            await connection.serve()
        finally:
            self.writers.discard(writer)
            forwards = self.reverse.pop(connection, None)
            if forwards is not None:
                forwards.close()

    async def open_service(self, service: str, connection: Connection, remote_id: int) -> None:
        """Accept (OKAY) or refuse (CLSE) one OPEN, then serve it until either side closes."""
        name, _, argument = service.partition(":")
        if name == "tcp":
            await self._open_tcp(argument, connection, remote_id)
            return
        handler = self._handler(name, argument, connection)
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

    def _handler(
        self, name: str, argument: str, connection: Connection
    ) -> Callable[[Stream], Coroutine[Any, Any, None]] | None:
        kind = name.split(",")[0]
        if kind in ("shell", "exec"):
            request = services.ShellRequest.parse(name, argument)
            return lambda stream: services.serve_shell(self.device, stream, request)
        if name == "sync":
            return lambda stream: services.serve_sync(self.device, stream)
        if name == "abb_exec":
            return lambda stream: services.serve_abb_exec(self.device, stream, argument)
        if name == "reverse":
            forwards = self.reverse.setdefault(connection, ReverseForwards(connection))
            return lambda stream: _answer(stream, forwards.handle(argument))
        answer = services.production_answer(name)
        if answer is not None:
            return lambda stream: stream.write(answer.encode())
        return None

    async def _open_tcp(self, argument: str, connection: Connection, remote_id: int) -> None:
        port_text = argument.split(":")[0]
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(LOOPBACK, int(port_text)), timeout=5)
        except (OSError, ValueError, asyncio.TimeoutError):
            await connection.send(A_CLSE, 0, remote_id)  # connect first, refuse if nothing listens
            return
        stream = connection.new_stream(remote_id)
        await connection.send(A_OKAY, stream.local_id, remote_id)
        await services.relay_tcp(stream, reader, writer)

    def shutdown(self) -> None:
        """Drop the adb server's connections (it would keep them open forever) and kill shells.
        The domains stay: an app's processes outlive adbd, as on a phone (``power_off`` ends them)."""
        for writer in list(self.writers):
            writer.close()
        for group in list(self.device.process_groups):
            services.kill_group(group)
        for forwards in self.reverse.values():
            forwards.close()
        self.services.stop()


async def _answer(stream: Stream, reply: Coroutine[Any, Any, bytes]) -> None:
    await stream.write(await reply)


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
    daemon = EmulatedAdbd(root, default_props(root, profile), trusted, profile, offline)
    server_ready.set_result(None)
    print(f"LISTENING {bound}", flush=True)
    await stop.wait()
    server.close()
    daemon.shutdown()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emulated_device.adbd")
    parser.add_argument(
        "--root", type=Path, required=True, help="sandbox folder standing in for the device's filesystem"
    )
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument(
        "--authorized-key",
        type=Path,
        action="append",
        default=None,
        help="adb public key file of a host to trust (default: this user's ~/.android/adbkey.pub)",
    )
    parser.add_argument(
        "--trust-no-key",
        action="store_true",
        help="a phone that has paired with no computer: every host stays unauthorized",
    )
    parser.add_argument(
        "--profile", choices=sorted(PROFILES), default=DEFAULT_PROFILE, help="the kind of phone to imitate"
    )
    parser.add_argument(
        "--offline", action="store_true", help="a phone without internet: Termux's pkg and pip cannot download"
    )
    args = parser.parse_args(argv)
    args.root.mkdir(parents=True, exist_ok=True)
    trusted = [] if args.trust_no_key else load_keys(args.authorized_key or [user_key_path()])
    if not trusted and not args.trust_no_key:
        print(
            f"warning: no trusted adb key found ({', '.join(map(str, args.authorized_key or [user_key_path()]))}): "
            "every host will see this device as unauthorized",
            flush=True,
        )
    try:
        asyncio.run(run(args.root, LOOPBACK, args.port, trusted, PROFILES[args.profile], args.offline))
    except DomainError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"error: cannot listen on {LOOPBACK}:{args.port}: {e.strerror}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
