"""Device paths mapped into a sandbox root, and the props/PATH a device shell expects.

Mapping rules (the contract of the emulated device):

* Sync paths (push, pull, stat, list) are device paths: ``/data/local/tmp/x`` is
  ``<root>/data/local/tmp/x``. A path whose ``..`` would climb above ``/``, or that resolves
  through a symlink to somewhere outside the root, is refused.
* Shell commands run with ``/bin/sh`` of the host, in ``<root>/data/local/tmp``. Every word of
  the command that starts with ``/data/`` or ``/sdcard`` is rewritten to the sandbox path;
  all other absolute paths are the host's (``/bin/sh``, ``/tmp``), as a device's ``/system``
  would be. ``getprop`` and ``python3`` (the host's Python) are first on ``PATH``.
"""

from __future__ import annotations

import json
import os
import re
import stat
import sys
from pathlib import Path

WORKDIR = "/data/local/tmp"
_DEVICE_WORD = re.compile(r"(?<![\w./-])(/data/[^\s'\";|&<>()]*|/data(?=[\s'\";|&<>()]|$)|/sdcard[^\s'\";|&<>()]*)")


class SandboxEscape(PermissionError):
    """A device path that would leave the sandbox."""


class Sandbox:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        (self.root / WORKDIR.lstrip("/")).mkdir(parents=True, exist_ok=True)
        (self.root / "sdcard").mkdir(exist_ok=True)
        self.bin = self.root / ".emulator" / "bin"

    def host_path(self, device_path: str) -> Path:
        """The sandbox path for a device path, refusing anything that climbs out."""
        if not device_path.startswith("/"):
            device_path = f"{WORKDIR}/{device_path}"
        parts: list[str] = []
        for part in device_path.split("/"):
            if part in ("", "."):
                continue
            if part == "..":
                if not parts:
                    raise SandboxEscape(f"{device_path}: climbs above the device root")
                parts.pop()
            else:
                parts.append(part)
        candidate = self.root.joinpath(*parts)
        real = candidate.resolve()
        if real != self.root and self.root not in real.parents:
            raise SandboxEscape(f"{device_path}: resolves outside the device root")
        return candidate

    def rewrite_command(self, command: str) -> str:
        """Rewrite /data/... and /sdcard... words of a shell command into the sandbox."""
        return _DEVICE_WORD.sub(lambda m: str(self.root) + m.group(0), command)

    def install_tools(self, props: dict[str, str]) -> None:
        """Write ``getprop`` (answering from ``props``) and a ``python3`` onto the shell's PATH."""
        self.bin.mkdir(parents=True, exist_ok=True)
        (self.bin.parent / "props.json").write_text(json.dumps(props, indent=1, sort_keys=True))
        getprop = self.bin / "getprop"
        getprop.write_text(
            f"#!{sys.executable} -S\n"
            "import json, sys\n"
            f"props = json.load(open({str(self.bin.parent / 'props.json')!r}))\n"
            "if len(sys.argv) > 1:\n"
            "    print(props.get(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else ''))\n"
            "else:\n"
            "    for key in sorted(props):\n"
            "        print(f'[{key}]: [{props[key]}]')\n"
        )
        python = self.bin / "python3"
        python.write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n')
        for tool in (getprop, python):
            tool.chmod(tool.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)

    def shell_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ANDROID_ADB", "QUANTBENCH_AGENT"))}
        env.update({
            "PATH": f"{self.bin}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}",
            "HOME": str(self.root / WORKDIR.lstrip("/")),
            "TMPDIR": str(self.root / WORKDIR.lstrip("/")),
            "ANDROID_DATA": str(self.root / "data"),
            "EXTERNAL_STORAGE": str(self.root / "sdcard"),
        })
        return env

    @property
    def workdir(self) -> Path:
        return self.root / WORKDIR.lstrip("/")
