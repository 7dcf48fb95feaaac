"""The ``termux-run-as`` launcher: the agent inside Termux, reached with ``run-as com.termux``.

On a stock phone the shell user has no Python and cannot enter an app's folder; ``run-as``
runs a command as a *debuggable* app (Termux's GitHub-release builds are; F-Droid and Play
builds are not). Under ``run-as`` Termux's environment must be set by hand (its prefix, home,
PATH and ``libtermux-exec``). The zipapp is pushed to ``/data/local/tmp`` (which the app reads
by exact path) and copied into Termux's home when its hash changed; the agent is started
detached and stopped through ``run-as`` (the shell may not signal an app's processes).
"""

from __future__ import annotations

import secrets
import shlex
from pathlib import Path

from host.devices.launch.launchers import (
    PRUNE_LOGS,
    SHELL_ZIPAPP,
    AgentOptions,
    RunningAgent,
    deploy_for_shell,
    detached,
    serve_arguments,
    started_pid,
    stop_process,
    wait_for_port,
)
from host.devices.transport.device import Device, ShellResult

PACKAGE = "com.termux"
PREFIX = f"/data/data/{PACKAGE}/files/usr"
HOME = f"/data/data/{PACKAGE}/files/home"
ENVIRONMENT = (
    f"export PREFIX={PREFIX} HOME={HOME} TMPDIR={PREFIX}/tmp PATH={PREFIX}/bin:$PATH "
    f"LD_PRELOAD={PREFIX}/lib/libtermux-exec.so LANG=en_US.UTF-8"
)
RUN_AS = f"run-as {PACKAGE} "


def in_termux(command: str) -> str:
    """Shell text running ``command`` as Termux's user, in Termux's environment."""
    return f"{RUN_AS}sh -c {shlex.quote(f'{ENVIRONMENT}; {command}')}"


class TermuxRunAsLauncher:
    name = "termux-run-as"
    home = f"{HOME}/quantbench"
    stop_prefix = RUN_AS

    def __init__(self, device: Device) -> None:
        self.device = device

    def python(self, script: str, timeout: float = 120.0) -> ShellResult:
        return self.device.shell(in_termux(f"python3 -c {shlex.quote(script)}"), timeout=timeout)

    def deploy(self, zipapp: Path, sha256: str) -> str:
        """Push to the shell's folder, then copy into Termux's home unless the same bytes are there."""
        deploy_for_shell(self.device, zipapp, sha256)
        target = f"{self.home}/agent.pyz"
        self.device.check_shell(
            in_termux(
                f"mkdir -p {self.home} && {{ test \"$(sha256sum {target} 2>/dev/null | cut -d' ' -f1)\" = {sha256} || "
                f"cp {SHELL_ZIPAPP} {target}; }}"
            )
        )
        return target

    def start(self, zipapp: str, token: str, options: AgentOptions) -> RunningAgent:
        root = f"{self.home}/root"
        log_path = f"{self.home}/agent-{secrets.token_hex(4)}.log"
        command = f"python3 {zipapp} {serve_arguments(root, options)}"
        text = in_termux(f"mkdir -p {root} && cd {self.home} && {{ {PRUNE_LOGS}; }} && {detached(command, log_path)}")
        pid = started_pid(self.device, self.device.shell(text, stdin=f"{token}\n".encode()))
        return RunningAgent(pid, wait_for_port(self.device, log_path, pid, self.stop_prefix), log_path, root, token)

    def stop(self, agent: RunningAgent) -> None:
        stop_process(self.device, agent.pid, self.stop_prefix)
