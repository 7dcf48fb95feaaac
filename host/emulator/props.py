"""The emulated device's property table, as ``getprop`` answers it."""

from __future__ import annotations

import hashlib
import os
import platform
from pathlib import Path

EMULATED_MODEL = "quantbench emulated x86_64"


def default_props(sandbox: Path) -> dict[str, str]:
    """Properties of the emulated device; its serial number is stable per sandbox, like a phone's."""
    abi = "x86_64" if platform.machine() in ("x86_64", "AMD64") else "arm64-v8a"
    return {
        "ro.product.model": EMULATED_MODEL,
        "ro.product.name": "quantbench_emu",
        "ro.product.device": "emu64x",
        "ro.product.manufacturer": "quantbench",
        "ro.product.cpu.abi": abi,
        "ro.product.cpu.abilist": abi,
        "ro.build.version.sdk": "34",
        "ro.build.version.release": "14",
        "ro.build.characteristics": "emulator",
        "ro.hardware": "ranchu",
        "ro.build.fingerprint": "quantbench/quantbench_emu/emu64x:14/UQ1A.240105.004/1:userdebug/test-keys",
        "ro.soc.manufacturer": "quantbench",
        "ro.soc.model": "emulated-" + platform.machine(),
        "ro.board.platform": "emulated",
        "ro.kernel.qemu": "1",
        "ro.quantbench.emulated": "1",
        "ro.serialno": "QBEMU" + hashlib.sha256(str(sandbox.resolve()).encode()).hexdigest()[:10].upper(),
        "ro.cores": str(os.cpu_count() or 1),
    }
