"""The emulated phone's GPU and NPU drivers: software ones, found on this machine, always named so.

GPU: a conformant software Vulkan under LiteRT's WebGPU accelerator. SwiftShader (Debian's
``chromium`` ships ``libvk_swiftshader.so`` and the Vulkan loader in its library folder) is used;
Debian 12's Mesa lavapipe is not, because Dawn refuses it (no dynamic indexing of uniform
arrays). SwiftShader has no ``shaderFloat16``: it computes in fp32 whatever precision is asked.
NPU: LiteRT's Intel OpenVINO dispatch with OpenVINO's CPU plugin (pip ``ai-edge-litert-sdk-intel``),
which computes in bf16 on a CPU with bf16 instructions and in fp32 otherwise (OpenVINO is asked).

The files are bound read-only into the app domains at the phone's vendor paths
(``/vendor/lib64``, ``/vendor/etc/vulkan/icd.d``), file by file: exactly the driver files, no more.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from device_agent.measuring.props import MISSING_GPU_PROP, SOFTWARE_PROPS

SWIFTSHADER_FOLDERS = (Path("/usr/lib/chromium"), Path("/usr/lib/chromium-browser"), Path("/usr/lib/x86_64-linux-gnu"))
VENDOR_LIB = "/vendor/lib64"
ICD_FOLDER = "vendor/etc/vulkan/icd.d"
ICD_NAME = "swiftshader.json"
PRECISION_FILE = "openvino-precision.json"
MISSING_GPU = "install Debian's chromium (sudo apt-get install chromium), which ships SwiftShader"


@dataclass(frozen=True)
class SoftwareDrivers:
    gpu: str = ""  # "SwiftShader (fp32)"; empty when this machine has none
    npu: str = ""  # "OpenVINO CPU (bf16)"
    binds: tuple[tuple[str, str], ...] = field(default=())  # (file on this machine, path on the phone)
    icd_api_version: str = "1.3.0"

    def props(self) -> dict[str, str]:
        props = {SOFTWARE_PROPS["GPU"]: self.gpu, SOFTWARE_PROPS["NPU"]: self.npu}
        if not self.gpu:
            props[MISSING_GPU_PROP] = MISSING_GPU
        return props


def _swiftshader() -> tuple[list[tuple[str, str]], str]:
    for folder in SWIFTSHADER_FOLDERS:
        driver, loader, icd = (
            folder / "libvk_swiftshader.so",
            folder / "libvulkan.so.1",
            folder / "vk_swiftshader_icd.json",
        )
        if driver.is_file() and loader.is_file():
            try:
                version = json.loads(icd.read_text())["ICD"]["api_version"]
            except (OSError, ValueError, KeyError):
                version = "1.3.0"
            return [
                (str(driver), f"{VENDOR_LIB}/libvk_swiftshader.so"),
                (str(loader), f"{VENDOR_LIB}/libvulkan.so.1"),
            ], version
    return [], ""


def _openvino_package() -> Path | None:
    """OpenVINO's package folder, found without importing it (its import takes a quarter second)."""
    try:
        spec = importlib.util.find_spec("openvino")
    except (ImportError, ValueError):
        return None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    return Path(locations[0]) if locations else None


def _openvino(package: Path) -> list[tuple[str, str]]:
    libs = package / "libs"
    return [(str(p), f"{VENDOR_LIB}/{p.name}") for p in sorted(libs.iterdir()) if p.is_file()] if libs.is_dir() else []


def _openvino_cpu_precision() -> str:
    """What OpenVINO's CPU plugin computes in on this machine, as OpenVINO itself says."""
    try:
        import openvino

        hint = openvino.Core().get_property("CPU", "INFERENCE_PRECISION_HINT")
        name = str(hint.get_type_name())
    except Exception:  # no OpenVINO, or one that cannot say: the label says so
        return ""
    return {"f32": "fp32", "bf16": "bf16", "f16": "fp16"}.get(name, name)


def _precision_mark(package: Path) -> list[object]:
    """What OpenVINO's answer depends on: its installed files and this CPU's instruction sets."""
    try:
        stat = (package / "__init__.py").stat()
        flags = next((line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags")), "")
    except OSError:
        return []
    return [str(package), stat.st_ino, stat.st_mtime_ns, stat.st_size, hashlib.sha256(flags.encode()).hexdigest()]


def _state_dir() -> Path:
    """The emulator's folder under the user's data folder (the host's data directory, which the
    adbd process inherits as QUANTBENCH_DATA_DIR where it is set)."""
    data = (
        os.environ.get("QUANTBENCH_DATA_DIR")
        or Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "quantbench"
    )
    return Path(data) / "emulator"


def _known_precision(package: Path) -> str:
    """OpenVINO's CPU precision, asked once per installation and CPU (kept under the user data
    folder): asking imports OpenVINO and starts its runtime, a third of a second at each start of
    an emulated device. Empty where OpenVINO cannot say (or cannot be imported)."""
    mark, kept = _precision_mark(package), _state_dir() / PRECISION_FILE
    try:
        entry = json.loads(kept.read_text())
        if mark and entry.get("mark") == mark and isinstance(entry.get("precision"), str):
            return str(entry["precision"])
    except (OSError, ValueError, AttributeError):
        pass
    precision = _openvino_cpu_precision()
    if mark and precision:
        try:
            kept.parent.mkdir(parents=True, exist_ok=True)
            scratch = kept.with_name(f".{kept.name}.{os.getpid()}")
            scratch.write_text(json.dumps({"mark": mark, "precision": precision}))
            os.replace(scratch, kept)
        except OSError:
            pass  # a read-only data folder: OpenVINO is asked again next time
    return precision


@cache
def find() -> SoftwareDrivers:
    gpu_binds, version = _swiftshader()
    package = _openvino_package()
    npu_binds = _openvino(package) if package is not None else []
    precision = _known_precision(package) if package is not None and npu_binds else ""
    return SoftwareDrivers(
        gpu="SwiftShader (fp32)" if gpu_binds else "",
        npu=f"OpenVINO CPU ({precision or 'precision unknown'})" if npu_binds else "",
        binds=tuple(gpu_binds + npu_binds),
        icd_api_version=version or "1.3.0",
    )


def direct_environment(drivers: SoftwareDrivers) -> dict[str, str]:
    """The environment that lets LiteRT on this machine itself (an agent or a benchmark started here,
    no phone) find the same driver files the phone binds at /vendor: the loader path and the ICD."""
    folders = sorted({str(Path(source).parent) for source, _ in drivers.binds})
    env = {"LD_LIBRARY_PATH": ":".join(folders)}
    swiftshader = next((source for source, target in drivers.binds if target.endswith("libvk_swiftshader.so")), "")
    if swiftshader:
        env["VK_DRIVER_FILES"] = str(Path(swiftshader).parent / "vk_swiftshader_icd.json")
    return env


def install(sandbox_root: Path, drivers: SoftwareDrivers) -> None:
    """The phone's Vulkan driver manifest, pointing at the bound SwiftShader (none without one)."""
    folder = sandbox_root / ICD_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    manifest = folder / ICD_NAME
    if drivers.gpu:
        manifest.write_text(
            json.dumps(
                {
                    "file_format_version": "1.0.0",
                    "ICD": {
                        "library_path": f"{VENDOR_LIB}/libvk_swiftshader.so",
                        "api_version": drivers.icd_api_version,
                    },
                }
            )
        )
        manifest.chmod(0o644)
    else:
        manifest.unlink(missing_ok=True)
    for path in (sandbox_root / "vendor" / "etc", sandbox_root / "vendor" / "etc" / "vulkan", folder):
        path.chmod(0o755)
