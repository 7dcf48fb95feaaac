"""How the agent is started and stopped on a device: the protocol every launch method follows,
what they share, and the ``shell`` launcher.

A launcher deploys the zipapp, starts the agent with the session token on its standard input
(never on a command line), reads the port the agent reports back from its log, and stops it.
The methods: ``termux-run-as`` (``termux.py``), ``shell`` (here), ``attach`` (``attach.py``);
``choose.py`` picks the one that works on a device.
"""

from __future__ import annotations

import secrets
import shlex
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from host import TOOL_NAME
from host.devices.transport.device import Device, ShellResult, alive_from_stat
from host.errors import DeployError, InputError

DEVICE_HOME = f"/data/local/tmp/{TOOL_NAME}"  # the shell user's folder: the zipapp and incoming files
INCOMING = f"{DEVICE_HOME}/incoming"  # where ADB pushes land before the agent adopts them
SHELL_ZIPAPP = f"{DEVICE_HOME}/agent.pyz"
PYTHON_CANDIDATES = ("python3", "python")
START_TIMEOUT_S = 60.0
KEEP_LOGS = 10
# the newest agent logs stay, older ones go (toybox's ls -t and tail, as on every Android)
PRUNE_LOGS = f'ls -t agent-*.log 2>/dev/null | tail -n +{KEEP_LOGS + 1} | while read -r old; do rm -f "$old"; done'
VERSION_PROBE = "import sys; print(sys.version_info[0])"


@dataclass(frozen=True)
class AgentOptions:
    """What the agent is started with besides its token."""

    gpu_delegate: str = ""
    nnapi_delegate: str = ""
    idle_exit_s: float = 900.0


@dataclass(frozen=True)
class RunningAgent:
    pid: int  # 0 when unknown (an agent the user started)
    port: int
    log_path: str
    root: str
    token: str


class Launcher(Protocol):
    """Deploys, starts and stops the agent on one device."""

    name: str
    stop_prefix: str  # what commands acting as the agent's user start with ("" for the shell user)

    def python(self, script: str, timeout: float = 120.0) -> ShellResult: ...
    def deploy(self, zipapp: Path, sha256: str) -> str: ...
    def start(self, zipapp: str, token: str, options: AgentOptions) -> RunningAgent: ...
    def stop(self, agent: RunningAgent) -> None: ...


def serve_arguments(root: str, options: AgentOptions, *, port: int = 0, token_stdin: bool = True) -> str:
    flags = [f"--root {root}", f"--port {port}", f"--incoming {INCOMING}", f"--idle-exit {options.idle_exit_s:g}"]
    flags += ["--token-stdin"] if token_stdin else []
    flags += [
        f"--{flag} {shlex.quote(value)}"
        for flag, value in (("gpu-delegate", options.gpu_delegate), ("nnapi-delegate", options.nnapi_delegate))
        if value
    ]
    return "serve " + " ".join(flags)


def deploy_for_shell(device: Device, zipapp: Path, sha256: str) -> None:
    """The zipapp in the shell user's folder (pushed only when its hash changed), and the
    incoming folder: both readable by an app by exact path, as ``/data/local/tmp`` files are."""
    device.check_shell(f"mkdir -p {INCOMING} && chmod 755 {DEVICE_HOME} {INCOMING}")
    device.push(zipapp, SHELL_ZIPAPP, sha256=sha256)


def detached(command: str, log_path: str) -> str:
    """Shell text that reads the token from its stdin, starts ``command`` in the background with
    the token on the command's stdin (``echo`` is a shell builtin: no process gets it as an
    argument), its output to ``log_path``, and prints its pid. The shell reads the token before
    it goes on, so it cannot exit before the token arrives."""
    return f'read -r token; echo "$token" | nohup {command} > {log_path} 2>&1 & echo $!'


def started_pid(device: Device, result: ShellResult) -> int:
    words = result.stdout.strip().split()
    if not result.ok or not words or not words[-1].isdigit():
        raise DeployError(f"{device.serial}: the agent did not start: {(result.stderr or result.stdout).strip()[:300]}")
    return int(words[-1])


class ShellLauncher:
    """The agent under a Python the shell user can run: rooted or custom builds, or one pushed."""

    name = "shell"
    home = DEVICE_HOME
    stop_prefix = ""

    def __init__(self, device: Device, python: str) -> None:
        self.device = device
        self.python_path = python

    @classmethod
    def find(cls, device: Device, given: str | None = None) -> ShellLauncher | None:
        """The launcher with the given Python (which must run: InputError if not), else the first
        candidate on the shell's PATH that runs; None if none does."""
        for candidate in (given,) if given else PYTHON_CANDIDATES:
            result = device.shell(f"{shlex.quote(candidate)} -c '{VERSION_PROBE}'")
            if result.ok and result.stdout.strip() == "3":
                return cls(device, candidate)
            if given:
                said = (result.stderr or result.stdout).strip().splitlines()
                raise InputError(
                    f"--device-python {given} does not run Python 3 on {device.serial}: "
                    f"{said[-1] if said else f'exit {result.exit_code}'}"
                )
        return None

    def python(self, script: str, timeout: float = 120.0) -> ShellResult:
        return self.device.shell(f"{shlex.quote(self.python_path)} -c {shlex.quote(script)}", timeout=timeout)

    def deploy(self, zipapp: Path, sha256: str) -> str:
        deploy_for_shell(self.device, zipapp, sha256)
        return SHELL_ZIPAPP

    def start(self, zipapp: str, token: str, options: AgentOptions) -> RunningAgent:
        root = f"{self.home}/root"
        log_path = f"{self.home}/agent-{secrets.token_hex(4)}.log"
        self.device.check_shell(f"mkdir -p {root} && cd {self.home} && {PRUNE_LOGS}")
        command = f"{shlex.quote(self.python_path)} {zipapp} {serve_arguments(root, options)}"
        pid = started_pid(
            self.device,
            self.device.shell(f"cd {self.home} && {detached(command, log_path)}", stdin=f"{token}\n".encode()),
        )
        return RunningAgent(pid, wait_for_port(self.device, log_path, pid), log_path, root, token)

    def stop(self, agent: RunningAgent) -> None:
        stop_process(self.device, agent.pid, self.stop_prefix)


def running(device: Device, pid: int, prefix: str = "") -> bool:
    """Whether the process lives (a zombie waiting for its reaper counts as gone)."""
    return alive_from_stat(device.shell(f"{prefix}cat /proc/{pid}/stat 2>/dev/null").stdout)


def stop_process(device: Device, pid: int, prefix: str, wait_s: float = 5.0) -> None:
    """SIGTERM, wait for the exit, SIGKILL past ``wait_s``; ``prefix`` runs the commands as the
    process's own user (``run-as PKG ``), since the shell may not signal an app's processes."""
    device.shell(f"{prefix}kill {pid} 2>/dev/null", timeout=10)
    deadline = time.monotonic() + wait_s
    pause = 0.02  # an agent exits within about 0.1 s of SIGTERM: look soon, then less often
    while running(device, pid, prefix):
        if time.monotonic() > deadline:
            device.shell(f"{prefix}kill -9 {pid} 2>/dev/null", timeout=10)
            return
        time.sleep(pause)
        pause = min(pause * 2, 0.2)


PORT_WAIT_LOOKS = 50  # looks at the log on the device, 20 ms apart, in one shell call


def _port_wait(log_path: str, pid: int, prefix: str) -> str:
    """Shell text that waits on the device until the log says LISTENING, the agent is gone or
    about a second has passed, then prints the log: one round trip answers as soon as the agent
    listens (a host-side poll paid two round trips and a sleep a look). Where ``sleep`` takes no
    fraction (toolbox before Android 6) the looks just come quicker."""
    loop = (
        f"n=0; while [ $n -lt {PORT_WAIT_LOOKS} ] && [ -r /proc/{pid}/stat ] && "
        f"! grep -q '^LISTENING ' {log_path} 2>/dev/null; do sleep 0.02; n=$((n+1)); done; cat {log_path} 2>/dev/null"
    )
    return f"{prefix}sh -c {shlex.quote(loop)}"


def wait_for_port(device: Device, log_path: str, pid: int, prefix: str = "", timeout_s: float = START_TIMEOUT_S) -> int:
    """The port the agent reports in its log; its last lines as the error if it exits first."""
    deadline = time.monotonic() + timeout_s
    look = _port_wait(log_path, pid, prefix)
    while time.monotonic() < deadline:
        log = device.shell(look).stdout
        for line in log.splitlines():
            if line.startswith("LISTENING "):
                return int(line.split()[1])
        if not running(device, pid, prefix):
            tail = " | ".join(log.strip().splitlines()[-3:])
            raise DeployError(f"{device.serial}: the agent exited at start: {tail or 'no output'} (run 'host doctor')")
    device.shell(f"{prefix}kill {pid} 2>/dev/null")
    raise DeployError(f"{device.serial}: the agent did not report its port within {timeout_s:g} s")
