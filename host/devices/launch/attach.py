"""The ``attach`` launcher: an agent the user starts inside the Termux app (F-Droid/Play builds).

Those builds are not debuggable, so nothing from ``adb shell`` can run as Termux, and Termux's
``RUN_COMMAND`` intent needs root to send. ``host agent-command`` therefore pushes the zipapp
to ``/data/local/tmp`` (which the app reads by exact path) and prints one line to paste into
Termux: it starts the agent on a port and with a token chosen here. The token is in that line's
environment assignment, never an argument of any process. The port and token are kept on this
machine (readable by this user only) for ``host bench --attach``. The agent stops by itself
after its idle time; from ``adb shell`` it cannot be stopped (the shell may not signal an app).
"""

from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from host.codec import decode
from host.devices.launch.launchers import SHELL_ZIPAPP, AgentOptions, RunningAgent, deploy_for_shell, serve_arguments
from host.devices.transport.device import Device, ShellResult
from host.errors import DeployError, RecordError
from host.paths import data_dir

ATTACH_IDLE_EXIT_S = 3600.0
PORTS = (38000, 38999)


@dataclass(frozen=True)
class Ticket:
    """What ``bench --attach`` needs to reach an agent the user started: its port and token."""

    identity: str
    port: int
    token: str
    created: float


def _path(identity: str) -> Path:
    return data_dir() / "attach" / f"{identity.replace(':', '_').replace('/', '_')}.json"


def agent_command(device: Device, zipapp: Path, sha256: str, options: AgentOptions) -> str:
    """Deploy the zipapp, keep a fresh ticket, and return the line to paste into Termux."""
    deploy_for_shell(device, zipapp, sha256)
    ticket = Ticket(
        device.identity, secrets.randbelow(PORTS[1] - PORTS[0]) + PORTS[0], secrets.token_hex(24), time.time()
    )
    path = _path(ticket.identity)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(asdict(ticket), handle)
    home = "~/quantbench"
    attached = AgentOptions(options.gpu_delegate, options.nnapi_delegate, ATTACH_IDLE_EXIT_S)
    arguments = serve_arguments(f"{home}/root", attached, port=ticket.port, token_stdin=False)
    return (
        f"mkdir -p {home}; cd {home}; QUANTBENCH_AGENT_TOKEN={ticket.token} nohup python {SHELL_ZIPAPP} "
        f"{arguments} > agent.log 2>&1 &"
    )


def load_ticket(identity: str) -> Ticket | None:
    path = _path(identity)
    if not path.is_file():
        return None
    try:
        return decode(Ticket, json.loads(path.read_text()), str(path))
    except (OSError, ValueError, RecordError):
        return None


class AttachLauncher:
    name = "attach"
    stop_prefix = ""

    def __init__(self, device: Device, ticket: Ticket) -> None:
        self.device = device
        self.ticket = ticket

    def python(self, script: str, timeout: float = 120.0) -> ShellResult:
        raise DeployError("an attached agent runs inside the Termux app: nothing can be run there from adb shell")

    def deploy(self, zipapp: Path, sha256: str) -> str:
        return SHELL_ZIPAPP  # the user started the agent from it with 'host agent-command'

    def start(self, zipapp: str, token: str, options: AgentOptions) -> RunningAgent:
        """The agent is already running: its port and token are the ticket's."""
        return RunningAgent(0, self.ticket.port, "", "~/quantbench/root", self.ticket.token)

    def stop(self, agent: RunningAgent) -> None:
        """Nothing: the shell may not signal an app's process; the agent exits when idle."""
