"""The real ADB path: adbutils -> a real adb server (36 and 29) -> the emulated device's adbd."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from device_agent.measuring.props import SOFTWARE_PROPS
from host.cli import main
from host.devices.agent.session import open_session
from host.devices.launch.doctor import diagnose
from host.devices.launch.launchers import running
from host.devices.selection.resolve import resolve_one
from host.devices.transport.adb import AdbServerAddress, connect_device, free_local_port, kill_server
from host.devices.transport.device import Device, list_devices
from host.errors import DeviceDisconnected, DeviceError, DeviceNotFound, DeviceUnauthorized, UploadRejected
from tests.adb_fixtures import emulated_device

BIG = 50 * 1024 * 1024


@pytest.fixture(scope="module")
def emulator(adb_server, tmp_path_factory):
    with emulated_device(adb_server, tmp_path_factory.mktemp("sandbox")) as state:
        yield state


@pytest.fixture(scope="module")
def device(adb_server, emulator) -> Device:
    return Device(adb_server.address, emulator.serial)


@pytest.fixture(scope="module")
def big_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("big") / "big.bin"
    path.write_bytes(os.urandom(BIG))
    return path


def test_the_adb_server_lists_the_emulated_device_with_its_properties(device):
    props = device.props()
    assert props.abi in ("x86_64", "arm64-v8a") and props.sdk == 34 and props.emulated
    assert "emulated" in props.model


def test_shell_exit_codes_and_separate_stderr(device):
    result = device.shell("echo out; echo err >&2; exit 3")
    assert (result.exit_code, result.stdout, result.stderr) == (3, "out\n", "err\n")
    assert device.shell("true").exit_code == 0
    assert device.shell("kill -9 $$").exit_code == 137


def test_push_then_pull_50_mb_is_identical_and_not_sent_twice(device, big_file, tmp_path):
    assert device.push(big_file, "/data/local/tmp/t/big.bin") is True
    assert device.push(big_file, "/data/local/tmp/t/big.bin") is False, "same bytes must not be pushed again"
    device.pull("/data/local/tmp/t/big.bin", tmp_path / "back.bin")
    assert (
        hashlib.sha256((tmp_path / "back.bin").read_bytes()).digest() == hashlib.sha256(big_file.read_bytes()).digest()
    )


def test_folder_push(device, tmp_path):
    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "d" / "a.txt").write_text("a")
    (tmp_path / "d" / "sub" / "b.txt").write_text("bb")
    assert device.push_folder(tmp_path / "d", "/data/local/tmp/folder") == 2
    assert device.push_folder(tmp_path / "d", "/data/local/tmp/folder") == 0
    assert device.shell("cat /data/local/tmp/folder/sub/b.txt").stdout == "bb"


def test_concurrent_shells_during_a_push(device, big_file):
    with ThreadPoolExecutor(max_workers=6) as pool:
        push = pool.submit(device.push_unchecked, big_file, "/data/local/tmp/concurrent.bin")
        shells = [pool.submit(device.shell, f"echo {i}; sleep 0.2; echo done{i}") for i in range(5)]
        outputs = [s.result(timeout=60) for s in shells]
        push.result(timeout=120)
    assert [o.stdout for o in outputs] == [f"{i}\ndone{i}\n" for i in range(5)]
    assert device.remote_sha256("/data/local/tmp/concurrent.bin") == hashlib.sha256(big_file.read_bytes()).hexdigest()


def test_a_path_that_climbs_out_of_the_sandbox_is_refused(device, tmp_path, emulator):
    (tmp_path / "evil").write_text("x")
    with pytest.raises(DeviceError):
        device.push_unchecked(tmp_path / "evil", "/../../../../tmp/escaped-by-push")
    assert not os.path.exists("/tmp/escaped-by-push")
    with pytest.raises(DeviceError):
        device.pull("/../../../../etc/hostname", tmp_path / "stolen")
    assert not device.exists("/../../etc/hostname")


def test_agent_over_adb_forward_answers_a_real_grpc_call(device, tmp_path):
    with open_session(device) as session:
        info = session.device_info()
        assert session.client.health() == "SERVING"
        assert info.runtime and info.sdk == 34 and info.abi == device.props().abi
        gpu = info.backend("gpu")
        software_gpu = info.properties.get(SOFTWARE_PROPS["GPU"], "")
        assert gpu is not None and gpu.available == bool(software_gpu), gpu  # LiteRT on the phone's software GPU
        assert gpu.available or "chromium" in gpu.reason
        payload = tmp_path / "payload.bin"
        payload.write_bytes(os.urandom(300_000))
        sha = hashlib.sha256(payload.read_bytes()).hexdigest()
        assert session.ensure(payload, sha) is True and session.has_file(sha)
        assert session.ensure(payload, sha) is False, "a file the store holds is not sent again"
        assert not device.exists(f"/data/local/tmp/quantbench/incoming/{sha}"), "the staged copy is removed"
        pid = session.agent.pid
    assert not running(device, pid), "leaving the session stops the agent"


def test_a_file_whose_bytes_do_not_match_its_name_never_enters_the_store(device, tmp_path):
    with open_session(device) as session:
        wrong = tmp_path / "wrong.bin"
        wrong.write_bytes(b"not what the name says")
        with pytest.raises(UploadRejected, match="DATA_LOSS"):
            session.ensure(wrong, "a" * 64)
        assert not session.has_file("a" * 64)


def _command_lines() -> list[bytes]:
    lines = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/cmdline", "rb") as handle:
                    lines.append(handle.read())
            except OSError:
                pass
    return lines


def test_the_token_never_appears_on_a_command_line(device):
    """Any local user can read /proc/*/cmdline: poll it while agents start and run (the emulated
    device's processes are this machine's), and look for each session's token."""
    seen: list[bytes] = []
    done = threading.Event()

    def poll() -> None:
        while not done.is_set():
            seen.extend(line for line in _command_lines() if b"serve" in line or b"TOKEN" in line or b"token" in line)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    tokens = []
    try:
        for _ in range(3):
            with open_session(device) as session:
                tokens.append(session.client._metadata[0][1].removeprefix("Bearer ").encode())
                assert session.client.health() == "SERVING"
    finally:
        done.set()
        poller.join(timeout=10)
    assert any(b"serve" in line for line in seen), "the poller saw the agents' command lines"
    assert not [line for line in seen if any(token in line for token in tokens)]


def test_doctor_reports_the_launcher_and_the_runtime_it_finds(device):
    diagnosis = diagnose(device)
    checks = {c.name: c for c in diagnosis.checks}
    assert diagnosis.chosen == "shell" and diagnosis.healthy
    assert checks["tflite runtime"].ok and "ai_edge_litert" in checks["tflite runtime"].found
    assert checks["numpy"].ok and checks["grpcio"].ok and checks["python"].ok
    assert not checks["gpu delegate"].ok and checks["gpu delegate"].fix


def test_unknown_serial_is_a_clear_error(adb_server, capsys):
    with pytest.raises(DeviceNotFound, match="not found"):
        resolve_one(adb_server.address, "no-such-device")
    assert main(["doctor", "--device", "no-such-device"]) == 2
    assert "not found" in capsys.readouterr().err


def test_cli_lists_devices(emulator, capsys):
    assert main(["devices"]) == 0
    assert emulator.serial in capsys.readouterr().out


def test_daemon_killed_mid_transfer_is_a_clear_disconnect_not_a_hang(adb_server, tmp_path):
    """A FIFO feeds the push slowly so the daemon dies with the transfer in flight."""
    with emulated_device(adb_server, tmp_path / "sandbox") as state:
        device = Device(adb_server.address, state.serial)
        fifo = tmp_path / "slow.fifo"
        os.mkfifo(fifo)
        stop = threading.Event()
        written = [0]

        def feed() -> None:
            try:
                with open(fifo, "wb") as handle:
                    while not stop.is_set():
                        handle.write(os.urandom(64 * 1024))
                        handle.flush()
                        written[0] += 64 * 1024
                        time.sleep(0.01)
            except (BrokenPipeError, OSError):
                pass

        feeder = threading.Thread(target=feed, daemon=True)
        feeder.start()
        errors: list[BaseException] = []
        pusher = threading.Thread(
            target=lambda: _capture(errors, device.push_unchecked, fifo, "/data/local/tmp/slow.bin")
        )
        started = time.monotonic()
        pusher.start()
        while written[0] < 512 * 1024 and pusher.is_alive() and time.monotonic() - started < 60:
            time.sleep(0.05)  # until the push has carried half a MiB: it is mid-push, whatever the load
        os.kill(state.pid, signal.SIGKILL)
        pusher.join(timeout=90)
        stop.set()
        assert not pusher.is_alive(), "the push hung after the device died"
        assert time.monotonic() - started < 90
        assert errors and isinstance(errors[0], DeviceDisconnected), errors
        assert "disconnected during push" in str(errors[0])


def _capture(errors: list[BaseException], fn, *args) -> None:  # type: ignore[no-untyped-def]
    try:
        fn(*args)
    except BaseException as e:  # noqa: BLE001 - the test inspects it
        errors.append(e)


def test_a_computer_whose_key_the_device_does_not_trust_stays_unauthorized(adb_server, emulator, tmp_path):
    """Another user's adb server (another key) reaches the port but gets no shell: like a phone."""
    port = free_local_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANDROID_")}
    subprocess.run(
        [adb_server.binary, "-P", str(port), "start-server"],
        env={**env, "HOME": str(tmp_path)},
        check=True,
        capture_output=True,
        timeout=60,
    )
    stranger = AdbServerAddress("127.0.0.1", port)
    try:
        connect_device(stranger, emulator.serial, timeout_s=20, accept_unauthorized=True)
        assert {e.serial: e.state for e in list_devices(stranger)}[emulator.serial] == "unauthorized"
        with pytest.raises(DeviceUnauthorized):
            Device(stranger, emulator.serial).shell("id")
    finally:
        kill_server(stranger)
    assert Device(adb_server.address, emulator.serial).shell("echo still mine").stdout == "still mine\n"


def test_a_device_that_never_authorizes_this_computer_is_reported_as_unauthorized(adb_server, tmp_path, capsys):
    from host.emulator import manager

    state = manager.start(adb_server.address, 0, tmp_path / "locked", trust_no_key=True)
    try:
        assert main(["doctor", "--device", state.serial]) == 2
        err = capsys.readouterr().err
        assert "unauthorized" in err and "accept the USB debugging prompt" in err
    finally:
        manager.stop_state(adb_server.address, state)


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--device", "NOSUCH"], "device NOSUCH not found"),
        (["--device-python", "/nonexistent/python3"], "--device-python /nonexistent/python3 does not run Python 3"),
    ],
)
def test_bad_device_settings_exit_2_before_any_conversion_and_store_no_run(
    adb_server, emulator, tmp_path, capsys, argv, words
):
    db = tmp_path / "r.sqlite"
    started = time.monotonic()
    if "--device" not in argv:
        argv = [*argv, "--device", emulator.serial]
    assert main(["bench", *argv, "--db", str(db)]) == 2
    err = capsys.readouterr()
    lines = err.err.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], err.err
    assert "converting" not in err.out and "converted" not in err.out and time.monotonic() - started < 30
    assert main(["report", "latest", "--db", str(db)]) == 2 and "no runs" in capsys.readouterr().err


def test_a_named_adb_server_address_with_no_server_is_started_said_and_stopped(capsys):
    port = free_local_port()
    assert main(["devices", "--adb-server", f"127.0.0.1:{port}"]) == 0
    err = capsys.readouterr().err
    assert f"no adb server was listening on 127.0.0.1:{port}: this command started one there, and stopped it" in err
    import socket

    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
