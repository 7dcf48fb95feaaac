"""One Android device over ADB: properties, shell with exit codes, push with hash skip, forwards.

Everything else in the host talks to a device through this class, never to adbutils.
"""

from __future__ import annotations

import contextlib
import shlex
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import adbutils
from adbutils.errors import AdbError

from host.devices.transport import shellv2
from host.devices.transport.adb import AdbServerAddress, client, free_local_port, map_adb_error
from host.devices.transport.fastsync import push_file
from host.errors import DeviceError
from host.hashing import sha256_file

SHELL_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class ShellResult:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


@dataclass(frozen=True)
class DeviceProps:
    serial: str
    model: str
    manufacturer: str
    abi: str
    sdk: int
    release: str
    soc: str
    emulated: bool
    raw: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DeviceEntry:
    serial: str
    state: str


class LineStream:
    """A running command's output, line by line; ``close`` from any thread ends the reading."""

    def __init__(self, sock: socket.socket, map_error: Callable[[Exception], DeviceError]) -> None:
        self._sock, self._map_error = sock, map_error

    def __iter__(self) -> Iterator[str]:
        try:
            with self._sock.makefile("rb") as stream:
                for raw in stream:
                    yield raw.decode("utf-8", "replace").rstrip("\r\n")
        except OSError as e:
            if self._sock.fileno() != -1:
                raise self._map_error(e) from e

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()


def alive_from_stat(stat: str) -> bool:
    """Whether a /proc/PID/stat line describes a live process (a zombie waiting for its reaper is not)."""
    fields = stat.rsplit(")", 1)[-1].split()
    return bool(fields) and fields[0] not in ("Z", "X")


def list_devices(address: AdbServerAddress) -> list[DeviceEntry]:
    try:
        return [DeviceEntry(d.serial, d.state) for d in client(address).list()]
    except (AdbError, OSError) as e:
        raise map_adb_error(e, "adb server", "listing devices") from e


class Device:
    def __init__(self, address: AdbServerAddress, serial: str) -> None:
        self.address = address
        self.serial = serial
        self._adb = client(address)
        self._device: adbutils.AdbDevice = self._adb.device(serial)
        self._features: set[str] | None = None
        self._props: DeviceProps | None = None
        self.checked: dict[str, object] = {}  # what a command found out about the device once (launcher checks)

    def _map(self, error: Exception, doing: str) -> DeviceError:
        """The host's error for an ADB failure; an emulated device (known from its properties,
        read before it went away) gets advice for an emulated device."""
        return map_adb_error(
            error, self.serial, doing, emulated=bool(self._props and self._props.emulated), server=self.address
        )

    # -- facts ---------------------------------------------------------------------------
    @property
    def identity(self) -> str:
        """The device's own serial number (ro.serialno): stable when the adb serial is not (Wi-Fi
        adb addresses, an emulated device restarted on another port). Falls back to the adb serial."""
        return self.props().raw.get("ro.serialno") or self.serial

    def features(self) -> set[str]:
        if self._features is None:
            try:
                self._features = set(self._device.get_features().split(","))
            except (AdbError, OSError) as e:
                raise self._map(e, "reading features") from e
        return self._features

    def props(self) -> DeviceProps:
        if self._props is None:
            listing = self.shell("getprop").stdout
            raw = {}
            for line in listing.splitlines():
                key, sep, value = line.partition("]: [")
                if sep and key.startswith("["):
                    raw[key[1:]] = value.rstrip("]")
            sdk = raw.get("ro.build.version.sdk", "0")
            self._props = DeviceProps(
                serial=self.serial,
                model=raw.get("ro.product.model", "unknown"),
                manufacturer=raw.get("ro.product.manufacturer", ""),
                abi=raw.get("ro.product.cpu.abi", "unknown"),
                sdk=int(sdk) if sdk.isdigit() else 0,
                release=raw.get("ro.build.version.release", ""),
                soc=raw.get("ro.soc.model") or raw.get("ro.board.platform") or raw.get("ro.hardware", ""),
                emulated=raw.get("ro.quantbench.emulated") == "1" or raw.get("ro.kernel.qemu") == "1",
                raw=raw,
            )
        return self._props

    # -- shell ---------------------------------------------------------------------------
    def shell(self, command: str, timeout: float = SHELL_TIMEOUT_S, stdin: bytes | None = None) -> ShellResult:
        """Run a command; exit code and separate stderr with shell_v2, merged output without it.

        ``stdin`` is how secrets reach the device: never on a command line, where any local user
        could read them from /proc (it needs shell_v2, which every Android 7+ device has)."""
        v2 = "shell_v2" in self.features()
        try:
            if stdin is not None:
                if not v2:
                    raise DeviceError(
                        f"{self.serial}: the device's adbd has no shell_v2 (Android 7+) to send input to a command"
                    )
                code, out, err = shellv2.run(self._device, command, stdin, timeout)
                return ShellResult(code, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))
            if v2:
                reply = self._device.shell2(command, timeout=timeout, v2=True)
                return ShellResult(reply.returncode, reply.stdout, reply.stderr)
            reply = self._device.shell2(f"( {command} )", timeout=timeout)
            return ShellResult(reply.returncode, reply.output, "")
        except (AdbError, OSError) as e:
            raise self._map(e, f"shell {command[:60]!r}") from e

    def shell_lines(self, command: str, timeout: float = SHELL_TIMEOUT_S) -> LineStream:
        """A command's output line by line as it comes (a sampler on the device); closing the
        stream ends the command on the device."""
        try:
            connection = self._device.shell(command, stream=True, timeout=timeout)
        except (AdbError, OSError) as e:
            raise self._map(e, f"shell {command[:60]!r}") from e
        return LineStream(connection.conn, lambda e: self._map(e, f"shell {command[:60]!r}"))

    def check_shell(self, command: str, timeout: float = SHELL_TIMEOUT_S) -> str:
        result = self.shell(command, timeout)
        if not result.ok:
            raise DeviceError(
                f"{self.serial}: {command[:80]!r} exited {result.exit_code}: "
                f"{(result.stderr or result.stdout).strip()[:300]}"
            )
        return result.stdout

    # -- files ---------------------------------------------------------------------------
    def remote_sha256(self, remote: str) -> str | None:
        """The device file's sha256 (toybox sha256sum), or None if missing or not computable."""
        result = self.shell(f"sha256sum {shlex.quote(remote)} 2>/dev/null")
        word = result.stdout.split()[0] if result.ok and result.stdout.split() else ""
        return word if len(word) == 64 else None

    def push(self, local: Path, remote: str, *, sha256: str | None = None, skip_same: bool = True) -> bool:
        """Push a file unless the device already has the same bytes; True if it was sent."""
        if skip_same and (sha256 or sha256_file(local)) == self.remote_sha256(remote):
            return False
        self.push_unchecked(local, remote)
        return True

    def push_unchecked(self, local: Path, remote: str) -> None:
        try:
            push_file(self._device, local, remote)
        except (AdbError, OSError, EOFError) as e:
            raise self._map(e, f"push of {local.name}") from e

    def push_folder(self, local: Path, remote: str) -> int:
        """Push every file below ``local`` (hash skip per file); returns how many were sent."""
        sent = 0
        for path in sorted(p for p in local.rglob("*") if p.is_file()):
            sent += self.push(path, f"{remote.rstrip('/')}/{path.relative_to(local).as_posix()}")
        return sent

    def pull(self, remote: str, local: Path) -> int:
        """Pull one file. (adbutils' ``pull`` takes a missing file for an empty folder and
        succeeds; pulling the file itself makes the device's FAIL an error.)"""
        try:
            return self._device.sync.pull_file(remote, str(local))
        except (AdbError, OSError, EOFError) as e:
            local.unlink(missing_ok=True)
            raise self._map(e, f"pull of {remote}") from e

    def exists(self, remote: str) -> bool:
        try:
            return self._device.sync.exists(remote)
        except (AdbError, OSError, EOFError) as e:
            raise self._map(e, f"stat of {remote}") from e

    # -- streams and forwards ------------------------------------------------------------
    def open_stream(self, remote_port: int) -> socket.socket:
        """A socket connected to ``tcp:remote_port`` on the device through the adb server (wherever
        that server runs): what the agent channel relays over."""
        try:
            return self._device.create_connection(adbutils.Network.TCP, remote_port)
        except (AdbError, OSError) as e:
            raise self._map(e, f"connecting to tcp:{remote_port} on the device") from e

    def forward(self, remote_port: int, local_port: int = 0) -> int:
        """Forward a host port (a free one if 0) to the device's ``tcp:remote_port``."""
        local_port = local_port or free_local_port()
        try:
            self._device.forward(f"tcp:{local_port}", f"tcp:{remote_port}")
        except (AdbError, OSError) as e:
            raise self._map(e, "port forward") from e
        return local_port

    def remove_forward(self, local_port: int) -> None:
        with contextlib.suppress(AdbError, OSError):  # the device may be gone; the adb server drops its forwards then
            self._device.forward_remove(f"tcp:{local_port}", raise_non_found=False)

    @contextmanager
    def forwarded(self, remote_port: int) -> Iterator[int]:
        port = self.forward(remote_port)
        try:
            yield port
        finally:
            self.remove_forward(port)
