"""``host doctor``: what the device lacks for the agent, and the command that fixes each.

Everything is checked over ADB with one probe script run by the device's own Python: modules
and versions, the TFLite runtime the agent would pick, delegate libraries, Android version.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

from host.devices.device import Device
from host.devices.launcher import PYTHON_CANDIDATES, ShellLauncher

_PROBE = r'''
import ctypes, importlib, json, platform
from importlib import metadata
DISTRIBUTIONS = {"grpc": "grpcio", "google.protobuf": "protobuf",
                 "ai_edge_litert.interpreter": "ai-edge-litert", "tflite_runtime.interpreter": "tflite-runtime"}
out = {"python": platform.python_version(), "modules": {}, "libraries": {}}
for name in ("numpy", "grpc", "google.protobuf", "ai_edge_litert.interpreter", "tflite_runtime.interpreter", "tensorflow"):
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
'''


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    found: str
    fix: str = ""


def _module_fixes(termux: bool) -> dict[str, tuple[str, str]]:
    pkg = "pkg install" if termux else "pip install"
    return {
        "numpy": ("numpy", f"{pkg} {'python-numpy' if termux else 'numpy'}"),
        "grpc": ("grpcio", f"{pkg} {'python-grpcio' if termux else 'grpcio'}"),
        "google.protobuf": ("protobuf", "pip install protobuf"),
    }


def diagnose(device: Device, device_python: str | None = None, gpu_delegate: str = "", nnapi_delegate: str = "") -> list[Check]:
    from device_agent.backends import (
        DEFAULT_GPU_DELEGATE,
        DEFAULT_NNAPI_DELEGATE,
        NNAPI_LAST_SDK,
        NNAPI_MIN_SDK,
    )

    props = device.props()
    checks = [Check("device", True, f"{props.model} ({props.abi}), Android {props.release or '?'} SDK {props.sdk}"
                    + (" [emulated]" if props.emulated else ""))]
    launcher = ShellLauncher.find(device, device_python)
    if launcher is None:
        checks.append(Check("python", False, f"not found (tried {', '.join((device_python,) if device_python else PYTHON_CANDIDATES)})",
                            "install Termux, run 'pkg install python', then pass --device-python /data/data/com.termux/files/usr/bin/python3"))
        return checks
    python = launcher.python
    libraries = [gpu_delegate or DEFAULT_GPU_DELEGATE, nnapi_delegate or DEFAULT_NNAPI_DELEGATE]
    script = _PROBE.replace("LIBRARIES", repr(libraries))
    encoded = base64.b64encode(script.encode()).decode()
    result = device.shell(f"{python} -c \"import base64; exec(base64.b64decode('{encoded}'))\"", timeout=120)
    try:
        probe = json.loads(result.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        checks.append(Check("python", False, f"{python} failed to run the probe: {(result.stderr or result.stdout).strip()[:200]}"))
        return checks
    checks.append(Check("python", True, f"{python} {probe['python']}"))
    termux = "com.termux" in python
    for module, (package, fix) in _module_fixes(termux).items():
        found = probe["modules"][module]
        checks.append(Check(package, not found.startswith("ERROR"), found, fix))
    runtimes = [(m, v) for m, v in probe["modules"].items() if m.split(".")[0] in ("ai_edge_litert", "tflite_runtime", "tensorflow")]
    usable = [(m.split(".")[0], v) for m, v in runtimes if not v.startswith("ERROR")]
    checks.append(Check("tflite runtime", bool(usable), f"{usable[0][0]} {usable[0][1]}" if usable else "none importable",
                        "pip install ai-edge-litert (or tflite-runtime for this ABI)"))
    gpu = probe["libraries"][libraries[0]]
    checks.append(Check("gpu delegate", gpu == "ok", gpu, "push libtensorflowlite_gpu_delegate.so built for this ABI and pass --gpu-delegate PATH"))
    if props.sdk < NNAPI_MIN_SDK:
        checks.append(Check("nnapi", False, f"SDK {props.sdk}", "NNAPI needs Android 8.1 (SDK 27) or later"))
    elif props.sdk > NNAPI_LAST_SDK:
        checks.append(Check("nnapi", False, f"SDK {props.sdk}", "NNAPI was removed in Android 15; use the GPU delegate or LiteRT accelerators"))
    else:
        nnapi = probe["libraries"][libraries[1]]
        checks.append(Check("nnapi delegate", nnapi == "ok", nnapi, "push an NNAPI delegate library and pass --nnapi-delegate PATH"))
    return checks


OPTIONAL_CHECKS = ("gpu delegate", "nnapi delegate", "nnapi")


def healthy(checks: list[Check]) -> bool:
    """Whether the agent can run: every check passes but the optional accelerator ones."""
    return all(c.ok for c in checks if c.name not in OPTIONAL_CHECKS)
