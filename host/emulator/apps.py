"""The user's own hands on the emulated phone: typing a line into an app's terminal (Termux).

A test (or a demo) that imitates what a person does inside the Termux app, such as pasting the
line from ``host agent-command``, runs it here: as the app's user, in the app's home, with
Termux's environment, the device's paths rewritten as for any command on the device.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from host.emulator.sandbox import Sandbox
from host.emulator.services import drop_capabilities


def type_in_termux(root: Path, line: str, timeout: float = 600.0) -> subprocess.CompletedProcess[str]:
    """Run ``line`` as if typed into the Termux app of the emulated device at ``root``."""
    sandbox = Sandbox(root)
    package = "com.termux"
    home = sandbox.apps / package
    prefix = home / "files" / "usr"
    rewritten = sandbox.rewrite_command(line)
    for placeholder in (sandbox.root / "data" / "data" / package, sandbox.root / "data" / "user" / "0" / package):
        rewritten = rewritten.replace(str(placeholder), str(home))
    env = {**sandbox.shell_env(), "QB_EMU_APP": package, "PREFIX": str(prefix), "HOME": str(home / "files" / "home"),
           "TMPDIR": str(prefix / "tmp"), "PATH": f"{prefix / 'bin'}:{sandbox.root / 'system' / 'bin'}",
           "LD_PRELOAD": str(prefix / "lib" / "libtermux-exec.so")}
    return subprocess.run([sandbox.shell, "-c", rewritten, "/data/data/com.termux/files/usr/bin/bash"], cwd=home / "files" / "home",
                          env=env, capture_output=True, text=True, timeout=timeout, start_new_session=True,
                          preexec_fn=drop_capabilities)
