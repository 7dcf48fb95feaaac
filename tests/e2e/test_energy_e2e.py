"""``host bench --energy`` end to end on the emulated device: its power rails and fuel gauge read
over adb while the agent's worker runs idle and loop windows; the figures stored, reported, gated
and kept out of the pick; the battery reset after Ctrl-C and after an agent crash."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import pytest

from emulated_device.power import set_sources
from emulated_device.thermal import set_battery
from host.cli import main
from host.devices.energy.battery import RESET
from host.devices.transport.device import Device
from host.store import ResultsStore
from tests.adb_fixtures import emulated_device, isolated_host
from tests.builders import conv_stack_tflite

FAST = ["--modes", "none", "--min-runs", "10", "--min-seconds", "0.05", "--warmup-seconds", "0.01"]
ENERGY = ["--energy", "--energy-seconds", "1", "--energy-repeats", "2"]
SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "docs" / "run.schema.json").read_text())


@pytest.fixture(scope="module")
def phone(tmp_path_factory):
    root = tmp_path_factory.mktemp("energy")
    (root / "model.tflite").write_bytes(conv_stack_tflite(4))
    with isolated_host(root) as server, emulated_device(server, root / "phone") as state:
        yield root, state, Device(server.address, state.serial)


def _bench(root: Path, serial: str, name: str, *extra: str) -> int:
    argv = ["bench", "--model", str(root / "model.tflite"), "--device", serial, "--db", str(root / "r.sqlite")]
    argv += ["--json", str(root / f"{name}.json"), "--report", str(root / f"{name}.html"), *FAST, *ENERGY, *extra]
    return main(argv)


@pytest.fixture(scope="module")
def first(phone):
    root, state, _ = phone
    assert _bench(root, state.serial, "first", "--backends", "cpu1,cpu4") == 0
    return json.loads((root / "first.json").read_text())


def test_each_cell_gets_energy_per_inference_from_the_phones_rails(phone, first, capsys):
    root, state, _ = phone
    jsonschema.validate(first, SCHEMA)
    energies = [cell["energy"] for cell in first["cells"]]
    assert len(energies) == 2 and all(e["source"] == "rails" and e["emulated"] for e in energies)
    for energy in energies:
        assert "emulated energy model" in energy["label"] and len(energy["repeats"]) == 2
        assert energy["mj_per_inference"] is not None and energy["ci_low"] <= energy["ci_high"]
        assert (
            energy["baseline_mw"] > 0 and energy["loop_seconds"] >= 1 and "[S2M_VDD_CPUCL2]:CPU(BIG)" in energy["rails"]
        )
        for repeat in energy["repeats"]:
            assert repeat["inferences"] > 0 and repeat["loop_s"] >= 0.9 * energy["loop_seconds"]
    store = ResultsStore(root / "r.sqlite", read_only=True)
    stored = store.load_run(first["run_id"])
    store.close()
    assert {c.backend: c.energy.mj_per_inference for c in stored.cells if c.energy} == {
        c["backend"]: c["energy"]["mj_per_inference"] for c in first["cells"]
    }
    html = (root / "first.html").read_text()
    assert 'id="chart-energy"' in html and "Energy per inference" in html
    capsys.readouterr()
    assert main(["report", first["run_id"], "--db", str(root / "r.sqlite"), "--tables", "energy"]) == 0
    out = capsys.readouterr().out
    assert "Energy per inference" in out and "emulated energy model" in out and "never used to pick" in out


def test_prefer_energy_never_picks_from_the_emulated_model(phone, first, capsys):
    root, _, _ = phone
    capsys.readouterr()
    code = main(["recommend", first["run_id"], "--db", str(root / "r.sqlite"), "--prefer", "energy"])
    out = capsys.readouterr().out
    assert code == 1 and "emulated energy model" in out


def test_the_gate_judges_energy_when_both_runs_have_it(phone, first):
    root, state, _ = phone
    assert _bench(root, state.serial, "second", "--backends", "cpu1,cpu4") == 0
    second = json.loads((root / "second.json").read_text())
    argv = ["check", "--baseline", first["run_id"], "--current", second["run_id"], "--db", str(root / "r.sqlite")]
    assert main([*argv, "--json", str(root / "verdicts.json")]) == 0  # two runs of one build do not regress
    findings = json.loads((root / "verdicts.json").read_text())["findings"]
    energy = [f for f in findings if f["check"] == "energy"]
    assert {f["backend"] for f in energy} == {"cpu1", "cpu4"}, findings
    for finding in energy:
        judged = "below resolution" not in finding["baseline"] + finding["current"]
        why = "Welch" if judged else "below its meter's resolution"  # two repeats often give a wide interval
        assert why in finding["detail"] and "emulated energy model" in finding["detail"], finding
        assert "mJ (n=2)" in finding["baseline"] and finding["verdict"] != "regressed", finding


def _interruptible() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # a backgrounded suite leaves SIGINT ignored (POSIX)


def _gauge_bench(root: Path, serial: str, name: str) -> tuple[subprocess.Popen[bytes], Path]:
    """A bench on the fuel gauge (the phone on battery, no rails), its log in a file."""
    argv = [sys.executable, "-m", "host.cli", "bench", "--model", str(root / "model.tflite"), "--device", serial]
    argv += ["--db", str(root / f"{name}.sqlite"), "--backends", "cpu1", *FAST, *ENERGY]
    log = root / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, env=os.environ.copy(), preexec_fn=_interruptible
        )
    return proc, log


def _wait_for_the_energy_loop(proc: subprocess.Popen[bytes], log: Path, device: Device) -> None:
    """Until the bench runs its energy cell (its stage line) with the battery unplugged."""
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        if (
            "cpu1 energy:" in log.read_text(errors="replace")
            and "UPDATES STOPPED" in device.shell("dumpsys battery").stdout
        ):
            return
        time.sleep(0.2)
    raise AssertionError(f"the energy loop never started: {log.read_text(errors='replace')[-2000:]}")


@pytest.fixture()
def on_battery(phone):
    root, state, device = phone
    set_sources(Path(state.root), rails=False, gauge=True)
    set_battery(Path(state.root), 80, 30.0, "none")
    yield root, state, device
    set_sources(Path(state.root), rails=True, gauge=True)
    set_battery(Path(state.root), 100, 25.0, "usb")
    device.shell(RESET)


def test_ctrl_c_during_an_energy_loop_resets_the_battery(on_battery):
    root, state, device = on_battery
    proc, log = _gauge_bench(root, state.serial, "ctrl-c")
    _wait_for_the_energy_loop(proc, log, device)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=120) == 130, log.read_text(errors="replace")[-2000:]
    assert "UPDATES STOPPED" not in device.shell("dumpsys battery").stdout
    assert not list((root / "data" / "unplugged").glob("*.json"))


def test_an_agent_crash_during_an_energy_loop_resets_the_battery_and_the_run_goes_on(on_battery):
    root, state, device = on_battery
    proc, log = _gauge_bench(root, state.serial, "crash")
    _wait_for_the_energy_loop(proc, log, device)
    (session,) = (root / "data" / "sessions").glob(f"{proc.pid}-*.json")
    record = json.loads(session.read_text())
    device.shell(f"{record['stop_prefix']}kill -9 {record['agent_pid']}")
    code = proc.wait(timeout=300)
    text = log.read_text(errors="replace")
    assert code == 0 and "agent lost" in text, text[-3000:]
    assert "UPDATES STOPPED" not in device.shell("dumpsys battery").stdout
    store = ResultsStore(root / "crash.sqlite", read_only=True)
    (cell,) = store.load_run("latest").cells
    store.close()
    assert cell.energy is not None and cell.energy.source == "gauge" and len(cell.energy.repeats) == 2, cell.energy


def test_a_phone_without_any_meter_benches_and_says_why_there_is_no_energy(phone, capsys):
    root, state, device = phone
    set_sources(Path(state.root), rails=False, gauge=False)
    try:
        deadline = time.monotonic() + 10
        while device.exists("/sys/class/power_supply/battery/current_now") and time.monotonic() < deadline:
            time.sleep(0.1)  # the gauge's files go at its next refresh
        capsys.readouterr()
        assert _bench(root, state.serial, "none", "--backends", "cpu1") == 0
        out = capsys.readouterr().out
    finally:
        set_sources(Path(state.root), rails=True, gauge=True)
    (cell,) = json.loads((root / "none.json").read_text())["cells"]
    assert cell["status"] == "ok" and cell["energy"]["source"] == "" and cell["energy"]["mj_per_inference"] is None
    assert "no power rails" in cell["energy"]["note"] and "energy: no figure: no power rails" in " ".join(out.split())
