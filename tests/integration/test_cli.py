"""The CLI as users call it: a python -m smoke test, and bad input ending in exit 2 with one line."""

from __future__ import annotations

import subprocess
import sys

import pytest

from host.cli import main


def test_python_dash_m_runs_the_cli():
    proc = subprocess.run([sys.executable, "-m", "host.cli", "--version"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.startswith("host ")


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["bench", "--backends", "tpu"], "unknown backend 'tpu'"),
        (["bench", "--modes", "int3"], "unknown mode 'int3'"),
        (["bench", "--limit", "0"], "--limit must be at least 1"),
        (["bench", "--min-runs", "0"], "--min-runs must be at least 1"),
        (["bench", "--crop", "nan"], "--crop must be a finite number"),
        (
            ["bench", "--max-seconds", "0.5", "--min-seconds", "2"],
            "latency settings: max_seconds must be >= min_seconds",
        ),
        (["bench", "--dataset", "/no/such/folder"], "does not exist"),
        (["bench", "--labels", "x.txt"], "--labels needs --dataset"),
        (["bench", "--adb-server", "nonsense"], "HOST:PORT"),
        (["bench", "--adb-server", "127.0.0.1:99999"], "the port must be between 1 and 65535"),
        (["bench", "--qat-epochs", "-1"], "--qat-epochs must be at least 1"),
        (["bench", "--json", "/proc/no-such-dir/run.json"], "cannot write /proc/no-such-dir/run.json"),
    ],
)
def test_bench_rejects_bad_input_before_any_work(tmp_path, capsys, argv, expected):
    code = main([*argv, "--db", str(tmp_path / "r.sqlite")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and expected in err[0] and "Traceback" not in err[0]


def test_report_without_a_database_is_a_clear_error(tmp_path, capsys):
    assert main(["report", "--db", str(tmp_path / "none.sqlite")]) == 2
    assert "no results database" in capsys.readouterr().err


def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "bad.sqlite").write_bytes(b"not sqlite at all" * 100)
    assert main(["report", "--db", str(tmp_path / "bad.sqlite")]) == 2
    assert "not a usable results database" in capsys.readouterr().err


def test_a_truncated_or_corrupt_tflite_is_refused_before_any_device_work(tmp_path, capsys, known_answer):
    good = known_answer.models["float"]
    (tmp_path / "cut.tflite").write_bytes(good[: len(good) // 2])
    (tmp_path / "noise.tflite").write_bytes(b"\x00" * 4096)
    for name in ("cut.tflite", "noise.tflite"):
        code = main(["bench", "--model", str(tmp_path / name), "--db", str(tmp_path / "r.sqlite")])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and len(err) == 1 and "is not a valid TFLite model" in err[0], err


def test_an_unwritable_output_folder_is_one_line_not_a_traceback(capsys, known_answer):
    code = main(["convert", str(known_answer.folder / "known.keras"), "--modes", "none", "--out", "/proc/no-such-dir"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "/proc/no-such-dir" in err[0]


@pytest.mark.parametrize("journal", ["delete", "wal"])
def test_a_run_on_a_read_only_filesystem_can_still_be_read(tmp_path, journal):
    """The folder is bind-mounted read-only in a private mount namespace (unshare -rm: a user
    namespace, so no root is needed where they are allowed), then the run is read back."""
    import json
    import shutil
    import sqlite3

    from host.results import RunStats
    from host.store import ResultsStore
    from tests.records import cell, run

    if shutil.which("unshare") is None:
        pytest.skip("no unshare(1) to make a read-only mount")
    folder = tmp_path / "ro"
    folder.mkdir()
    store = ResultsStore(folder / "r.sqlite")
    store.create_run(run("r1"))
    store.save_cell("r1", cell("D", "none", "cpu1"))
    store.finish_run("r1", "2026-11-22T00:01:00+00:00", [], RunStats())
    store.close()
    if journal == "wal":  # a file an older version left in WAL mode
        sqlite3.connect(folder / "r.sqlite").execute("PRAGMA journal_mode=WAL").fetchone()
    script = (
        f"mount --bind {folder} {folder} && mount -o remount,bind,ro {folder} && touch {folder}/probe 2>/dev/null; "
        f"test ! -e {folder}/probe && exec {sys.executable} -m host.cli report latest --format json --db "
        f"{folder}/r.sqlite"
    )
    proc = subprocess.run(["unshare", "-rm", "sh", "-c", script], capture_output=True, text=True, timeout=120)
    if proc.returncode != 0 and ("unshare" in proc.stderr or "mount" in proc.stderr):
        pytest.skip(f"cannot make a private read-only mount here: {proc.stderr.strip()[:200]}")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["run_id"] == "r1"


def test_an_output_that_cannot_be_written_leaves_no_partial_file_and_names_the_path(tmp_path):
    """A file-size limit makes the write fail half way (as a full disk would): the report is not
    left 0-byte or half-written, and the one-line error names the path."""
    import resource
    import signal as signals

    from host.results import RunStats
    from host.store import ResultsStore
    from tests.records import cell, run

    store = ResultsStore(tmp_path / "r.sqlite")
    store.create_run(run("r1"))
    for mode in ("none", "float16"):
        store.save_cell("r1", cell("D", mode, "cpu1", samples=tuple(float(i) for i in range(2000))))
    store.finish_run("r1", "2026-11-22T00:01:00+00:00", [], RunStats())
    store.close()
    out = tmp_path / "out" / "report.html"
    out.parent.mkdir()  # an output's folder must exist: the command never makes one for it

    def small_files() -> None:
        signals.signal(signals.SIGXFSZ, signals.SIG_IGN)  # a write past the limit fails with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))

    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "host.cli",
            "report",
            "--format",
            "html",
            "-o",
            str(out),
            "--db",
            str(tmp_path / "r.sqlite"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=small_files,
    )
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and f"cannot write {out}" in lines[0], proc.stderr
    assert not out.exists() and list(out.parent.iterdir()) == [], "no partial file and no temporary left behind"


def test_a_build_folder_whose_file_no_longer_matches_its_manifest_is_refused(tmp_path, capsys, known_answer):
    """One byte flipped in a host convert folder's build: its sha256 differs from the manifest's,
    so its figures would be stored under a name they do not belong to (issue 22, item 3)."""
    import hashlib
    import json

    folder = tmp_path / "builds"
    folder.mkdir()
    data = bytearray(known_answer.models["float"])
    (folder / "none.tflite").write_bytes(bytes(data))
    recorded = hashlib.sha256(data).hexdigest()
    (folder / "manifest.json").write_text(
        json.dumps(
            {
                "model": {"name": "known"},
                "modes": {"none": {"path": "none.tflite", "sha256": recorded, "size_bytes": len(data)}},
            }
        )
    )
    middle = len(data) // 2
    data[middle] ^= 0xFF
    (folder / "none.tflite").write_bytes(bytes(data))
    code = main(["bench", "--model", str(folder), "--modes", "none", "--db", str(tmp_path / "r.sqlite")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert "none.tflite" in err[0] and recorded in err[0] and hashlib.sha256(data).hexdigest() in err[0]
