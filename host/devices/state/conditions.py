"""What state the phone is in: temperatures, thermal status, CPU frequencies; and the controls
that keep it steady: waiting until it is cool, the fastest cores, fixed-performance mode.

Read in one ``adb shell`` call from what every Android has: ``/sys/class/thermal/thermal_zone*``
(type and temperature), ``/sys/devices/system/cpu/cpu*/cpufreq`` (current and maximum
frequency) and ``dumpsys thermalservice`` (``Thermal Status: N``, 0 none, 1 light, 2 moderate,
3 severe and worse). A phone that hides some of it (zones unreadable to the shell) gives what it
gives; unknown stays unknown, never a made-up figure.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from host.devices.transport.device import Device
from host.results import Conditions

SNAPSHOT = (
    'for z in /sys/class/thermal/thermal_zone*; do echo "zone $(cat $z/type 2>/dev/null) $(cat $z/temp 2>/dev/null)"; '
    "done; "
    'for c in /sys/devices/system/cpu/cpu[0-9]*; do echo "cpu ${c##*cpu} $(cat $c/cpufreq/scaling_cur_freq '
    "2>/dev/null) "
    '$(cat $c/cpufreq/cpuinfo_max_freq 2>/dev/null) $(cat $c/cpufreq/scaling_governor 2>/dev/null)"; done; '
    'dumpsys thermalservice 2>/dev/null | grep "Thermal Status"; '
    'dumpsys battery 2>/dev/null | grep -E "^ *(level|temperature|AC powered|USB powered|Wireless powered):"'
)
PLUGS = {"AC powered": "ac", "USB powered": "usb", "Wireless powered": "wireless"}


def parse_conditions(text: str) -> Conditions:
    temperatures: dict[str, float] = {}
    cur: dict[int, int] = {}
    top: dict[int, int] = {}
    governors: dict[int, str] = {}
    battery: dict[str, str] = {}
    status = -1
    for line in text.splitlines():
        words = line.split()
        key, colon, said = line.strip().partition(":")
        if colon and (key in ("level", "temperature") or key in PLUGS):
            battery[key] = said.strip()
            continue
        if words[:1] == ["zone"] and len(words) >= 3 and words[-1].lstrip("-").isdigit():
            value = int(words[-1])
            celsius = value / 1000.0 if abs(value) > 1000 else float(value)  # most zones give millidegrees
            if -40.0 < celsius < 150.0:
                temperatures[" ".join(words[1:-1]) or f"zone{len(temperatures)}"] = celsius
        elif words[:1] == ["cpu"] and len(words) >= 2 and words[1].isdigit():
            numbers = [int(w) for w in words[2:] if w.isdigit()]
            cur[int(words[1])] = numbers[0] if numbers else 0
            top[int(words[1])] = numbers[1] if len(numbers) > 1 else 0
            governors[int(words[1])] = next((w for w in words[2:] if not w.isdigit()), "")
        elif "Thermal Status" in line and words[-1].isdigit():
            status = int(words[-1])
    cpus = range(max(cur) + 1) if cur else range(0)
    return Conditions(
        temperatures,
        status,
        tuple(cur.get(c, 0) for c in cpus),
        tuple(top.get(c, 0) for c in cpus),
        tuple(governors.get(c, "") for c in cpus),
        *_battery(battery),
    )


def _battery(found: dict[str, str]) -> tuple[int, float | None, str]:
    """dumpsys battery's level (%), temperature (tenths of a degree) and power source."""
    level, tenths = found.get("level", ""), found.get("temperature", "").lstrip("-")
    plugged = [name for key, name in PLUGS.items() if found.get(key) == "true"]
    return (
        int(level) if level.isdigit() else -1,
        int(found["temperature"]) / 10 if tenths.isdigit() else None,
        plugged[0] if plugged else "none" if any(k in found for k in PLUGS) else "",
    )


def read_conditions(device: Device) -> Conditions:
    return parse_conditions(device.shell(SNAPSHOT, timeout=30).stdout)


def fastest_cores(conditions: Conditions) -> int:
    """A CPU mask of the cores with the highest maximum frequency (big.LITTLE's big ones); 0 if unknown."""
    if not conditions.max_khz or not any(conditions.max_khz):
        return 0
    top = max(conditions.max_khz)
    return sum(1 << cpu for cpu, khz in enumerate(conditions.max_khz) if khz == top)


def cool(conditions: Conditions, below_c: float) -> bool:
    """No thermal status above none and the hottest CPU zone below ``below_c`` (unknowns pass)."""
    hottest = conditions.hottest_c
    return conditions.thermal_status <= 0 and (hottest is None or hottest < below_c)


def wait_until_cool(
    device: Device, below_c: float, bound_s: float, say: Callable[[str], None], first: Conditions | None = None
) -> tuple[Conditions, float]:
    """Poll until the phone is cool or ``bound_s`` has passed; (conditions then, seconds waited).
    ``first`` is a reading just taken (the previous repeat's end), used instead of a new one."""
    started = time.monotonic()
    conditions = first or read_conditions(device)
    told = False
    while not cool(conditions, below_c) and time.monotonic() - started < bound_s:
        if not told:
            say(
                f"{device.serial}: waiting for the phone to cool (status {conditions.thermal_status}, "
                f"{conditions.hottest_c or 0:.0f} C; at most {bound_s:g} s)"
            )
            told = True
        time.sleep(min(5.0, max(0.1, bound_s / 20)))
        conditions = read_conditions(device)
    return conditions, time.monotonic() - started


def set_fixed_performance(device: Device, enabled: bool) -> bool:
    """Android 11+'s fixed-performance mode (steady clocks for benchmarks); False where not offered."""
    if device.props().sdk < 30:
        return False
    return device.shell(f"cmd power set-fixed-performance-mode-enabled {'true' if enabled else 'false'}").ok
