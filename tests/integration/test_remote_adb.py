"""A lab's adb server on another machine: everything goes through the server's port, nothing else.

The "other machine" is a network namespace this test creates (root and iproute2, as in CI): an
adb server listening on the namespace's own address and an emulated phone connected to it,
reachable from here only through that server's port. A full bench runs through it, which an
``adb forward`` cannot do (its port opens on the server's machine), and leaves no forward behind.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from host.cli import main
from host.devices.transport.adb import AdbServerAddress, client, wheel_adb
from host.store import ResultsStore

FAST = ["--min-runs", "10", "--min-seconds", "0.05", "--warmup-seconds", "0.01"]
START_PHONE = """
import sys
from pathlib import Path
from host.devices.transport.adb import AdbServerAddress
from host.emulator import manager
state = manager.start(AdbServerAddress("127.0.0.1", 5037), 0, Path(sys.argv[1]), profile="shell-python")
print(state.serial, state.port, flush=True)
"""


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=30)


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def lab_host(tmp_path_factory):
    """(adb server address as seen from here, the phone's serial, the phone's adbd port)."""
    if os.geteuid() != 0 or not shutil.which("ip"):
        pytest.skip("a network namespace needs root and iproute2 (CI runs as root)")
    name, octet = f"qb{os.getpid() % 100000}", 1 + os.getpid() % 250
    here, there = f"10.231.{octet}.1", f"10.231.{octet}.2"
    try:
        _ip("netns", "add", name)
    except subprocess.CalledProcessError as e:
        pytest.skip(f"cannot create a network namespace here: {e.stderr.strip()}")
    root = tmp_path_factory.mktemp("lab")
    processes: list[subprocess.Popen] = []
    try:
        _ip("link", "add", f"{name}h", "type", "veth", "peer", "name", f"{name}n")
        _ip("link", "set", f"{name}n", "netns", name)
        _ip("addr", "add", f"{here}/30", "dev", f"{name}h")
        _ip("link", "set", f"{name}h", "up")
        inside = ["ip", "netns", "exec", name]
        for command in (
            ["ip", "addr", "add", f"{there}/30", "dev", f"{name}n"],
            ["ip", "link", "set", f"{name}n", "up"],
            ["ip", "link", "set", "lo", "up"],
        ):
            subprocess.run([*inside, *command], check=True, capture_output=True, timeout=30)
        processes.append(
            subprocess.Popen(
                [*inside, wheel_adb(), "-a", "-P", "5037", "server", "nodaemon"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        deadline = time.monotonic() + 30
        while not _reachable(there, 5037):
            assert time.monotonic() < deadline, "the namespace's adb server did not come up"
            time.sleep(0.2)
        env = {**os.environ, "QUANTBENCH_DATA_DIR": str(root / "lab-data"), "ANDROID_ADB_SERVER_PORT": "5037"}
        started = subprocess.run(
            [*inside, sys.executable, "-c", START_PHONE, str(root / "phone")],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        serial, port = started.stdout.split()[-2:]
        yield AdbServerAddress(there, 5037, named=True), serial, int(port)
    finally:
        pids = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True, check=False).stdout.split()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), 9)
        for proc in processes:
            proc.wait(timeout=10)
        subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)


def test_only_the_adb_servers_port_is_reachable_from_here(lab_host):
    address, serial, port = lab_host
    assert _reachable(address.host, address.port)
    assert not _reachable(address.host, port) and not _reachable("127.0.0.1", port), "the phone is behind its host"
    assert (serial, "device") in [(d.serial, d.state) for d in client(address).list()]


def test_a_whole_bench_runs_through_a_remote_adb_server_and_leaves_no_forward(lab_host, tmp_path, monkeypatch):
    address, serial, _ = lab_host
    monkeypatch.setenv("QUANTBENCH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("QUANTBENCH_CACHE_DIR", str(tmp_path / "cache"))
    argv = [
        "bench",
        "--adb-server",
        f"{address.host}:{address.port}",
        "--all-devices",
        "--modes",
        "none,float16",
        "--backends",
        "cpu1,cpu4",
        "--limit",
        "20",
        "--db",
        str(tmp_path / "r.sqlite"),
        *FAST,
    ]
    assert main(argv) == 0
    store = ResultsStore(tmp_path / "r.sqlite", read_only=True)
    run = store.load_run("latest")
    store.close()
    assert len(run.cells) == 4 and all(c.ok and c.result.accuracy for c in run.cells)
    assert [d.adb_serial for d in run.devices] == [serial], "--all-devices: every device the lab's server has ready"
    assert client(address).device(serial).forward_list() == [], "nothing is left on the lab's server"
    assert Path(tmp_path / "data" / "sessions").is_dir()
    assert not list((tmp_path / "data" / "sessions").glob("*.json")), "the session's record is gone"
