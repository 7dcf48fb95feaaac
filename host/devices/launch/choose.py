"""Which launcher can start the agent on a device, and, when none can, what to do about it.

Checked in this order: ``termux-run-as`` (a debuggable Termux with its packages), ``shell`` (a
Python 3 the shell user can run, with the agent's modules), ``attach`` (an agent the user
started inside Termux, only with ``--attach``). ``host doctor`` shows every check; ``host
bench`` takes the first that works, or stops before any conversion with the same advice.
"""

from __future__ import annotations

from dataclasses import dataclass

from host.devices.launch.attach import AttachLauncher, load_ticket
from host.devices.launch.launchers import PYTHON_CANDIDATES, Launcher, ShellLauncher
from host.devices.launch.ready import KEPT_LINE, PYTHON_LINE, ready_probe
from host.devices.launch.termux import PACKAGE, RUN_AS, TermuxRunAsLauncher
from host.devices.transport.device import Device
from host.errors import DeployError


class NoLauncher(DeployError):
    """No launch method works on the device; the message says what the phone lacks and the steps."""


@dataclass(frozen=True)
class Check:
    """One thing doctor checked (a launcher, a module, a library): whether it is there, what was
    found, and the fix where it is not."""

    name: str
    ok: bool
    found: str
    fix: str = ""


def _ready(launcher: Launcher, name: str, fix: str, home: str, fresh: bool) -> Check | None:
    """Whether the agent's modules import under this launcher's Python; the answer is kept in
    ``home`` on the device (``host.devices.launch.ready``), and ``fresh`` imports for real
    whatever was kept. None when no Python 3 runs."""
    result = launcher.python(ready_probe(f"{home}/ready.json", trust_kept=not fresh))
    lines = result.stdout.strip().splitlines()
    if not lines or lines[0].strip() != PYTHON_LINE:
        return None
    said = lines[-1] if len(lines) > 1 else (result.stderr.strip() or "no output")
    if said.startswith("READY "):
        kept = " (as found before; its packages are unchanged since)" if KEPT_LINE in lines[1:-1] else ""
        return Check(name, True, f"Python 3 with numpy, grpcio, protobuf and {said.split()[1]}{kept}")
    return Check(name, False, f"Python 3 runs, but it lacks {said.removeprefix('MISSING ')}", fix)


def check_termux(device: Device, fresh: bool = False) -> tuple[Check, TermuxRunAsLauncher | None]:
    """Whether Termux's run-as launcher works here. A working one is remembered for the rest of the
    command on this ``Device`` (provisioning, then choosing the launcher, ask in turn); one that
    does not is asked again, since provisioning may be about to change that. ``fresh``: import
    for real rather than trust the answer the device kept (doctor)."""
    found = device.checked.get(TermuxRunAsLauncher.name)
    if isinstance(found, tuple) and not fresh:
        return found
    result = _check_termux(device, fresh)
    if result[0].ok:
        device.checked[TermuxRunAsLauncher.name] = result
    return result


def _check_termux(device: Device, fresh: bool) -> tuple[Check, TermuxRunAsLauncher | None]:
    name = TermuxRunAsLauncher.name
    result = device.shell(f"{RUN_AS}id")
    said = (result.stderr or result.stdout).strip().splitlines()
    if not result.ok:
        reason = said[-1] if said else f"run-as exited {result.exit_code}"
        if "unknown package" in reason:
            return Check(
                name, False, reason, "install Termux's GitHub release (the debuggable build) and open it once"
            ), None
        if "not debuggable" in reason:
            return Check(
                name,
                False,
                f"{reason} (an F-Droid or Play build)",
                "start the agent inside Termux with 'host agent-command', or install the GitHub release",
            ), None
        return Check(name, False, reason, "this phone's run-as does not work for Termux"), None
    launcher = TermuxRunAsLauncher(device)
    check = _ready(launcher, name, f"host provision --device {device.serial}", launcher.home, fresh)
    if check is None:
        return Check(
            name, False, f"{PACKAGE} is debuggable but has no Python yet", f"host provision --device {device.serial}"
        ), None
    return check, launcher if check.ok else None


def check_shell(device: Device, given: str | None, fresh: bool = False) -> tuple[Check, ShellLauncher | None]:
    launcher = ShellLauncher.find(device, given)
    if launcher is None:
        tried = ", ".join((given,) if given else PYTHON_CANDIDATES)
        return Check(
            "shell",
            False,
            f"no Python 3 the shell user can run (tried {tried})",
            "on a rooted or custom build with a Python the shell can run, pass --device-python PATH",
        ), None
    check = _ready(
        launcher,
        "shell",
        f"install numpy, grpcio, protobuf and a TFLite runtime for {launcher.python_path}",
        launcher.home,
        fresh,
    )
    if check is None:
        return Check(
            "shell",
            False,
            f"{launcher.python_path} does not run as a Python 3",
            "on a rooted or custom build with a Python 3 the shell can run, pass --device-python PATH",
        ), None
    return check, launcher if check.ok else None


def check_attach(device: Device) -> tuple[Check, AttachLauncher | None]:
    ticket = load_ticket(device.identity)
    if ticket is None:
        return Check(
            "attach",
            False,
            "no agent was started inside Termux",
            f"host agent-command --device {device.serial}, paste its line into Termux, then bench --attach",
        ), None
    return Check(
        "attach", True, f"an agent started inside Termux on port {ticket.port} (host agent-command)"
    ), AttachLauncher(device, ticket)


def check_all(
    device: Device, device_python: str | None = None, fresh: bool = False
) -> list[tuple[Check, Launcher | None]]:
    """Every launcher's check; ``fresh``: each imports for real (doctor), not trusting a kept answer."""
    checks: list[tuple[Check, Launcher | None]] = []
    if device_python is None:
        checks.append(check_termux(device, fresh))
    checks.append(check_shell(device, device_python, fresh))
    checks.append(check_attach(device))
    return checks


def advice(device: Device, checks: list[Check]) -> str:
    """What the phone lacks and the exact steps, for doctor and for a bench that cannot start."""
    lines = [f"no way to start the agent on {device.serial}:"]
    lines += [f"  - {c.name}: {c.found}" for c in checks]
    lines += [
        "Do one of these:",
        f"  1. Install Termux's GitHub release (debuggable) from https://github.com/termux/termux-app/releases, "
        f"open it once, then: host provision --device {device.serial}",
        f"  2. With Termux from F-Droid or Google Play: host agent-command --device {device.serial}, paste the line it "
        f"prints into the Termux app, then: host bench --device {device.serial} --attach",
        "  3. On a rooted or custom build with a Python 3 the shell can run: pass --device-python PATH",
    ]
    return "\n".join(lines)


def find_launcher(device: Device, device_python: str | None = None, attach: bool = False) -> Launcher:
    """The launcher to use: the attached agent when asked, else the first that works."""
    if attach:
        check, attached = check_attach(device)
        if attached is None:
            raise NoLauncher(f"{device.serial}: {check.found}: {check.fix}")
        return attached
    checks = [c for c in check_all(device, device_python) if c[0].name != "attach"]
    for _, launcher in checks:
        if launcher is not None:
            return launcher
    raise NoLauncher(advice(device, [c for c, _ in checks]))


def install_launcher(device: Device) -> Launcher:
    """The launcher a LiteRT install goes through: Termux's run-as where the app is there (a
    push needs run-as alone; Termux's Python may come later), else whichever works."""
    termux, _ = check_termux(device)
    if termux.ok or termux.fix.startswith("host provision"):
        return TermuxRunAsLauncher(device)
    return find_launcher(device, None, False)
