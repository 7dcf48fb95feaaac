"""``host provision``: install what the agent needs inside a debuggable Termux, through run-as.

``pkg install -y python python-numpy python-grpcio python-tflite-runtime`` and ``pip install
protobuf``, each only when its module does not import yet (so a second run installs nothing),
then a check that the agent's modules import. The phone downloads the packages itself: without
its own internet connection ``pkg`` cannot reach Termux's mirror, and this says so.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from host.devices.launch.choose import check_termux
from host.devices.launch.launchers import VERSION_PROBE
from host.devices.launch.termux import TermuxRunAsLauncher, in_termux
from host.devices.transport.device import Device
from host.errors import DeployError

STEPS = (  # (what installs it, the module that shows it is there)
    ("pkg install -y python", ""),
    ("pkg install -y python-numpy", "numpy"),
    ("pkg install -y python-grpcio", "grpc"),
    ("pkg install -y python-tflite-runtime", "tflite_runtime|ai_edge_litert"),
    ("pip install protobuf", "google.protobuf"),
)
_NO_NETWORK = re.compile(
    r"temporary failure resolving|could not resolve|failed to fetch|network is unreachable|"
    r"unable to access|name or service not known|no address associated",
    re.I,
)
INSTALL_TIMEOUT_S = 1800.0


class ProvisionError(DeployError):
    """Termux could not be given what the agent needs."""


def _imports(launcher: TermuxRunAsLauncher, modules: str) -> bool:
    if not modules:
        result = launcher.python(VERSION_PROBE)
        return result.ok and result.stdout.strip() == "3"
    script = (
        "import importlib, sys\nfor name in {!r}:\n    try:\n        importlib.import_module(name); sys.exit(0)\n"
        "    except Exception:\n        pass\nsys.exit(1)".format(modules.split("|"))
    )
    return launcher.python(script).ok


def provision(device: Device, say: Callable[[str], None]) -> list[str]:
    """Install what is missing; returns the commands that ran (none when all was there)."""
    check, _ = check_termux(device)
    if not check.ok and not check.fix.startswith("host provision"):
        raise ProvisionError(f"{device.serial}: termux-run-as cannot be used: {check.found}; {check.fix}")
    if check.ok:  # the agent's modules all import already: nothing to install, nothing more to ask
        return []
    launcher = TermuxRunAsLauncher(device)
    missing = [command for command, modules in STEPS if not _imports(launcher, modules)]
    for index, command in enumerate(missing, 1):
        say(f"[{index}/{len(missing)}] {command} (inside Termux, through run-as)")
        result = device.shell(in_termux(command), timeout=INSTALL_TIMEOUT_S)
        if not result.ok:
            said = (result.stderr or result.stdout).strip().splitlines()
            last = said[-1] if said else f"exit {result.exit_code}"
            if _NO_NETWORK.search(result.stderr + result.stdout):
                raise ProvisionError(
                    f"{device.serial}: the phone could not reach Termux's package mirror: it needs its own "
                    f"internet connection (Wi-Fi or mobile data) for 'host provision' ({command}: {last})"
                )
            raise ProvisionError(f"{device.serial}: {command} failed inside Termux: {last}")
    after, _ = check_termux(device, fresh=True)  # imports for real, and keeps the answer on the phone
    if not after.ok:
        raise ProvisionError(
            f"{device.serial}: after provisioning the agent's modules still do not import: {after.found}"
        )
    return missing
