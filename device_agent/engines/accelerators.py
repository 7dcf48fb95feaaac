"""GPU and NPU through LiteRT: where its libraries are on the device, whether they can be used,
and the compiled model for one backend.

``host provision --litert DIR`` puts a LiteRT release in ``litert/`` beside the agent's store
folder: ``libLiteRt.so``, the GPU accelerator (``libLiteRtClGlAccelerator.so`` on Android,
``libLiteRtWebGpuAccelerator.so`` on Linux), NPU compiler plugins in ``compiler/`` and vendor
dispatch libraries in ``dispatch/``, and ``litert.json`` naming the version and each file's
hash. Everything here that loads native code runs in a worker or a throwaway probe process.

Vendor drivers live where the phone keeps them (``/vendor/lib64``): a dispatch library's own
needs that are found there are loaded first, by path, as Android's linker would find them. A
Vulkan driver (ICD) under ``/vendor/etc/vulkan/icd.d`` is named to the Vulkan loader for this
process alone (the emulated device's software GPU is one).
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from device_agent.engines import elf
from device_agent.engines.backends import BackendSpec, BackendUnavailable
from device_agent.engines.litert_capi import HW_CPU, HW_GPU, HW_NPU, KNOWN_VERSIONS, Library
from device_agent.storage.quiet_write import replace_quietly

MANIFEST = "litert.json"
VERIFIED = "verified.json"  # the stat of each file hashed and found as provisioned
LITERT_DIR_ENV = "QUANTBENCH_LITERT_DIR"
GPU_ACCELERATORS = (
    "libLiteRtClGlAccelerator.so",
    "libLiteRtWebGpuAccelerator.so",
    "libLiteRtOpenClAccelerator.so",
    "libLiteRtGpuAccelerator.so",
    "libLiteRtVulkanAccelerator.so",
)
VENDOR_LIBRARIES = ("/vendor/lib64", "/odm/lib64")
VULKAN_ICDS = "/vendor/etc/vulkan/icd.d"
PREBUILT_URL = "https://ai.google.dev/edge/litert/next/cpp_sdk"
PRECISION = {"gpu": 0, "gpu-fp32": 2}  # kLiteRtDelegatePrecisionDefault (fp16 where the GPU has it), Fp32


@dataclass(frozen=True)
class Installed:
    folder: Path
    version: str
    files: dict[str, str]  # relative path -> sha256

    def has(self, prefix: str) -> list[str]:
        return sorted(name for name in self.files if name.startswith(prefix))


def litert_folder(root: str | Path) -> Path:
    """``litert/`` beside the agent's store (``QUANTBENCH_LITERT_DIR`` overrides, for in-process use)."""
    return Path(os.environ.get(LITERT_DIR_ENV) or Path(root).resolve().parent / "litert")


def known_version(version: str) -> bool:
    """Whether this agent's C API binding was written for this LiteRT release (by major.minor)."""
    return ".".join(version.split(".")[:2]) in KNOWN_VERSIONS


def installed(root: str | Path) -> Installed:
    folder = litert_folder(root)
    try:
        data = json.loads((folder / MANIFEST).read_text())
        version, files = str(data["version"]), {str(k): str(v) for k, v in data["files"].items()}
    except FileNotFoundError as e:
        raise BackendUnavailable(
            f"no LiteRT on this device ({folder}): run 'host provision --litert DIR' with Google's prebuilt "
            f"libraries for this ABI ({PREBUILT_URL})"
        ) from e
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise BackendUnavailable(
            f"LiteRT's manifest {folder / MANIFEST} is unreadable ({e}): run 'host provision --litert DIR' again"
        ) from e
    if not known_version(version):
        raise BackendUnavailable(
            f"LiteRT {version} is installed; this agent's C API binding knows LiteRT "
            f"{', '.join(KNOWN_VERSIONS)}: provision a {KNOWN_VERSIONS[-1]}.x release"
        )
    return Installed(folder, version, files)


def _sha256(path: Path) -> str:
    """In 1 MiB blocks: reading a 19 MB accelerator whole would show in the worker's peak RSS."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(setup: Installed, names: list[str]) -> None:
    """Each file this cell will load is the one provisioned (a half-copied file would crash, not fail).

    A file is hashed once: its stat (size, times, inode) is recorded in ``verified.json`` beside it
    and a later worker that finds the same stat trusts the hash. Rewriting a file changes its ctime,
    which no copy can set back, so a changed file is hashed again. Hashing libLiteRt.so alone took
    27 ms a cell on the emulated device, every cell's per-op pass."""
    record = _verified(setup.folder)
    learned = False
    for name in names:
        path = setup.folder / name
        try:
            stamp = _stamp(path)
            if record.get(name) == [*stamp, setup.files.get(name)]:
                continue
            digest = _sha256(path)
        except OSError as e:
            raise BackendUnavailable(
                f"LiteRT file {path} is missing ({e.strerror}): run 'host provision --litert DIR' again"
            ) from e
        if digest != setup.files.get(name):
            raise BackendUnavailable(
                f"LiteRT file {path} differs from what was provisioned: run 'host provision --litert DIR' again"
            )
        record[name], learned = [*stamp, digest], True
    if learned:
        _remember(setup.folder, record)


def _stamp(path: Path) -> list[int]:
    status = path.stat()
    return [status.st_size, status.st_mtime_ns, status.st_ctime_ns, status.st_ino, status.st_dev]


def _verified(folder: Path) -> dict[str, list[object]]:
    try:
        data = json.loads((folder / VERIFIED).read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): v for k, v in data.items() if isinstance(v, list)} if isinstance(data, dict) else {}


def _remember(folder: Path, record: dict[str, list[object]]) -> None:
    """Write the record whole; a folder this agent cannot write just means hashing again."""
    replace_quietly(folder / VERIFIED, json.dumps(record, sort_keys=True))


def _preload_vendor_needs(library: Path) -> None:
    """Load, by path, what a vendor library needs from the phone's vendor folders."""
    try:
        wanted = elf.needed(library.read_bytes())
    except (OSError, elf.NotElf):
        return
    for soname in wanted:
        for folder in VENDOR_LIBRARIES:
            candidate = Path(folder) / soname
            if candidate.exists():
                ctypes.CDLL(str(candidate), mode=ctypes.RTLD_GLOBAL)
                break


def _prepare_vulkan() -> None:
    """Name the vendor's Vulkan drivers to the loader, in this process only, and load its loader by path."""
    icds = sorted(str(p) for p in Path(VULKAN_ICDS).glob("*.json")) if Path(VULKAN_ICDS).is_dir() else []
    if icds:
        os.environ["VK_DRIVER_FILES"] = os.pathsep.join(icds)
    for folder in VENDOR_LIBRARIES:
        loader = Path(folder) / "libvulkan.so.1"
        if loader.exists():
            ctypes.CDLL(str(loader), mode=ctypes.RTLD_GLOBAL)
            return


@dataclass(frozen=True)
class Plan:
    """What one backend compiles with: the accelerator mask, its options, the folders, the files."""

    accelerators: int
    opaque: dict[str, str]
    compiler: str
    dispatch: str
    files: list[str]
    label: str
    compiler_cache: str = ""  # where the NPU compiler plugin keeps the model it compiled (start_cache.py)


def plan(spec: BackendSpec, setup: Installed) -> Plan:
    """The accelerator alone (never with the CPU: a silent CPU run must fail, not pass as GPU/NPU).
    ``cpu<N>`` is LiteRT's CPU path (XNNPACK, N threads): only the per-op profile pass uses it."""
    if spec.kind == "cpu":
        return Plan(HW_CPU, {"xnnpack": f"num_threads = {spec.threads}\n"}, "", "", ["libLiteRt.so"], "CPU")
    if spec.kind == "gpu":
        present = [name for name in GPU_ACCELERATORS if name in setup.files]
        if not present:
            raise BackendUnavailable(
                f"LiteRT {setup.version} here has no GPU accelerator (one of {', '.join(GPU_ACCELERATORS[:2])}): "
                f"add it to the folder given to 'host provision --litert' ({PREBUILT_URL})"
            )
        return Plan(
            HW_GPU, {"gpu_options": f"precision = {PRECISION[spec.name]}\n"}, "", "", ["libLiteRt.so", *present], "GPU"
        )
    dispatch = setup.has("dispatch/")
    if not dispatch:
        raise BackendUnavailable(
            f"LiteRT {setup.version} here has no NPU dispatch library (libLiteRtDispatch_<vendor>.so): push "
            f"the phone vendor's with 'host provision --litert DIR' ({PREBUILT_URL})"
        )
    opaque = {"intel_openvino": "graph.-1.graph_backend = 0\n"} if any("IntelOpenvino" in d for d in dispatch) else {}
    return Plan(
        HW_NPU,
        opaque,
        str(setup.folder / "compiler"),
        str(setup.folder / "dispatch"),
        ["libLiteRt.so", *dispatch, *setup.has("compiler/")],
        "NPU",
    )


def open_library(setup: Installed, chosen: Plan) -> Library:
    """Verify the files, prepare the vendor drivers, load libLiteRt.so and check its functions."""
    verify(setup, chosen.files)
    if chosen.accelerators == HW_GPU:
        _prepare_vulkan()
    for name in chosen.files:
        if name.startswith(("dispatch/", "compiler/")):
            _preload_vendor_needs(setup.folder / name)
    try:
        library = Library(str(setup.folder / "libLiteRt.so"))
    except OSError as e:
        raise BackendUnavailable(f"libLiteRt.so (LiteRT {setup.version}) does not load here: {e}") from e
    missing = library.missing()
    if missing:
        raise BackendUnavailable(
            f"libLiteRt.so (LiteRT {setup.version}) lacks {', '.join(missing[:3])}"
            f"{' and more' if len(missing) > 3 else ''}, which this agent's binding needs"
        )
    return library
