"""The bad-input sweep (``tools/bad_input_sweep.py``) as CI runs it: every case a user could
mistype ends with exit 2 and one line on stderr, before any device work.

The tool runs each case in a fresh Python, as a user would (about ten minutes); here the same
command lines go through ``host.cli.main`` in this process, with their own HOME, working folder,
output folder and database, so the whole list takes about 25 s and cannot regress. What is
on stderr is read at the file descriptor, so a native library's chatter counts as a line too.
The cases accepted on purpose (``BY_DESIGN``) are not run: two of them measure on a device.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from host.devices.transport.adb import AdbServerAddress, private_server
from tools.bad_input_sweep import BY_DESIGN, case_args, cases, fixtures

FOLDER = "@inputs@"  # stands for the fixtures' folder in the case names, filled in per test
CASES = [case for case in cases(FOLDER) if case.replace(FOLDER, "{S}") not in BY_DESIGN]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> str:
    return fixtures(tmp_path_factory.mktemp("bad-inputs"))


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("home")


@pytest.fixture(scope="module")
def adb_server() -> Iterator[AdbServerAddress]:
    """An adb server of the module's own (never the user's), with no device: the cases that ask
    for devices ask it, and it is stopped afterwards."""
    with private_server() as address:
        yield address


def run_in_process(args: list[str]) -> int:
    from host.cli import main

    sigterm = signal.getsignal(signal.SIGTERM)  # main takes SIGTERM for its cleanup: give it back
    try:
        return main(args)
    except SystemExit as e:  # argparse's own errors and --help
        return int(e.code or 0)
    finally:
        signal.signal(signal.SIGTERM, sigterm)


def test_the_sweep_names_every_case_once_and_accounts_for_those_it_accepts():
    every = cases(FOLDER)
    assert len(every) == len(set(every)) >= 150
    assert {case.replace("{S}", FOLDER) for case in BY_DESIGN} <= set(every)


@pytest.mark.parametrize("case", CASES)
def test_a_bad_input_ends_with_exit_2_and_one_line(case, inputs, home, tmp_path, monkeypatch, capfd, adb_server):
    monkeypatch.setenv("HOME", str(home))
    for variable in ("XDG_CACHE_HOME", "XDG_DATA_HOME", "QUANTBENCH_DATA_DIR", "QUANTBENCH_CACHE_DIR"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", str(adb_server.port))
    monkeypatch.chdir(tmp_path)
    code = run_in_process(case_args(case.replace(FOLDER, inputs), tmp_path))
    out, err = capfd.readouterr()
    lines = [line for line in err.splitlines() if line.strip()]
    assert (code, len(lines)) == (2, 1), f"{case}: exit {code}, stderr:\n{err}{out[-2000:]}"
    assert "Traceback" not in err
