"""The emulated device answers as a stock Android 14 phone (a ``user`` build) answers.

Properties, ``reverse:``, sync as the shell user, ``pm`` and ``adb install``, ``cmd``, ``dumpsys``,
the feature list, ``root``/``unroot``/``remount``, a PTY, toybox's formats and mksh's syntax, and
ADB's transport rules for a client speaking the first protocol version (checksums, 4 KiB payloads).
"""

from __future__ import annotations

import base64
import json
import os
import pty
import select
import socket
import struct
import subprocess
import threading
import time
import zipfile
from pathlib import Path

import pytest

from emulated_device.auth import _SHA1_DIGEST_INFO, user_key_path
from emulated_device.sandbox import Sandbox
from host.devices.transport.device import Device
from host.emulator import manager
from tests.adb_fixtures import adb_binaries, private_adb_server


@pytest.fixture(scope="module")
def phone(tmp_path_factory):
    base = tmp_path_factory.mktemp("answers")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("QUANTBENCH_DATA_DIR", str(base / "data"))
        patch.setenv("QUANTBENCH_CACHE_DIR", str(base / "cache"))
        with private_adb_server(adb_binaries()["adb-wheel"]) as server:
            state = manager.start(server.address, 0, base / "sandbox", profile="termux")
            yield server, state, Device(server.address, state.serial)
            manager.stop_state(server.address, state)


def _adb(phone, *args: str, stdin: bytes | None = None, timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
    server, state, _ = phone
    return subprocess.run(
        [server.binary, "-P", str(server.address.port), "-s", state.serial, *args],
        input=stdin,
        capture_output=True,
        timeout=timeout,
    )


def _shell(phone, command: str) -> tuple[int, str, str]:
    result = phone[2].shell(command)
    return result.exit_code, result.stdout, result.stderr


def test_properties_of_a_booted_production_build(phone):
    props = {
        key: _shell(phone, f"getprop {key}")[1].strip()
        for key in (
            "sys.boot_completed",
            "ro.build.type",
            "ro.build.tags",
            "ro.debuggable",
            "ro.secure",
            "ro.product.brand",
            "ro.build.id",
            "ro.build.version.security_patch",
            "ro.build.fingerprint",
        )
    }
    assert (
        props["sys.boot_completed"] == "1"
        and props["ro.build.type"] == "user"
        and props["ro.build.tags"] == "release-keys"
    )
    assert props["ro.debuggable"] == "0" and props["ro.secure"] == "1"
    assert props["ro.product.brand"] and props["ro.build.id"] and len(props["ro.build.version.security_patch"]) == 10
    assert props["ro.build.fingerprint"].endswith(":user/release-keys")
    assert _shell(phone, "setprop ro.debuggable 1") == (
        1,
        "",
        "Failed to set property 'ro.debuggable' to '1'.\nSee dmesg for error reason.\n",
    )
    assert _shell(phone, "setprop debug.quantbench.x 7; getprop debug.quantbench.x")[1] == "7\n"
    assert "ro.build.type=user" in _shell(phone, "cat /system/build.prop")[1]


def test_reverse_forwards_a_device_port_to_the_host(phone):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        host_port = listener.getsockname()[1]

        def answer() -> None:
            conn, _ = listener.accept()
            with conn:
                conn.sendall(b"from the host:" + conn.recv(100))

        threading.Thread(target=answer, daemon=True).start()
        assert _adb(phone, "reverse", "tcp:0", f"tcp:{host_port}").returncode == 0
        listing = _adb(phone, "reverse", "--list").stdout.decode().split()
        device_port = int(listing[1].split(":")[1])
        assert listing[2] == f"tcp:{host_port}"
        code, out, _ = _shell(phone, f"(echo ping; sleep 2) | nc 127.0.0.1 {device_port}")  # no half-close over ADB
        assert out.startswith("from the host:ping"), (code, out)
    assert _adb(phone, "reverse", "--remove", f"tcp:{device_port}").returncode == 0
    bad = _adb(phone, "reverse", "--remove", f"tcp:{device_port}")
    assert bad.returncode != 0 and b"not found" in bad.stderr
    _adb(phone, "reverse", "tcp:0", f"tcp:{host_port}")
    assert (
        _adb(phone, "reverse", "--remove-all").returncode == 0
        and _adb(phone, "reverse", "--list").stdout.strip() == b""
    )
    assert any(item.local == f"tcp:{host_port}" for item in _reverse_with_adbutils(phone, host_port))


def _reverse_with_adbutils(phone, host_port):
    import adbutils

    server, state, _ = phone
    device = adbutils.AdbClient(port=server.address.port).device(state.serial)
    device.reverse("tcp:0", f"tcp:{host_port}")
    try:
        return device.reverse_list()
    finally:
        _adb(phone, "reverse", "--remove-all")


def test_sync_acts_as_the_shell_user(phone, tmp_path):
    import adbutils

    server, state, _ = phone
    device = adbutils.AdbClient(port=server.address.port).device(state.serial)
    assert device.sync.list("/data") == [] and device.sync.list("/data/data") == [], "listed only where the shell may"
    info = device.sync.stat("/data/local/tmp")
    assert oct(info.mode & 0o7777) == "0o771"
    device.sync.push(b"x", "/data/local/tmp/owned")
    assert (
        _shell(phone, "stat -c '%U %G %a' /data/local/tmp /data/local/tmp/owned")[1]
        == "shell shell 771\nshell shell 755\n"
    )
    assert "shell shell" in _shell(phone, "ls -l /data/local/tmp/owned")[1]
    assert device.sync.read_text("/proc/cpuinfo") == _shell(phone, "cat /proc/cpuinfo")[1], "/proc is the shell's own"
    with pytest.raises(adbutils.AdbError):
        device.sync.push(b"x", "/data/nope")
    refused = _adb(phone, "push", str(Path(__file__)), "/data/nope")
    assert b"remote couldn't create file: Permission denied" in refused.stderr, refused.stderr
    (tmp_path / "f").write_bytes(os.urandom(3 << 20))
    assert _adb(phone, "push", str(tmp_path / "f"), "/data/local/tmp/f").returncode == 0  # sendrecv_v2 (SND2) on adb 36
    assert _adb(phone, "pull", "/data/local/tmp/f", str(tmp_path / "g")).returncode == 0
    assert (tmp_path / "g").read_bytes() == (tmp_path / "f").read_bytes()


def test_the_package_manager_and_install_say_what_a_phone_says(phone, tmp_path):
    assert _shell(phone, "pm list packages -3")[1] == "package:com.termux\n"
    system = _shell(phone, "pm list packages -s")[1]
    assert "package:android\n" in system and "com.termux" not in system
    assert (
        "package:/data/app/" in _shell(phone, "pm list packages -f -3")[1]
        and "=com.termux" in _shell(phone, "pm list packages -f")[1]
    )
    assert _shell(phone, "pm list packages -U termux")[1] == "package:com.termux uid:10123\n"
    assert _shell(phone, "pm path com.termux")[1].startswith("package:/data/app/")
    assert _shell(phone, "pm path com.nosuch")[0] == 1
    (tmp_path / "not.apk").write_bytes(b"not a zip")
    with zipfile.ZipFile(tmp_path / "unsigned.apk", "w") as apk:
        apk.writestr("AndroidManifest.xml", b"\x03\x00\x08\x00")
    for name, reason in (
        ("not.apk", "INSTALL_PARSE_FAILED_NOT_APK"),
        ("unsigned.apk", "INSTALL_PARSE_FAILED_NO_CERTIFICATES"),
    ):
        done = _adb(phone, "install", str(tmp_path / name))  # adb 36 streams it into abb_exec:package install
        said = (done.stdout + done.stderr).decode()
        assert done.returncode != 0 and f"Failure [{reason}" in said, said
        phone[2].push_unchecked(tmp_path / name, f"/data/local/tmp/{name}")
        code, out, _ = _shell(phone, f"pm install /data/local/tmp/{name}")
        assert code == 1 and out.startswith(f"Failure [{reason}"), out


def test_cmd_dumpsys_and_the_feature_list(phone):
    assert _shell(phone, "cmd package list packages -3")[1] == "package:com.termux\n"
    assert _shell(phone, "cmd nosuch") == (20, "", "cmd: Can't find service: nosuch\n")
    assert _shell(phone, "dumpsys nosuch") == (0, "", "Can't find service: nosuch\n")
    assert "Thermal Status: 0" in _shell(phone, "dumpsys thermalservice")[1]
    assert (
        _shell(phone, "cmd thermalservice override-status 3; dumpsys thermalservice | grep Status:")[1]
        == "Thermal Status: 3\n"
    )
    _shell(phone, "cmd thermalservice reset")
    features = set(_features(phone))
    assert {"shell_v2", "cmd", "stat_v2", "ls_v2", "abb_exec", "sendrecv_v2", "apex", "fixed_push_mkdir"} <= features
    assert not features & {
        "abb",
        "sendrecv_v2_brotli",
        "sendrecv_v2_lz4",
        "sendrecv_v2_zstd",
        "delayed_ack",
        "track_app",
    }


def _features(phone) -> list[str]:
    import adbutils

    server, state, _ = phone
    return adbutils.AdbClient(port=server.address.port).device(state.serial).get_features().split(",")


def test_root_unroot_and_remount_as_on_a_production_build(phone):
    assert _adb(phone, "root").stdout.decode() == "adbd cannot run as root in production builds\n"
    assert _adb(phone, "unroot").stdout.decode() == "adbd not running as root\n"
    remount = _adb(phone, "remount")
    assert remount.returncode != 0 and b'Not running as root. Try "adb root" first.' in remount.stdout + remount.stderr
    assert _shell(phone, "id -u")[1] == "2000\n", "still the shell user"


def test_a_terminal_for_adb_shell_t_and_the_interactive_shell(phone):
    done = _adb(phone, "shell", "-tt", "tty; echo $TERM")
    lines = done.stdout.decode().replace("\r", "").splitlines()
    assert lines[0].startswith("/dev/pts/") and lines[1], lines
    server, state, _ = phone
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(server.binary, [server.binary, "-P", str(server.address.port), "-s", state.serial, "shell"])
    seen = _read_until(fd, b"$ ")
    assert b"emu64x:/ $ " in seen, seen
    os.write(fd, b"echo $((6*7)); exit 3\n")
    seen = _read_until(fd, b"42")
    os.waitpid(pid, 0)
    os.close(fd)
    assert b"42" in seen


def _read_until(fd: int, wanted: bytes, timeout: float = 20) -> bytes:
    data = b""
    deadline = time.monotonic() + timeout
    while wanted not in data and time.monotonic() < deadline:
        if select.select([fd], [], [], 0.5)[0]:
            try:
                data += os.read(fd, 4096)
            except OSError:
                break
    return data


def test_toybox_formats_and_mksh_syntax(phone):
    ls = _shell(phone, "ls -ld /data/local/tmp")[1]
    assert ls.startswith("drwxrwx--x ") and " shell shell " in ls
    assert _shell(phone, "ps -A | head -1")[1].split() == [
        "USER",
        "PID",
        "PPID",
        "VSZ",
        "RSS",
        "WCHAN",
        "ADDR",
        "S",
        "NAME",
    ]
    assert _shell(phone, "id")[1].startswith("uid=2000(shell) gid=2000(shell) groups=2000(shell),1004(input)")
    assert _shell(phone, "nproc")[1].strip().isdigit()
    assert _shell(phone, "pidof init")[1] == "1\n"
    assert _shell(phone, "mktemp")[1].startswith("/data/local/tmp/tmp.")
    assert _shell(phone, "logcat -d") == (0, "--------- beginning of main\n", "")
    assert _shell(phone, "toybox --version")[1].startswith("toybox ")
    assert _shell(phone, "echo {1..3}")[1] == "{1..3}\n", "no bash brace sequences in mksh"
    assert _shell(phone, "declare -A table")[0] == 127, "no bash builtins"
    assert _shell(phone, "ls /nonexistent")[0] == 1
    logged = _shell(phone, "log -t QB hello; logcat -d -v brief | grep QB")[1]
    assert logged.startswith("I/QB      (") and logged.endswith("): hello\n"), logged


# -- the first protocol version, byte by byte ------------------------------------------------------
A_CNXN, A_AUTH, A_OPEN, A_OKAY, A_WRTE, A_CLSE = 0x4E584E43, 0x48545541, 0x4E45504F, 0x59414B4F, 0x45545257, 0x45534C43


def _der(data: bytes, offset: int) -> tuple[int, int, int]:
    """(tag, start of content, end of content) of the DER element at ``offset``."""
    tag, length = data[offset], data[offset + 1]
    offset += 2
    if length & 0x80:
        count = length & 0x7F
        length = int.from_bytes(data[offset : offset + count], "big")
        offset += count
    return tag, offset, offset + length


def _private_key(path: Path) -> tuple[int, int]:
    """(modulus, private exponent) of adb's PEM key (PKCS#8 around PKCS#1)."""
    body = base64.b64decode("".join(line for line in path.read_text().splitlines() if not line.startswith("-----")))
    _, start, _ = _der(body, 0)
    _, _, end = _der(body, start)  # version
    tag, start2, end2 = _der(body, end)
    if tag == 0x30:  # PKCS#8: skip the algorithm, open the octet string
        _, start3, _ = _der(body, end2)
        body, start = body[start3:], 0
        _, start, _ = _der(body, 0)
        _, _, end = _der(body, start)
    numbers, offset = [], end
    for _ in range(3):  # n, e, d
        _, begin, stop = _der(body, offset)
        numbers.append(int.from_bytes(body[begin:stop], "big"))
        offset = stop
    return numbers[0], numbers[2]


def _packet(command: int, arg0: int, arg1: int, payload: bytes = b"") -> bytes:
    return (
        struct.pack("<6I", command, arg0, arg1, len(payload), sum(payload) & 0xFFFFFFFF, command ^ 0xFFFFFFFF) + payload
    )


def _receive(sock: socket.socket) -> tuple[int, int, int, bytes, int]:
    header = _exactly(sock, 24)
    command, arg0, arg1, length, check, _ = struct.unpack("<6I", header)
    payload = _exactly(sock, length)
    return command, arg0, arg1, payload, check


def _exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def test_a_client_of_the_first_protocol_version_gets_checksums_and_4k_payloads(phone):
    _, state, _ = phone
    modulus, private = _private_key(user_key_path().with_suffix(""))
    with socket.create_connection(("127.0.0.1", state.port), timeout=20) as sock:
        sock.sendall(_packet(A_CNXN, 0x01000000, 4096, b"host::\0"))
        command, kind, _, token, check = _receive(sock)
        assert command == A_AUTH and kind == 1 and check == sum(token)
        size = (modulus.bit_length() + 7) // 8
        message = _SHA1_DIGEST_INFO + token
        padded = b"\x00\x01" + b"\xff" * (size - len(message) - 3) + b"\x00" + message
        signature = pow(int.from_bytes(padded, "big"), private, modulus).to_bytes(size, "big")
        sock.sendall(_packet(A_AUTH, 2, 0, signature))
        command, version, maxdata, banner, check = _receive(sock)
        assert command == A_CNXN and maxdata == 4096 and check == sum(banner) and banner.startswith(b"device::")
        sock.sendall(_packet(A_OPEN, 7, 0, b"shell:echo $((6*7)); head -c 10000 /dev/zero\0"))
        received, command = b"", 0
        while command != A_CLSE:
            command, their, _, payload, check = _receive(sock)
            assert check == sum(payload) & 0xFFFFFFFF and len(payload) <= 4096
            if command == A_WRTE:
                received += payload
                sock.sendall(_packet(A_OKAY, 7, their))
        assert received == b"42\n" + bytes(10000)
        bad = bytearray(_packet(A_OPEN, 8, 0, b"shell:echo no\0"))
        bad[16] ^= 0xFF  # a wrong data_check: the device drops the connection, as adbd drops the packet's link
        sock.sendall(bytes(bad))
        with pytest.raises((ConnectionError, socket.timeout, OSError)):
            while True:
                _receive(sock)


def _descendants(pid: int) -> list[tuple[int, str, str]]:
    """(pid, state, command name) of every process under ``pid``, read from /proc."""
    children: dict[int, list[tuple[int, str, str]]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name, rest = stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2 :].split()
        children.setdefault(int(rest[1]), []).append((int(entry.name), rest[0], name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child[0])
    return found


def test_the_phones_init_reaps_the_orphans_a_shell_leaves(phone):
    """A background job outlives its shell, goes to init, and is reaped when it ends, as on a
    phone. The emulated init once slept with SIGCHLD discarded: every orphan stayed a zombie."""
    _, state, _ = phone
    holders = json.loads((Sandbox(Path(state.root)).internal / "holders.json").read_text())  # each domain's init
    inits = [int(entry["pid"]) for entry in holders.values()]

    def under_init() -> list[tuple[int, str, str]]:
        return [found for pid in inits for found in _descendants(pid)]

    for _ in range(4):
        assert _shell(phone, "(sleep 1 </dev/null >/dev/null 2>&1 &); exit 0")[0] == 0
    assert any(name == "sleep" for _, _, name in under_init()), "the background jobs went to the domain's init"
    deadline = time.monotonic() + 60  # ends as soon as the sleeps are gone and nothing is left unreaped
    while time.monotonic() < deadline:
        left = under_init()
        if not any(name == "sleep" for _, _, name in left) and not any(s == "Z" for _, s, _ in left):
            break
        time.sleep(0.1)
    zombies = [(pid, name) for pid, s, name in under_init() if s == "Z"]
    assert not zombies, f"unreaped: {zombies}"


def _strict_session(phone) -> socket.socket:
    """A client of the first protocol version, authenticated: it will wait for the device's OKAY
    after every WRTE before it sends the next, as that version requires of both sides."""
    _, state, _ = phone
    modulus, private = _private_key(user_key_path().with_suffix(""))
    sock = socket.create_connection(("127.0.0.1", state.port), timeout=20)
    sock.sendall(_packet(A_CNXN, 0x01000000, 4096, b"host::\0"))
    _, _, _, token, _ = _receive(sock)
    size = (modulus.bit_length() + 7) // 8
    message = _SHA1_DIGEST_INFO + token
    padded = b"\x00\x01" + b"\xff" * (size - len(message) - 3) + b"\x00" + message
    sock.sendall(_packet(A_AUTH, 2, 0, pow(int.from_bytes(padded, "big"), private, modulus).to_bytes(size, "big")))
    assert _receive(sock)[0] == A_CNXN
    return sock


def _strict_write(sock: socket.socket, local: int, remote: int, data: bytes, replies: list[bytes]) -> None:
    """WRTE ``data`` in 4 KiB packets, each only once the device OKAYed the one before; what the
    device writes meanwhile is OKAYed and kept in ``replies``."""
    for start in range(0, len(data), 4096):
        sock.sendall(_packet(A_WRTE, local, remote, data[start : start + 4096]))
        while True:
            command, their, _, payload, _ = _receive(sock)
            if command == A_OKAY:
                break
            if command == A_WRTE:
                replies.append(payload)
                sock.sendall(_packet(A_OKAY, local, their))
            elif command == A_CLSE:
                raise ConnectionError("the device closed the stream")


def test_a_strict_first_version_client_pushes_megabytes_over_sync(phone):
    """A sync push of 3 MB from a client that waits for an OKAY after every WRTE (round 4, item 8:
    it once stalled until a 64 s timeout)."""
    payload = os.urandom(3 << 20)
    with _strict_session(phone) as sock:
        sock.sendall(_packet(A_OPEN, 5, 0, b"sync:\0"))
        command, remote, _, _, _ = _receive(sock)
        assert command == A_OKAY
        target = b"/data/local/tmp/strict.bin,33188"
        request = b"SEND" + struct.pack("<I", len(target)) + target
        for start in range(0, len(payload), 65536):
            chunk = payload[start : start + 65536]
            request += b"DATA" + struct.pack("<I", len(chunk)) + chunk
        request += b"DONE" + struct.pack("<I", 0)
        replies: list[bytes] = []
        _strict_write(sock, 5, remote, request, replies)
        while not b"".join(replies).startswith((b"OKAY", b"FAIL")):
            command, their, _, data, _ = _receive(sock)
            if command == A_WRTE:
                replies.append(data)
                sock.sendall(_packet(A_OKAY, 5, their))
        assert b"".join(replies)[:4] == b"OKAY", b"".join(replies)
    assert _shell(phone, "stat -c %s /data/local/tmp/strict.bin")[1].strip() == str(3 << 20)
