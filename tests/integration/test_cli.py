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
        (["bench", "--max-seconds", "0.5", "--min-seconds", "2"], "latency settings: max_seconds must be >= min_seconds"),
        (["bench", "--dataset", "/no/such/folder"], "does not exist"),
        (["bench", "--labels", "x.txt"], "--labels needs --dataset"),
        (["bench", "--adb-server", "nonsense"], "HOST:PORT"),
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
