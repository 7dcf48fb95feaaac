"""``host doctor``: which launcher can start the agent, and what the device lacks, with the fix.

Every launch method is checked (``choose.py``); for the one that works, one probe script run by
its Python reports modules, versions and the TFLite runtime the agent would pick, and whether
the delegate libraries load (in that throwaway probe process, never in an agent). When no
launcher works, the advice says what this phone is missing and the exact steps.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from device_agent.engines.backends import DEFAULT_GPU_DELEGATE, DEFAULT_NNAPI_DELEGATE, NNAPI_LAST_SDK, NNAPI_MIN_SDK
from host.devices.energy.sources import probe
from host.devices.launch.choose import Check, advice, check_all
from host.devices.launch.launchers import Launcher
from host.devices.transport.device import Device

_PROBE = r"""
import ctypes, importlib, json, platform
from importlib import metadata
DISTRIBUTIONS = {"grpc": "grpcio", "google.protobuf": "protobuf",
                 "ai_edge_litert.interpreter": "ai-edge-litert", "tflite_runtime.interpreter": "tflite-runtime"}
out = {"python": platform.python_version(), "modules": {}, "libraries": {}}
for name in ("numpy", "grpc", "google.protobuf", "ai_edge_litert.interpreter", "tflite_runtime.interpreter",
             "tensorflow"):
    try:
        module = importlib.import_module(name)
        try:
            version = metadata.version(DISTRIBUTIONS.get(name, name))
        except Exception:
            version = getattr(module, "__version__", "")
        out["modules"][name] = version or "present"
    except Exception as e:
        out["modules"][name] = "ERROR " + type(e).__name__ + ": " + str(e)[:120]
for lib in LIBRARIES:
    try:
        ctypes.CDLL(lib)
        out["libraries"][lib] = "ok"
    except OSError as e:
        out["libraries"][lib] = "ERROR " + str(e)[:160]
print(json.dumps(out))
"""
OPTIONAL_CHECKS = ("gpu delegate", "nnapi delegate", "nnapi", "litert", "software gpu", "software npu", "energy")


@dataclass(frozen=True)
class Diagnosis:
    device: str
    launchers: tuple[Check, ...]
    chosen: str | None
    checks: tuple[Check, ...] = ()
    advice: str = ""
    notes: list[str] = field(default_factory=list)
    provision_fixes: bool = False  # what is missing, ``host provision`` installs from the host

    @property
    def exit_ok(self) -> bool:
        """doctor fails (exit 1) only where nothing run from the host can fix the device."""
        return self.healthy or self.provision_fixes

    @property
    def healthy(self) -> bool:
        """Whether the agent can run: a launcher works and every check but the accelerators passes."""
        return self.chosen is not None and all(c.ok for c in self.checks if c.name not in OPTIONAL_CHECKS)


def diagnose(
    device: Device, device_python: str | None = None, gpu_delegate: str = "", nnapi_delegate: str = ""
) -> Diagnosis:
    props = device.props()
    line = f"{props.model} ({props.abi}), Android {props.release or '?'} SDK {props.sdk}" + (
        " [emulated]" if props.emulated else ""
    )
    found = check_all(device, device_python, fresh=True)  # doctor imports for real
    checks = tuple(c for c, _ in found)
    energy = energy_check(device)
    working = [(c, launcher) for c, launcher in found if launcher is not None and c.name != "attach"]
    if not working:
        attached = next((c for c in checks if c.name == "attach" and c.ok), None)
        termux = next((c for c in checks if c.name == "termux-run-as"), None)
        if not attached and termux is not None and termux.fix.startswith("host provision"):
            extra = " and LiteRT's GPU and NPU from the ai-edge-litert wheel" if props.emulated else ""
            return Diagnosis(
                line,
                (*checks, energy),
                None,
                provision_fixes=True,
                advice=f"run `{termux.fix}`: it installs Python, numpy, grpcio and the TFLite runtime "
                f"inside Termux{extra}; then `host doctor` again",
            )
        return Diagnosis(
            line,
            (*checks, energy),
            "attach" if attached else None,
            advice="" if attached else advice(device, [c for c in checks if c.name != "attach"]),
        )
    check, launcher = working[0]
    assert launcher is not None
    found_checks = _probe(launcher, props.sdk, gpu_delegate, nnapi_delegate) + _litert(device, launcher)
    return Diagnosis(line, checks, check.name, (*found_checks, energy))


def energy_check(device: Device) -> Check:
    """Which energy meter ``host bench --energy`` would read (power rails, else the fuel gauge)."""
    source = probe(device, device.props().emulated)
    rails = f": {', '.join(source.rails)}" if source.kind == "rails" else ""
    fix = "" if source.kind else "energy per inference needs power rails (Pixel 6 and later) or a fuel gauge"
    return Check("energy", source.kind is not None, source.label + rails, fix)


def _litert(device: Device, launcher: Launcher) -> list[Check]:
    """Which LiteRT accelerators the agent can use (GPU, NPU), and on an emulated device its software ones."""
    from device_agent.engines.accelerators import PREBUILT_URL, known_version
    from device_agent.engines.litert_capi import KNOWN_VERSIONS
    from device_agent.measuring.props import MISSING_GPU_PROP, SOFTWARE_PROPS
    from host.devices.launch.litert import LiteRtProvisionError, installed_manifest

    fix = (
        f"host provision --device {device.serial} --litert DIR, DIR holding Google's prebuilt libLiteRt.so and "
        f"libLiteRtClGlAccelerator.so (and a vendor's NPU dispatch library) for {device.props().abi}: {PREBUILT_URL}"
    )
    try:
        manifest = installed_manifest(device, launcher)
    except LiteRtProvisionError as e:
        return [Check("litert", False, str(e), "")]
    checks = []
    if manifest is None and device.props().emulated:
        checks.append(
            Check(
                "litert",
                False,
                "not installed yet: gpu and npu wait for it",
                f"host provision --device {device.serial} (or the first bench) installs the ai-edge-litert wheel's",
            )
        )
    elif manifest is None:
        checks.append(Check("litert", False, "not provisioned: gpu and npu are unavailable", fix))
    else:
        version, files = str(manifest.get("version", "?")), manifest.get("files")
        names = [name.split("/")[-1] for name in (files if isinstance(files, dict) else {}) if name != "libLiteRt.so"]
        known = known_version(version)
        checks.append(
            Check(
                "litert",
                known and bool(names),
                f"LiteRT {version}: " + (", ".join(names) or "no accelerator"),
                "" if known and names else f"this agent knows LiteRT {', '.join(KNOWN_VERSIONS)}; {fix}",
            )
        )
    props = device.props()
    for kind, key in SOFTWARE_PROPS.items() if props.emulated else ():
        label = props.raw.get(key, "")
        missing = props.raw.get(MISSING_GPU_PROP, "") if kind == "GPU" else ""
        checks.append(Check(f"software {kind.lower()}", bool(label), label or "none on this machine", missing))
    return checks


def _probe(launcher: Launcher, sdk: int, gpu_delegate: str, nnapi_delegate: str) -> list[Check]:
    libraries = [gpu_delegate or DEFAULT_GPU_DELEGATE, nnapi_delegate or DEFAULT_NNAPI_DELEGATE]
    result = launcher.python(_PROBE.replace("LIBRARIES", repr(libraries)))
    try:
        probe = json.loads(result.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return [Check("python", False, f"the probe did not run: {(result.stderr or result.stdout).strip()[:200]}")]
    gpu = probe["libraries"][libraries[0]]
    gpu_fix = (
        "optional (gpu runs through LiteRT): a classic libtensorflowlite_gpu_delegate.so for this ABI, "
        "with --gpu-delegate PATH"
    )
    return [
        Check("python", True, probe["python"]),
        *_module_checks(probe["modules"], launcher.name == "termux-run-as"),
        Check("gpu delegate", gpu == "ok", gpu, gpu_fix),
        _nnapi_check(sdk, probe["libraries"][libraries[1]]),
    ]


def _module_checks(modules: dict[str, str], termux: bool) -> list[Check]:
    """The agent's Python packages and a TFLite runtime, each with the fix its launcher takes."""
    checks = []
    for module, package, termux_fix in (
        ("numpy", "numpy", "pkg install python-numpy"),
        ("grpc", "grpcio", "pkg install python-grpcio"),
        ("google.protobuf", "protobuf", "pip install protobuf"),
    ):
        found = modules[module]
        checks.append(
            Check(package, not found.startswith("ERROR"), found, termux_fix if termux else f"pip install {package}")
        )
    usable = [
        (m.split(".")[0], v)
        for m, v in modules.items()
        if m.split(".")[0] in ("ai_edge_litert", "tflite_runtime", "tensorflow") and not v.startswith("ERROR")
    ]
    runtime_fix = "pkg install python-tflite-runtime" if termux else "pip install ai-edge-litert (or tflite-runtime)"
    checks.append(
        Check(
            "tflite runtime",
            bool(usable),
            f"{usable[0][0]} {usable[0][1]}" if usable else "none importable",
            runtime_fix,
        )
    )
    return checks


def _nnapi_check(sdk: int, library: str) -> Check:
    if sdk < NNAPI_MIN_SDK:
        return Check("nnapi", False, f"SDK {sdk}", "NNAPI needs Android 8.1 (SDK 27) or later")
    if sdk > NNAPI_LAST_SDK:
        return Check(
            "nnapi", False, f"SDK {sdk}", "NNAPI was removed in Android 15; use the GPU delegate or LiteRT accelerators"
        )
    return Check(
        "nnapi delegate", library == "ok", library, "push an NNAPI delegate library and pass --nnapi-delegate PATH"
    )
