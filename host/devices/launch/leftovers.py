"""What a session leaves on a device while it runs (its agent), recorded on this machine, so
that after a controller is killed (SIGKILL, a crash, a closed laptop) the next run or ``host
doctor`` stops that agent instead of leaving it behind. Records from versions that reached the
agent through an ``adb forward`` name its port, and that forward is removed too. A battery such a
controller left unplugged for an energy measurement is reset with them (``energy.battery``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from host.codec import decode
from host.devices.energy import battery
from host.devices.launch.launchers import running, stop_process
from host.devices.transport.adb import AdbServerAddress
from host.devices.transport.device import Device
from host.errors import HostError, RecordError
from host.paths import data_dir
from host.processes import alive


@dataclass(frozen=True)
class SessionRecord:
    host_pid: int  # the controller that owns the session
    serial: str
    adb_host: str
    adb_port: int
    local_port: int  # the forward's local port, 0 without one
    agent_pid: int
    stop_prefix: str  # how to act as the agent's own user ("run-as com.termux "), empty for the shell user


def _folder() -> Path:
    return data_dir() / "sessions"


def remember(record: SessionRecord) -> Path:
    folder = _folder()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{record.host_pid}-{record.serial.replace(':', '_').replace('/', '_')}-{record.agent_pid}.json"
    path.write_text(json.dumps(asdict(record)))
    return path


def forget(path: Path) -> None:
    path.unlink(missing_ok=True)


def _is_our_agent(device: Device, pid: int, prefix: str) -> bool:
    """The pid is still our agent (not a process that reused the number)."""
    line = device.shell(f"{prefix}cat /proc/{pid}/cmdline 2>/dev/null").stdout.replace("\0", " ")
    return "agent.pyz" in line and " serve " in line


def reap(address: AdbServerAddress, serials: set[str] | None = None) -> list[str]:
    """Clean up after sessions whose controller is gone (their agents, and batteries left
    unplugged); returns what was done, for the user."""
    done = []
    for path in sorted(_folder().glob("*.json")) if _folder().is_dir() else []:
        try:
            record = decode(SessionRecord, json.loads(path.read_text()), str(path))
        except (OSError, ValueError, RecordError):
            forget(path)
            continue
        if alive(record.host_pid) or (serials is not None and record.serial not in serials):
            continue
        if (record.adb_host, record.adb_port) != (address.host, address.port):
            continue
        try:
            device = Device(address, record.serial)
            if record.local_port:
                device.remove_forward(record.local_port)
            if running(device, record.agent_pid, record.stop_prefix) and _is_our_agent(
                device, record.agent_pid, record.stop_prefix
            ):
                stop_process(device, record.agent_pid, record.stop_prefix)
                done.append(f"stopped agent {record.agent_pid} on {record.serial} left by controller {record.host_pid}")
        except HostError:
            pass  # the device is gone: its agent exits by itself when idle
        forget(path)
    return done + battery.reap(address, serials)
