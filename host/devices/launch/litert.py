"""``host provision --litert DIR``: a LiteRT release pushed into the agent's runtime folder.

A release is what Google publishes per platform (``binaries/<version>/<platform>/`` of the
prebuilt C++ SDK: ``libLiteRt.so``, the GPU accelerator, vendor NPU dispatch libraries) or the
``ai_edge_litert`` folder of the wheel (the linux_x86_64 build, which the emulated device runs).
Each file's ELF machine must be the device's ABI; a mismatch is refused by name before anything
is pushed. The files land in ``litert/`` beside the agent's store with ``litert.json`` (version
and hashes), which the agent verifies before it loads anything (``device_agent/engines/accelerators.py``).
The folder is replaced whole: a half-provisioned folder is never what the agent finds.
"""

from __future__ import annotations

import json
import re
import secrets
import shlex
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from device_agent.engines import elf
from device_agent.engines.accelerators import GPU_ACCELERATORS, MANIFEST, PREBUILT_URL
from host.devices.launch.launchers import INCOMING, Launcher
from host.devices.transport.device import Device
from host.errors import DeployError, InputError
from host.fsio import read_regular
from host.hashing import sha256_file

VERSION_DIR = re.compile(r"^v?(\d+\.\d+\.\d+)$")
WHEEL_INFO = re.compile(r"^ai_edge_litert(?:_nightly)?-(\d+\.\d+\.\d+[^-]*)\.dist-info$")


class LiteRtProvisionError(DeployError):
    """The release could not be put on the device."""


@dataclass(frozen=True)
class Release:
    version: str
    files: dict[str, Path]  # path in the agent's litert/ folder -> local file
    machine: str
    source: Path

    def manifest(self) -> dict[str, object]:
        return {
            "version": self.version,
            "machine": self.machine,
            "source": str(self.source),
            "files": {name: sha256_file(path) for name, path in sorted(self.files.items())},
        }

    def accelerators(self) -> list[str]:
        gpu = [name for name in self.files if name in GPU_ACCELERATORS]
        npu = [name.split("/", 1)[1] for name in self.files if name.startswith("dispatch/")]
        return gpu + npu


def _version(folder: Path, given: str) -> str:
    """The version given, else the wheel's (its dist-info beside the folder), else the
    ``<version>/`` folder of Google's ``binaries/<version>/<platform>/`` layout."""
    if given:
        return given
    wheels = [
        m.group(1) for p in sorted(folder.parent.glob("ai_edge_litert*.dist-info")) if (m := WHEEL_INFO.match(p.name))
    ]
    if wheels:
        return wheels[0]
    for parent in (folder, *folder.parents):
        match = VERSION_DIR.match(parent.name)
        if match:
            return match.group(1)
    raise InputError(
        f"cannot tell which LiteRT version {folder} holds (not a <version>/<platform> folder of Google's "
        f"prebuilt libraries, nor the ai_edge_litert folder of a wheel): pass --litert-version"
    )


def find_release(folder: Path, version: str = "") -> Release:
    """The files of a release in ``folder``: libLiteRt.so, its GPU accelerators, dispatch
    libraries and the compiler plugins of the same vendors."""
    folder = folder.expanduser()
    if not (folder / "libLiteRt.so").is_file():
        raise InputError(
            f"{folder} has no libLiteRt.so: give the folder of LiteRT's prebuilt libraries for the phone's "
            f"platform (android_arm64, ...; {PREBUILT_URL})"
        )
    files = {"libLiteRt.so": folder / "libLiteRt.so"}
    files.update({name: folder / name for name in GPU_ACCELERATORS if (folder / name).is_file()})
    plugins = {
        p.name: p for p in sorted(folder.rglob("libLiteRtCompilerPlugin_*"))
    }  # by exact name: no pattern from a file name
    for path in sorted(folder.rglob("libLiteRtDispatch_*.so")):
        files[f"dispatch/{path.name}"] = path
        plugin = plugins.get("libLiteRtCompilerPlugin_" + path.name.removeprefix("libLiteRtDispatch_"))
        if plugin is not None:
            files[f"compiler/{plugin.name}"] = plugin
    machines = {name: _machine(path) for name, path in files.items()}
    machine = machines["libLiteRt.so"]
    odd = [f"{name} ({found})" for name, found in machines.items() if found != machine]
    if odd:
        raise InputError(f"{folder} mixes platforms: libLiteRt.so is {machine}, but {', '.join(odd)}")
    return Release(_version(folder, version), files, machine, folder)


MAX_LIBRARY_BYTES = 1 << 30


def _machine(path: Path) -> str:
    try:
        return elf.machine(read_regular(path, elf.HEADER_BYTES, "--litert"))
    except elf.NotElf as e:
        raise InputError(f"{path} is not a shared library ({e})") from e


def _check_c_api(path: Path) -> None:
    """libLiteRt.so must export the C API the agent binds: any other library (libc, a program, a
    build of another version) would replace a working install with one nothing can use."""
    from device_agent.engines.litert_capi import REQUIRED

    try:
        exported = elf.exports(read_regular(path, MAX_LIBRARY_BYTES, "--litert"))
    except elf.NotElf as e:
        raise InputError(f"{path} is not a shared library ({e})") from e
    missing = [name for name in REQUIRED if name not in exported]
    if missing:
        raise InputError(
            f"{path} is not LiteRT's C API library: it exports no {', '.join(missing[:3])}"
            f"{f' (and {len(missing) - 3} more)' if len(missing) > 3 else ''}"
        )


def check_abi(release: Release, abi: str, serial: str) -> None:
    wanted = elf.ABI_MACHINE.get(abi, abi)
    if release.machine != wanted:
        raise InputError(
            f"{serial} is {abi} ({wanted}) but libLiteRt.so in {release.source} is {release.machine}: "
            f"give the folder for the phone's platform ({PREBUILT_URL})"
        )


def _as_agent(launcher: Launcher, command: str) -> str:
    return f"{launcher.stop_prefix}sh -c {shlex.quote(command)}" if launcher.stop_prefix else command


def litert_home(launcher: Launcher) -> str:
    home = getattr(launcher, "home", "")
    if not home or launcher.name == "attach":
        raise LiteRtProvisionError(
            f"LiteRT cannot be pushed for the {launcher.name} launcher (the agent's folder is the "
            f"app's own): use Termux's GitHub build (termux-run-as) or a shell Python"
        )
    return f"{home}/litert"


def install(device: Device, launcher: Launcher, release: Release, say: Callable[[str], None]) -> str:
    """Push the release to the device and swap it in as the agent's ``litert/`` folder, once its
    libLiteRt.so is known to be LiteRT's C API for the phone's ABI and to load there."""
    check_abi(release, device.props().abi, device.serial)
    _check_c_api(release.files["libLiteRt.so"])
    target = litert_home(launcher)
    stage = f"{INCOMING}/litert-{secrets.token_hex(4)}"
    try:
        for index, (name, path) in enumerate(sorted(release.files.items()), 1):
            say(f"[{index}/{len(release.files)}] {name} ({path.stat().st_size / 1e6:.1f} MB)")
            device.push(path, f"{stage}/{name}", skip_same=False)
        with tempfile.TemporaryDirectory() as temp:
            manifest = Path(temp) / MANIFEST
            manifest.write_text(json.dumps(release.manifest(), indent=1))
            device.push(manifest, f"{stage}/{MANIFEST}", skip_same=False)
        device.check_shell(f"chmod -R a+rX {stage}")
        new = f"{target}.new"
        _agent_shell(
            device, launcher, f"mkdir -p {target.rsplit('/', 1)[0]} && rm -rf {new} && cp -r {stage} {new}", target
        )
        _loads_on_device(device, launcher, new)
        _agent_shell(device, launcher, f"rm -rf {target} && mv {new} {target}", target)
    finally:
        device.shell(f"rm -rf {stage}")
    return target


def _agent_shell(device: Device, launcher: Launcher, command: str, target: str) -> None:
    result = device.shell(_as_agent(launcher, command))
    if not result.ok:
        raise LiteRtProvisionError(
            f"{device.serial}: cannot install LiteRT into {target}: "
            f"{(result.stderr or result.stdout).strip() or f'exit {result.exit_code}'}"
        )


def _loads_on_device(device: Device, launcher: Launcher, folder: str) -> None:
    """libLiteRt.so loaded once, in a throwaway Python of the agent's, before it replaces anything:
    a library that aborts on load, or lacks what the phone's loader needs, leaves the old install."""
    from device_agent.engines.litert_capi import REQUIRED

    script = (
        f"import ctypes\nlib = ctypes.CDLL({folder + '/libLiteRt.so'!r}, mode=ctypes.RTLD_GLOBAL)\n"
        f"missing = [n for n in {list(REQUIRED)!r} if not hasattr(lib, n)]\n"
        "print('LOADED' if not missing else 'MISSING ' + ' '.join(missing))"
    )
    result = launcher.python(script, timeout=60)
    if "LOADED" not in result.stdout:
        said = (result.stderr or result.stdout).strip().splitlines()
        device.shell(_as_agent(launcher, f"rm -rf {folder}"))
        raise LiteRtProvisionError(
            f"{device.serial}: the new libLiteRt.so does not load on the device "
            f"({said[-1][:200] if said else f'exit {result.exit_code}'}); the installed LiteRT is kept"
        )


def installed_manifest(device: Device, launcher: Launcher) -> dict[str, object] | None:
    """The manifest of what is provisioned now, or None."""
    result = device.shell(_as_agent(launcher, f"cat {litert_home(launcher)}/{MANIFEST}"))
    if not result.ok:
        return None
    try:
        data = json.loads(result.stdout)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def lay_out(release: Release, folder: Path) -> Path:
    """The release in ``folder`` as provisioning leaves it on a device (an agent run on this machine)."""
    for name, path in release.files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, folder / name)
    (folder / MANIFEST).write_text(json.dumps(release.manifest(), indent=1))
    return folder


def wheel_release() -> Release:
    """The linux_x86_64 release inside this machine's ai_edge_litert wheel (the emulated device's)."""
    import ai_edge_litert

    return find_release(Path(ai_edge_litert.__file__).parent)


def ensure_on_emulated(device: Device, launcher: Launcher) -> bool:
    """The emulated device's first session gets the wheel's LiteRT (its built-in GPU and NPU), by
    the same path as ``host provision --litert``; a folder already provisioned is left as it is."""
    if launcher.name == "attach" or installed_manifest(device, launcher) is not None:
        return False
    install(device, launcher, wheel_release(), lambda text: None)
    return True
