"""Deploy the agent to a device, start it, forward a port to it, and stop it again.

The zipapp is pushed to ``/data/local/tmp/quantbench/`` only when its hash changed. The agent
starts in the background with a fresh token (passed in its environment, not its command line),
picks a free port on the device and writes it to its log; the host forwards a free local port
there and waits for the health check to say SERVING. Leaving the session (normally, on error or
on Ctrl-C) kills the agent and removes the forward.
"""

from __future__ import annotations

import secrets
import shlex
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from device_agent.zipapp import build_zipapp
from host import TOOL_NAME
from host.agent_client import AgentClient
from host.devices.device import Device, alive_from_stat
from host.errors import AgentError, DeployError
from host.paths import cache_dir

DEVICE_HOME = f"/data/local/tmp/{TOOL_NAME}"
AGENT_PATH = f"{DEVICE_HOME}/agent.pyz"
AGENT_ROOT = f"{DEVICE_HOME}/root"
STORE = f"{AGENT_ROOT}/store"
PYTHON_CANDIDATES = ("python3", "python", "/data/data/com.termux/files/usr/bin/python3")
START_TIMEOUT_S = 60.0


def find_device_python(device: Device, given: str | None = None) -> str:
    """The device's Python: the one given, else the first candidate that runs."""
    candidates = (given,) if given else PYTHON_CANDIDATES
    for candidate in candidates:
        assert candidate is not None
        result = device.shell(f"{shlex.quote(candidate)} -c 'import sys; print(sys.version_info[0])' 2>/dev/null")
        if result.ok and result.stdout.strip() == "3":
            return candidate
    raise DeployError(
        f"{device.serial}: no Python 3 on the device (tried {', '.join(candidates)}); install Termux and "
        "'pkg install python', then pass --device-python PATH (run 'host doctor' for the full list)"
    )


def agent_zipapp() -> tuple[Path, str]:
    """Build the zipapp into the cache and return (path, sha256)."""
    path = cache_dir() / "agent" / "agent.pyz"
    return path, build_zipapp(path)


@dataclass
class AgentSession:
    """A running agent on one device, reachable through ``client``."""

    device: Device
    python: str
    token: str
    client: AgentClient
    local_port: int
    remote_port: int
    pid: int
    log_path: str
    pushed_agent: bool

    def stop(self, wait_s: float = 5.0) -> None:
        """Remove the forward, SIGTERM the agent, wait for it to exit, SIGKILL if it does not."""
        self.client.close()
        self.device.remove_forward(self.local_port)
        try:
            self.device.shell(f"kill {self.pid} 2>/dev/null", timeout=10)
            deadline = time.monotonic() + wait_s
            while agent_running(self.device, self.pid):
                if time.monotonic() > deadline:
                    self.device.shell(f"kill -9 {self.pid} 2>/dev/null", timeout=10)
                    break
                time.sleep(0.1)
        except Exception:  # noqa: BLE001 - stopping must not mask the error that got us here
            pass

    def __enter__(self) -> AgentSession:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


def agent_running(device: Device, pid: int) -> bool:
    """Whether the process lives (a zombie waiting for its reaper counts as gone)."""
    return alive_from_stat(device.shell(f"cat /proc/{pid}/stat 2>/dev/null").stdout)


def start_agent(device: Device, *, device_python: str | None = None, gpu_delegate: str = "", nnapi_delegate: str = "",
                timeout_s: float = START_TIMEOUT_S) -> AgentSession:
    python = find_device_python(device, device_python)
    zipapp, sha = agent_zipapp()
    device.check_shell(f"mkdir -p {STORE}")
    pushed = device.push(zipapp, AGENT_PATH, sha256=sha)
    token = secrets.token_hex(24)
    log_path = f"{DEVICE_HOME}/agent-{secrets.token_hex(4)}.log"
    extra = "".join(f" --{flag} {shlex.quote(value)}" for flag, value in (("gpu-delegate", gpu_delegate), ("nnapi-delegate", nnapi_delegate)) if value)
    command = (
        f"cd {DEVICE_HOME} && QUANTBENCH_AGENT_TOKEN={token} nohup {shlex.quote(python)} {AGENT_PATH} serve "
        f"--root {AGENT_ROOT} --port 0{extra} > {log_path} 2>&1 < /dev/null & echo $!"
    )
    started = device.check_shell(command).strip().splitlines()
    if not started or not started[-1].isdigit():
        raise DeployError(f"{device.serial}: the agent did not start: {' '.join(started)[:200]}")
    pid = int(started[-1])
    remote_port = _wait_for_port(device, log_path, pid, timeout_s)
    local_port = device.forward(remote_port)
    client = AgentClient(f"127.0.0.1:{local_port}", token)
    session = AgentSession(device, python, token, client, local_port, remote_port, pid, log_path, pushed)
    try:
        _wait_serving(client, timeout_s)
    except BaseException:
        session.stop()
        raise
    return session


def _wait_for_port(device: Device, log_path: str, pid: int, timeout_s: float) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        log = device.shell(f"cat {log_path} 2>/dev/null").stdout
        for line in log.splitlines():
            if line.startswith("LISTENING "):
                return int(line.split()[1])
        if not device.shell(f"kill -0 {pid} 2>/dev/null").ok:
            tail = " | ".join(log.strip().splitlines()[-3:])
            raise DeployError(f"{device.serial}: the agent exited at start: {tail or 'no output'} (run 'host doctor')")
        time.sleep(0.2)
    device.shell(f"kill {pid} 2>/dev/null")
    raise DeployError(f"{device.serial}: the agent did not report its port within {timeout_s:g} s")


def _wait_serving(client: AgentClient, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if client.health(deadline_s=2.0) == "SERVING":
                return
        except AgentError as e:
            last = e
        time.sleep(0.1)
    raise DeployError(f"the agent did not become SERVING within {timeout_s:g} s ({last})")
