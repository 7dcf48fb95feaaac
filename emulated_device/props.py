"""The emulated device's property table, as ``getprop`` answers it."""

from __future__ import annotations

import hashlib
import os
import platform
from pathlib import Path

from emulated_device.profiles import DEFAULT_PROFILE, PROFILES, Profile

EMULATED_MODEL = "quantbench emulated x86_64"


def default_props(sandbox: Path, profile: Profile = PROFILES[DEFAULT_PROFILE]) -> dict[str, str]:
    """Properties of the emulated device; its serial number is stable per sandbox, like a phone's.

    Every profile is a production (``user``, ``release-keys``) build, as the phones it stands for:
    not debuggable, adbd secure, booted."""
    serial = "QBEMU" + hashlib.sha256(str(sandbox.resolve()).encode()).hexdigest()[:10].upper()
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
        "ro.build.fingerprint": "quantbench/quantbench_emu/emu64x:14/UQ1A.240105.004/11223344:user/release-keys",
        "ro.build.id": "UQ1A.240105.004",
        "ro.build.display.id": "UQ1A.240105.004 release-keys",
        "ro.build.version.incremental": "11223344",
        "ro.build.version.security_patch": "2024-01-05",
        "ro.build.type": "user",
        "ro.build.tags": "release-keys",
        "ro.build.user": "quantbench",
        "ro.product.brand": "quantbench",
        "ro.product.locale": "en-US",
        "ro.debuggable": "0",
        "ro.secure": "1",
        "ro.adb.secure": "1",
        "ro.boot.serialno": serial,
        "ro.quantbench.profile": profile.name,
        "sys.boot_completed": "1",
        "dev.bootcomplete": "1",
        "init.svc.adbd": "running",
        "persist.sys.usb.config": "adb",
        "sys.usb.state": "adb",
        "service.adb.root": "0",
        "ro.soc.manufacturer": "quantbench",
        "ro.soc.model": "emulated-" + platform.machine(),
        "ro.board.platform": "emulated",
        "ro.kernel.qemu": "1",
        "ro.quantbench.emulated": "1",
        "ro.serialno": serial,
        "ro.cores": str(os.cpu_count() or 1),
    }
