"""Bad input found by the adversarial run of issue 22, each one line and exit 2 before any work."""

from __future__ import annotations

import os
import stat

import pytest

from host.bench.config import BenchConfig
from host.bench.plan import resume_plan
from host.cli import main
from host.data.datasets import DatasetError, read_labels
from host.devices.selection.stf import FarmDevice
from host.errors import InputError
from host.params import build
from host.store import ResultsStore
from tests.records import cell, run


def _one_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


@pytest.mark.parametrize(
    "argv",
    [
        ["bench", "--io-type", "int4"],
        ["report", "--format", "xml"],
        ["emulator", "start", "--profile", "bogus"],
        ["cache", "prune", "--max-days", "abc"],
        ["bench", "--no-such-option"],
    ],
)
def test_argparse_errors_are_one_line(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert _one_line(capsys).startswith("error: ")


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["--stf", "not_a_url"], "http:// or https://"),
        (["--stf", "ftp://farm.lab/"], "http:// or https://"),
        (["--stf", "http://127.0.0.1:99999"], "not a usable URL"),
        (["--stf", "http://127.0.0.1:7100", "--stf-filter", "sdk>>30"], "compares numbers"),
        (["--stf", "http://127.0.0.1:7100", "--stf-filter", "sdk"], "FIELD OP VALUE"),
        (["--db", "postgresql://[::1"], "not a valid postgresql:// URL"),
        (["--backends", "cpu1", "--sustained", "1", "--sustained-cells", "none/cpu4"], "not among --backends"),
        (["--backends", "cpu1", "--sustained", "1", "--sustained-cells", "none/cpu1;id"], "not among --backends"),
        (["--modes", "none", "--sustained", "1", "--sustained-cells", "integer/cpu1"], "not among the modes"),
        (["--json", "/nonexistent/dir/x.json"], "does not exist"),
        (["--db", "/nonexistent/dir/r.sqlite"], "the folder /nonexistent/dir does not exist"),
        (["--resume", ""], "--resume needs a run id"),
        (["--device-python", ""], "--device-python must name a Python on the device"),
    ],
)
def test_bench_refuses_before_any_work(argv, said, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("STF_TOKEN", "t0ken")
    db = [] if "--db" in argv else ["--db", str(tmp_path / "r.sqlite")]
    assert main(["bench", *argv, *db]) == 2
    line = _one_line(capsys)
    assert said in line and "t0ken" not in line
    assert not os.path.exists("/nonexistent/dir"), "a folder named for an output is never created by the check"


def test_recommend_refuses_an_accuracy_above_100(capsys, tmp_path):
    assert main(["recommend", "--min-accuracy", "200", "--db", str(tmp_path / "r.sqlite")]) == 2
    assert "--min-accuracy must be between 0 and 100" in _one_line(capsys)


def test_a_blank_line_in_a_labels_file_is_an_error_naming_the_line(tmp_path):
    labels = tmp_path / "labels.txt"
    labels.write_text("0\n1\n\n2\n3\n\n4\n5\n6\n7\n8\n9\n")
    with pytest.raises(DatasetError, match=r"line 3 is blank"):
        read_labels(labels, 10)
    labels.write_text("".join(f"{i}\n" for i in range(10)) + "\n\n")
    assert [label for _, label in read_labels(labels, 10)] == list(range(10)), (
        "blank lines at the end are the file's end"
    )


def test_an_stf_entry_that_does_not_say_it_is_present_and_ready_is_not_free():
    assert not FarmDevice("x", {"serial": "x"}).free
    assert not FarmDevice("x", {"serial": "x", "present": True}).free
    assert FarmDevice("x", {"serial": "x", "present": True, "ready": True, "owner": None}).free


def test_sql_wildcards_in_a_run_reference_are_characters(tmp_path):
    with ResultsStore(tmp_path / "r.sqlite") as store:
        store.create_run(run("20261201-101010-abcdef", [cell("A", "none", "cpu1")]))
        assert store.resolve_run_id("20261201-1010") == "20261201-101010-abcdef"
        for ref in ("%", "_%", "2026%", "20261201_101010"):
            with pytest.raises(InputError, match="not found"):
                store.resolve_run_id(ref)


def test_an_empty_run_id_or_db_never_means_the_newest_run_or_the_default(tmp_path):
    """A shell variable that expanded to nothing names nothing (round 4, item 5)."""
    from host.store.location import locate

    with ResultsStore(tmp_path / "r.sqlite") as store:
        store.create_run(run("20261201-101010-abcdef", [cell("A", "none", "cpu1")]))
        assert store.resolve_run_id(None) == store.resolve_run_id("latest") == "20261201-101010-abcdef"
        for ref in ("", "  "):
            with pytest.raises(InputError, match="the run id is empty"):
                store.resolve_run_id(ref)
    with pytest.raises(InputError, match="--db is empty"):
        locate("")


@pytest.mark.parametrize(
    "text, flag", [("cpu1,,", "--backends"), (",,,", "--keep-float"), ("sdk=30,,abi=x", "--stf-filter")]
)
def test_an_empty_item_in_a_comma_list_is_refused(text, flag):
    from host.bench.config import Measurement
    from host.convert.options import keep_float_layers
    from host.devices.selection.stf import parse_filter

    check = {
        "--backends": lambda t: build(Measurement, {"backends": t}).backends,
        "--keep-float": keep_float_layers,
        "--stf-filter": parse_filter,
    }[flag]
    with pytest.raises(InputError, match=f"{flag} .* has an empty item between commas"):
        check(text)


def test_resume_refuses_settings_the_stored_run_would_override():
    previous = run("r1", [cell("A", "none", "cpu1")])
    with pytest.raises(InputError, match=r"leave out --limit, --modes"):
        resume_plan(previous, BenchConfig.of(modes="none", limit=5))
    with pytest.raises(InputError, match=r"--no-cache"):
        resume_plan(previous, BenchConfig.of(use_cache=False))
    assert resume_plan(previous, BenchConfig.of(device=("B",))).config.devices.device == ("B",)


def test_what_the_host_writes_is_the_users_alone(tmp_path, monkeypatch):
    from host.devices.selection.lock import device_lock
    from host.fsio import open_private

    monkeypatch.setenv("QUANTBENCH_DATA_DIR", str(tmp_path / "data"))
    old = os.umask(0o022)
    try:
        with ResultsStore(tmp_path / "results.sqlite"):
            pass
        with device_lock("SERIAL1", wait=False, on_wait=print):
            locks = list((tmp_path / "data").rglob("*SERIAL1*"))
        with open_private(tmp_path / "adbd.log") as log:
            log.write(b"x")
    finally:
        os.umask(old)
    assert locks
    for path in (tmp_path / "results.sqlite", *locks, tmp_path / "adbd.log"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


@pytest.mark.parametrize("body", [b"<html><body>Welcome to nginx</body></html>", b"[1, 2", b"[1, 2]"])
def test_an_stf_url_that_answers_something_else_says_so(body):
    """A web server that is not STF answered, rather than nothing at all (issue 22, item 9)."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from host.devices.selection.stf import StfClient, StfError

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(StfError, match="is this the STF server's URL") as raised:
            StfClient(f"http://127.0.0.1:{server.server_port}", token="t").devices()
        assert "does not answer" not in str(raised.value)
    finally:
        server.shutdown()
        server.server_close()


def test_a_lost_adb_server_is_named_as_such_not_as_the_emulated_device(tmp_path):
    import socket

    from host.devices.transport.adb import AdbServerAddress, map_adb_error

    with socket.socket() as probe:  # a port nothing listens on: the server is gone
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    error = map_adb_error(
        ConnectionResetError("reset by peer"),
        "emulator-1",
        "shell",
        emulated=True,
        server=AdbServerAddress("127.0.0.1", port),
    )
    assert f"adb server at 127.0.0.1:{port} stopped answering" in str(error)
    assert "daemon is gone" not in str(error)


def test_a_restarted_adb_server_is_named_when_the_emulated_device_still_runs():
    """Another user's 'adb kill-server', then a new server that does not know the emulated device:
    its daemon still listens, so the message says the server restarted, not that the device died."""
    import socket

    from adbutils import AdbError

    from host.devices.transport.adb import AdbServerAddress, map_adb_error

    with socket.socket() as daemon:  # the emulated device's daemon, still listening
        daemon.bind(("127.0.0.1", 0))
        daemon.listen(1)
        serial = f"127.0.0.1:{daemon.getsockname()[1]}"
        error = map_adb_error(
            AdbError(f"device '{serial}' not found"),
            serial,
            "shell",
            emulated=True,
            server=AdbServerAddress("127.0.0.1", 5037),
        )
    assert "no longer knows" in str(error) and "was restarted" in str(error) and f"adb connect {serial}" in str(error)
    assert "daemon is gone" not in str(error)
    gone = map_adb_error(
        AdbError(f"device '{serial}' not found"), serial, "shell", emulated=True
    )  # now nothing listens
    assert "daemon is gone" in str(gone)


def test_an_interrupted_compare_names_a_check_that_works_as_printed():
    from types import SimpleNamespace

    from host.bench.compare import _stored
    from host.store.location import locate

    sinks = {
        side: SimpleNamespace(created=True, plan=SimpleNamespace(run_id=f"{side}-run"))
        for side in ("baseline", "current")
    }
    said = _stored(sinks, locate("/tmp/lab/results.sqlite", from_command_line=False))
    assert (
        "'host check --baseline baseline-run --current current-run --allow-different-inputs --db "
        "/tmp/lab/results.sqlite'" in said
    )


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["provision", "--litert-version", "abc"], "--litert-version must be a version like 2.3.1, not 'abc'"),
        (
            ["provision", "--litert-version", "2.3.1"],
            "--litert-version names the version of --litert DIR: give the folder too",
        ),
    ],
)
def test_provision_refuses_a_litert_version_it_would_ignore_before_asking_for_a_device(argv, said, capsys, monkeypatch):
    monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", "1")  # a device lookup would fail differently: it must not happen
    assert main(argv) == 2
    assert _one_line(capsys) == f"error: {said}"
