"""The emulated phone's filesystem: a sandbox folder with a phone's layout, owners and modes.

The sandbox is the device's ``/`` for real: every process of the device (shell, sync, run-as,
apps) runs in kernel namespaces whose root is built from it (``jail.py``, ``domains.py``), so a
relative ``..``, ``/proc/self/root`` or a symlink cannot leave it, and every permission check is
the kernel's. Its layout is a phone's:

* ``/system`` (read-only in every domain): ``/system/bin`` holds mksh as ``sh``, toybox and its
  applets, and the phone's own commands (``getprop``, ``run-as``, ``pm``, ``dumpsys``, ``cmd``,
  ``logcat``, ...), which are clients of the device's services (``qbdevice``); ``/system/etc``
  holds ``passwd``/``group`` (Android's ids) and ``mkshrc``; ``/system/build.prop`` the
  properties. ``/etc`` and ``/bin`` link there, as on Android.
* ``/data`` (``system`` 0771: crossed, not listed, by the shell), ``/data/local/tmp`` (``shell``
  0771: the shell's own folder), ``/data/data/<pkg>`` (the app's uid, 0700: closed to the shell),
  ``/data/user/0`` linking to ``/data/data``; ``/sdcard`` linking to ``/storage/emulated/0``
  (``sdcard_rw``).
* ``/sys``: the phone's thermal zones and CPU frequencies (``thermal.py``), nothing of this machine's.

Run as root the owners are Android's uids; as another user every file is that user's and each
domain maps it to its own uid (the modes still hold; the apps' folders are hidden from the shell).
The daemon's own state (``device.json``, the domains' holders, the services' socket, scripted
sensors) lives beside the sandbox in ``<root>.private/internal``, which no domain can reach.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

from emulated_device.domains import ENTER, SDCARD_RW, SHELL_UID, SYSTEM_UID, DomainError, userns_mode
from emulated_device.profiles import SYSTEM_PACKAGES, Profile
from emulated_device.thermal import install_sensors

# device.json: the phone's description (props, profile, apps) as the daemon and the tools read it
DeviceJson = dict[str, Any]

NATIVE = Path(__file__).with_name("native") / "qbdevice.c"
ENTER_SOURCE = Path(__file__).with_name("native") / "qbenter.c"
# (device folder, owner uid, group gid, mode), as a phone has them
LAYOUT = (
    ("system", 0, 0, 0o755),
    ("system/bin", 0, SHELL_UID, 0o755),
    ("system/etc", 0, 0, 0o755),
    ("data", SYSTEM_UID, SYSTEM_UID, 0o771),
    ("data/local", 0, 0, 0o751),
    ("data/local/tmp", SHELL_UID, SHELL_UID, 0o771),
    ("data/data", SYSTEM_UID, SYSTEM_UID, 0o771),
    ("data/user", SYSTEM_UID, SYSTEM_UID, 0o711),
    ("storage", 0, 0, 0o755),
    ("storage/emulated", 0, SDCARD_RW, 0o771),
    ("storage/emulated/0", 0, SDCARD_RW, 0o2770),
    ("storage/self", 0, 0, 0o755),
    ("sys", 0, 0, 0o755),
    ("vendor", 0, 0, 0o755),
    ("apex", 0, 0, 0o755),
)
LINKS = (
    ("etc", "/system/etc"),
    ("bin", "/system/bin"),
    ("sdcard", "/storage/self/primary"),
    ("storage/self/primary", "/storage/emulated/0"),
    ("data/user/0", "/data/data"),
)
# the phone's own commands: clients of the device's services (binder.py answers them)
SERVICE_COMMANDS = (
    "getprop",
    "setprop",
    "run-as",
    "pm",
    "dumpsys",
    "cmd",
    "settings",
    "logcat",
    "log",
    "getenforce",
    "remount",
)
TERMUX_COMMANDS = ("pkg", "apt")
NOT_ON_A_PHONE = (
    "su",
    "login",
    "passwd",
    "mkpasswd",
    "sh",
    "chroot",
    "unshare",
    "nsenter",
    "switch_root",
    "pivot_root",
)
SHELL_PATH = (
    "/product/bin:/apex/com.android.runtime/bin:/apex/com.android.art/bin:/system_ext/bin:/system/bin:/system/xbin"
    ":/odm/bin:/vendor/bin:/vendor/xbin"
)
# Android's toybox (built for Android) lists these columns when ps is given no -o; Debian's lists PID TTY TIME CMD
PS = """#!/system/bin/sh
case " $* " in *" -o "*|*" -O "*|*" -o"*) exec /system/bin/toybox ps "$@";; esac
exec /system/bin/toybox ps -o USER,PID,PPID,VSZ,RSS,WCHAN,ADDR,S,NAME "$@"
"""
MKSHRC = """\
# /system/etc/mkshrc: the interactive shell's prompt, as Android's
: ${TERM:=xterm-256color}
: ${HOSTNAME:=$(getprop ro.product.device)}
PS1='${HOSTNAME:=localhost}:${PWD:-?} $ '
export HOSTNAME TERM
"""


class Sandbox:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.private = self.root.parent / (self.root.name + ".private")
        self.internal = self.private / "internal"

    def app_home(self, package: str) -> Path:
        """Where this machine sees an app's data folder (``/data/data/<pkg>`` on the device)."""
        return self.root / "data" / "data" / package

    # -- installation ---------------------------------------------------------------------------
    def install(self, props: dict[str, str], profile: Profile, offline: bool = False) -> DeviceJson:
        """Lay out the phone's folders, owners and modes, its programs, its apps; idempotent.
        Returns the device's description, as written to ``device.json``."""
        self.internal.mkdir(parents=True, exist_ok=True)
        os.chmod(self.private, 0o700)
        (self.internal / "socket").mkdir(exist_ok=True)
        os.chmod(self.internal / "socket", 0o755)
        for folder, _, _, _ in LAYOUT:
            (self.root / folder).mkdir(parents=True, exist_ok=True)
        for link, target in LINKS:
            path = self.root / link
            if path.is_symlink() and os.readlink(path) == target:
                continue
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)  # an older sandbox's folder where the phone has a link
            path.unlink(missing_ok=True)
            path.symlink_to(target)
        description = {
            "props": props,
            "offline": offline,
            "system_packages": list(SYSTEM_PACKAGES),
            "python": sys.executable,
            "site_packages": _site_packages(),
            "profile": {
                "name": profile.name,
                "apps": [a.__dict__ for a in profile.apps],
                "shell_python": profile.shell_python,
            },
        }
        (self.internal / "device.json").write_text(json.dumps(description, indent=1))
        self._install_system(props, profile)
        install_sensors(self.root, self.internal)
        for app in profile.apps:
            self._install_app(app.package, app.uid)
        for folder, uid, gid, mode in LAYOUT:
            self._own(self.root / folder, uid, gid, mode)
        self._adopt(self.root / "data" / "local" / "tmp", SHELL_UID)
        return description

    def _adopt(self, folder: Path, uid: int) -> None:
        """Files an older sandbox left there under another owner become the shell's (it pushed them)."""
        if userns_mode():
            return
        for path, dirs, files in os.walk(folder):
            for name in (*dirs, *files):
                entry = os.path.join(path, name)
                if os.lstat(entry).st_uid != uid:
                    os.lchown(entry, uid, uid)

    def _own(self, path: Path, uid: int, gid: int, mode: int) -> None:
        if not userns_mode():
            os.lchown(path, uid, gid)
        os.chmod(path, mode)

    def _install_system(self, props: dict[str, str], profile: Profile) -> None:
        bin_dir = self.root / "system" / "bin"
        _copy(Path(_which("mksh")), bin_dir / "sh")
        _copy(Path(_which("toybox")), bin_dir / "toybox")
        applets = subprocess.run([_which("toybox")], capture_output=True, text=True, check=True).stdout.split()
        own = set(SERVICE_COMMANDS) | set(NOT_ON_A_PHONE) | {"init", "qbdevice", "toybox", "ps"}
        for name in applets:
            if name not in own:
                _link(bin_dir / name, "toybox")
        _script(bin_dir / "ps", PS)
        self._build(NATIVE, bin_dir / "qbdevice")
        self._build(ENTER_SOURCE, self.internal / ENTER)
        for name in (*SERVICE_COMMANDS, "init"):
            _link(bin_dir / name, "qbdevice")
        python = bin_dir / "python3"
        if profile.shell_python:
            _script(python, f'#!/system/bin/sh\nPYTHONNOUSERSITE=1 exec {sys.executable} "$@"\n')
            _script(bin_dir / "python", python.read_text())
        else:
            python.unlink(missing_ok=True)
            (bin_dir / "python").unlink(missing_ok=True)
        etc = self.root / "system" / "etc"
        _text(etc / "mkshrc", MKSHRC)
        users, groups = _ids(profile)
        _text(etc / "passwd", "".join(f"{name}:x:{uid}:{uid}::/:/system/bin/sh\n" for name, uid in users))
        _text(etc / "group", "".join(f"{name}:x:{gid}:\n" for name, gid in groups))
        _text(etc / "hosts", "127.0.0.1 localhost\n::1 ip6-localhost\n")
        _text(
            self.root / "system" / "build.prop",
            "".join(f"{k}={v}\n" for k, v in sorted(props.items()) if k.startswith("ro.")),
        )

    def _build(self, source: Path, target: Path) -> None:
        """A native helper, built from our source once per source and compiler."""
        compiler = shutil.which("cc") or shutil.which("gcc")
        if compiler is None:
            raise DomainError(
                "the emulated device needs a C compiler to build its native helpers (Debian: apt-get install gcc)"
            )
        key = hashlib.sha256(source.read_bytes() + compiler.encode()).hexdigest()
        stamp = self.internal / f"{target.name}.sha256"
        if target.is_file() and stamp.is_file() and stamp.read_text() == key:
            return
        partial = target.with_name(f".{target.name}.partial")
        for flags in (["-static"], []):  # static needs libc.a (libc6-dev); dynamic uses the bound libraries
            done = subprocess.run(
                [compiler, *flags, "-O2", "-o", str(partial), str(source)], capture_output=True, text=True
            )
            if done.returncode == 0:
                break
        else:
            raise DomainError(
                f"cannot build the emulated device's native helper: {done.stderr.strip().splitlines()[-1:]}"
            )
        os.chmod(partial, 0o755)
        os.replace(partial, target)
        stamp.write_text(key)

    def _install_app(self, package: str, uid: int) -> None:
        """The app's data folder: its own uid, closed to everyone else; Termux's base system in it."""
        home = self.app_home(package)
        home.mkdir(parents=True, exist_ok=True)
        if package == "com.termux":
            self._install_termux_base(home / "files" / "usr")
            (home / "files" / "home").mkdir(parents=True, exist_ok=True)
        if not userns_mode():
            for folder, dirs, files in os.walk(home):
                for name in (folder, *(os.path.join(folder, n) for n in dirs + files)):
                    os.lchown(name, uid, uid)
        os.chmod(home, 0o700)

    def _install_termux_base(self, prefix: Path) -> None:
        """Termux before any ``pkg install``: its package manager and libtermux-exec, no Python."""
        for folder in ("bin", "lib", "tmp", "var/lib"):
            (prefix / folder).mkdir(parents=True, exist_ok=True)
        for name in TERMUX_COMMANDS:
            _link(prefix / "bin" / name, "/system/bin/qbdevice")
        preload = prefix / "lib" / "libtermux-exec.so"
        if not preload.exists() and not preload.is_symlink():
            preload.symlink_to(_harmless_library())  # so LD_PRELOAD works as on a phone, and does nothing

    # -- the shell --------------------------------------------------------------------------------
    def shell_env(self, props: dict[str, str], tty: bool = False) -> dict[str, str]:
        """The shell user's environment, as ``adb shell env`` prints it on a phone; nothing of this machine's."""
        env = {
            "PATH": SHELL_PATH,
            "HOME": "/",
            "TMPDIR": "/data/local/tmp",
            "ANDROID_DATA": "/data",
            "ANDROID_ROOT": "/system",
            "ANDROID_STORAGE": "/storage",
            "EXTERNAL_STORAGE": "/sdcard",
            "ASEC_MOUNTPOINT": "/mnt/asec",
            "USER": "shell",
            "LOGNAME": "shell",
            "SHELL": "/bin/sh",
            "HOSTNAME": props.get("ro.product.device", "localhost"),
            "DOWNLOAD_CACHE": "/data/cache",
        }
        if tty:
            env |= {"TERM": "xterm-256color", "ENV": "/system/etc/mkshrc"}
        return env


def _which(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise DomainError(f"the emulated device needs {name} (Debian: apt-get install {name})")
    return str(Path(found).resolve())


def _ids(profile: Profile) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """Android's user and group names, and the apps' (u0_aNNN), for toybox's ls and id."""
    common = [
        ("root", 0),
        ("system", 1000),
        ("radio", 1001),
        ("input", 1004),
        ("log", 1007),
        ("adb", 1011),
        ("sdcard_rw", 1015),
        ("sdcard_r", 1028),
        ("ext_data_rw", 1078),
        ("ext_obb_rw", 1079),
        ("shell", 2000),
        ("net_bt_admin", 3001),
        ("net_bt", 3002),
        ("inet", 3003),
        ("net_bw_stats", 3006),
        ("readproc", 3009),
        ("uhid", 3011),
        ("readtracefs", 3012),
        ("everybody", 9997),
        ("nobody", 9999),
    ]
    apps = [(f"u0_a{a.uid - 10000}", a.uid) for a in profile.apps]
    caches = [(f"u0_a{a.uid - 10000}_cache", a.uid + 10000) for a in profile.apps]
    alls = [(f"all_a{a.uid - 10000}", a.uid + 40000) for a in profile.apps]
    return common + apps, common + apps + caches + alls


def _copy(source: Path, target: Path) -> None:
    if (
        target.is_file()
        and not target.is_symlink()
        and target.stat().st_size == source.stat().st_size
        and target.read_bytes() == source.read_bytes()
    ):
        return
    partial = target.with_name(f".{target.name}.partial")
    shutil.copyfile(source, partial)
    os.chmod(partial, 0o755)
    os.replace(partial, target)


def _link(path: Path, target: str) -> None:
    if path.is_symlink() and os.readlink(path) == target:
        return
    path.unlink(missing_ok=True)
    path.symlink_to(target)


def _text(path: Path, text: str) -> None:
    if not path.is_file() or path.read_text() != text:
        path.write_text(text)
    os.chmod(path, 0o644)


def _script(path: Path, text: str) -> None:
    if not path.is_file() or path.is_symlink() or path.read_text() != text:
        path.unlink(missing_ok=True)
        path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH | stat.S_IRGRP | stat.S_IROTH)


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
