"""Which energy meter a phone offers, and the parsers for what each prints.

* **Power rails** (ODPM, Pixel 6 and later): the power.stats HAL's energy meters, cumulative per
  rail. The framework's ``dumpsys powerstats`` lists the channels but prints no readings (AOSP
  frameworks/base, ``PowerStatsService.dump``); the HAL's own dump does, and the shell may ask for
  it: ``dumpsys android.hardware.power.stats.IPowerStats/default`` (as androidx.benchmark's
  ``PowerRail`` does). Its energy meter section, from hardware/google/pixel
  ``powerstats/PowerStats.cpp`` (``dumpEnergyMeter``)::

      ============= PowerStats HAL 2.0 energy meter ==============
                                 Channel    Cumulative Energy
            [S4M_VDD_CPUCL0]:CPU(LITTLE)         123456.78 mWs
      ========== End of PowerStats HAL 2.0 energy meter ==========

  with ``"  %32s   %14.2f mWs"`` per channel: the microjoules are cast to a 32-bit float before
  printing, so a reading's resolution is that float's spacing at its value (or 0.01 mWs).
* **Fuel gauge**: ``/sys/class/power_supply/battery/{status,current_now,voltage_now}`` (the kernel's
  power-supply ABI: microamps, negative while discharging on most phones, positive on some; and
  microvolts). It only measures the phone's load while the battery is really discharging.
"""

from __future__ import annotations

import math
import re
import struct
from dataclasses import dataclass
from typing import Literal

from host.devices.transport.device import Device
from host.errors import DeviceError

HAL_SERVICE = "android.hardware.power.stats.IPowerStats/default"
METER_START = "============= PowerStats HAL 2.0 energy meter"
METER_END = "========== End of PowerStats HAL 2.0 energy meter"
RAILS_COMMAND = (
    f"dumpsys {HAL_SERVICE} 2>/dev/null | sed -n '/energy meter ==/,/End of PowerStats HAL 2.0 energy meter/p'"
)
BATTERY = "/sys/class/power_supply/battery"
GAUGE_COMMAND = (
    f'read s < {BATTERY}/status; read i < {BATTERY}/current_now; read v < {BATTERY}/voltage_now; echo "G $s $i $v"'
)
_CHANNEL = re.compile(r"^\s*(\[[^\]]+\]:\S.*?)\s+(-?\d+(?:\.\d+)?)\s+mWs\b")
SourceKind = Literal["rails", "gauge"]
EMULATED_LABEL = "emulated energy model"


@dataclass(frozen=True)
class EnergySource:
    """What a device offers: ``kind`` empty means nothing, and ``reason`` says why."""

    kind: SourceKind | None
    rails: tuple[str, ...] = ()
    emulated: bool = False
    reason: str = ""

    @property
    def label(self) -> str:
        name = {"rails": "power rails (ODPM)", "gauge": "fuel gauge (coarser: the whole phone's battery current)"}
        text = name[self.kind] if self.kind else f"unavailable: {self.reason}"
        return text + (f" - {EMULATED_LABEL}" if self.emulated and self.kind else "")


def parse_rails(text: str) -> dict[str, float]:
    """The energy meter section's channels: ``[RAIL]:SUBSYSTEM`` -> cumulative millijoules.
    Text before the section's header, or after its end, is not read (the dump has other sections)."""
    found: dict[str, float] = {}
    inside = False
    for line in text.splitlines():
        if line.startswith(METER_START):
            inside = True
        elif line.startswith(METER_END):
            inside = False
        elif inside and (match := _CHANNEL.match(line)):
            value = float(match.group(2))
            if math.isfinite(value):
                found[match.group(1).strip()] = value
    return found


def rail_resolution_mj(value_mj: float) -> float:
    """The step a printed reading moves in: the 32-bit float's spacing at the value (the HAL casts
    microjoules to float), and never under the two printed decimals."""
    as_float = struct.unpack("f", struct.pack("f", value_mj * 1000.0))[0]
    bits = struct.unpack("I", struct.pack("f", as_float))[0]
    above = struct.unpack("f", struct.pack("I", bits + 1))[0]
    return max(float(above - as_float) / 1000.0, 0.01)


@dataclass(frozen=True)
class GaugeReading:
    status: str  # Charging, Discharging, Not charging, Full, Unknown
    watts: float  # what the battery gives the phone (0 when it does not discharge)


def parse_gauge(line: str) -> GaugeReading | None:
    """One ``G STATUS CURRENT VOLTAGE`` line of the sampler. The current's sign differs between
    phones, so its size is taken while the status says the battery discharges. A value under
    10,000 is taken as milliamps (millivolts), which some older gauges report."""
    words = line.split()
    if len(words) < 4 or words[0] != "G":
        return None
    status = " ".join(words[1:-2])
    try:
        current, voltage = abs(int(words[-2])), abs(int(words[-1]))
    except ValueError:
        return None
    amps = current / (1e3 if current < 10_000 else 1e6)
    volts = voltage / (1e3 if voltage < 10_000 else 1e6)
    return GaugeReading(status, amps * volts if status == "Discharging" else 0.0)


def probe(device: Device, emulated: bool) -> EnergySource:
    """The best meter the device offers: rails, else the fuel gauge, else none with both reasons."""
    try:
        rails = parse_rails(device.shell(RAILS_COMMAND, timeout=30).stdout)
        if rails:
            return EnergySource("rails", tuple(rails), emulated)
        gauge = device.shell(GAUGE_COMMAND, timeout=30)
    except DeviceError as e:
        return EnergySource(None, reason=f"the device could not be read: {e}")
    no_rails = f"no power rails ('dumpsys {HAL_SERVICE}' has no energy meter section)"
    reading = parse_gauge(gauge.stdout.strip())
    if reading is None:
        return EnergySource(None, reason=f"{no_rails}, and no readable fuel gauge under {BATTERY}")
    return EnergySource("gauge", ("battery",), emulated)


def gauge_refusal(status: str) -> str:
    """Why a fuel gauge cannot measure now ('' when it can): only a discharging battery's current
    is the phone's load; on a cable it is the charger's."""
    if status == "Discharging":
        return ""
    return (
        f"the battery is not discharging (status {status!r}): a fuel gauge then reads the charger, not the "
        "phone's load; reach the phone over Wi-Fi adb with the cable out (adb tcpip), or use a phone with power rails"
    )
