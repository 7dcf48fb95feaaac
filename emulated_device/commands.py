"""The phone's own commands, answered by the device's services with AOSP's messages and exit codes.

``getprop``/``setprop``, ``run-as`` (only a debuggable package, only for the shell), ``pm``,
``dumpsys``, ``cmd``, ``logcat``/``log``, ``getenforce``, and, inside Termux, ``pkg``/``apt``/``pip``
(``termux_commands.py``). Each is a function of one ``Call`` (``phone.py``): who asks (their
domain, from the kernel), their argv, environment, folder and standard streams. ``binder.py``
receives the calls.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import time
import zipfile
from collections.abc import Callable

from emulated_device.domains import SHELL
from emulated_device.phone import Call, LogEntry, Phone
from emulated_device.power import HAL_SERVICE, hal_dump, sources
from emulated_device.termux_commands import pip, pkg

EMULATED_SERVICES = ("thermalservice", "battery", "power", "package", HAL_SERVICE)
HEARTBEAT_S = 1.0
LOG_CAPACITY = 10_000
SETTABLE_PREFIXES = ("debug.", "log.tag.", "persist.log.tag", "persist.debug.")


# -- properties ---------------------------------------------------------------------------------
def getprop(phone: Phone, call: Call) -> int:
    props = phone.props
    if call.args:
        call.out(props.get(call.args[0], call.args[1] if len(call.args) > 1 else "") + "\n")
    else:
        call.out("".join(f"[{key}]: [{props[key]}]\n" for key in sorted(props)))
    return 0


def setprop(phone: Phone, call: Call) -> int:
    if len(call.args) != 2:
        call.err("usage: setprop NAME VALUE\n\nSets an Android system property.\n")
        return 1
    name, value = call.args
    if name in phone.device["props"] or not name.startswith(SETTABLE_PREFIXES):
        call.err(f"Failed to set property '{name}' to '{value}'.\nSee dmesg for error reason.\n")
        return 1
    phone.runtime_props[name] = value
    return 0


def getenforce(phone: Phone, call: Call) -> int:
    call.out("Enforcing\n")
    return 0


# -- run-as ---------------------------------------------------------------------------------------
def run_as(phone: Phone, call: Call) -> int:
    """AOSP run-as: only the shell may use it, only for an installed, debuggable package; the
    command runs as the app, in the app's domain and data folder, on the caller's own streams."""
    if call.domain != SHELL:
        call.err("run-as: only 'shell' or 'root' users can run this program\n")
        return 1
    args = call.args
    if not args or args[0].startswith("-"):
        call.err("usage: run-as <package-name> [--user <uid>] <command> [<args>]\n")
        return 1
    package, command = args[0], args[1:]
    if command[:1] == ["--user"]:
        if command[1:2] != ["0"]:
            call.err(f"run-as: unknown package: {package}\n")
            return 1
        command = command[2:]
    app = phone.apps().get(package)
    if app is None:
        call.err(f"run-as: unknown package: {package}\n")
        return 1
    if not app["debuggable"]:
        call.err(f"run-as: package not debuggable: {package}\n")
        return 1
    entry = phone.domains.enter(
        package, command or ["/system/bin/sh"], call.env, cwd=f"/data/data/{package}", run_as=True
    )
    proc = subprocess.Popen(
        entry.argv, env=entry.env, stdin=call.fds[0], stdout=call.fds[1], stderr=call.fds[2], start_new_session=True
    )
    while True:
        try:
            return proc.wait(timeout=0.2)
        except subprocess.TimeoutExpired:
            if not call.alive():  # the shell that asked is gone: so is what it ran, as on a phone
                os.killpg(proc.pid, signal.SIGKILL)
                return proc.wait()


# -- packages ---------------------------------------------------------------------------------------
def _apk_path(package: str, system: bool) -> str:
    return (
        "/system/framework/framework-res.apk"
        if package == "android"
        else (
            f"/system/priv-app/{package.rsplit('.', 1)[-1].capitalize()}/{package.rsplit('.', 1)[-1].capitalize()}.apk"
            if system
            else f"/data/app/~~qbemu==/{package}-1/base.apk"
        )
    )


def _packages(phone: Phone) -> list[tuple[str, bool, int]]:
    """(package, is a system package, uid)."""
    system = [
        (name, True, 1000 if name == "android" else 10000 + i) for i, name in enumerate(phone.device["system_packages"])
    ]
    return system + [(name, False, int(app["uid"])) for name, app in phone.apps().items()]


def _list_packages(phone: Phone, call: Call, args: list[str]) -> int:
    flags = {a for a in args if a.startswith("-")}
    words = [a for a in args if not a.startswith("-")]
    for name, system, uid in _packages(phone):
        if ("-3" in flags and system) or ("-s" in flags and not system) or (words and words[0] not in name):
            continue
        line = f"package:{_apk_path(name, system)}={name}" if "-f" in flags else f"package:{name}"
        call.out(line + (f" uid:{uid}" if "-U" in flags else "") + "\n")
    return 0


def _install(phone: Phone, call: Call, args: list[str]) -> int:
    """Nothing is installed here: the phone's Failure line for what was given."""
    sized = "-S" in args
    if sized:
        size = int(args[args.index("-S") + 1])
        data = bytearray()
        while len(data) < size:
            chunk = os.read(call.fds[0], min(1 << 16, size - len(data)))
            if not chunk:
                break
            data += chunk
        is_zip = data[:4] == b"PK\x03\x04"
        names = _zip_names(bytes(data))
    else:
        paths = [a for a in args if not a.startswith("-") and a not in ("--user", "0")]
        if not paths:
            call.err("Error: must either specify a package size or an APK file\n")
            return 1
        host = phone.sandbox.root / paths[-1].lstrip("/")
        if not host.is_file():
            call.err(f"Error: Unable to open file: {paths[-1]}\nConsider using a file under /data/local/tmp/\n")
            call.out(f"Failure [INSTALL_FAILED_INVALID_APK: Can't open file: {paths[-1]}]\n")
            return 1
        raw = host.read_bytes()
        is_zip, names = raw[:4] == b"PK\x03\x04", _zip_names(raw)
    staged = f"/data/app/vmdl{int(time.time()) % 10**9}.tmp/base.apk"
    if not is_zip or "AndroidManifest.xml" not in names:
        call.out(
            f"Failure [INSTALL_PARSE_FAILED_NOT_APK: Failed to parse {staged}: Failed to load asset path {staged}]\n"
        )
    elif not any(n.startswith("META-INF/") for n in names):
        call.out(f"Failure [INSTALL_PARSE_FAILED_NO_CERTIFICATES: Failed collecting certificates for {staged}]\n")
    else:
        call.out("Failure [INSTALL_FAILED_INTERNAL_ERROR: the emulated device installs no apps]\n")
    return 1


def _zip_names(data: bytes) -> list[str]:
    import io

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return archive.namelist()
    except (zipfile.BadZipFile, ValueError):
        return []


def package_manager(phone: Phone, call: Call, args: list[str]) -> int:
    """``pm`` and ``cmd package``."""
    installed = {name for name, _, _ in _packages(phone)}
    if args[:2] in (["list", "packages"], ["list", "package"]):
        return _list_packages(phone, call, args[2:])
    if args[:1] == ["path"] and len(args) > 1:
        if args[-1] not in installed:
            return 1
        system = args[-1] in phone.device["system_packages"]
        call.out(f"package:{_apk_path(args[-1], system)}\n")
        return 0
    if args[:1] in (["install"], ["install-create"]):
        return _install(phone, call, args[1:])
    if args[:1] == ["uninstall"]:
        call.out("Failure [DELETE_FAILED_INTERNAL_ERROR]\n")
        return 1
    call.err(
        "usage: pm path [--user USER_ID] PACKAGE\n       pm list packages [-f] [-d] [-e] [-s] [-3] [-i] [-l] [-u] [-U] "
        "[FILTER]\n       pm install [-r] [-t] [-S BYTES] PATH\n       pm uninstall PACKAGE\n"
    )
    return 1


def pm(phone: Phone, call: Call) -> int:
    return package_manager(phone, call, call.args)


# -- dumpsys and cmd -------------------------------------------------------------------------------------
THERMAL_NAMES = ("none", "light", "moderate", "severe", "critical", "emergency", "shutdown")


def dumpsys(phone: Phone, call: Call) -> int:
    args = call.args
    if not args or args[:1] == ["-l"]:
        call.out("Currently running services:\n" + "".join(f"  {name}\n" for name in EMULATED_SERVICES))
        return 0
    service = args[0]
    if service == "thermalservice":
        status = int(phone.state("thermal_status", "0"))
        call.out(
            f"IsStatusOverride: false\nThermalEventListeners:\n\tcallbacks: 0\nThermalStatusListeners:\n\tcallbacks: "
            "0\n"
            f"Thermal Status: {status}\nCached temperatures:\n"
        )
    elif service == "battery":
        return _battery(phone, call, args[1:])
    elif service == HAL_SERVICE and phone.power is not None and "rails" in sources(phone.sandbox.internal):
        call.out(hal_dump(phone.power.read()))
    elif service == "power":
        call.out(
            "Power Manager State:\n  mWakefulness=Awake\n"
            f"  mFixedPerformanceModeEnabled={phone.state('fixed_performance', 'false')}\n"
        )
    elif service == "package":
        _dump_package(phone, call, args[1:])
    else:
        call.err(f"Can't find service: {service}\n")
    return 0


BATTERY_HELP = (
    "Battery service (battery) commands:\n  help\n    Print this help text.\n"
    "  set [-f] [ac|usb|wireless|status|level|temp|present|invalid] <value>\n"
    "    Force a battery property value, freezing battery state.\n"
    "  unplug [-f]\n    Force battery unplugged, freezing battery state.\n"
    "  reset [-f]\n    Unfreeze battery state, returning to current hardware values.\n"
)
OVERRIDE_STATE = "battery_override"  # what ``dumpsys battery unplug``/``set`` froze, until ``reset``


def _battery(phone: Phone, call: Call, args: list[str]) -> int:
    """AOSP's BatteryService: its dump, and the shell's ``unplug``/``set``/``reset`` (which freeze
    what the framework reports, not what the hardware does)."""
    override = phone.sandbox.internal / OVERRIDE_STATE
    args = [a for a in args if a != "-f"]
    if args == ["unplug"]:
        override.write_text("none\n")
    elif args == ["reset"]:
        override.unlink(missing_ok=True)
    elif args[:1] == ["set"] and len(args) == 3 and args[1] in ("ac", "usb", "wireless"):
        override.write_text((args[1] if args[2] not in ("0", "false") else "none") + "\n")
    elif args:
        call.out(BATTERY_HELP)
        return 0 if args == ["help"] else 255
    else:
        level, temperature, plugged = phone.battery()
        frozen = override.is_file()
        plugged = override.read_text().strip() if frozen else plugged
        call.out(
            "Current Battery Service state:\n"
            + ("  (UPDATES STOPPED -- use 'reset' to restart)\n" if frozen else "")
            + "".join(f"  {name} powered: {str(plugged == key).lower()}\n" for key, name in PLUGS)
            + f"  status: {2 if plugged != 'none' else 3}\n  health: 2\n  present: true\n  level: {level}\n"
            f"  scale: 100\n  voltage: 4200\n  temperature: {temperature}\n  technology: Li-ion\n"
        )
    return 0


PLUGS = (("ac", "AC"), ("usb", "USB"), ("wireless", "Wireless"))


def _dump_package(phone: Phone, call: Call, args: list[str]) -> None:
    name = args[0] if args else ""
    app = phone.apps().get(name)
    if app is None:
        call.out(f"Unable to find package: {name}\n")
        return
    flags = "HAS_CODE ALLOW_CLEAR_USER_DATA ALLOW_BACKUP" + (" DEBUGGABLE" if app["debuggable"] else "")
    call.out(
        f"Packages:\n  Package [{name}] (5f6e7d8):\n    userId={app['uid']}\n    versionName={app['version']}\n"
        f"    dataDir=/data/user/0/{name}\n    flags=[ {flags} ]\n    pkgFlags=[ {flags} ]\n"
    )


def settings(phone: Phone, call: Call) -> int:
    """``settings get NAMESPACE KEY``: the screen's brightness (0-255) and nothing else is set here."""
    args = call.args
    if len(args) == 3 and args[0] == "get" and args[1] in ("system", "secure", "global"):
        call.out(("128" if (args[1], args[2]) == ("system", "screen_brightness") else "null") + "\n")
        return 0
    call.err("usage:  settings [--user <USER_ID> | current] get namespace key\n")
    return 1


def cmd(phone: Phone, call: Call) -> int:
    """``cmd SERVICE ...`` for the services the phone emulates; Android's answer for any other."""
    args = call.args
    if not args:
        call.err(
            "cmd: No service specified; use -l to list all running services. Use -w to start and wait for a service.\n"
        )
        return 20
    if args[0] == "-l":
        call.out("Currently running services:\n" + "".join(f"  {name}\n" for name in EMULATED_SERVICES))
        return 0
    service, rest = args[0], args[1:]
    if service == "package":
        return package_manager(phone, call, rest)
    if service == "power" and rest[:1] == ["set-fixed-performance-mode-enabled"] and rest[1:] in (["true"], ["false"]):
        (phone.sandbox.internal / "fixed_performance").write_text(rest[1] + "\n")
        return 0
    if service == "thermalservice" and rest[:1] == ["override-status"] and rest[1:2] and rest[1].isdigit():
        (phone.sandbox.internal / "thermal_status").write_text(f"{min(int(rest[1]), 6)}\n")
        return 0
    if service == "thermalservice" and rest == ["reset"]:
        (phone.sandbox.internal / "thermal_status").write_text("0\n")
        return 0
    if service in EMULATED_SERVICES:
        call.out(f"Unknown command: {' '.join(rest)}\n" if rest else "")
        return 255
    call.err(f"cmd: Can't find service: {service}\n")
    return 20


# -- the log ------------------------------------------------------------------------------------------------
def log(phone: Phone, call: Call) -> int:
    """``log [-p PRIORITY] [-t TAG] MESSAGE``: one line into the main buffer."""
    args, priority, tag = list(call.args), "i", "log"
    while args[:1] and args[0] in ("-p", "-t") and len(args) > 1:
        if args[0] == "-p":
            priority = args[1]
        else:
            tag = args[1]
        args = args[2:]
    with phone.log_changed:
        phone.log.append(LogEntry(time.time(), os.getpid(), priority[:1].upper(), tag, " ".join(args)))
        del phone.log[:-LOG_CAPACITY]
        phone.log_changed.notify_all()
    return 0


def _format(entry: LogEntry, style: str) -> str:
    stamp = time.strftime("%m-%d %H:%M:%S", time.localtime(entry.when)) + f".{int(entry.when * 1000) % 1000:03d}"
    if style == "time":
        return f"{stamp} {entry.priority}/{entry.tag:<8}({entry.pid:5d}): {entry.message}\n"
    if style == "brief":
        return f"{entry.priority}/{entry.tag:<8}({entry.pid:5d}): {entry.message}\n"
    return f"{stamp} {entry.pid:5d} {entry.pid:5d} {entry.priority} {entry.tag:<8}: {entry.message}\n"


def _heartbeat(phone: Phone) -> None:
    """healthd's periodic battery line, as every phone's log has it (a followed log is never silent)."""
    level, temperature, plugged = (phone.state("battery", "100 250 usb").split() + ["100", "250", "usb"])[:3]
    with phone.log_changed:
        if phone.log and time.time() - phone.log[-1].when < HEARTBEAT_S:
            return
        phone.log.append(
            LogEntry(
                time.time(),
                1,
                "I",
                "healthd",
                f"battery l={level} v=4200 t={int(temperature) / 10:.1f} "
                f"h=2 st={2 if plugged != 'none' else 3} chg={plugged[:1] if plugged != 'none' else ''}",
            )
        )
        del phone.log[:-LOG_CAPACITY]
        phone.log_changed.notify_all()


def logcat(phone: Phone, call: Call) -> int:
    """``logcat [-c] [-d] [-v FORMAT]``: the main buffer; without ``-d``, follows it until the caller leaves."""
    args = call.args
    if "-c" in args or "--clear" in args:
        with phone.log_changed:
            phone.log.clear()
        return 0
    style = args[args.index("-v") + 1] if "-v" in args and args.index("-v") + 1 < len(args) else "threadtime"
    shown = 0
    call.out("--------- beginning of main\n")
    while True:
        with phone.log_changed:
            entries = phone.log[shown:]
            shown = len(phone.log)
        for entry in entries:
            call.out(_format(entry, style))
        if "-d" in args or "--dump" in args:
            return 0
        if not call.alive():
            return 0
        with phone.log_changed:
            if phone.log_changed.wait(timeout=HEARTBEAT_S):
                continue
        _heartbeat(phone)


def remount(phone: Phone, call: Call) -> int:
    """fs_mgr's remount on a production build, where adbd never runs as root (``adb remount``)."""
    call.err('Not running as root. Try "adb root" first.\n')
    return 1


COMMANDS: dict[str, Callable[[Phone, Call], int]] = {
    "remount": remount,
    "getprop": getprop,
    "setprop": setprop,
    "getenforce": getenforce,
    "run-as": run_as,
    "pm": pm,
    "dumpsys": dumpsys,
    "settings": settings,
    "cmd": cmd,
    "log": log,
    "logcat": logcat,
    "pkg": pkg,
    "apt": pkg,
    "pip": pip,
}


def caller_alive(sock_fd: int) -> Callable[[], bool]:
    """Whether the client on this socket still waits (it has not closed its end)."""

    def alive() -> bool:
        readable, _, _ = select.select([sock_fd], [], [], 0)
        if not readable:
            return True
        try:
            return bool(os.read(sock_fd, 1))
        except OSError:
            return False

    return alive
