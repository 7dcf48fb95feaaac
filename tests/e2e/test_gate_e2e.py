"""The release gate end to end on the emulated phone: repeats, host check, host compare, heat.

Two builds of one small image model: ``base`` and ``slower`` (three times the convolutions).
Two benches of the same build must not fail ``host check``; ``host compare`` must pass the same
build and fail the slower one; a phone that reports itself throttled has its repeats left out;
a hot phone is waited for; fixed-performance mode is on while measuring and off afterwards.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from emulated_device.thermal import set_thermal
from host.cli import main
from host.emulator import manager
from host.store import ResultsStore
from tests.adb_fixtures import emulated_device, isolated_host
from tests.builders import conv_stack_tflite

FAST = ["--modes", "none", "--backends", "cpu1", "--min-runs", "20", "--min-seconds", "0.1", "--warmup-seconds", "0.01"]


@pytest.fixture(scope="module")
def phone(tmp_path_factory):
    root = tmp_path_factory.mktemp("gate")
    with isolated_host(root) as server, emulated_device(server, root / "phone") as state:
        yield root, state


@pytest.fixture(scope="module")
def builds(phone):
    root, _ = phone
    (root / "base.tflite").write_bytes(conv_stack_tflite(4))
    (root / "slower.tflite").write_bytes(conv_stack_tflite(12))
    return root / "base.tflite", root / "slower.tflite"


def _bench(root: Path, state: manager.EmulatorState, model: Path, *extra: str) -> str:
    assert (
        main(["bench", "--model", str(model), "--device", state.serial, "--db", str(root / "r.sqlite"), *FAST, *extra])
        == 0
    )
    store = ResultsStore(root / "r.sqlite", read_only=True)
    try:
        return store.load_run("latest").run_id
    finally:
        store.close()


def _internal(state: manager.EmulatorState) -> Path:
    return Path(state.root).parent / (Path(state.root).name + ".private") / "internal"


def test_two_benches_of_the_same_build_do_not_fail_the_gate(phone, builds, capsys):
    root, state = phone
    first = _bench(root, state, builds[0], "--repeats", "6")
    second = _bench(root, state, builds[0], "--repeats", "6")
    capsys.readouterr()
    assert main(["check", "--baseline", first, "--current", second, "--db", str(root / "r.sqlite")]) == 0
    out = capsys.readouterr().out
    store = ResultsStore(root / "r.sqlite", read_only=True)
    kept = [
        sum(1 for r in cell.repeats if r.kind == "repeat" and not r.throttled) for cell in store.load_run(second).cells
    ]
    store.close()
    # a busy machine may flag a repeat as throttled: it is left out (and said), never a regression
    assert "0 regressed" in out and all(f"(n={n}" in out for n in kept), (kept, out)
    assert (_internal(state) / "fixed_performance").read_text().strip() == "false", "restored after the bench"
    store = ResultsStore(root / "r.sqlite", read_only=True)
    (device,) = store.load_run(second).devices
    store.close()
    assert device.fixed_performance, "the emulated phone (Android 14) offers fixed-performance mode"


def test_compare_passes_the_same_build_and_fails_a_slower_one(phone, builds, capsys):
    root, state = phone
    base, slower = builds
    common = ["--device", state.serial, "--db", str(root / "r.sqlite"), *FAST]
    assert main(["compare", str(base), str(base), *common, "--seed", "11"]) == 0
    assert "0 regressed" in capsys.readouterr().out
    junit = root / "compare.xml"
    assert main(["compare", str(base), str(slower), *common, "--junit", str(junit), "--seed", "11"]) == 1
    out = capsys.readouterr().out
    assert "1 regressed" in out and "REGRESSED" in out and "stored as runs" in out
    assert ET.parse(junit).getroot().get("failures") == "1"
    store = ResultsStore(root / "r.sqlite", read_only=True)
    baseline_id, current_id = out.rsplit("stored as runs ", 1)[1].replace(" (baseline) and", "").split()[:2]
    runs = [store.load_run(run_id) for run_id in (baseline_id, current_id)]
    store.close()
    positions = sorted((r.position, side) for side, run in enumerate(runs) for c in run.cells for r in c.repeats)
    rounds = [sorted(side for _, side in positions[i : i + 2]) for i in range(0, len(positions), 2)]
    assert all(r == [0, 1] for r in rounds), "each round times both builds once (interleaved A/B)"
    # --modes none asks for conversions: the float files' none builds, paired by mode
    assert runs[0].model.name == "base" and runs[1].model.name == "slower" and runs[1].cells[0].mode == "none"


def test_compare_measures_a_quantized_file_against_a_float_one_as_they_are(phone, builds, capsys):
    """What a release gate does most: the shipped float file against the new int8 one. It once
    failed with "the builds share no mode" (the float file was converted, the int8 one was not)."""
    from host.convert import tfenv
    from tests.builders import keras

    root, state = phone
    base, _ = builds
    k = keras()
    k.utils.set_random_seed(0)
    inp = k.Input((32, 32, 3), batch_size=1)
    x = inp
    for _ in range(4):
        x = k.layers.Conv2D(16, 3, padding="same", activation="relu")(x)
    converter = tfenv.tf().lite.TFLiteConverter.from_keras_model(
        k.Model(inp, k.layers.Dense(4)(k.layers.GlobalAveragePooling2D()(x)))
    )
    converter.optimizations = [tfenv.tf().lite.Optimize.DEFAULT]
    with tfenv.silenced():
        (root / "int8.tflite").write_bytes(bytes(converter.convert()))
    no_modes = FAST[2:]  # without --modes: the two files are measured as they are
    common = ["--device", state.serial, "--db", str(root / "r.sqlite"), *no_modes, "--seed", "11", "--max-repeats", "4"]
    assert main(["compare", str(base), str(root / "int8.tflite"), *common]) in (0, 1)
    out = capsys.readouterr().out
    assert "stored as runs" in out and "in 1 compared cell(s)" in out, out[-600:]
    store = ResultsStore(root / "r.sqlite", read_only=True)
    baseline_id, current_id = out.rsplit("stored as runs ", 1)[1].replace(" (baseline) and", "").split()[:2]
    sizes = [store.load_run(run_id).cells[0].size_bytes for run_id in (baseline_id, current_id)]
    store.close()
    assert sizes == [base.stat().st_size, (root / "int8.tflite").stat().st_size], "each file's own bytes were measured"


def test_a_throttled_phone_has_its_repeats_left_out_of_the_verdict(phone, builds, capsys):
    root, state = phone
    baseline = _bench(root, state, builds[0], "--repeats", "5")
    set_thermal(Path(state.root), status=3)
    try:
        throttled = _bench(root, state, builds[0], "--repeats", "5", "--cooldown", "0.5")
    finally:
        set_thermal(Path(state.root), status=0)
    out = capsys.readouterr().out
    assert "throttled: thermal status 3" in out and "0 throttled repeat(s) left out of the figures" in out
    assert "1 cell(s) measured while throttled: fewer than two of their repeats ran unthrottled" in out
    assert (
        main(
            [
                "check",
                "--baseline",
                baseline,
                "--current",
                throttled,
                "--db",
                str(root / "r.sqlite"),
                "--json",
                str(root / "v.json"),
            ]
        )
        == 0
    )
    latency = next(f for f in json.loads((root / "v.json").read_text())["findings"] if f["check"] == "latency")
    assert latency["verdict"] == "inconclusive" and "5 throttled left out" in latency["current"]


def test_a_hot_phone_is_waited_for_before_each_repeat(phone, builds):
    """The phone is cooled when the bench says it waits for it (a state it prints), never on a timer."""
    root, state = phone
    set_thermal(Path(state.root), temperature_c=70.0)
    argv = [
        sys.executable,
        "-m",
        "host.cli",
        "bench",
        "--model",
        str(builds[0]),
        "--device",
        state.serial,
        "--db",
        str(root / "r.sqlite"),
        *FAST,
        "--repeats",
        "2",
        "--cooldown",
        "60",
    ]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=os.environ.copy())
    said: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            said.append(line)
            if "waiting for the phone to cool" in line:
                time.sleep(0.5)  # it goes on waiting while the phone stays hot
                set_thermal(Path(state.root), temperature_c=35.0)
        assert proc.wait(timeout=120) == 0, "".join(said)
    finally:
        proc.kill()
        set_thermal(Path(state.root), temperature_c=35.0)
    assert any("waiting for the phone to cool" in line for line in said), "".join(said)
    store = ResultsStore(root / "r.sqlite", read_only=True)
    cell = store.load_run("latest").cells[0]
    store.close()
    first = min(cell.repeats, key=lambda r: r.position)
    assert first.cooled_s >= 0.5 and first.before is not None and first.before.hottest_c == 35.0
    assert all(r.after is not None and r.after.max_khz for r in cell.repeats), "clocks recorded around every repeat"


def test_a_sustained_run_is_read_in_windows_with_a_chart(phone, builds, capsys):
    root, state = phone
    report = root / "sustained.html"
    _bench(root, state, builds[0], "--sustained", "0.2", "--sustained-cells", "none/cpu1", "--report", str(report))
    out = capsys.readouterr().out
    assert "sustained none/cpu1: 0.2 min in 2 windows" in out
    assert 'id="chart-sustained"' in report.read_text() and "Repeats in the order they ran" in report.read_text()


def test_the_devices_fingerprint_and_state_are_stored_and_shown(phone, builds, capsys):
    import os

    from emulated_device.thermal import set_battery

    root, state = phone
    set_battery(Path(state.root), 41, 33.5, "none")
    try:
        run_id = _bench(root, state, builds[0])
    finally:
        set_battery(Path(state.root), 100, 25.0, "usb")
    out = capsys.readouterr().out
    store = ResultsStore(root / "r.sqlite", read_only=True)
    run = store.load_run(run_id)
    store.close()
    (device,) = run.devices
    f = device.fingerprint
    assert f is not None and f.build.startswith("quantbench/") and f.kernel == os.uname().release
    assert set(f.governors) == {"schedutil"} and max(f.max_khz) == 2_400_000 and f.runtime.startswith("ai-edge-litert")
    assert "nnapi: unavailable" in " ".join(f.delegates) and "software GPU: SwiftShader (fp32)" in f.delegates
    assert all(c.fingerprint == f.id for c in run.cells)
    assert (device.at_start.battery_level, device.at_start.battery_temp_c, device.at_start.plugged) == (
        41,
        33.5,
        "none",
    )
    assert f"fingerprint {f.id}: build quantbench/" in out and "at the start: battery 41% at 33.5 C (none)" in out
