"""What this device is: Android properties when there is a ``getprop``, else the host's facts."""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import cache

from device_agent.engines.backends import PlatformFacts
from device_agent.measuring.props import MISSING_GPU_PROP, SOFTWARE_PROPS

# getprop's listing: "[key]: [value]"
_PROP_LINE = re.compile(r"^\[([^\]]+)\]: \[(.*)\]$")
WANTED = (
    "ro.product.model",
    "ro.product.manufacturer",
    "ro.product.device",
    "ro.product.cpu.abi",
    "ro.build.version.sdk",
    "ro.build.version.release",
    "ro.soc.model",
    "ro.soc.manufacturer",
    "ro.board.platform",
    "ro.hardware",
    "ro.kernel.qemu",
    "ro.quantbench.emulated",
    *SOFTWARE_PROPS.values(),
)


@cache
def android_properties() -> dict[str, str]:
    """All properties from ``getprop``; empty off Android (no getprop on PATH)."""
    getprop = shutil.which("getprop")
    if not getprop:
        return {}
    try:
        listing = subprocess.run([getprop], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    props = {}
    for line in listing.splitlines():
        match = _PROP_LINE.match(line.strip())
        if match:
            props[match.group(1)] = match.group(2)
    return props


def platform_facts() -> PlatformFacts:
    props = android_properties()
    sdk_text = props.get("ro.build.version.sdk", "")
    android = bool(props) and sdk_text.isdigit()
    sdk = int(sdk_text) if android else 0
    emulated = props.get("ro.quantbench.emulated") == "1" or props.get("ro.kernel.qemu") == "1"
    if android:
        description = f"Android {props.get('ro.build.version.release', '?')} (SDK {sdk})"
    else:
        description = f"{platform.system()} {platform.machine()}"
    return PlatformFacts(
        android=android,
        sdk=sdk,
        emulated=emulated,
        description=description,
        software_gpu=props.get(SOFTWARE_PROPS["GPU"], ""),
        software_npu=props.get(SOFTWARE_PROPS["NPU"], ""),
        missing_gpu=props.get(MISSING_GPU_PROP, ""),
    )


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


@dataclass(frozen=True)
class DeviceSummary:
    abi: str
    model: str
    soc: str
    properties: dict[str, str]


def summary() -> DeviceSummary:
    props = android_properties()
    return DeviceSummary(
        abi=props.get("ro.product.cpu.abi") or platform.machine(),
        model=props.get("ro.product.model") or platform.node(),
        soc=props.get("ro.soc.model") or props.get("ro.board.platform") or props.get("ro.hardware") or "",
        properties={k: props[k] for k in WANTED if k in props},
    )
