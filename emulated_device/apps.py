"""The user's own hands on the emulated phone: typing a line into an app's terminal (Termux).

A test (or a demo) that imitates what a person does inside the Termux app, such as pasting the
line from ``host agent-command``, runs it here: in the app's domain (its uid, its namespaces),
in its home, with Termux's environment, as the app's own terminal would.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from emulated_device.domains import Domains
from emulated_device.errors import EmulatedDeviceError
from emulated_device.profiles import PROFILES
from emulated_device.sandbox import Sandbox

PACKAGE = "com.termux"
PREFIX = f"/data/data/{PACKAGE}/files/usr"
HOME = f"/data/data/{PACKAGE}/files/home"


def type_in_termux(root: Path, line: str, timeout: float = 600.0) -> subprocess.CompletedProcess[str]:
    """Run ``line`` as if typed into the Termux app of the running emulated device at ``root``."""
    sandbox = Sandbox(root)
    profile = PROFILES[json.loads((sandbox.internal / "device.json").read_text())["profile"]["name"]]
    domains = Domains(sandbox.root, sandbox.internal, profile)
    domains.attach()
    if PACKAGE not in domains.holders:
        raise EmulatedDeviceError(f"the emulated device at {root} has no running Termux")
    env = {
        "PREFIX": PREFIX,
        "HOME": HOME,
        "TMPDIR": f"{PREFIX}/tmp",
        "PATH": f"{PREFIX}/bin:/system/bin",
        "LD_PRELOAD": f"{PREFIX}/lib/libtermux-exec.so",
        "LANG": "en_US.UTF-8",
        "SHELL": f"{PREFIX}/bin/bash",
    }
    entry = domains.enter(PACKAGE, ["/system/bin/sh", "-c", line], env, cwd=HOME)
    return subprocess.run(
        entry.argv, env=entry.env, capture_output=True, text=True, timeout=timeout, start_new_session=True
    )
