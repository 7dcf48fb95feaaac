"""The emulated phone's energy meters: a power-stats HAL with ODPM-style rails and a fuel gauge.

A Pixel 6 or later reports cumulative energy per power rail through its power.stats HAL, whose
dump (``dumpsys android.hardware.power.stats.IPowerStats/default``) prints each channel as
``[RAIL]:SUBSYSTEM   <mWs>`` in AOSP's format (hardware/google/pixel, ``powerstats/PowerStats.cpp``:
the microjoules are cast to a 32-bit float and printed with two decimals). Every phone has a fuel
gauge under ``/sys/class/power_supply/battery`` (``current_now`` in uA, ``voltage_now`` in uV,
``charge_counter`` in uAh, ``status``), refreshed by the gauge every so often, not on each read.

The emulated device offers both, driven by what its processes really used. **The emulated energy
model** (stated, and labelled so by the host everywhere):

* every CPU-second a process of the phone's domains uses, read from the kernel's accounting
  (``utime + stime`` in ``/proc/PID/stat``), costs the busy-core power of the cluster it may run
  on: ``CORE_WATTS`` at the cluster's top frequency, scaled by ``(f / f_top) ** 3`` at the
  frequency its ``scaling_cur_freq`` says (dynamic power goes with f * V^2, and V with f);
* a process allowed on both clusters is charged to each in proportion to its allowed cores;
* each rail also has a constant floor (``FLOOR_WATTS``): leakage, memory, the screen;
* the emulated GPU and NPU are software on the CPU, so their work lands on the CPU rails.

Nothing here is a measurement of this machine's power: it is CPU time times constants, so the
whole path (parsing, baseline, the battery's unplug and reset, intervals) runs as on a phone.
"""

from __future__ import annotations

import os
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from emulated_device.thermal import BIG_KHZ, LITTLE_KHZ

HAL_SERVICE = "android.hardware.power.stats.IPowerStats/default"
# (rail, subsystem) as a Pixel 6's ODPM names them
LITTLE, BIG, MEMORY, DISPLAY = (
    ("S4M_VDD_CPUCL0", "CPU(LITTLE)"),
    ("S2M_VDD_CPUCL2", "CPU(BIG)"),
    ("S1M_VDD_MIF", "Memory"),
    ("VSYS_PWR_DISPLAY", "Display"),
)
RAILS = (LITTLE, BIG, MEMORY, DISPLAY)
CORE_WATTS = {LITTLE: (LITTLE_KHZ, 0.30), BIG: (BIG_KHZ, 1.20)}  # one busy core at the cluster's top frequency
FLOOR_WATTS = {LITTLE: 0.015, BIG: 0.010, MEMORY: 0.040, DISPLAY: 0.350}
GAUGE_PERIOD_S = 0.25  # how often the emulated fuel gauge refreshes its readings
BATTERY_UV = 3_850_000
BATTERY_FULL_UAH = 4_500_000
SOURCES_STATE = "energy_sources"  # scripted: which meters the phone has ("rails,gauge" by default)
TICK_S = 1.0 / os.sysconf("SC_CLK_TCK")


def float32(value: float) -> float:
    """``value`` as C's ``static_cast<float>`` leaves it (the HAL's dump prints that)."""
    return float(struct.unpack("f", struct.pack("f", value))[0])


@dataclass
class _Seen:
    ticks: int
    big_share: float


@dataclass
class PowerModel:
    """Cumulative microjoules per rail, advanced on every read from the phone's processes' CPU time."""

    sandbox_root: Path
    holders: dict[str, int]  # domain -> this machine's pid of its PID namespace's pid 1
    energy_uj: dict[tuple[str, str], float] = field(default_factory=lambda: {rail: 0.0 for rail in RAILS})
    _seen: dict[tuple[int, str], _Seen] = field(default_factory=dict)
    _last: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _cores: int = field(init=False, default=0)
    _big: frozenset[int] = field(init=False, default=frozenset())

    def __post_init__(self) -> None:
        """The CPUs as thermal.py laid them out at install: the last one the big cluster."""
        self._cores = len(list((self.sandbox_root / "sys" / "devices" / "system" / "cpu").glob("cpu[0-9]*")))
        self._big = frozenset({self._cores - 1}) if self._cores > 1 else frozenset()

    def read(self) -> dict[tuple[str, str], float]:
        """Every rail's cumulative energy now (uJ), advanced to now."""
        with self._lock:
            self._advance()
            return dict(self.energy_uj)

    def _advance(self) -> None:
        now = time.monotonic()
        seen = self._processes()
        if self._last:
            dt = now - self._last
            for rail, watts in FLOOR_WATTS.items():
                self.energy_uj[rail] += watts * dt * 1e6
            little_s = big_s = 0.0
            for key, process in seen.items():
                before = self._seen.get(key)
                used = (process.ticks - (before.ticks if before else 0)) * TICK_S
                big_s += used * process.big_share
                little_s += used * (1.0 - process.big_share)
            core_watts = self._core_watts()
            self.energy_uj[LITTLE] += little_s * core_watts[LITTLE] * 1e6
            self.energy_uj[BIG] += big_s * core_watts[BIG] * 1e6
        self._seen, self._last = seen, now

    def _core_watts(self) -> dict[tuple[str, str], float]:
        """A busy core's power per cluster at its cores' mean current frequency (a core whose
        frequency cannot be read counts as at the top)."""
        khz = self._cur_khz()
        found = {}
        for cluster, (top_khz, watts) in CORE_WATTS.items():
            mine = [k for cpu, k in enumerate(khz) if k and (cpu in self._big) == (cluster == BIG)]
            ratio = sum(mine) / len(mine) / top_khz if mine else 1.0
            found[cluster] = watts * min(ratio, 1.5) ** 3
        return found

    def _cur_khz(self) -> list[int]:
        found = []
        for cpu in range(self._cores):
            folder = self.sandbox_root / "sys" / "devices" / "system" / "cpu" / f"cpu{cpu}"
            try:
                found.append(int((folder / "cpufreq" / "scaling_cur_freq").read_text().split()[0]))
            except (OSError, ValueError, IndexError):
                found.append(0)
        return found

    def _namespaces(self) -> set[str]:
        spaces = set()
        for pid in self.holders.values():
            try:
                spaces.add(os.readlink(f"/proc/{pid}/ns/pid"))
            except OSError:
                continue
        return spaces

    def _processes(self) -> dict[tuple[int, str], _Seen]:
        """The phone's processes now, keyed by (pid, start time), with their CPU ticks so far."""
        spaces, found = self._namespaces(), {}
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                if os.readlink(f"/proc/{entry.name}/ns/pid") not in spaces:
                    continue
                fields = Path(f"/proc/{entry.name}/stat").read_text().rsplit(")", 1)[1].split()
                allowed = os.sched_getaffinity(int(entry.name))
            except (OSError, IndexError):
                continue
            share = len(allowed & self._big) / len(allowed) if allowed else 0.0
            found[(int(entry.name), fields[19])] = _Seen(int(fields[11]) + int(fields[12]), share)
        return found


def hal_dump(energy_uj: dict[tuple[str, str], float]) -> str:
    """The HAL's dump, in hardware/google/pixel's format (state residencies and consumers empty)."""
    lines = [
        "",
        "============= PowerStats HAL 2.0 state residencies ==============",
        f"  {'Entity':>16}   {'State':>18}   {'Total time':>16}   {'Total entries':>15}   {'Last entry tstamp':>17}",
        "========== End of PowerStats HAL 2.0 state residencies ==========",
        "",
        "============= PowerStats HAL 2.0 energy consumers ==============",
        "========== End of PowerStats HAL 2.0 energy consumers ==========",
        "",
        "============= PowerStats HAL 2.0 energy meter ==============",
        f"  {'Channel':>32}   {'Cumulative Energy':>18}",
    ]
    for (rail, subsystem), uj in energy_uj.items():
        lines.append(f"  {f'[{rail}]:{subsystem}':>32}   {float32(uj) / 1000.0:14.2f} mWs")
    lines.append("========== End of PowerStats HAL 2.0 energy meter ==========")
    return "\n".join(lines) + "\n"


def sources(internal: Path) -> set[str]:
    """Which meters the phone has: ``rails`` and/or ``gauge`` (a test scripts it with ``set_sources``)."""
    path = internal / SOURCES_STATE
    text = path.read_text() if path.is_file() else "rails,gauge"
    return {word for word in text.replace(",", " ").split() if word in ("rails", "gauge")}


def set_sources(root: Path, rails: bool, gauge: bool) -> None:
    """Script which energy meters the emulated phone has (both by default)."""
    internal = root.parent / (root.name + ".private") / "internal"
    (internal / SOURCES_STATE).write_text(",".join(n for n, on in (("rails", rails), ("gauge", gauge)) if on) + "\n")


class FuelGauge:
    """Refreshes ``/sys/class/power_supply/battery`` every ``GAUGE_PERIOD_S`` from the model: the
    average current over the last period, as a gauge reports it. ``status`` follows the battery's
    real plug (the scripted ``battery`` state), not ``dumpsys battery unplug``: a phone on a USB
    cable charges whatever the framework is told."""

    def __init__(self, model: PowerModel, internal: Path, plugged: Callable[[], bool]) -> None:
        self.model, self.internal, self.plugged = model, internal, plugged
        self.folder = model.sandbox_root / "sys" / "class" / "power_supply" / "battery"
        self.charge_uah = BATTERY_FULL_UAH * 0.8
        self._stop = threading.Event()

    def start(self) -> None:
        """The first reading at once (a phone's gauge has readings from boot on), then one a period."""
        if "gauge" in sources(self.internal):
            self._write(sum(FLOOR_WATTS.values()))
        threading.Thread(target=self._run, name="fuel-gauge", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        last_total, last_time = sum(self.model.read().values()), time.monotonic()
        while not self._stop.wait(GAUGE_PERIOD_S):
            total, now = sum(self.model.read().values()), time.monotonic()
            watts = (total - last_total) / 1e6 / max(now - last_time, 1e-6)
            last_total, last_time = total, now
            if "gauge" not in sources(self.internal):
                self._remove()
                continue
            self._write(watts)

    def _write(self, watts: float) -> None:
        charging = self.plugged()
        amps = watts / (BATTERY_UV / 1e6)
        current_ua = int(1_000_000 if charging else -amps * 1e6)  # the kernel ABI's sign: negative discharging
        self.charge_uah = min(BATTERY_FULL_UAH, max(0.0, self.charge_uah + current_ua * GAUGE_PERIOD_S / 3600))
        values = {
            "status": "Charging" if charging else "Discharging",
            "current_now": str(current_ua),
            "voltage_now": str(BATTERY_UV),
            "charge_counter": str(int(self.charge_uah)),
            "capacity": str(int(100 * self.charge_uah / BATTERY_FULL_UAH)),
            "type": "Battery",
        }
        self.folder.mkdir(parents=True, exist_ok=True)
        for name, value in values.items():
            staged = self.folder / f".{name}.new"
            staged.write_text(value + "\n")
            os.replace(staged, self.folder / name)  # a reader never sees half a value

    def _remove(self) -> None:
        for name in ("status", "current_now", "voltage_now", "charge_counter", "capacity", "type"):
            (self.folder / name).unlink(missing_ok=True)
