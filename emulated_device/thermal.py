"""The emulated phone's thermal zones, thermal status and CPU frequencies, scripted.

A phone reports heat in ``/sys/class/thermal/thermal_zone*/temp`` (millidegrees), its thermal
status through ``dumpsys thermalservice`` (``Thermal Status: N``, 0 none .. 6 shutdown), and each
CPU's frequencies under ``/sys/devices/system/cpu/cpu*/cpufreq/``. The emulated device has all
three as files its tests (or a person) set with ``set_thermal``, so every path of the cooldown,
the throttling detection and the choice of the fastest cores runs against them. Its CPUs are
this machine's, described as a little and a big cluster (the last core the fastest).
"""

from __future__ import annotations

import os
from pathlib import Path

ZONES = ("cpu-0-0-usr", "battery")
LITTLE_KHZ, BIG_KHZ = 1_800_000, 2_400_000


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def install_sensors(root: Path, internal: Path) -> None:
    """Zones at 35 C, status 0 (none), and cpufreq files; existing values are kept."""
    for index, kind in enumerate(ZONES):
        zone = root / "sys" / "class" / "thermal" / f"thermal_zone{index}"
        if not (zone / "temp").is_file():
            _write(zone / "type", kind + "\n")
            _write(zone / "temp", "35000\n")
    cores = _cores()
    for cpu in range(cores):
        folder = root / "sys" / "devices" / "system" / "cpu" / f"cpu{cpu}" / "cpufreq"
        top = BIG_KHZ if cpu == cores - 1 and cores > 1 else LITTLE_KHZ
        for name, value in (
            ("cpuinfo_max_freq", top),
            ("scaling_max_freq", top),
            ("scaling_cur_freq", top),
            ("scaling_governor", "schedutil"),
        ):
            if not (folder / name).is_file():
                _write(folder / name, f"{value}\n")
    if not (internal / "thermal_status").is_file():
        _write(internal / "thermal_status", "0\n")


def set_battery(root: Path, level: int, temperature_c: float, plugged: str = "usb") -> None:
    """Script ``dumpsys battery``: level (%), temperature, and what it is plugged into (ac, usb, wireless, none)."""
    (root.parent / (root.name + ".private") / "internal" / "battery").write_text(
        f"{level} {int(temperature_c * 10)} {plugged}\n"
    )


def set_thermal(
    root: Path, temperature_c: float | None = None, status: int | None = None, cur_khz: dict[int, int] | None = None
) -> None:
    """Script the phone: every zone's temperature, the thermal status, current CPU frequencies."""
    if temperature_c is not None:
        for zone in sorted((root / "sys" / "class" / "thermal").glob("thermal_zone*")):
            (zone / "temp").write_text(f"{int(temperature_c * 1000)}\n")
    if status is not None:
        (root.parent / (root.name + ".private") / "internal" / "thermal_status").write_text(f"{status}\n")
    for cpu, khz in (cur_khz or {}).items():
        (root / "sys" / "devices" / "system" / "cpu" / f"cpu{cpu}" / "cpufreq" / "scaling_cur_freq").write_text(
            f"{khz}\n"
        )
