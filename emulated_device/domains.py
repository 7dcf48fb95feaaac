"""The emulated phone's domains (the shell user, each app) and the kernel namespaces they live in.

Each domain has a holder (``jail.py holder``): pid 1 of the domain's PID namespace, kept while
the phone is on, so a process one ``adb shell`` started can be found and stopped by the next,
as on a phone. Holders outlive the daemon (an app's agent outlives an adbd restart) and are
found again from ``holders.json``; ``power_off`` ends them and with them every process inside.
Every command, sync session and ``run-as`` enters its domain through ``jail.py enter``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emulated_device import drivers
from emulated_device.errors import EmulatedDeviceError
from emulated_device.jail import encode_spec
from emulated_device.profiles import Profile

# What crosses into jail.py as JSON (its argv): the domain's root, binds, user and command, and
# the holders' state file; jail.py runs without the package, so the spec stays plain JSON.
JailSpec = dict[str, Any]

JAIL = Path(__file__).with_name("jail.py")
SHELL = "shell"
SHELL_UID = 2000
# the shell user's groups on Android 14: input, log, adb, sdcard_rw, sdcard_r, ext_data_rw, ext_obb_rw,
# net_bt_admin, net_bt, inet, net_bw_stats, readproc, uhid, readtracefs
SHELL_GROUPS = (2000, 1004, 1007, 1011, 1015, 1028, 1078, 1079, 3001, 3002, 3003, 3006, 3009, 3011, 3012)
SYSTEM_UID = 1000
SDCARD_RW = 1015
HOLDER_TIMEOUT_S = 30.0


class DomainError(EmulatedDeviceError, RuntimeError):
    """A domain's namespaces could not be made or entered; the message says why and what to do."""


ENTER = "qbenter"  # built from native/qbenter.c into the daemon's own folder, which no domain sees


@dataclass(frozen=True)
class Entry:
    """A process of this machine that runs something inside a domain: its argv and environment."""

    argv: list[str]
    env: dict[str, str]


@dataclass(frozen=True)
class Domain:
    name: str  # "shell", or an app's package
    uid: int
    groups: tuple[int, ...]
    home: str  # where run-as (or the shell) starts
    python: bool  # whether this domain's view holds this machine's Python (Termux's, or a custom build's)

    @property
    def gid(self) -> int:
        return self.uid


def domains_of(profile: Profile) -> list[Domain]:
    shell = Domain(SHELL, SHELL_UID, SHELL_GROUPS, "/", profile.shell_python)
    apps = [
        Domain(a.package, a.uid, (a.uid, 3003, 9997, a.uid + 10000, a.uid + 40000), f"/data/data/{a.package}", True)
        for a in profile.apps
    ]
    return [shell, *apps]


USERNS_VARIABLE = "QUANTBENCH_EMULATOR_USERNS"  # "1": user namespaces even as root (what any other user gets)


def jail_argv(verb: str, spec: JailSpec) -> list[str]:
    """``jail.py VERB SPEC``, imported rather than run as a script, so its compiled form is reused."""
    start = f"import sys; sys.path.insert(0, {str(JAIL.parent)!r}); import jail; sys.exit(jail.main(sys.argv))"
    return [sys.executable, "-I", "-S", "-c", start, verb, encode_spec(spec)]


def userns_mode() -> bool:
    """Real uids as root; a user namespace per domain as anyone else (or when asked, to test that way)."""
    return os.geteuid() != 0 or os.environ.get(USERNS_VARIABLE) == "1"


def preflight() -> None:
    """What this machine must have to confine the emulated phone; DomainError names what is missing."""
    missing = [name for name in ("mksh", "toybox") if not shutil.which(name)]
    if not (shutil.which("cc") or shutil.which("gcc")):
        missing.append("gcc")
    if missing:
        raise DomainError(
            f"the emulated device needs {', '.join(missing)} (Debian: apt-get install {' '.join(missing)})"
        )
    if sys.platform != "linux":
        raise DomainError("the emulated device needs Linux namespaces")
    if userns_mode():
        for path, bad in (
            ("/proc/sys/kernel/unprivileged_userns_clone", "0"),
            ("/proc/sys/user/max_user_namespaces", "0"),
        ):
            try:
                if Path(path).read_text().strip() == bad:
                    raise DomainError(
                        f"the emulated device needs user namespaces ({path} is 0): run it as root, or "
                        f"sysctl -w {path[len('/proc/sys/') :].replace('/', '.')}=1"
                    )
            except OSError:
                continue


def _python_binds() -> list[str]:
    """This machine's Python as the app (or a custom build's shell) runs it: its prefix and the venv's."""
    return sorted({str(Path(p).resolve()) for p in (sys.base_prefix, sys.prefix)})


def _library_view() -> tuple[list[list[str]], list[list[str]]]:
    """The shared libraries every program of the phone needs (the phone's /system/lib64)."""
    binds, links = [], []
    for path in ("/lib", "/lib64", "/usr/lib", "/usr/lib64"):
        if os.path.islink(path):
            links.append([path, os.readlink(path)])
        elif os.path.isdir(path):
            binds.append([path, path])
    return binds, links


class Domains:
    """The holders of one emulated device's domains, started or found again."""

    def __init__(self, sandbox_root: Path, internal: Path, profile: Profile) -> None:
        self.root = sandbox_root
        self.internal = internal
        self.profile = profile
        self.userns = userns_mode()
        self.by_name = {d.name: d for d in domains_of(profile)}
        self.state_path = internal / "holders.json"
        self.holders: dict[str, int] = {}

    # -- holders -----------------------------------------------------------------------------
    def holder_spec(self, domain: Domain) -> JailSpec:
        binds, links = _library_view()
        if domain.python:
            binds += [[p, p] for p in _python_binds() if not any(p == b[0] or p.startswith(b[0] + "/") for b in binds)]
            binds += [[source, target] for source, target in drivers.find().binds]  # the app's GPU/NPU drivers
        masks = []
        if self.userns and domain.name == SHELL:  # one uid outside: the apps' folders are hidden from the shell
            masks = [f"/data/data/{d}" for d in self.by_name if d != SHELL]
        return {
            "domain": domain.name,
            "sandbox": str(self.root),
            "mountpoint": str(self.internal / "mnt" / domain.name),
            "socket_dir": str(self.internal / "socket"),
            "readonly": ["system"],
            "binds": binds,
            "links": links,
            "masks": masks,
            "userns": self.userns,
            "uid": domain.uid,
            "gid": domain.gid,
        }

    def start(self) -> None:
        """Find each domain's holder again if it is alive and made for this profile, else start it."""
        state = self._load()
        for domain in self.by_name.values():
            spec = self.holder_spec(domain)
            key = json.dumps(spec, sort_keys=True)
            old = state.get(domain.name)
            if old and old.get("key") == key and _alive(int(old["pid"]), old.get("start")):
                self.holders[domain.name] = int(old["pid"])
                continue
            if old:
                _kill(int(old["pid"]), old.get("start"))
            self.holders[domain.name] = self._start_holder(spec)
            state[domain.name] = {
                "pid": self.holders[domain.name],
                "start": _start_time(self.holders[domain.name]),
                "key": key,
            }
        for name in [n for n in state if n not in self.by_name]:
            _kill(int(state[name]["pid"]), state[name].get("start"))
            del state[name]
        self.state_path.write_text(json.dumps(state))

    def attach(self) -> None:
        """The holders a running daemon started (for a process of this machine that acts on the phone)."""
        for name, entry in self._load().items():
            if name in self.by_name and _alive(int(entry["pid"]), entry.get("start")):
                self.holders[name] = int(entry["pid"])

    def _start_holder(self, spec: JailSpec) -> int:
        (self.internal / "mnt" / str(spec["domain"])).mkdir(parents=True, exist_ok=True)
        try:
            done = subprocess.run(
                jail_argv("holder", spec),
                capture_output=True,
                text=True,
                timeout=HOLDER_TIMEOUT_S,
                stdin=subprocess.DEVNULL,
                env={"PATH": "/usr/bin:/bin"},
            )
        except subprocess.TimeoutExpired as e:
            raise DomainError(f"the {spec['domain']} domain did not start within {HOLDER_TIMEOUT_S:g} s") from e
        if done.returncode != 0 or not done.stdout.strip().isdigit():
            said = (done.stderr or done.stdout).strip().splitlines()
            raise DomainError(
                f"{said[-1] if said else 'the domain holder failed'} (the emulated device confines its shell and "
                "apps in kernel namespaces: it needs root, or unprivileged user namespaces)"
            )
        return int(done.stdout.strip())

    def _load(self) -> dict[str, JailSpec]:
        try:
            loaded = json.loads(self.state_path.read_text())
            return loaded if isinstance(loaded, dict) else {}
        except (OSError, ValueError):
            return {}

    def power_off(self) -> int:
        return power_off(self.internal)

    # -- entering ----------------------------------------------------------------------------
    def enter(
        self,
        name: str,
        argv: list[str] | None,
        env: dict[str, str],
        cwd: str | None = None,
        tty: bool = False,
        sync: bool = False,
        run_as: bool = False,
    ) -> Entry:
        """How this machine runs ``argv`` in domain ``name``: the native ``qbenter`` (a command),
        or ``jail.py enter`` (the sync server, which is Python). ``run_as``: exec failures as run-as says them."""
        domain = self.by_name[name]
        if not sync:
            head = [
                str(self.internal / ENTER),
                str(self.holders[name]),
                str(int(self.userns)),
                str(domain.uid),
                str(domain.gid),
                ",".join(map(str, domain.groups)),
                cwd or domain.home,
                str(int(tty)),
                "run-as" if run_as else "plain",
                "--",
            ]
            return Entry([*head, *(argv or [])], env)
        spec = {
            "holder": self.holders[name],
            "userns": self.userns,
            "uid": domain.uid,
            "gid": domain.gid,
            "groups": list(domain.groups),
            "cwd": cwd or domain.home,
            "argv": [],
            "env": {},
            "tty": False,
            "sync": True,
        }
        return Entry(jail_argv("enter", spec), {})

    def domain_of_pid(self, pid: int) -> str | None:
        """The domain a process (this machine's pid) lives in, from its PID namespace; None if none."""
        try:
            target = os.readlink(f"/proc/{pid}/ns/pid")
        except OSError:
            return None
        for name, holder in self.holders.items():
            try:
                if os.readlink(f"/proc/{holder}/ns/pid") == target:
                    return name
            except OSError:
                continue
        return None


def power_off(internal: Path) -> int:
    """End every domain whose holder ``internal/holders.json`` names, and with its pid 1 every
    process in it; how many holders were ended."""
    path = internal / "holders.json"
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        state = {}
    ended = (
        sum(_kill(int(entry["pid"]), entry.get("start")) for entry in state.values()) if isinstance(state, dict) else 0
    )
    path.unlink(missing_ok=True)
    return ended


def _start_time(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _alive(pid: int, start: object) -> bool:
    return start is not None and _start_time(pid) == start


def _kill(pid: int, start: object) -> int:
    if not _alive(pid, start):
        return 0
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        return 0
    return 1
