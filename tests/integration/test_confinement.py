"""No way out of the emulated phone: its shell, sync and apps are confined by the kernel.

The attacker is another local user of this machine (``nobody``), who reaches the machine's adb
server as adb always allows, and the app itself through ``run-as``. Each tries what leaves a
naive sandbox: relative ``..`` walks, ``/proc/self/root`` and ``/proc/1/root``, symlinks made on
the device and pushed to it, hard links, the agent's ``/proc/<pid>/mem`` and ``environ``,
``ptrace``, a sync push or pull through ``../..``, and a pushed executable that tries a chroot
breakout from a user namespace of its own. A world-readable file of this machine (outside the
sandbox) holds a marker: nothing may read it, write beside it, or see the agent's token. The
controller's secrets never reach a process of the phone.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from emulated_device.domains import USERNS_VARIABLE, Domains
from emulated_device.profiles import PROFILES
from emulated_device.sandbox import Sandbox
from host.devices.agent.session import open_session
from host.devices.launch.provision import provision
from host.devices.transport.device import Device
from host.emulator import manager
from tests.adb_fixtures import adb_binaries, private_adb_server

NATIVE = Path(__file__).resolve().parents[1] / "native" / "escape.c"
SECRETS = {"PGPASSWORD": "pg-secret-1", "STF_TOKEN": "stf-secret-2", "QUANTBENCH_DB": "postgresql://u:db-secret-3@h/db"}

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("setpriv"),
    reason="acting as another local user needs root and setpriv (util-linux)",
)


@pytest.fixture(scope="module")
def lab():
    """A Termux phone with a running agent, a marker file outside its sandbox, and the secrets in
    the controller's environment while the phone starts. Everything lies where another local user
    can reach it (pytest's folders are the test user's alone): only the sandbox may stop them."""
    base = Path(tempfile.mkdtemp(prefix="qb-confinement-"))
    os.chmod(base, 0o755)
    outside = base / "outside"
    outside.mkdir(mode=0o777)
    os.chmod(outside, 0o777)
    marker = secrets.token_hex(8)
    (outside / "secret").write_text(marker + "\n")
    os.chmod(outside / "secret", 0o644)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("QUANTBENCH_DATA_DIR", str(base / "data"))
        patch.setenv("QUANTBENCH_CACHE_DIR", str(base / "cache"))
        for name, value in SECRETS.items():
            patch.setenv(name, value)
        binary = adb_binaries().get("adb-debian") or adb_binaries()["adb-wheel"]
        with private_adb_server(binary) as server:
            state = manager.start(server.address, 0, base / "sandbox", profile="termux")
            device = Device(server.address, state.serial)
            provision(device, lambda text: None)
            with open_session(device) as session:
                yield {
                    "server": server,
                    "state": state,
                    "device": device,
                    "session": session,
                    "outside": outside,
                    "marker": marker,
                    "binary": binary,
                    "base": base,
                }
            manager.stop_state(server.address, state)
    shutil.rmtree(base, ignore_errors=True)


def _as_nobody(lab, *adb_args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """The adb client run by another local user, through this machine's adb server."""
    home = lab["base"] / "nobody-home"
    home.mkdir(exist_ok=True)
    os.chmod(home, 0o777)
    argv = [
        "setpriv",
        "--reuid=nobody",
        "--regid=nogroup",
        "--clear-groups",
        lab["binary"],
        "-P",
        str(lab["server"].address.port),
        "-s",
        lab["state"].serial,
        *adb_args,
    ]
    return subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=home,
        env={"HOME": str(home), "PATH": "/usr/bin:/bin", "TMPDIR": str(home)},
    )


ATTACKS = (
    "cat ../../../../../../../../..{secret}",
    "cat /proc/self/root{secret}",
    "cat /proc/1/root{secret}",
    "head -1 /proc/self/root/etc/shadow",
    "ln -sf {secret} /data/local/tmp/l; cat /data/local/tmp/l",
    "ln {secret} /data/local/tmp/h; cat /data/local/tmp/h",
    "cd /; cd ../../../../..; cat .{secret}",
    "touch ../../../../../../../..{outside}/written",
    "echo x > /proc/self/root{outside}/written",
    "ls {outside}",
)


def _attack_text(lab) -> str:
    return "; ".join(a.format(secret=lab["outside"] / "secret", outside=lab["outside"]) for a in ATTACKS)


def test_the_shell_of_another_local_user_cannot_leave_the_sandbox(lab):
    done = _as_nobody(lab, "shell", _attack_text(lab))
    assert done.returncode != 0 or done.stdout == "", done.stdout
    assert lab["marker"] not in done.stdout + done.stderr
    assert not (lab["outside"] / "written").exists()
    assert _as_nobody(lab, "shell", "id").stdout.startswith("uid=2000(shell) gid=2000(shell)")


def test_the_app_cannot_leave_the_sandbox_either(lab):
    device = lab["device"]
    result = device.shell(f"run-as com.termux sh -c {_quote(_attack_text(lab))}")
    assert lab["marker"] not in result.stdout + result.stderr
    assert not (lab["outside"] / "written").exists()
    assert device.shell("run-as com.termux id").stdout.startswith("uid=10123(u0_a123)")


def _quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


def test_sync_cannot_climb_out_nor_follow_a_pushed_symlink(lab):
    secret = lab["outside"] / "secret"
    pulled = lab["base"] / "nobody-home" / "pulled"
    for source in (f"/data/local/tmp/../../../../..{secret}", f"/../../../..{secret}", f"/proc/self/root{secret}"):
        done = _as_nobody(lab, "pull", source, str(pulled))
        assert done.returncode != 0 and not pulled.exists(), (source, done.stdout)
    folder = lab["base"] / "nobody-home" / "links"  # adb pushes a folder's symlinks as symlinks (SEND of S_IFLNK)
    folder.mkdir(exist_ok=True)
    (folder / "link").unlink(missing_ok=True)
    (folder / "link").symlink_to(secret)
    assert _as_nobody(lab, "push", str(folder), "/data/local/tmp/").returncode == 0
    listed = _as_nobody(lab, "shell", "ls -l /data/local/tmp/links/link; cat /data/local/tmp/links/link")
    assert f"link -> {secret}" in listed.stdout and lab["marker"] not in listed.stdout + listed.stderr
    done = _as_nobody(lab, "pull", "/data/local/tmp/links/link", str(pulled))
    assert done.returncode != 0 and not pulled.exists()
    (lab["base"] / "nobody-home" / "payload").write_text("payload\n")
    for target in (
        f"/data/local/tmp/../../../../..{lab['outside']}/pushed",
        f"/proc/self/root{lab['outside']}/pushed",
        "/system/bin/planted",
        "/data/data/com.termux/files/planted",
    ):
        done = _as_nobody(lab, "push", str(lab["base"] / "nobody-home" / "payload"), target)
        assert done.returncode != 0, target
    assert not (lab["outside"] / "pushed").exists()
    assert not (Sandbox(Path(lab["state"].root)).root / "system" / "bin" / "planted").exists()


def test_the_agent_s_memory_environment_and_token_are_out_of_the_shell_s_reach(lab):
    token = lab["session"].agent.token
    half = len(token) // 2  # joined on the device into a file, so no command line of the sweep holds the token
    sweep = (
        f"t={token[:half]}; echo ${{t}}{token[half:]} > /data/local/tmp/pattern; for p in /proc/[0-9]*; do "
        "cat $p/environ $p/cmdline 2>/dev/null; dd if=$p/mem bs=4096 count=1 2>/dev/null; done "
        "| grep -c -f /data/local/tmp/pattern; ps -A -o PID,USER,NAME"
    )
    done = _as_nobody(lab, "shell", sweep)
    assert done.stdout.startswith("0\n"), done.stdout
    assert "python" not in done.stdout and "u0_a123" not in done.stdout, "the shell sees only its own processes"
    assert lab["session"].client.health() == "SERVING"


def test_the_agent_is_not_dumpable_so_its_own_app_cannot_read_its_memory(lab):
    """Anyone who reaches the phone through adb can ``run-as`` the debuggable app and so act as
    the agent's uid; a dumpable agent would show them its memory (the token in it). It marks
    itself non-dumpable before reading the token: its /proc files are root's, even to its uid."""
    probe = (
        # not this script: the token's word split in two
        "w=token; w=$w-stdin; for p in /proc/[0-9]*; do if grep -q -e $w $p/cmdline 2>/dev/null; then "
        "if cat $p/maps > /dev/null 2>&1; then echo readable; else echo refused; fi; fi; done"
    )
    said = lab["device"].shell(f"run-as com.termux sh -c {_quote(probe)}").stdout.split()
    assert said and set(said) == {"refused"}, said
    assert lab["session"].client.health() == "SERVING"


def test_a_pushed_executable_gains_nothing(lab):
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler to build the escape program")
    program = lab["base"] / "escape"
    subprocess.run([compiler, "-static", "-O1", "-o", str(program), str(NATIVE)], check=True)
    assert _as_nobody(lab, "push", str(program), "/data/local/tmp/escape").returncode == 0
    done = _as_nobody(lab, "shell", f"/data/local/tmp/escape {lab['outside'] / 'secret'} {lab['marker']}", timeout=180)
    lines = done.stdout.splitlines()
    assert lines and not [line for line in lines if line.startswith("ESCAPED")], done.stdout
    attached = [line for line in lines if line.startswith("attached")]
    assert all("agent.pyz" not in line and "jail.py" not in line for line in attached), attached
    assert "refused setuid(0)" in done.stdout and "refused bind mount" in done.stdout


def test_no_secret_of_the_controller_reaches_the_phone(lab):
    device = lab["device"]
    seen = device.shell("env; run-as com.termux env").stdout
    state = lab["state"]
    sandbox = Sandbox(Path(state.root))
    domains = Domains(sandbox.root, sandbox.internal, PROFILES[state.profile])
    domains.attach()
    environments = [seen, Path(f"/proc/{state.pid}/environ").read_bytes().decode(errors="replace")]
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and domains.domain_of_pid(int(entry.name)) is not None:
            try:
                environments.append(Path(f"/proc/{entry.name}/environ").read_bytes().decode(errors="replace"))
            except OSError:
                continue
    assert len(environments) > 3, "the agent and the domains' processes were found"
    for text in environments:
        for value in SECRETS.values():
            assert value not in text


def test_as_another_user_each_domain_is_a_user_namespace(tmp_path, monkeypatch):
    """What a non-root user gets (forced here as root): one uid outside, the domain's uid inside,
    the apps' folders hidden from the shell, PID namespaces apart."""
    monkeypatch.setenv(USERNS_VARIABLE, "1")
    monkeypatch.setenv("QUANTBENCH_DATA_DIR", str(tmp_path / "data"))
    with private_adb_server(adb_binaries()["adb-wheel"]) as server:
        state = manager.start(server.address, 0, tmp_path / "sandbox", profile="termux")
        try:
            device = Device(server.address, state.serial)
            assert device.shell("id -u").stdout == "2000\n"
            assert device.shell("run-as com.termux id -u").stdout == "10123\n"
            denied = device.shell("ls /data/data/com.termux")
            assert denied.exit_code == 1 and "Permission denied" in denied.stderr
            assert device.shell("run-as com.termux ls /data/data/com.termux/files").stdout.split() == ["home", "usr"]
            sleeper = device.shell("run-as com.termux sh -c 'nohup sleep 60 >/dev/null 2>&1 & echo $!'").stdout.strip()
            assert device.shell(f"kill {sleeper}").exit_code == 1 and "sleep" not in device.shell("ps -A").stdout
            assert device.shell(f"run-as com.termux kill {sleeper}").exit_code == 0
            sandbox = Sandbox(Path(state.root))
            assert (sandbox.root / "data" / "local" / "tmp").stat().st_uid == os.geteuid(), "one uid outside"
        finally:
            manager.stop_state(server.address, state)
