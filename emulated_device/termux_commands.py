"""Termux's own commands inside the emulated app: ``pkg``/``apt`` and ``pip`` install the agent's
packages by linking this machine's Python and its modules into Termux's prefix, as the real
packages would put them there; outside Termux they do not exist."""

from __future__ import annotations

import fnmatch
import json
import os
import sys
from pathlib import Path

from emulated_device.phone import Call, Phone

TERMUX = "com.termux"
PACKAGES = {  # emulated Termux packages: what each links from this machine's Python, and what it needs
    "python": ((), ()),
    "python-numpy": (("numpy", "numpy.libs", "numpy-*.dist-info"), ("python",)),
    "python-grpcio": (
        ("grpc", "grpcio-*.dist-info", "typing_extensions.py", "typing_extensions-*.dist-info"),
        ("python",),
    ),
    "python-tflite-runtime": (
        ("ai_edge_litert", "ai_edge_litert-*.dist-info", "flatbuffers", "flatbuffers-*.dist-info"),
        ("python", "python-numpy"),
    ),
}
PIP_PACKAGES = {"protobuf": ("google", "protobuf-*.dist-info")}


# -- Termux, inside the app -----------------------------------------------------------------------------
def _prefix(phone: Phone) -> Path:
    return phone.sandbox.app_home(TERMUX) / "files" / "usr"


def _device_prefix() -> str:
    return f"/data/data/{TERMUX}/files/usr"


def _site(phone: Phone) -> Path:
    return _prefix(phone) / "lib" / _python_version(phone) / "site-packages"


def _python_version(phone: Phone) -> str:

    return f"python{sys.version_info[0]}.{sys.version_info[1]}"


def _own(phone: Phone, path: Path) -> None:
    uid = int(phone.apps()[TERMUX]["uid"])
    if os.geteuid() == 0:
        os.lchown(path, uid, uid)


def _make(phone: Phone, folder: Path) -> None:
    missing = [p for p in (folder, *folder.parents) if not p.exists()]
    folder.mkdir(parents=True, exist_ok=True)
    for path in missing:
        _own(phone, path)


def _status(phone: Phone) -> list[str]:
    path = _prefix(phone) / "var" / "lib" / "quantbench-emulated-packages.json"
    return list(json.loads(path.read_text())) if path.is_file() else []


def _link(phone: Phone, patterns: tuple[str, ...]) -> None:
    source = Path(phone.device["site_packages"])
    _make(phone, _site(phone))
    for name in os.listdir(source):
        if any(fnmatch.fnmatch(name, p) for p in patterns) and not (_site(phone) / name).is_symlink():
            (_site(phone) / name).symlink_to(source / name)
            _own(phone, _site(phone) / name)


def _install_python(phone: Phone) -> None:
    bin_dir = _prefix(phone) / "bin"
    site = f"{_device_prefix()}/lib/{_python_version(phone)}/site-packages"
    wrapper = (
        f'#!/system/bin/sh\nexport PYTHONPATH="{site}${{PYTHONPATH:+:$PYTHONPATH}}" PYTHONNOUSERSITE=1\n'
        f'exec {phone.device["python"]} -S "$@"\n'
    )
    for name in ("python3", "python"):
        (bin_dir / name).write_text(wrapper)
        (bin_dir / name).chmod(0o755)
        _own(phone, bin_dir / name)
    pip_link = bin_dir / "pip"
    if not pip_link.is_symlink():
        pip_link.symlink_to("/system/bin/qbdevice")
        _own(phone, pip_link)


def pkg(phone: Phone, call: Call) -> int:
    """Termux's pkg (apt), emulated: install links this machine's packages into the app's Python."""
    if call.domain != TERMUX:
        call.err(f"{call.argv[0]}: inaccessible or not found\n")
        return 127
    args = call.args
    names = [a for a in args[1:] if not a.startswith("-")]
    if args[:1] == ["list-installed"]:
        call.out("".join(f"{n}/stable,now installed\n" for n in _status(phone)))
        return 0
    if args[:1] not in (["install"], ["upgrade"], ["update"]):
        call.err("Usage: pkg [install|list-installed|update|upgrade] PACKAGES\n")
        return 1
    if phone.device.get("offline"):
        call.err(
            "Reading package lists...\nE: Failed to fetch "
            "https://packages-cf.termux.dev/apt/termux-main/dists/stable/InRelease  "
            "Temporary failure resolving 'packages-cf.termux.dev'\n"
        )
        return 100
    unknown = [n for n in names if n not in PACKAGES]
    if unknown:
        call.err(f"E: Unable to locate package {unknown[0]}\n")
        return 100
    installed = _status(phone)
    for name in dict.fromkeys(d for n in names for d in (*PACKAGES[n][1], n)):
        if name in installed:
            call.out(f"{name} is already the newest version.\n")
            continue
        call.out(f"Setting up {name} ...\n")
        if name == "python":
            _install_python(phone)
        _link(phone, PACKAGES[name][0])
        installed.append(name)
    path = _prefix(phone) / "var" / "lib" / "quantbench-emulated-packages.json"
    _make(phone, path.parent)
    path.write_text(json.dumps(installed))
    _own(phone, path)
    return 0


def pip(phone: Phone, call: Call) -> int:
    if call.domain != TERMUX:
        call.err("pip: inaccessible or not found\n")
        return 127
    args = call.args
    names = [a for a in args[1:] if not a.startswith("-")]
    if args[:1] != ["install"]:
        call.err("Usage: pip install PACKAGE\n")
        return 1
    if phone.device.get("offline"):
        call.err(
            f"ERROR: Could not find a version that satisfies the requirement {names[0] if names else ''} "
            "(network is unreachable)\n"
        )
        return 1
    for name in names:
        if name not in PIP_PACKAGES:
            call.err(f"ERROR: No matching distribution found for {name}\n")
            return 1
        _link(phone, PIP_PACKAGES[name])
        call.out(f"Successfully installed {name}\n")
    return 0
