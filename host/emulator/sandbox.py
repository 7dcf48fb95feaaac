"""The emulated phone's filesystem: a sandbox folder with a phone's layout and permissions.

Mapping rules (the contract of the emulated device):

* ``root`` is the device's ``/``. Sync paths (push, pull, stat, list) are device paths inside
  it; a path whose ``..`` would climb above ``/``, or that resolves through a symlink to
  somewhere outside, is refused; so is an app's private folder (``/data/data/<pkg>``), and a
  write anywhere but ``/data/local/tmp`` and ``/sdcard``, as a phone refuses them to the shell.
* Shell commands run as the shell user, in ``/``, with ``PATH=/system/bin``: a phone's tools
  (the host's, linked in one by one), ``getprop``, ``run-as``, ``pm``, ``dumpsys``, ``id`` and
  ``kill`` answering as a phone does, and no Python unless the profile is ``shell-python``.
  Every absolute path in a command is rewritten into the sandbox, except ``/proc``, ``/dev``
  and ``/sys``, which are this machine's.
* Folders have a phone's modes: ``/data`` and ``/data/data`` can be crossed but not listed, an
  app's ``/data/data/<pkg>`` is closed (``Permission denied``); the app's real files live beside
  the sandbox (``<root>.private/apps/<pkg>``), reached only through ``run-as`` (or by the app).
  When the emulated device runs as root, shell commands run with every capability dropped, so
  these modes hold for them as they do for the shell user.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import sys
from pathlib import Path

from host.emulator.profiles import SYSTEM_PACKAGES, Profile
from host.emulator.thermal import install_sensors

SHARED = ("/proc", "/dev", "/sys")  # the kernel's own, the same for the device and this machine ...
DEVICE_SYS = ("/sys/class/thermal", "/sys/devices/system/cpu")  # ... but the phone's thermal zones and CPUs
_ABSOLUTE = re.compile(r"(?<![\w.~}/-])(/(?!/)[^\s'\";|&<>()`]*)")
# (device folder, mode): what the shell user may list, cross and write, as on a phone. The shell
# user owns the sandbox, so the owner's bits are the ones that bind it: 0111 may be crossed only.
LAYOUT = (
    ("system", 0o555), ("system/bin", 0o555), ("data", 0o111), ("data/local", 0o111), ("data/local/tmp", 0o771),
    ("data/data", 0o111), ("data/user", 0o111), ("data/user/0", 0o111), ("sdcard", 0o777),
)
WRITABLE = ("/data/local/tmp", "/sdcard")
# The phone's tools the shell user has (toybox and mksh builtins on Android; this machine's here).
TOOLS = (
    "ls", "cat", "mkdir", "rm", "rmdir", "mv", "cp", "ln", "chmod", "touch", "sleep", "sha256sum", "md5sum", "head", "tail",
    "tr", "grep", "sed", "awk", "cut", "sort", "uniq", "wc", "xargs", "nohup", "env", "printf", "test", "[", "true", "false",
    "date", "uname", "df", "du", "stat", "find", "tee", "readlink", "realpath", "basename", "dirname", "od", "dd", "timeout",
    "ps", "which", "nice", "taskset", "pwd", "expr", "seq", "yes", "base64", "gzip", "tar",
)
DEVICE_COMMANDS = ("getprop", "run-as", "pm", "dumpsys", "id", "kill", "cmd")
SHELLRC = """\
# sourced by every non-interactive shell of the emulated device (BASH_ENV)
enable -n kill  # the device's kill: it knows which processes belong to an app
command_not_found_handle() { echo "/system/bin/sh: $1: inaccessible or not found" >&2; return 127; }
"""


class SandboxEscape(PermissionError):
    """A device path that leaves the sandbox, or that the shell user may not touch."""


class Sandbox:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.private = self.root.parent / (self.root.name + ".private")
        self.internal = self.private / "internal"
        self.apps = self.private / "apps"

    # -- paths ----------------------------------------------------------------------------
    def _normalized(self, device_path: str) -> list[str]:
        if not device_path.startswith("/"):
            device_path = f"/{device_path}"
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
        return parts

    def host_path(self, device_path: str, *, write: bool = False) -> Path:
        """The sandbox path for a device path the shell user may reach (``write``: may write)."""
        parts = self._normalized(device_path)
        absolute = "/" + "/".join(parts)
        if parts[:2] == ["data", "data"] and len(parts) > 2 or parts[:3] == ["data", "user", "0"] and len(parts) > 3:
            raise SandboxEscape(f"{absolute}: Permission denied")
        if write and not any(absolute == w or absolute.startswith(w + "/") for w in WRITABLE):
            raise SandboxEscape(f"{absolute}: Permission denied")
        candidate = self.root.joinpath(*parts)
        real = candidate.resolve()
        if real != self.root and self.root not in real.parents:
            raise SandboxEscape(f"{absolute}: resolves outside the device root")
        return candidate

    def rewrite_command(self, command: str) -> str:
        """Every absolute path of a shell command as the sandbox path (the kernel's own excepted)."""
        def rewrite(match: re.Match[str]) -> str:
            path = match.group(0)
            if _under(path, DEVICE_SYS) or not _under(path, SHARED):
                return str(self.root) + path
            return path
        return _ABSOLUTE.sub(rewrite, command)

    def device_view(self, output: bytes) -> bytes:
        """Output as the device would print it: sandbox paths back to device paths (``/data/...``)."""
        if self.root.as_posix().encode() not in output:
            return output
        apps = (self.apps.as_posix() + "/").encode()
        return output.replace(apps, b"/data/data/").replace(self.root.as_posix().encode() + b"/", b"/") \
            .replace(self.root.as_posix().encode(), b"/")

    # -- installation ---------------------------------------------------------------------------
    def install(self, props: dict[str, str], profile: Profile, offline: bool = False) -> None:
        """Lay out the phone's folders and modes, its tools, its apps; idempotent."""
        for folder, _ in LAYOUT:  # open for the set-up; the phone's modes are set at the end
            (self.root / folder).mkdir(parents=True, exist_ok=True)
            os.chmod(self.root / folder, 0o755)
        self.internal.mkdir(parents=True, exist_ok=True)
        os.chmod(self.private, 0o700)
        shutil.copyfile(Path(__file__).with_name("devicetools.py"), self.internal / "devicetools.py")
        (self.internal / "shellrc").write_text(SHELLRC)
        site = _site_packages()
        (self.internal / "device.json").write_text(json.dumps({
            "root": str(self.root), "apps": str(self.apps), "python": sys.executable, "site_packages": site, "props": props, "offline": offline,
            "system_packages": list(SYSTEM_PACKAGES),
            "profile": {"name": profile.name, "apps": [a.__dict__ for a in profile.apps], "shell_python": profile.shell_python},
        }, indent=1))
        self._install_tools(profile)
        install_sensors(self.root, self.internal)
        for app in profile.apps:
            self._install_app(app.package)
        for folder, mode in reversed(LAYOUT):
            os.chmod(self.root / folder, mode)

    def _install_tools(self, profile: Profile) -> None:
        bin_dir = self.root / "system" / "bin"
        for name in TOOLS:
            found = shutil.which(name, path="/usr/bin:/bin")
            link = bin_dir / name
            if found and not link.is_symlink():
                link.unlink(missing_ok=True)
                link.symlink_to(found)
        _script(bin_dir / "sh", f'#!{_bash()}\nexec {_bash()} "$@"\n')
        for name in DEVICE_COMMANDS:
            _script(bin_dir / name, f'#!/bin/sh\nexec {sys.executable} -S {self.internal / "devicetools.py"} {name} "$@"\n')
        python = bin_dir / "python3"
        if profile.shell_python:
            _script(python, f'#!/bin/sh\nPYTHONNOUSERSITE=1 exec {sys.executable} "$@"\n')
            _script(bin_dir / "python", python.read_text())
        else:
            python.unlink(missing_ok=True)
            (bin_dir / "python").unlink(missing_ok=True)

    def _install_app(self, package: str) -> None:
        """The app's placeholder for the shell (closed), and its real folder beside the sandbox."""
        for placeholder in (self.root / "data" / "data" / package, self.root / "data" / "user" / "0" / package):
            placeholder.mkdir(exist_ok=True)
            os.chmod(placeholder, 0)
        home = self.apps / package
        home.mkdir(parents=True, exist_ok=True)
        os.chmod(home, 0o700)
        if package == "com.termux":
            self._install_termux_base(home / "files" / "usr")
            (home / "files" / "home").mkdir(parents=True, exist_ok=True)

    def _install_termux_base(self, prefix: Path) -> None:
        """Termux before any ``pkg install``: its package manager and libtermux-exec, no Python."""
        for folder in ("bin", "lib", "tmp", "var/lib"):
            (prefix / folder).mkdir(parents=True, exist_ok=True)
        for name in ("pkg", "apt"):
            _script(prefix / "bin" / name, f'#!/bin/sh\nexec {sys.executable} -S {self.internal / "devicetools.py"} pkg "$@"\n')
        preload = prefix / "lib" / "libtermux-exec.so"
        if not preload.exists():
            preload.symlink_to(_harmless_library())  # so LD_PRELOAD works as on a phone, and does nothing

    # -- the shell --------------------------------------------------------------------------------
    def shell_env(self) -> dict[str, str]:
        """The shell user's environment: a phone's, nothing of this machine's."""
        return {
            "PATH": str(self.root / "system" / "bin"), "HOME": str(self.root), "TMPDIR": str(self.root / "data" / "local" / "tmp"),
            "ANDROID_DATA": str(self.root / "data"), "EXTERNAL_STORAGE": str(self.root / "sdcard"), "USER": "shell",
            "LOGNAME": "shell", "HOSTNAME": "localhost", "TERM": "dumb", "BASH_ENV": str(self.internal / "shellrc"),
            "LANG": "C.UTF-8",
        }

    @property
    def workdir(self) -> Path:
        return self.root

    @property
    def shell(self) -> str:
        return _bash()


def _under(path: str, prefixes: tuple[str, ...]) -> bool:
    return any(path == p or path.startswith(p + "/") for p in prefixes)


def _script(path: Path, text: str) -> None:
    if not path.is_file() or path.is_symlink() or path.read_text() != text:
        path.unlink(missing_ok=True)
        path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH | stat.S_IRGRP | stat.S_IROTH)


def _bash() -> str:
    return shutil.which("bash") or "/bin/sh"


def _site_packages() -> str:
    """This machine's site-packages that the emulated device's Python packages are linked from."""
    import numpy

    return str(Path(numpy.__file__).resolve().parents[1])


def _harmless_library() -> str:
    """A shared library already in every process (libm), standing in for Termux's libtermux-exec."""
    with open("/proc/self/maps") as maps:
        for line in maps:
            path = line.split()[-1] if line.strip() else ""
            if "/libm.so" in path or "/libm-" in path:
                return path
    return "/lib/x86_64-linux-gnu/libm.so.6"
