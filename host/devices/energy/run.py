"""One device's energy measurement: which meter, how long a loop, and one energy cell read on it.

The meter is probed once per session; a short sampling run tells how often its reading changes,
which sets the loop's length. Each energy cell runs alone (never during the timed latency
samples) with the sampler around it, the battery unplugged for a fuel gauge and reset however the
cell ends; the phone's screen state, brightness and CPU governors are recorded with the figure.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from device_agent.contract import CellResult, EnergyParams
from host.devices.energy.battery import unplugged
from host.devices.energy.method import energy_record, loop_seconds, update_period
from host.devices.energy.sampler import SAMPLE_PERIOD_S, Sampler
from host.devices.energy.sources import EnergySource, gauge_refusal, probe
from host.devices.transport.device import Device
from host.errors import HostError
from host.results import EnergyRecord

PROBE_S = 3.0  # sampling this long tells the meter's update period (a slower meter is taken as this slow)
LOAD_MARGIN_S = 180.0  # the sampler's own bound past the windows: the model's load and warm-up
TAIL_S = 10.0  # the longest wait for the reading after the last loop's end
STATE = (
    "dumpsys power 2>/dev/null | grep mWakefulness=; settings get system screen_brightness 2>/dev/null; "
    "cat /sys/devices/system/cpu/cpu*/cpufreq/scaling_governor 2>/dev/null"
)


@dataclass(frozen=True)
class EnergyProbe:
    source: EnergySource
    update_period_s: float = 0.0
    loop_s: float = 0.0


def probe_device(device: Device, minimum_s: float) -> EnergyProbe:
    """The device's meter and the loop it needs; a meter that cannot be sampled is unavailable."""
    source = probe(device, device.props().emulated)
    if source.kind is None:
        return EnergyProbe(source)
    guard = unplugged(device) if source.kind == "gauge" else contextlib.nullcontext()
    try:
        with guard, Sampler(device, source, PROBE_S + 5) as sampler:
            time.sleep(PROBE_S)
    except HostError as e:
        return EnergyProbe(replace(source, kind=None, reason=f"its {source.kind} could not be sampled: {e}"))
    samples = sampler.samples()
    if len(samples) < 2:
        reason = f"its {source.kind} gave {len(samples)} readings in {PROBE_S:g} s ({sampler.error or 'no error'})"
        return EnergyProbe(replace(source, kind=None, reason=reason))
    refusal = gauge_refusal(samples[-1].status) if source.kind == "gauge" else ""
    if refusal:  # found now, not after every cell's loops
        return EnergyProbe(replace(source, kind=None, reason=refusal))
    period = update_period(samples) or PROBE_S
    return EnergyProbe(source, max(period, SAMPLE_PERIOD_S), loop_seconds(max(period, SAMPLE_PERIOD_S), minimum_s))


def measure_energy(
    device: Device, found: EnergyProbe, params: EnergyParams, run_cell: Callable[[], CellResult]
) -> tuple[CellResult, EnergyRecord]:
    """Run the energy cell with the sampler around it; the record says why when there is no figure."""
    guard = unplugged(device) if found.source.kind == "gauge" else contextlib.nullcontext()
    bound = params.repeats * 2 * params.loop_seconds + LOAD_MARGIN_S
    with guard, Sampler(device, found.source, bound) as sampler:
        result = run_cell()
        if result.energy_windows:  # the loop's last edge needs a reading after it
            sampler.wait_past(max(w.loop_end_s for w in result.energy_windows), TAIL_S)
    if not result.ok:
        note = f"the energy cell ended {result.status}: {result.error}"
        failed = EnergyRecord(label=found.source.label, emulated=found.source.emulated, note=note)
        return result, _with_state(failed, device)
    record = energy_record(
        found.source, sampler.samples(), result.energy_windows, params.loop_seconds, found.update_period_s
    )
    if sampler.error and not record.source:
        record = replace(record, note=f"{record.note} (the sampler: {sampler.error})")
    return result, _with_state(record, device)


def _with_state(record: EnergyRecord, device: Device) -> EnergyRecord:
    """The record with the screen state, brightness and CPU governors, as the shell can read them."""
    try:
        lines = device.shell(STATE, timeout=30).stdout.splitlines()
    except HostError:
        return record
    screen = next((line.split("=", 1)[1].strip() for line in lines if "mWakefulness=" in line), "")
    rest = [line.strip() for line in lines if "mWakefulness=" not in line]
    brightness = next((value for value in rest if value.isdigit()), "")
    governor = ",".join(sorted({value for value in rest if value and not value.isdigit() and value != "null"}))
    return replace(record, screen=screen, brightness=brightness, governor=governor)
