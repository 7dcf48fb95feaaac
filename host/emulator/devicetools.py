"""The emulated phone's own commands: getprop, run-as, pm, dumpsys, kill, id, and Termux's pkg/pip.

This file is copied into the sandbox and run there (``python -S devicetools.py NAME ARGS``) by
small scripts on the device's PATH, so it uses the standard library only. It reads the device's
description (``device.json`` beside it: properties, profile, sandbox root) and answers as a
phone does, with AOSP's messages: ``run-as`` only for debuggable packages, processes of an app
that the shell may not signal, app folders that only the app reaches.

Identity: a process started by ``run-as PKG`` (and its children) carries ``QB_EMU_APP=PKG`` in
its environment; everything else is the shell user. ``kill`` compares the two.
"""

from __future__ import annotations

import fnmatch
import json
import os
import signal
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEVICE = json.loads((HERE / "device.json").read_text())
ROOT = Path(DEVICE["root"])
APPS = Path(DEVICE["apps"])  # the apps' private folders, beside the sandbox: no shell path reaches them
APP_ENV = "QB_EMU_APP"
SHELL_ID = "uid=2000(shell) gid=2000(shell) groups=2000(shell),1004(input),1007(log),1011(adb),1015(sdcard_rw),3003(inet),3009(readproc)"
PACKAGES = {  # emulated Termux packages: what each links from this machine's Python, and what it needs
    "python": ((), ()),
    "python-numpy": (("numpy", "numpy.libs", "numpy-*.dist-info"), ("python",)),
    "python-grpcio": (("grpc", "grpcio-*.dist-info", "typing_extensions.py", "typing_extensions-*.dist-info"), ("python",)),
    "python-tflite-runtime": (("ai_edge_litert", "ai_edge_litert-*.dist-info", "flatbuffers", "flatbuffers-*.dist-info"),
                              ("python", "python-numpy")),
}
PIP_PACKAGES = {"protobuf": ("google", "protobuf-*.dist-info")}


def _apps() -> dict[str, dict[str, object]]:
    return {a["package"]: a for a in DEVICE["profile"]["apps"]}


def _caller() -> str:
    return os.environ.get(APP_ENV, "")


def getprop(args: list[str]) -> int:
    props = DEVICE["props"]
    if args:
        print(props.get(args[0], args[1] if len(args) > 1 else ""))
    else:
        for key in sorted(props):
            print(f"[{key}]: [{props[key]}]")
    return 0


def _as_app(arg: str, package: str) -> str:
    """A shell-view path of the app's own folder (the shell's placeholder) as the app sees it."""
    for view in (ROOT / "data" / "data" / package, ROOT / "data" / "user" / "0" / package):
        arg = arg.replace(str(view), str(APPS / package))
    return arg


def run_as(args: list[str]) -> int:
    """AOSP run-as: only for an installed, debuggable package; runs in the app's data folder."""
    if not args or args[0].startswith("-"):
        print("usage: run-as <package-name> [--user <uid>] <command> [<args>]", file=sys.stderr)
        return 1
    package, command = args[0], args[1:]
    app = _apps().get(package)
    if app is None:
        print(f"run-as: unknown package: {package}", file=sys.stderr)
        return 1
    if not app["debuggable"]:
        print(f"run-as: package not debuggable: {package}", file=sys.stderr)
        return 1
    os.chdir(APPS / package)
    env = {**os.environ, APP_ENV: package}
    command = [_as_app(a, package) for a in command] or ["sh"]
    try:
        os.execvpe(command[0], command, env)
    except OSError as e:
        print(f"run-as: exec failed for {command[0]}: {e.strerror}", file=sys.stderr)
        return 1


def _owner(pid: int) -> str | None:
    """The app a process belongs to ("" for the shell user), None if there is no such process."""
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
    except FileNotFoundError:
        return None
    except PermissionError:
        return "?"
    for entry in environ.split(b"\0"):
        if entry.startswith(APP_ENV.encode() + b"="):
            return entry.split(b"=", 1)[1].decode()
    return ""


def kill(args: list[str]) -> int:
    """kill [-SIGNAL|-s SIGNAL] PID...: the shell may not signal an app's processes, nor an app another's."""
    number: int = signal.SIGTERM
    pids: list[str] = []
    rest = list(args)
    while rest:
        arg = rest.pop(0)
        if arg == "-s" and rest:
            number = _signal(rest.pop(0))
        elif arg.startswith("-") and not pids:
            number = _signal(arg[1:])
        else:
            pids.append(arg)
    status = 0
    for text in pids:
        owner = _owner(int(text)) if text.isdigit() else None
        if owner is None:
            print(f"kill: {text}: No such process", file=sys.stderr)
            status = 1
        elif owner != _caller():
            print(f"kill: {text}: Operation not permitted", file=sys.stderr)
            status = 1
        else:
            try:
                os.kill(int(text), number)
            except ProcessLookupError:
                print(f"kill: {text}: No such process", file=sys.stderr)
                status = 1
    return status


def _signal(name: str) -> int:
    if name.isdigit():
        return int(name)
    return int(getattr(signal, name if name.startswith("SIG") else f"SIG{name}", signal.SIGTERM))


def ident(args: list[str]) -> int:
    package = _caller()
    app = _apps().get(package)
    if app is None:
        print(SHELL_ID)
    else:
        uid = int(app["uid"])  # type: ignore[call-overload]
        print(f"uid={uid}(u0_a{uid - 10000}) gid={uid}(u0_a{uid - 10000}) groups=3003(inet),9997(everybody),{uid + 10000}(u0_a{uid - 10000}_cache)")
    return 0


def pm(args: list[str]) -> int:
    installed = list(DEVICE["system_packages"]) + list(_apps())
    if args[:2] == ["list", "packages"]:
        for name in installed:
            if len(args) < 3 or args[2] in name:
                print(f"package:{name}")
        return 0
    if args[:1] == ["path"] and len(args) > 1 and args[1] in installed:
        print(f"package:/data/app/~~emulated==/{args[1]}-1/base.apk")
        return 0
    print("usage: pm list packages [FILTER] | pm path PACKAGE" if args[:1] != ["path"] else "", file=sys.stderr)
    return 1


THERMAL_NAMES = ("none", "light", "moderate", "severe", "critical", "emergency", "shutdown")


def _state(name: str, default: str) -> str:
    path = HERE / name
    return path.read_text().strip() if path.is_file() else default


def dumpsys(args: list[str]) -> int:
    if args[:1] == ["thermalservice"]:
        status = int(_state("thermal_status", "0"))
        print(f"IsStatusOverride: false\nThermalEventListeners:\n\tcallbacks: 0\nThermalStatusListeners:\n\tcallbacks: 0\n"
              f"Thermal Status: {status}\nCached temperatures:")
        return 0
    if args[:1] == ["battery"]:  # AOSP's BatteryService dump; scripted through the "battery" state file
        level, temperature, plugged = (_state("battery", "100 250 usb").split() + ["100", "250", "usb"])[:3]
        print(f"Current Battery Service state:\n  AC powered: {str(plugged == 'ac').lower()}\n"
              f"  USB powered: {str(plugged == 'usb').lower()}\n  Wireless powered: {str(plugged == 'wireless').lower()}\n"
              f"  status: {2 if plugged != 'none' else 3}\n  health: 2\n  present: true\n  level: {level}\n  scale: 100\n"
              f"  voltage: 4200\n  temperature: {temperature}\n  technology: Li-ion")
        return 0
    if args[:1] == ["power"]:
        print(f"Power Manager State:\n  mFixedPerformanceModeEnabled={_state('fixed_performance', 'false')}")
        return 0
    if args[:1] != ["package"] or len(args) < 2:
        print(f"Can't find service: {args[0] if args else ''}" if args else "usage: dumpsys SERVICE", file=sys.stderr)
        return 0 if not args else 1
    app = _apps().get(args[1])
    if app is None:
        print(f"Unable to find package: {args[1]}")
        return 0
    flags = "HAS_CODE ALLOW_CLEAR_USER_DATA ALLOW_BACKUP" + (" DEBUGGABLE" if app["debuggable"] else "")
    print(f"Packages:\n  Package [{args[1]}] (5f6e7d8):\n    userId={app['uid']}\n    versionName={app['version']}\n"
          f"    dataDir=/data/user/0/{args[1]}\n    flags=[ {flags} ]\n    pkgFlags=[ {flags} ]")
    return 0


# -- Termux, inside the app ------------------------------------------------------------------------
def _prefix() -> Path:
    return APPS / "com.termux" / "files" / "usr"


def _site() -> Path:
    return _prefix() / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages"


def _status() -> list[str]:
    path = _prefix() / "var" / "lib" / "quantbench-emulated-packages.json"
    return list(json.loads(path.read_text())) if path.is_file() else []


def _link(patterns: tuple[str, ...]) -> None:
    source = Path(DEVICE["site_packages"])
    _site().mkdir(parents=True, exist_ok=True)
    for name in os.listdir(source):
        if any(fnmatch.fnmatch(name, p) for p in patterns) and not (_site() / name).exists():
            (_site() / name).symlink_to(source / name)


def _install_python() -> None:
    bin_dir = _prefix() / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    wrapper = (f'#!/bin/sh\nexport PYTHONPATH="{_site()}${{PYTHONPATH:+:$PYTHONPATH}}" PYTHONNOUSERSITE=1\n'
               f'exec {DEVICE["python"]} -S "$@"\n')
    for name in ("python3", "python"):
        (bin_dir / name).write_text(wrapper)
        (bin_dir / name).chmod(0o755)
    (bin_dir / "pip").write_text(f'#!/bin/sh\nexec {DEVICE["python"]} -S {HERE / "devicetools.py"} pip "$@"\n')
    (bin_dir / "pip").chmod(0o755)


def pkg(args: list[str]) -> int:
    """Termux's pkg (apt), emulated: install links this machine's packages into the app's Python."""
    names = [a for a in args[1:] if not a.startswith("-")]
    if args[:1] == ["list-installed"]:
        print("\n".join(f"{n}/stable,now installed" for n in _status()))
        return 0
    if args[:1] not in (["install"], ["upgrade"], ["update"]):
        print("Usage: pkg [install|list-installed|update|upgrade] PACKAGES", file=sys.stderr)
        return 1
    if DEVICE.get("offline"):
        print("Reading package lists...\nE: Failed to fetch https://packages-cf.termux.dev/apt/termux-main/dists/stable/InRelease  "
              "Temporary failure resolving 'packages-cf.termux.dev'", file=sys.stderr)
        return 100
    unknown = [n for n in names if n not in PACKAGES]
    if unknown:
        print(f"E: Unable to locate package {unknown[0]}", file=sys.stderr)
        return 100
    installed = _status()
    wanted = list(dict.fromkeys(d for n in names for d in (*PACKAGES[n][1], n)))
    for name in wanted:
        if name in installed:
            print(f"{name} is already the newest version.")
            continue
        print(f"Setting up {name} ...")
        if name == "python":
            _install_python()
        _link(PACKAGES[name][0])
        installed.append(name)
    path = _prefix() / "var" / "lib" / "quantbench-emulated-packages.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(installed))
    return 0


def pip(args: list[str]) -> int:
    names = [a for a in args[1:] if not a.startswith("-")]
    if args[:1] != ["install"]:
        print("Usage: pip install PACKAGE", file=sys.stderr)
        return 1
    if DEVICE.get("offline"):
        print(f"ERROR: Could not find a version that satisfies the requirement {names[0] if names else ''} "
              "(network is unreachable)", file=sys.stderr)
        return 1
    for name in names:
        if name not in PIP_PACKAGES:
            print(f"ERROR: No matching distribution found for {name}", file=sys.stderr)
            return 1
        _link(PIP_PACKAGES[name])
        print(f"Successfully installed {name}")
    return 0


def cmd(args: list[str]) -> int:
    """cmd power set-fixed-performance-mode-enabled true|false (Android 11+); silent on success."""
    if args[:2] == ["power", "set-fixed-performance-mode-enabled"] and len(args) == 3 and args[2] in ("true", "false"):
        (HERE / "fixed_performance").write_text(args[2] + "\n")
        return 0
    print(f"cmd: unsupported: {' '.join(args)}", file=sys.stderr)
    return 255


COMMANDS = {"cmd": cmd, "getprop": getprop, "run-as": run_as, "kill": kill, "id": ident, "pm": pm, "dumpsys": dumpsys, "pkg": pkg,
            "pip": pip}

if __name__ == "__main__":
    sys.exit(COMMANDS[sys.argv[1]](sys.argv[2:]))
