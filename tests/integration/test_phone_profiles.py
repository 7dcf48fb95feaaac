"""The emulated device as a stock phone, profile by profile, through real adb servers (36 and 29).

What a phone refuses, it refuses: no Python for the shell user, app folders closed to it,
``run-as`` only for a debuggable package with AOSP's messages, an app's processes the shell may
not signal. And every launcher starts the agent end to end: termux-run-as (after ``host
provision``), shell (``shell-python``) and attach (the line pasted into the Termux app).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from emulated_device.apps import type_in_termux
from host.cli import main
from host.devices.agent.session import AgentSettings, open_session
from host.devices.launch.choose import NoLauncher, check_termux, find_launcher
from host.devices.launch.doctor import diagnose
from host.devices.launch.launchers import detached, running, started_pid, wait_for_port
from host.devices.launch.provision import ProvisionError, provision
from host.devices.launch.termux import in_termux
from host.devices.transport.device import Device
from host.emulator import manager
from host.errors import DeployError, DeviceError

TERMUX_PACKAGES = "pkg install -y python python-numpy python-grpcio python-tflite-runtime && pip install protobuf"


@pytest.fixture(scope="module")
def phones(adb_server, tmp_path_factory):
    """One emulated phone per profile, on the module's adb server."""
    started = {
        name: manager.start(adb_server.address, 0, tmp_path_factory.mktemp(name), profile=name)
        for name in ("stock", "termux-release", "termux", "shell-python")
    }
    yield {name: Device(adb_server.address, state.serial) for name, state in started.items()}
    for state in started.values():
        manager.stop_state(adb_server.address, state)


def _shell(device, command):
    result = device.shell(command)
    return result.exit_code, result.stdout, result.stderr


def _mksh_error(text: str) -> tuple[str, ...]:
    """mksh's message as Android's (R59c of 2021) and as Debian's (R59 of 2023, which prefixes ``E: ``) print it."""
    return (text, f"E: {text}")


def test_no_python_for_the_shell_user_except_on_a_rooted_build(phones):
    for name in ("stock", "termux-release", "termux"):
        code, out, err = _shell(phones[name], "python3 -c 1")
        assert (code, out) == (127, "") and err in _mksh_error(
            "/system/bin/sh: python3: inaccessible or not found\n"
        ), name
        assert _shell(phones[name], "/usr/bin/python3 -c 1")[0] == 127, "this machine's Python is not the phone's"
    assert _shell(phones["shell-python"], "python3 -c 'print(6 * 7)'") == (0, "42\n", "")


def test_app_folders_are_closed_to_the_shell_user(phones, tmp_path):
    device = phones["termux"]
    assert _shell(device, "id")[1].startswith("uid=2000(shell)")
    for command in (
        "ls /data/data",
        "ls /data/data/com.termux",
        "cat /data/data/com.termux/files/usr/bin/pkg",
        "ls /data/user/0/com.termux",
    ):
        code, _, err = _shell(device, command)
        assert code != 0 and "Permission denied" in err, (command, err)
    code, _, err = _shell(device, "/data/data/com.termux/files/usr/bin/pkg install python")  # mksh: EACCES on the way
    assert code == 127 and err in _mksh_error(
        "/system/bin/sh: /data/data/com.termux/files/usr/bin/pkg: inaccessible or not found\n"
    )
    (tmp_path / "x").write_text("x")
    with pytest.raises(DeviceError, match="Permission denied"):
        device.push_unchecked(tmp_path / "x", "/data/data/com.termux/files/home/x")
    with pytest.raises(DeviceError, match="Permission denied"):
        device.pull("/data/data/com.termux/files/usr/bin/pkg", tmp_path / "pkg")
    code, _, err = _shell(device, "mkdir /data/mine")
    assert code != 0 and "Permission denied" in err, "the shell writes only /data/local/tmp and /sdcard"


def test_run_as_says_what_aosp_says(phones):
    assert _shell(phones["stock"], "run-as com.termux id") == (1, "", "run-as: unknown package: com.termux\n")
    assert _shell(phones["termux-release"], "run-as com.termux id") == (
        1,
        "",
        "run-as: package not debuggable: com.termux\n",
    )
    code, out, _ = _shell(phones["termux"], "run-as com.termux id")
    assert code == 0 and out.startswith("uid=10123(u0_a123)")
    assert _shell(phones["termux"], "run-as com.termux pwd")[1] == "/data/data/com.termux\n"
    assert _shell(phones["termux"], "run-as")[0] == 1


def test_package_manager_answers_as_a_phone_does(phones):
    assert "package:com.termux" not in _shell(phones["stock"], "pm list packages")[1]
    assert "package:com.android.shell" in _shell(phones["stock"], "pm list packages")[1]
    for name, debuggable in (("termux-release", False), ("termux", True)):
        assert "package:com.termux\n" in _shell(phones[name], "pm list packages")[1]
        dump = _shell(phones[name], "dumpsys package com.termux")[1]
        assert "Package [com.termux]" in dump and ("DEBUGGABLE" in dump) == debuggable


def test_a_stock_phone_gets_the_advice_and_bench_stops_before_any_conversion(phones, capsys, tmp_path):
    device = phones["stock"]
    diagnosis = diagnose(device)
    assert diagnosis.chosen is None and not diagnosis.healthy
    assert "run-as: unknown package: com.termux" in diagnosis.advice and "host provision" in diagnosis.advice
    assert "host agent-command" in diagnosis.advice and "--device-python" in diagnosis.advice
    assert main(["doctor", "--device", device.serial]) == 1
    assert main(["bench", "--device", device.serial, "--db", str(tmp_path / "r.sqlite")]) == 1
    captured = capsys.readouterr()
    assert "no way to start the agent" in captured.err and "Traceback" not in captured.err
    assert "converting" not in captured.out and "converted" not in captured.out


def test_termux_run_as_after_provision_and_the_app_s_agent_is_beyond_the_shell(phones, capsys):
    device = phones["termux"]
    diagnosis = diagnose(device)
    check = {c.name: c for c in diagnosis.launchers}["termux-run-as"]
    assert not check.ok and check.fix == f"host provision --device {device.serial}"
    assert (
        diagnosis.advice.startswith(f"run `host provision --device {device.serial}`")
        and "github" not in diagnosis.advice.lower()
    )
    assert main(["doctor", "--device", device.serial]) == 0, "what host provision fixes is not a failure"
    steps: list[str] = []
    assert len(provision(device, steps.append)) == 5 and steps[0].startswith("[1/5] pkg install -y python")
    assert provision(device, steps.append) == [], "a second provision installs nothing"
    assert find_launcher(device).name == "termux-run-as"
    with open_session(device) as session:
        pid = session.agent.pid
        assert session.device_record().launcher == "termux-run-as"
        code, _, err = _shell(device, f"kill {pid}")
        assert code == 1 and "No such process" in err, "the shell user can neither see nor signal the app's agent"
        assert str(pid) not in _shell(device, "ps -A -o PID")[1].split()
        assert _shell(device, f"kill -9 {pid}")[0] == 1 and running(device, pid, "run-as com.termux ")
        assert session.client.health() == "SERVING"
    assert not running(device, pid, "run-as com.termux "), "stopping goes through run-as"
    with open_session(device) as again:  # the provisioned Termux and the copied zipapp are reused
        assert again.client.health() == "SERVING"


def test_the_kept_import_check_holds_only_while_termux_s_packages_stay_as_they_were(phones):
    device = phones["termux"]
    provision(device, lambda text: None)

    def check(fresh=False):  # a new Device each time: the check is not remembered within one command
        return check_termux(Device(device.address, device.serial), fresh)[0]

    check()
    kept = check()
    assert kept.ok and "as found before" in kept.found
    assert "as found before" not in check(fresh=True).found, "doctor's check imports for real"
    site = f"/data/data/com.termux/files/usr/lib/python{sys.version_info[0]}.{sys.version_info[1]}/site-packages"
    assert device.shell(in_termux(f"mv {site}/grpc {site}/grpc.away")).ok, "grpcio gone from Termux"
    gone = check()
    assert not gone.ok and "grpc" in gone.found and gone.fix.startswith("host provision")
    assert device.shell(in_termux(f"mv {site}/grpc.away {site}/grpc")).ok
    back = check()
    assert back.ok and "as found before" not in back.found, "the answer kept is the missing one: imported again"


def test_the_port_is_read_once_the_log_says_it_and_an_agent_that_exits_first_is_said_to(phones):
    device = phones["stock"]
    log = "/data/local/tmp/fake-agent.log"

    def start(command):
        return started_pid(device, device.shell(detached(command, log), stdin=b"token\n"))

    pid = start("sh -c 'sleep 1; echo LISTENING 4321; sleep 30'")  # listens only after the first look has waited
    assert wait_for_port(device, log, pid) == 4321
    device.shell(f"kill {pid}")
    pid = start("sh -c 'echo no module named grpc >&2; exit 3'")
    with pytest.raises(DeployError, match="the agent exited at start: no module named grpc"):
        wait_for_port(device, log, pid)


def test_provision_without_the_phone_s_internet_says_so(adb_server, tmp_path):
    state = manager.start(adb_server.address, 0, tmp_path / "offline", profile="termux", offline=True)
    try:
        with pytest.raises(ProvisionError, match="needs its own internet connection"):
            provision(Device(adb_server.address, state.serial), lambda text: None)
    finally:
        manager.stop_state(adb_server.address, state)


def test_shell_launcher_on_a_rooted_build(phones):
    device = phones["shell-python"]
    assert find_launcher(device).name == "shell"
    with open_session(device) as session:
        assert session.device_record().launcher == "shell" and session.client.health() == "SERVING"


def test_attach_the_agent_the_user_started_inside_the_termux_app(phones, capsys, tmp_path):
    device = phones["termux-release"]
    with pytest.raises(NoLauncher, match="no agent was started inside Termux"):
        find_launcher(device, attach=True)
    root = Path(manager.find(device.serial).root)
    assert type_in_termux(root, TERMUX_PACKAGES).returncode == 0, "the user installs Python inside the app"
    assert main(["agent-command", "--device", device.serial]) == 0
    captured = capsys.readouterr()
    line = captured.out.strip()
    assert "Paste this line into the Termux app" in captured.err and "QUANTBENCH_AGENT_TOKEN=" in line
    pasted = type_in_termux(root, line)
    assert pasted.returncode == 0, pasted.stderr
    token = line.split("QUANTBENCH_AGENT_TOKEN=")[1].split()[0]
    with open_session(device, AgentSettings(attach=True)) as session:
        assert session.client.health() == "SERVING" and session.device_record().launcher == "attach"
        assert session.device_info().root.endswith("/com.termux/files/home/quantbench/root")
    listing = _shell(device, "cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' ' '")[1]
    assert token not in listing, "the pasted token is in the agent's environment, not on a command line"


def test_a_whole_bench_through_run_as_on_the_emulated_phone(phones, tmp_path):
    device = phones["termux"]
    provision(device, lambda text: None)
    db = tmp_path / "r.sqlite"
    assert (
        main(
            [
                "bench",
                "--device",
                device.serial,
                "--modes",
                "none,float16",
                "--backends",
                "cpu1",
                "--limit",
                "20",
                "--min-runs",
                "5",
                "--min-seconds",
                "0.05",
                "--warmup-seconds",
                "0",
                "--db",
                str(db),
            ]
        )
        == 0
    )
    from host.store import ResultsStore

    run = ResultsStore(db, read_only=True).load_run("latest")
    assert [c.status for c in run.cells] == ["ok", "ok"] and run.devices[0].launcher == "termux-run-as"
