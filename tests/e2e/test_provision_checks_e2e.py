"""``host provision --litert`` checks a library before it replaces anything (round 4, item 4):
a truncated ELF, a dispatch file whose name is a glob pattern, a FIFO, libc or a program given as
libLiteRt.so, and a library that aborts on load are refused in one line, and the working install
is still there afterwards (gpu still runs)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from host.cli import main
from host.devices.launch.litert import wheel_release
from tests.adb_fixtures import isolated_host

FAST = ["--min-runs", "10", "--min-seconds", "0.05", "--warmup-seconds", "0.01"]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("provision")
    with isolated_host(root):
        assert main(["emulator", "start"]) == 0
        assert main(["provision", "--litert", str(wheel_release().source)]) == 0  # the working install
        yield root


def _release_with(folder, library: bytes | None = None):
    folder.mkdir(parents=True)
    if library is not None:
        (folder / "libLiteRt.so").write_bytes(library)
    return folder


def test_bad_libraries_are_refused_and_the_working_install_stays(env, tmp_path, capsys):
    release = wheel_release()
    real = release.files["libLiteRt.so"].read_bytes()
    cases = {
        "short": (_release_with(tmp_path / "short", real[:6]), "an ELF header cut short (6 bytes)"),
        "libc": (
            _release_with(tmp_path / "libc", Path("/lib/x86_64-linux-gnu/libc.so.6").read_bytes()),
            "is not LiteRT's C API library: it exports no LiteRtCreateEnvironment",
        ),
        "program": (
            _release_with(tmp_path / "program", Path(shutil.which("ls") or "/bin/ls").read_bytes()),
            "is not LiteRT's C API library",
        ),
    }
    pattern = _release_with(tmp_path / "pattern", real)
    shutil.copy2(release.files["libLiteRt.so"], pattern / "libLiteRtDispatch_**.so")
    fifo = _release_with(tmp_path / "fifo", real)
    os.mkfifo(fifo / "libLiteRtDispatch_Hang.so")
    cases["fifo"] = (fifo, "is not a regular file")
    for name, (folder, message) in cases.items():
        capsys.readouterr()
        assert main(["provision", "--litert", str(folder), "--litert-version", release.version]) == 2, name
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], (name, err)
    assert (
        main(["provision", "--litert", str(pattern), "--litert-version", release.version]) == 0
    )  # a name, not a pattern
    assert main(["provision", "--litert", str(release.source)]) == 0


def test_a_library_that_aborts_on_load_leaves_the_old_install(env, tmp_path, capsys):
    """It exports the whole C API (so only loading it tells), and its constructor aborts: loaded
    once in a throwaway Python on the device, it is refused and the working install stays."""
    from device_agent.engines.litert_capi import REQUIRED

    if shutil.which("gcc") is None:
        pytest.skip("needs gcc to build the aborting library")
    release = wheel_release()
    folder = tmp_path / "aborts"
    folder.mkdir()
    source = tmp_path / "aborts.c"
    stubs = "".join(f"void {name}(void) {{}}\n" for name in REQUIRED)
    source.write_text("#include <stdlib.h>\n__attribute__((constructor)) static void boom(void) { abort(); }\n" + stubs)
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(folder / "libLiteRt.so"), str(source)], check=True)
    capsys.readouterr()
    assert main(["provision", "--litert", str(folder), "--litert-version", release.version]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "does not load on the device" in err[0] and "the installed LiteRT is kept" in err[0], err
    cells = env / "after.json"
    assert (
        main(
            [
                "bench",
                "--modes",
                "none",
                "--backends",
                "gpu",
                "--limit",
                "5",
                "--db",
                str(env / "r.sqlite"),
                "--json",
                str(cells),
                *FAST,
            ]
        )
        == 0
    )
    assert '"status": "ok"' in cells.read_text()  # the working install still runs the GPU
