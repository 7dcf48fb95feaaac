"""``host bench`` end to end: demo model, real adb server, emulated device, agent, SQLite, reports."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from host.cli import main
from host.devices.transport.device import Device
from host.emulator import manager
from host.errors import StoreError
from host.results import RunRecord
from host.store import ResultsStore
from tests import chromium
from tests.adb_fixtures import isolated_host

FAST = ["--min-runs", "10", "--min-seconds", "0.05", "--warmup-seconds", "0.01"]
MODES = "none,dynamic_range,float16,integer,full_integer,int16x8"
FIDELITY_KEYS = {"top1_agreement", "mean_abs_error", "max_abs_error", "snr_db", "outputs"}
CELL_KEYS = {
    "device",
    "mode",
    "backend",
    "status",
    "error",
    "engine",
    "accelerator",
    "size_bytes",
    "latency_ms",
    "memory_mb",
    "start",
    "delegation",
    "accuracy",
    "fidelity",
    "task",
    "energy",
}


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """Private adb server, data and cache folders; every emulator stopped at the end."""
    root = tmp_path_factory.mktemp("bench")
    with isolated_host(root):
        yield root


@pytest.fixture(scope="module")
def first_run(env):
    argv = [
        "bench",
        "--modes",
        MODES,
        "--limit",
        "60",
        "--db",
        str(env / "results.sqlite"),
        "--json",
        str(env / "run.json"),
        "--report",
        str(env / "run.html"),
        *FAST,
    ]
    assert main(argv) == 0
    return json.loads((env / "run.json").read_text())


def _store_listing(env: Path) -> dict[str, tuple[int, int]]:
    # the bench's own emulated phone runs the agent inside Termux, in the app's own data folder
    store = (
        env
        / "data"
        / "emulator"
        / "sandbox"
        / "data"
        / "data"
        / "com.termux"
        / "files"
        / "home"
        / "quantbench"
        / "root"
        / "store"
    )
    return {p.name: (p.stat().st_ino, p.stat().st_size) for p in store.iterdir()}  # a rewrite makes a new inode


def test_json_matches_the_contract_field_by_field(first_run):
    """The run's JSON against docs/run.schema.json (no field more, none less), then its values."""
    import jsonschema

    run = first_run
    jsonschema.validate(run, json.loads((Path(__file__).resolve().parents[2] / "docs" / "run.schema.json").read_text()))
    assert set(run) == {"run_id", "started", "tool_version", "model", "dataset", "devices", "cells"}
    assert set(run["model"]) == {"name", "sha256", "input_shape"} and run["model"]["name"] == "demo"
    assert run["model"]["input_shape"] == [1, 64, 64, 3]
    assert run["dataset"]["name"] == "demo" and run["dataset"]["count"] == 60 and len(run["dataset"]["sha256"]) == 64
    (device,) = run["devices"]
    assert set(device) == {
        "serial",
        "model",
        "abi",
        "sdk",
        "runtime",
        "runtime_version",
        "cores",
        "launcher",
        "fingerprint",
    }
    assert device["launcher"] == "termux-run-as" and len(device["fingerprint"]["id"]) == 16
    assert device["fingerprint"]["runtime"].startswith("ai-edge-litert") and device["fingerprint"]["build"]
    assert len(run["cells"]) == 7 * 5  # the six modes and the demo's integer+keep2 (two layers in float)
    for cell in run["cells"]:
        assert set(cell) == CELL_KEYS
        if cell["backend"] in ("cpu1", "cpu4"):
            assert cell["status"] == "ok", cell
            assert (cell["engine"], cell["accelerator"]) == ("tflite-interpreter", "XNNPACK"), cell
            assert set(cell["latency_ms"]) == {
                "init",
                "first",
                "mean",
                "std",
                "min",
                "p50",
                "p90",
                "p95",
                "p99",
                "max",
                "count",
            }
            assert set(cell["memory_mb"]) == {
                "init_rss",
                "peak_rss",
                "baseline_rss",
                "first_rss",
                "overall_rss",
                "evaluate_peak_rss",
                "peak_source",
                "init_delta",
                "overall_delta",
                "peak_delta",
            }
            assert set(cell["delegation"]) == {"delegated_nodes", "total_nodes"}
            assert set(cell["accuracy"]) == {"top1", "top3", "top5", "count"} and cell["accuracy"]["count"] == 60
            if cell["mode"] in ("integer", "full_integer"):  # the demo's outlier channel: int8 loses tens of points
                assert cell["accuracy"]["top1"] <= 0.8, cell
            else:  # ... and keeping its producer and consumer in float (integer+keep2) wins them back
                assert cell["accuracy"]["top1"] >= 0.9, cell
            if (cell["mode"], cell["backend"]) != ("none", "cpu1"):
                assert set(cell["fidelity"]) == FIDELITY_KEYS and len(cell["fidelity"]["outputs"]) == 1, cell
                (output,) = cell["fidelity"]["outputs"]  # the demo classifier: one [1, classes] output
                assert output["top1_agreement"] == cell["fidelity"]["top1_agreement"] and output["values"] == 10, output
                assert output["snr_db"] == cell["fidelity"]["snr_db"] and 0.0 < output["cosine"] <= 1.0 + 1e-6, output
        elif cell["backend"] in ("gpu", "npu") and (cell["backend"], cell["mode"]) != ("gpu", "int16x8"):
            # the emulated device's software GPU (SwiftShader) and NPU (OpenVINO CPU), the whole model on each
            assert cell["status"] == "ok", cell
            assert cell["engine"] == "litert-compiled-model" and "(LiteRT 2.3.0" in cell["accelerator"], cell
            software = "software GPU: SwiftShader" if cell["backend"] == "gpu" else "software NPU: OpenVINO CPU"
            assert software in cell["accelerator"], cell
            assert cell["delegation"]["delegated_nodes"] == cell["delegation"]["total_nodes"] > 0, cell
            assert cell["accuracy"]["count"] == 60 and set(cell["fidelity"]) == FIDELITY_KEYS
        elif (
            cell["backend"] == "gpu"
        ):  # no int16 activations on LiteRT's GPU: refused alone, never run on the CPU instead
            assert cell["status"] == "fallback" and "does not run this model by itself" in cell["error"], cell
            assert "Tensor type(INT16) is not supported" in cell["error"], "LiteRT's log names what it refused"
            assert cell["latency_ms"] is None and cell["accuracy"] is None
        else:
            assert cell["status"] == "unavailable" and "emulated device" in cell["error"]
            assert cell["latency_ms"] is None and cell["accuracy"] is None and cell["fidelity"] is None


def test_the_database_holds_every_cell_with_its_samples(env, first_run):
    store = ResultsStore(env / "results.sqlite")
    run = store.load_run(first_run["run_id"])
    store.close()
    assert len(run.cells) == 35
    for cell in run.cells:
        if cell.ok:
            assert cell.result.latency is not None
            assert len(cell.result.latency.samples_ms) == cell.result.latency.count >= 10


def test_second_identical_run_converts_nothing_and_pushes_nothing(env, first_run):
    before = _store_listing(env)
    argv = ["bench", "--modes", MODES, "--limit", "60", "--db", str(env / "results.sqlite"), *FAST]
    assert main(argv) == 0
    store = ResultsStore(env / "results.sqlite")
    run = store.load_run("latest")
    store.close()
    assert run.run_id != first_run["run_id"]
    assert run.stats.converted == 0 and run.stats.conversion_cache_hits == 7
    assert run.stats.pushed_files == 0 and run.stats.files == 8
    after = _store_listing(env)
    new_files = set(after) - set(before)
    assert {name: after[name] for name in before} == before, "no stored file was written again"
    assert len(new_files) <= 1, "at most the new reference outputs"


def test_reports_in_every_format(env, first_run, capsys):
    db = str(env / "results.sqlite")
    run_id = first_run["run_id"]
    assert main(["report", run_id, "--format", "md", "--db", db]) == 0
    markdown = capsys.readouterr().out
    assert "| mode | bytes | vs none |" in markdown
    # footnotes are numbered in the order their cells finished, which a shuffled run draws anew
    number = re.search(r"nnapi: unavailable for every build \[(\d+)\]", markdown)
    assert number and re.search(rf"\[{number.group(1)}\] [^\n]*NNAPI", markdown, re.I), (
        "NNAPI's cells point at its reason"
    )
    assert main(["report", run_id, "--format", "csv", "--db", db]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 36 and lines[0].startswith("run_id,device,mode,backend,status")
    assert main(["report", run_id, "--format", "json", "--db", db]) == 0
    assert json.loads(capsys.readouterr().out) == first_run
    assert main(["report", "nope", "--db", db]) == 2


def test_each_cells_per_op_profile_and_its_memory_over_the_baseline(env, first_run, capsys):
    """The pass after the timed samples: on the CPU every XNNPACK node or model op with its
    share, which add up to the invoke, and nearly all named by their Keras layer; the software
    GPU (WebGPU cannot profile) and the NPU's one partition said as what they are."""
    db = str(env / "results.sqlite")
    assert main(["report", first_run["run_id"], "--ops", "--format", "json", "--db", db]) == 0
    profile = json.loads(capsys.readouterr().out)
    rows = [r for r in profile["ops"] if r["cell"] == "none/cpu1"]
    named = [r for r in rows if r["op"] != "(between nodes: runtime and profiler)"]
    assert len(named) >= 32 and sum(1 for r in named if r["layer"]) >= len(named) - 1, named
    assert sum(r["share"] for r in rows) == pytest.approx(1.0)
    assert 0.6 < sum(r["share"] for r in named) <= 1.0
    assert all(r["ran_on"] == "XNNPACK" for r in named if r["op"].startswith(("Convolution", "Fully Connected")))
    notes = {note.split(":", 1)[0]: note for note in profile["notes"]}
    assert "no per-op profile" in notes["none/gpu"] and "profiling on" in notes["none/gpu"]
    npu = [r for r in profile["ops"] if r["cell"] == "none/npu" and r["op"] == "DELEGATE"]
    assert npu and "whole partition" in npu[0]["ran_on"] and npu[0]["share"] > 0.5
    cells = {(c["mode"], c["backend"]): c for c in first_run["cells"]}
    memory = cells[("none", "cpu1")]["memory_mb"]
    assert memory["baseline_rss"] > 0 and 0 <= memory["init_delta"] < memory["baseline_rss"] and memory["peak_source"]
    with ResultsStore(Path(db)) as store:
        stored = {(c.mode, c.backend): c for c in store.load_run(first_run["run_id"]).cells}
    pass_ = stored[("none", "cpu1")].result.op_profile
    assert pass_ is not None and pass_.first_ms > 0, "the pass's own first run is measured (kept out of the profile)"


def test_html_report_renders_in_headless_chromium_with_its_charts(env, first_run):
    page = env / "run.html"
    html = page.read_text()
    for chart in (
        "chart-pareto",
        "chart-latency",
        "chart-accuracy-size",
        "chart-latency-distribution",
        "chart-op-types",
        "chart-layers",
    ):
        assert f'id="{chart}"' in html
    assert html.index('id="recommendation"') < html.index("Summary (") < html.index("<details><summary>Model size"), (
        "the answer first"
    )
    pick = re.search(r"Which build to ship: (\S+) on cpu", html)
    assert pick and pick.group(1) not in ("integer", "full_integer"), "never the builds that lost 40 points"
    profile = env / "chromium-profile"
    dom = chromium.dom(page, profile)
    assert 'data-charts-rendered="6"' in dom, "all six chart images decoded in the browser"
    assert "Latency p50" in dom and "nnapi: unavailable for every build" in dom and "<details>" in dom


@pytest.mark.parametrize("width", [1280, 390])
def test_the_report_fits_a_laptop_and_a_phone_without_horizontal_scrolling(env, first_run, width):
    """Tables scroll inside their own box and charts shrink to the window; the test fails on a
    page wider than the window (it did before both, at 390 px)."""
    page, profile = env / "run.html", env / "chromium-profile"
    assert chromium.overflow_px(page, profile, width) == 0
    shot = chromium.screenshot(page, profile, width, env / f"report-{width}.png")
    assert shot.is_file() and shot.stat().st_size > 10_000


def _interruptible() -> None:
    """Ctrl-C's SIGINT back to its default for the bench: a script that starts this suite in the
    background (``cmd &``) leaves SIGINT ignored for every descendant (POSIX), and Python then
    never raises KeyboardInterrupt. A terminal's Ctrl-C finds the default, as the bench here does."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["killed", "ctrl-c"])
def test_resume_after_a_killed_run_completes_only_what_was_missing(env, first_run, sig):
    """SIGKILL leaves the emulated device running; Ctrl-C stops it, so the resumed run reaches it
    again through a new adb serial: cells are found by the device's own serial number."""
    db = env / f"resume-{sig.name}.sqlite"
    argv = [
        sys.executable,
        "-m",
        "host.cli",
        "bench",
        "--modes",
        "none,float16,integer",
        "--backends",
        "cpu1,cpu4",
        "--limit",
        "20",
        "--db",
        str(db),
        "--min-runs",
        "10",
        "--min-seconds",
        "3",
        "--warmup-seconds",
        "0.01",
    ]
    # 3 s a cell: six cells are left when two are stored, so the run cannot end before the signal lands
    log = (env / f"resume-{sig.name}.err").open("w")
    proc = subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=log, env=os.environ.copy(), preexec_fn=_interruptible
    )
    deadline = time.monotonic() + 240
    done_before: dict[tuple[str, str], str] = {}
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.5)
        if db.is_file():
            run = _stored_run(db)
            done_before = {(c.mode, c.backend): c.finished for c in run.cells} if run else {}
            if len(done_before) >= 2:
                proc.send_signal(sig)
                break
    code = proc.wait(timeout=60)
    log.close()
    assert code == (130 if sig == signal.SIGINT else -9), (env / f"resume-{sig.name}.err").read_text()[-2000:]
    assert 2 <= len(done_before) < 8, f"the run must be killed mid-way, got {len(done_before)} cells"
    assert run is not None
    assert main(["bench", "--resume", run.run_id, "--db", str(db)]) == 0
    store = ResultsStore(db)
    resumed = store.load_run(run.run_id)
    store.close()
    assert len(resumed.cells) == 8 and all(c.status == "ok" for c in resumed.cells)  # integer+keep2 too
    for cell in resumed.cells:
        if (cell.mode, cell.backend) in done_before:
            assert cell.finished == done_before[(cell.mode, cell.backend)], "finished cells are not run again"
    assert resumed.stats.cells_run == 8 - len(done_before)


def test_a_device_that_disconnects_mid_run_fails_the_rest_and_loses_nothing(env):
    """Kill the emulated device under a running bench: finished cells stay, the rest fail, exit 1."""
    from host.devices.transport.adb import parse_server

    state = manager.start(parse_server(None), 0, env / "doomed-sandbox")
    db = env / "disconnect.sqlite"
    argv = [
        sys.executable,
        "-m",
        "host.cli",
        "bench",
        "--device",
        state.serial,
        "--modes",
        "none,float16,integer",
        "--keep-float",
        "none",
        "--backends",
        "cpu1,cpu4",
        "--limit",
        "20",
        "--db",
        str(db),
        "--min-runs",
        "10",
        "--min-seconds",
        "1.0",
        "--warmup-seconds",
        "0.01",
        "--cell-timeout",
        "60",
        "--reconnect-wait",
        "3",
    ]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=os.environ.copy())
    deadline = time.monotonic() + 240
    finished_before = 0
    while time.monotonic() < deadline and proc.poll() is None and finished_before < 1:
        time.sleep(0.3)
        if db.is_file():
            stored = _stored_run(db)
            finished_before = len(stored.cells) if stored else 0
    os.kill(state.pid, signal.SIGKILL)
    code = proc.wait(timeout=300)
    # a phone would keep the orphaned agent until its idle exit; stopping powers the emulated phone
    # off: each domain's pid 1, and with it the agent this test's bench started there
    manager.stop_state(parse_server(None), state)
    assert manager.power_off(env / "doomed-sandbox") == 0, "no domain of the stopped phone is left running"
    store = ResultsStore(db)
    run = store.load_run("latest")
    store.close()
    assert code == 1, proc.stderr.read() if proc.stderr else ""
    assert len(run.cells) == 6, "every cell is recorded: measured before the loss, failed after it"
    ok = [c for c in run.cells if c.status == "ok"]
    failed = [c for c in run.cells if c.status == "failed"]
    assert len(ok) >= finished_before >= 1 and failed
    assert all("emulated device's daemon is gone" in c.error and "adb reconnect" not in c.error for c in failed), failed


def _stored_run(db: Path | str) -> RunRecord | None:
    """What a running bench has stored so far; None while its database is still being made (the
    file appears before its tables) or its run row is not written yet."""
    try:
        store = ResultsStore(db, read_only=True)
    except StoreError:
        return None
    try:
        return store.load_run("latest")
    except Exception:  # noqa: BLE001 - the run row may not exist yet
        return None
    finally:
        store.close()


def _bench_until_a_cell_is_stored(argv: list[str], db: Path) -> subprocess.Popen:
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy())
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.3)
        stored = _stored_run(db) if db.is_file() else None
        if stored is not None and stored.cells:
            return proc
    raise AssertionError(f"no cell was stored: {proc.stderr.read() if proc.poll() is not None and proc.stderr else ''}")


@pytest.mark.parametrize("how", ["adb-server-killed", "adb-disconnect"])
def test_a_device_that_drops_off_mid_run_is_reconnected_and_the_run_completes(env, how):
    """The adb server killed (it comes back without its network devices), or the device dropped
    (USB re-enumeration): the bench waits, reconnects with adb connect, and finishes every cell."""
    from host.devices.transport.adb import disconnect_device, kill_server, parse_server

    address = parse_server(None)
    state = manager.start(address, 0, env / f"flaky-{how}")
    db = env / f"{how}.sqlite"
    argv = [
        sys.executable,
        "-m",
        "host.cli",
        "bench",
        "--device",
        state.serial,
        "--modes",
        "none,float16,integer",
        "--keep-float",
        "none",
        "--backends",
        "cpu1,cpu4",
        "--limit",
        "20",
        "--db",
        str(db),
        "--min-runs",
        "10",
        "--min-seconds",
        "1.0",
        "--warmup-seconds",
        "0.01",
        "--reconnect-wait",
        "60",
    ]
    try:
        proc = _bench_until_a_cell_is_stored(argv, db)
        if how == "adb-server-killed":
            kill_server(address)
        else:
            disconnect_device(address, state.serial)
        out, err = proc.communicate(timeout=400)
    finally:
        manager.stop_state(address, state)
    store = ResultsStore(db, read_only=True)
    run = store.load_run("latest")
    store.close()
    assert proc.returncode == 0, err
    assert len(run.cells) == 6 and all(c.ok for c in run.cells), [c.error for c in run.cells]
    assert "dropped off" in out and "back" in out and run.stats.agent_restarts == 1


def test_several_devices_run_at_once_into_one_run(env, tmp_path, capsys):
    """A farm: two devices named with --device, each measuring its own matrix concurrently."""
    from host.devices.transport.adb import parse_server

    address = parse_server(None)
    first = manager.start(address, 0, tmp_path / "farm-a")
    second = manager.start(address, 0, tmp_path / "farm-b")
    identities = {Device(address, first.serial).identity, Device(address, second.serial).identity}
    try:
        out = tmp_path / "farm.json"
        argv = [
            "bench",
            "--device",
            first.serial,
            "--device",
            second.serial,
            "--modes",
            "none,float16",
            "--backends",
            "cpu1,gpu",
            "--limit",
            "20",
            "--db",
            str(env / "farm.sqlite"),
            "--json",
            str(out),
            *FAST,
        ]
        assert main(argv) == 0
    finally:
        manager.stop_state(address, first)
        manager.stop_state(address, second)
    printed = capsys.readouterr().out
    assert "Across devices: p50 latency (ms) / top-1" in printed and all(i in printed for i in identities)
    run = json.loads(out.read_text())
    assert {d["serial"] for d in run["devices"]} == identities and len(identities) == 2
    assert len(run["cells"]) == 8
    for serial in identities:
        mine = {(c["mode"], c["backend"]): c for c in run["cells"] if c["device"] == serial}
        assert mine[("none", "cpu1")]["status"] == mine[("float16", "cpu1")]["status"] == "ok"
        assert mine[("float16", "cpu1")]["fidelity"] is not None, "each device has its own reference"
        assert mine[("none", "gpu")]["status"] == "ok", "each emulated device got LiteRT on its first session"


def test_given_tflite_builds_are_benched_as_they_are(env, tmp_path):
    """A release pipeline's own builds: a host convert folder (manifest), or one .tflite file."""
    assert main(["convert", "demo", "--modes", "none,float16", "--out", str(tmp_path / "build")]) == 0
    for model, modes in (
        (tmp_path / "build", {"none", "float16"}),
        (tmp_path / "build" / "float16.tflite", {"float16"}),
    ):
        out = tmp_path / f"{model.name}.json"
        argv = [
            "bench",
            "--model",
            str(model),
            "--backends",
            "cpu1",
            "--dataset",
            str(demo_eval()),
            "--limit",
            "30",
            "--db",
            str(env / "given.sqlite"),
            "--json",
            str(out),
            *FAST,
        ]
        assert main(argv) == 0
        run = json.loads(out.read_text())
        assert {c["mode"] for c in run["cells"]} == modes
        for cell in run["cells"]:
            assert cell["status"] == "ok" and cell["accuracy"]["top1"] >= 0.9
            assert cell["size_bytes"] == (tmp_path / "build" / f"{cell['mode']}.tflite").stat().st_size


def test_the_console_leads_with_the_answer_and_every_run_writes_its_report(env, capsys):
    """No --report or --json: the run's folder gets both, their paths are the last lines; the
    console shows the summary (nnapi folded into one line) and the pick; --tables all the rest."""
    db = str(env / "console.sqlite")
    argv = ["bench", "--modes", "none,float16", "--backends", "cpu1,nnapi", "--limit", "30", "--db", db, *FAST]
    assert main(argv) == 0
    out = capsys.readouterr().out
    lines = out.strip().splitlines()
    assert lines[-2].startswith("json: ") and lines[-1].startswith("report: "), lines[-3:]
    report, record = Path(lines[-1].removeprefix("report: ")), Path(lines[-2].removeprefix("json: "))
    run_id = json.loads(record.read_text())["run_id"]
    assert report == env / "data" / "runs" / run_id / "report.html" and "<details>" in report.read_text()
    assert lines[-3].startswith("recommended: ")
    assert "Summary" in out and "p50 cpu1 (ms)" in out and "nnapi: unavailable for every build [1]" in out
    assert "p50 nnapi" not in out and "Model size" not in out and "Memory (MB)" not in out
    assert sum(1 for line in lines if line.startswith("fingerprint ")) == 1
    assert main(["report", run_id, "--tables", "all", "--db", db]) == 0
    everything = capsys.readouterr().out
    assert all(
        title in everything for title in ("Model size", "Latency p50", "Memory (MB)", "Start (ms)", "at the start:")
    )
    assert main(["bench", "--tables", "sizes", "--db", db]) == 2


def demo_eval() -> Path:
    from host.data.demo import split_folder

    return split_folder("eval")


def test_two_benches_on_one_device_take_turns_and_the_last_one_out_stops_it(env, tmp_path):
    """Neither names a device: the first starts the emulated device, the second waits for it (a
    third with --no-wait refuses), and the emulated device is stopped when the last bench ends."""
    from host.devices.transport.adb import parse_server

    manager.stop(parse_server(None), everything=True)

    def bench(name: str, *extra: str) -> subprocess.Popen[str]:
        argv = [
            sys.executable,
            "-m",
            "host.cli",
            "bench",
            "--modes",
            "none,float16",
            "--backends",
            "cpu1",
            "--limit",
            "10",
            "--db",
            str(tmp_path / f"{name}.sqlite"),
            "--min-runs",
            "10",
            "--min-seconds",
            "1.0",
            "--warmup-seconds",
            "0.01",
            *extra,
        ]
        return subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=os.environ.copy()
        )

    first = bench("first", "--min-seconds", "15")  # its two cells hold the device for 30 s once it has it
    said = []  # the first's lines until it holds the device: it deploys the agent only then
    while first.poll() is None and not any("deploying the agent" in line for line in said):
        said.append(first.stdout.readline())
    (state,) = manager.running()
    assert state.auto
    second, third = bench("second"), bench("third", "--no-wait")
    outputs = [p.communicate(timeout=300)[0] for p in (first, second, third)]
    outputs[0] = "".join(said) + outputs[0]
    (tmp_path.parent / "take_turns.log").write_text("\n=====\n".join(outputs))
    assert (first.returncode, second.returncode) == (0, 0), "\n=====\n".join(outputs)
    assert third.returncode == 1 and "in use by pid" in outputs[2] and "--no-wait" in outputs[2], outputs[2]
    assert "waiting for it" in outputs[1]
    for name in ("first", "second"):
        store = ResultsStore(tmp_path / f"{name}.sqlite")
        assert [c.status for c in store.load_run("latest").cells] == ["ok", "ok"]
        store.close()
    assert not (tmp_path / "third.sqlite").exists() or "no runs" in _latest_or_error(tmp_path / "third.sqlite")
    assert manager.running() == [], "the last bench out stopped the emulated device a bench had started"


def _latest_or_error(db: Path) -> str:
    store = ResultsStore(db)
    try:
        return store.load_run("latest").run_id
    except Exception as e:  # noqa: BLE001 - the message is what the test reads
        return str(e)
    finally:
        store.close()


def test_what_a_killed_bench_left_on_the_device_is_cleaned_up_by_doctor(env, tmp_path):
    """SIGKILL leaves the agent running (its traffic went through the adb server's connection, so
    no forward is left); 'host doctor' (as the next bench would) stops that agent."""
    import json as jsonlib

    from host.devices.launch.launchers import running
    from host.devices.transport.adb import parse_server

    address = parse_server(None)
    state = manager.start(address, 0, tmp_path / "sandbox")
    try:
        device = Device(address, state.serial)
        argv = [
            sys.executable,
            "-m",
            "host.cli",
            "bench",
            "--device",
            state.serial,
            "--modes",
            "none",
            "--backends",
            "cpu1,cpu4",
            "--limit",
            "10",
            "--db",
            str(tmp_path / "r.sqlite"),
            "--min-runs",
            "10",
            "--min-seconds",
            "20",
            "--warmup-seconds",
            "0.01",
        ]
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=os.environ.copy())
        sessions = env / "data" / "sessions"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not _agent_of(device, sessions, proc.pid):
            time.sleep(0.2)  # until the bench's session names an agent that runs on the device
        proc.kill()
        proc.wait(timeout=30)
        (record_path,) = sessions.glob(f"{proc.pid}-*.json")
        record = jsonlib.loads(record_path.read_text())
        assert running(device, record["agent_pid"], record["stop_prefix"]), "the killed bench left its agent running"
        assert record["local_port"] == 0 and device._device.forward_list() == [], "no forward to leave behind"
        assert main(["doctor", "--device", state.serial]) == 0
        assert not running(device, record["agent_pid"], record["stop_prefix"]) and not record_path.exists()
    finally:
        manager.stop_state(address, state)


def _agent_of(device: Device, sessions: Path, pid: int) -> bool:
    """Whether bench ``pid`` has recorded its session and the agent it names runs on the device."""
    from host.devices.launch.launchers import running

    for path in sessions.glob(f"{pid}-*.json"):
        try:
            record = json.loads(path.read_text())
        except ValueError:  # written as we read it
            return False
        return bool(record.get("agent_pid")) and running(device, record["agent_pid"], record["stop_prefix"])
    return False


@pytest.fixture(scope="module")
def postgres():
    from tests.postgres import server_or_skip

    yield from server_or_skip()


def test_a_postgresql_stop_mid_bench_is_waited_out_and_the_run_completes(env, postgres, tmp_path):
    """The shared store goes away between two cells (a restart that takes a while): the bench says
    it waits, the write in flight lands once the server is back, and the run ends whole, exit 0.
    The server is stopped once a cell is stored and started only once the bench has said it waits,
    so the outage always falls on a write, however busy the machine."""
    from tests.postgres import fresh_database, pg_ctl

    url = fresh_database(postgres)
    out = tmp_path / "bench.out"
    argv = [
        sys.executable,
        "-m",
        "host.cli",
        "bench",
        "--modes",
        "none,float16",
        "--backends",
        "cpu1,cpu4",
        "--limit",
        "20",
        "--db",
        url,
        "--min-runs",
        "10",
        "--min-seconds",
        "0.3",
        "--warmup-seconds",
        "0.01",
    ]
    with out.open("w") as sink:
        proc = subprocess.Popen(argv, stdout=sink, stderr=subprocess.STDOUT, env=os.environ.copy())
    stopped = False
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None and not stopped:
            time.sleep(0.3)
            stored = _stored_run(url)
            if stored is not None and stored.cells:
                pg_ctl(postgres, "stop", "-m", "fast")
                stopped = True
        assert stopped, out.read_text()[-2000:]
        while time.monotonic() < deadline and proc.poll() is None and "unavailable" not in out.read_text():
            time.sleep(0.3)
        assert "unavailable" in out.read_text(), out.read_text()[-2000:]
    finally:
        if stopped:
            pg_ctl(postgres, "start")
    assert proc.wait(timeout=300) == 0, out.read_text()[-2000:]
    run = _stored_run(url)
    assert run is not None and run.stats.cells_run == 4
    assert sorted((c.mode, c.backend) for c in run.cells) == sorted(
        (m, b) for m in ("none", "float16") for b in ("cpu1", "cpu4")
    )
    assert all(c.ok for c in run.cells), [c.error for c in run.cells]
