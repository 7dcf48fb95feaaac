"""The emulated phone's energy meters, read as the host reads a phone's: over the shell user's rights.

Its power rails are driven by the CPU time its processes really use, so a busy shell must cost
more than an idle one; its fuel gauge reads the charger while the battery charges, and the
battery's ``unplug`` is reset however the block that asked for it ends.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from emulated_device.power import set_sources
from emulated_device.thermal import set_battery
from host.devices.energy import battery
from host.devices.energy.method import cumulative
from host.devices.energy.run import probe_device
from host.devices.energy.sampler import Sampler
from host.devices.energy.sources import gauge_refusal, probe
from host.devices.launch.doctor import energy_check
from host.devices.transport.device import Device
from host.paths import data_dir
from tests.adb_fixtures import emulated_device, isolated_host


@pytest.fixture(scope="module")
def phone(tmp_path_factory):
    root = tmp_path_factory.mktemp("energy")
    with isolated_host(root) as server, emulated_device(server, root / "phone") as state:
        yield Device(server.address, state.serial), Path(state.root)


@pytest.fixture()
def meters(phone):
    """Both meters and a USB cable, as the phone starts; put back after each test."""
    device, root = phone
    yield device, root
    set_sources(root, rails=True, gauge=True)
    set_battery(root, 100, 25.0, "usb")
    device.shell(battery.RESET)


def _energy_mj(device: Device, source, command: str, seconds: float) -> float:
    """The rails' energy while ``command`` runs on the phone for about ``seconds``."""
    with Sampler(device, source, seconds + 30) as sampler:
        time.sleep(0.6)
        device.shell(command, timeout=seconds + 30)
        time.sleep(0.6)
        while len(sampler.samples()) < 4:
            time.sleep(0.1)
    times, rails = cumulative(sampler.samples(), source)
    return float(sum(values[-1] - values[0] for values in rails.values()))


def test_the_rails_are_found_named_and_labelled_as_the_emulated_model(meters):
    device, _ = meters
    source = probe(device, device.props().emulated)
    assert source.kind == "rails" and source.emulated
    assert "[S2M_VDD_CPUCL2]:CPU(BIG)" in source.rails and "emulated energy model" in source.label
    check = energy_check(device)
    assert check.ok and "CPU(LITTLE)" in check.found


def test_the_rails_follow_the_cpu_time_the_phones_processes_use(meters):
    device, _ = meters
    source = probe(device, True)
    idle = _energy_mj(device, source, "sleep 2", 2)
    busy = _energy_mj(device, source, "end=$((SECONDS + 2)); while [ $SECONDS -lt $end ]; do :; done", 2)
    # the floors are the same in both; a busy core adds at least 0.3 W for the CPU time it got
    assert busy > idle + 100, (idle, busy)


def test_the_fuel_gauge_reads_the_charger_on_a_cable_and_the_phone_on_battery(meters):
    device, root = meters
    set_sources(root, rails=False, gauge=True)
    source = probe(device, True)
    assert source.kind == "gauge" and "coarser" in source.label
    with Sampler(device, source, 10) as sampler:
        while len(sampler.samples()) < 3:
            time.sleep(0.1)
    assert gauge_refusal(sampler.samples()[-1].status) and "charger" in gauge_refusal("Charging")
    on_cable = probe_device(device, 5.0)
    assert on_cable.source.kind is None and "charger" in on_cable.source.reason
    assert "UPDATES STOPPED" not in device.shell("dumpsys battery").stdout  # the probe's unplug was reset
    set_battery(root, 80, 30.0, "none")  # adb over Wi-Fi: the cable is out
    deadline = time.monotonic() + 30
    status = ""
    while status != "Discharging" and time.monotonic() < deadline:
        with Sampler(device, source, 5) as sampler:
            while len(sampler.samples()) < 2:
                time.sleep(0.1)
        status = sampler.samples()[-1].status
    assert status == "Discharging" and sampler.samples()[-1].values["battery"] > 0
    on_battery = probe_device(device, 5.0)
    assert on_battery.source.kind == "gauge" and on_battery.loop_s >= 20 * 0.25 * 0.9, on_battery


def test_the_battery_is_reset_however_the_unplugged_block_ends(meters):
    device, _ = meters
    with battery.unplugged(device):
        assert "UPDATES STOPPED" in device.shell("dumpsys battery").stdout
        assert "USB powered: false" in device.shell("dumpsys battery").stdout
    assert "UPDATES STOPPED" not in device.shell("dumpsys battery").stdout
    with pytest.raises(RuntimeError), battery.unplugged(device):
        raise RuntimeError("the agent crashed")
    after = device.shell("dumpsys battery").stdout
    assert "UPDATES STOPPED" not in after and "USB powered: true" in after


def test_a_battery_a_killed_controller_left_unplugged_is_reset_by_the_next_run(meters):
    device, _ = meters
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(gone.stdout)
    device.check_shell(battery.UNPLUG)
    folder = data_dir() / "unplugged"
    folder.mkdir(parents=True, exist_ok=True)
    record = folder / f"{dead_pid}-x.json"
    where = {"host_pid": dead_pid, "serial": device.serial}
    record.write_text(json.dumps({**where, "adb_host": device.address.host, "adb_port": device.address.port}))
    done = battery.reap(device.address, {device.serial})
    assert done and "left unplugged" in done[0] and not record.exists()
    assert "UPDATES STOPPED" not in device.shell("dumpsys battery").stdout


def test_a_phone_without_any_meter_says_unavailable_and_why(meters):
    device, root = meters
    set_sources(root, rails=False, gauge=False)
    deadline = time.monotonic() + 10
    while device.exists("/sys/class/power_supply/battery/current_now") and time.monotonic() < deadline:
        time.sleep(0.1)  # the gauge's files go at its next refresh
    source = probe(device, True)
    assert source.kind is None and "no power rails" in source.reason and "fuel gauge" in source.reason
    check = energy_check(device)
    assert not check.ok and check.found.startswith("unavailable:") and "Pixel 6" in check.fix
