"""Start and stop emulated devices: a background adbd, connected to the adb server.

Each running emulator leaves a state file (serial, port, pid, sandbox) under the user data
folder so ``host emulator stop`` and ``host devices`` find it from another process. The sandbox
folder is kept between runs, so the agent's file store survives and nothing is pushed twice.

An emulated device a bench started for itself (``auto``) is stopped by the last bench using it:
each bench holds a shared lock on its ``<port>.users`` file while it uses it, and at its end
stops it only if no other bench holds one. One started with ``host emulator start`` is left
running until ``host emulator stop``.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from pathlib import Path

from emulated_device import profiles
from emulated_device.domains import DomainError, preflight
from emulated_device.domains import power_off as end_domains
from emulated_device.errors import UnknownProfile
from emulated_device.profiles import DEFAULT_PROFILE as DEFAULT_PROFILE  # the host's one way to name it
from emulated_device.profiles import PROFILES
from emulated_device.sandbox import Sandbox
from host.devices.selection.resolve import Attached
from host.devices.transport.adb import AdbServerAddress, client, connect_device, disconnect_device
from host.devices.transport.device import alive_from_stat
from host.errors import EmulatorError, InputError
from host.fsio import open_private
from host.paths import data_dir

START_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class EmulatorState:
    serial: str
    port: int
    pid: int
    root: str
    log: str
    auto: bool = False  # started by a bench for its own use: the last bench using it stops it
    profile: str = DEFAULT_PROFILE


def _state_dir() -> Path:
    return data_dir() / "emulator" / "running"


def default_root() -> Path:
    return data_dir() / "emulator" / "sandbox"


def running() -> list[EmulatorState]:
    """Emulators whose daemon is still alive (stale state files are removed)."""
    states = []
    folder = _state_dir()
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            state = EmulatorState(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            path.unlink(missing_ok=True)
            continue
        if not _alive(state.pid):
            path.unlink(missing_ok=True)
            continue
        states.append(state)
    return states


def _spawn_daemon(arguments: list[str], log: Path) -> subprocess.Popen[bytes]:
    """The device's daemon in a session of its own, its output in ``log``, without the host's secrets."""
    with open_private(log) as handle:
        return subprocess.Popen(
            [sys.executable, "-m", "emulated_device.adbd", *arguments],
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env={**device_environment(), "QUANTBENCH_DATA_DIR": str(data_dir())},
        )


def start(
    address: AdbServerAddress,
    port: int = 0,
    root: Path | None = None,
    trust_no_key: bool = False,
    auto: bool = False,
    profile: str = DEFAULT_PROFILE,
    offline: bool = False,
) -> EmulatorState:
    """Start the daemon in the background, adb-connect it, wait until adb says ``device``
    (or ``unauthorized`` for a device that trusts no key).

    The adb server is reached first: starting it creates this user's key pair, which the
    daemon reads at its start and trusts, like a phone paired with this computer."""
    try:
        preflight()
    except DomainError as e:
        raise EmulatorError(str(e)) from None
    if not trust_no_key:
        client(address)
    root = (root or default_root()).resolve()
    root.mkdir(parents=True, exist_ok=True)
    log = root.parent / f"adbd-{os.getpid()}-{int(time.time() * 1000)}.log"
    flags = [*(["--trust-no-key"] if trust_no_key else []), *(["--offline"] if offline else [])]
    proc = _spawn_daemon(["--root", str(root), "--port", str(port), "--profile", _profile(profile), *flags], log)
    bound = _wait_listening(proc, log)
    serial = f"127.0.0.1:{bound}"
    state = EmulatorState(serial, bound, proc.pid, str(root), str(log), auto, profile)
    _state_dir().mkdir(parents=True, exist_ok=True)
    (_state_dir() / f"{bound}.json").write_text(json.dumps(asdict(state)))
    try:
        connect_device(address, serial, START_TIMEOUT_S, accept_unauthorized=trust_no_key)
    except BaseException:
        stop_state(address, state)
        raise
    return state


def _wait_listening(proc: subprocess.Popen[bytes], log: Path) -> int:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        for line in log.read_text().splitlines():
            if line.startswith("LISTENING "):
                return int(line.split()[1])
        if proc.poll() is not None:
            text = log.read_text().strip().splitlines()
            raise EmulatorError(
                "the emulated device did not start: "
                + (text[-1] if text else f"its daemon exited with {proc.returncode}")
            )
        time.sleep(0.01)  # a local file: looking often costs nothing, and the first cell waits on it
    proc.kill()
    raise EmulatorError(f"the emulated device did not start listening within {START_TIMEOUT_S:g} s (log: {log})")


def _alive(pid: int) -> bool:
    """Whether the daemon still runs; reaps it if it is our child (a zombie is not alive)."""
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass  # started by another process: look at it from outside
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return alive_from_stat(handle.read())
    except OSError:
        return False


def shared(address: AdbServerAddress) -> EmulatorState:
    """The emulated device on the default sandbox for a bench that found no device: a running one
    (connected to this adb server), else a new one that the last bench using it stops. Starting
    is serialized, so two benches that start together share one device instead of starting two
    daemons over one sandbox."""
    folder = _state_dir()
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / "start.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        for state in running():
            if Path(state.root) == default_root().resolve():
                connect_device(address, state.serial, START_TIMEOUT_S)
                return state
        return start(address, auto=True)
    finally:
        os.close(fd)


def find(serial: str) -> EmulatorState | None:
    return next((s for s in running() if s.serial == serial), None)


@contextmanager
def in_use(address: AdbServerAddress, state: EmulatorState) -> Iterator[None]:
    """Use an emulated device; at the end, stop it if a bench started it and no bench holds it."""
    fd = os.open(_state_dir() / f"{state.port}.users", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        yield
    finally:
        try:
            if state.auto:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # raises while another bench uses it
                stop_state(address, state)
        except BlockingIOError:
            pass
        finally:
            os.close(fd)


def stop_state(address: AdbServerAddress, state: EmulatorState) -> None:
    disconnect_device(address, state.serial)
    with suppress(OSError):
        os.kill(state.pid, signal.SIGTERM)
    deadline = time.monotonic() + 5.0
    while _alive(state.pid):
        if time.monotonic() > deadline:
            with suppress(OSError):
                os.kill(state.pid, signal.SIGKILL)
            break
        time.sleep(0.02)
    power_off(Path(state.root))
    (_state_dir() / f"{state.port}.json").unlink(missing_ok=True)
    (_state_dir() / f"{state.port}.users").unlink(missing_ok=True)


def power_off(root: Path) -> int:
    """End every process the emulated phone still runs (an app's agent outlives adbd, as on a
    phone, until the phone is switched off): each domain's pid 1, and with it its whole PID
    namespace. Returns how many domains were ended."""
    return end_domains(Sandbox(root).internal)


SECRET_MARKERS = ("TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL", "KEY")
SECRET_NAMES = ("QUANTBENCH_DB", "DATABASE_URL", "PGPASSFILE", "PGSERVICEFILE")


def profile_summary(name: str) -> str:
    """What kind of phone the profile imitates, for ``host emulator start``."""
    return PROFILES[name].summary


def _profile(name: str) -> str:
    try:
        return profiles.profile(name).name
    except UnknownProfile as e:
        raise InputError(str(e)) from None


def device_environment() -> dict[str, str]:
    """What the emulated device's daemon is started with: this process's environment less its
    secrets (the database URL, STF token, passwords ...), which no process of the phone may see."""
    return {
        k: v
        for k, v in os.environ.items()
        if k not in SECRET_NAMES and not any(m in k.upper() for m in SECRET_MARKERS) and not k.startswith("PG")
    }


def stop(address: AdbServerAddress, serial: str | None = None, everything: bool = False) -> list[str]:
    states = running()
    if not everything:
        if serial is None:
            if len(states) > 1:
                raise InputError(f"{len(states)} emulated devices run: pass --serial S or --all")
            states = states[:1]
        else:
            states = [s for s in states if s.serial == serial]
            if not states:
                raise InputError(f"no emulated device {serial} is running")
    for state in states:
        stop_state(address, state)
    return [s.serial for s in states]


def with_unconnected(rows: list[Attached]) -> list[Attached]:
    """``host devices`` rows plus emulated devices whose daemon runs but adb does not list."""
    known = {r.serial for r in rows}
    return rows + [
        Attached(s.serial, "not connected", None, "emulated; run 'host emulator stop' or start it again")
        for s in running()
        if s.serial not in known
    ]
