"""Run adbutils' own end-to-end suite (``e2etests/`` of its sdist) against the emulated device.

    python -m tests.peer_suite E2E_DIR OUT_DIR

Run inside a network namespace of its own (``test_peer_suite.py`` does that), so the suite's
hard-wired default adb server, 127.0.0.1:5037, is ours there and never the user's. It starts that
server and an emulated Termux phone, runs pytest on the suite less the tests listed in
``NOT_EMULATED`` (each with its reason), and leaves ``junit.xml`` and the phone's command log
(every shell command's exit status) in OUT_DIR.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

# what the suite tests that the emulated phone does not have, and why
NOT_EMULATED = {
    "test_device_shell_extend.py::test_keyevent": "needs the input framework (a screen)",
    "test_device_shell_extend.py::test_brightness": "needs the settings provider and a screen",
    "test_device_shell_extend.py::test_switch_screen": "needs a screen",
    "test_device_shell_extend.py::test_switch_airplane": "needs the connectivity framework",
    "test_device_shell_extend.py::test_switch_wifi": "needs Wi-Fi",
    "test_device_shell_extend.py::test_swipe": "needs the input framework (a screen)",
    "test_device_shell_extend.py::test_drag": "needs the input framework (a screen)",
    "test_device_shell_extend.py::test_click": "needs the input framework (a screen)",
    "test_device_shell_extend.py::test_send_keys": "needs the input framework (a screen)",
    "test_device_shell_extend.py::test_wlan_ip": "needs Wi-Fi",
    "test_device_shell_extend.py::test_app_start_stop": "needs the activity manager and an app with activities",
    "test_device_shell_extend.py::test_screenshot": "needs a screen (screencap)",
    "test_device_shell_extend.py::test_app_info": "needs the activity manager (the app in the foreground)",
    "test_device_shell_extend.py::test_window_size": "needs the window manager (a screen)",
    "test_device_shell_extend.py::test_is_screen_on": "needs a screen",
    "test_device_shell_extend.py::test_open_browser": "needs the activity manager and a browser",
    "test_device_shell_extend.py::test_dump_hierarchy": "needs UI Automator (a screen)",
    "test_device_base.py::test_framebuffer": "needs a screen (the framebuffer service)",
    "test_record.py": "needs a screen (screenrecord)",
    "test_deprecated.py::test_package_info": "needs the activity manager (the app in the foreground)",
    "test_adb.py::test_wait_for": "needs a USB-attached device (the emulated one is adb-connected over TCP)",
}
PORT = 5037


def main(e2e: Path, out: Path) -> int:
    from host.devices.transport.adb import parse_server, wheel_adb
    from host.emulator import manager

    home = out / "home"
    home.mkdir(parents=True, exist_ok=True)
    os.environ.update(
        {"HOME": str(home), "QUANTBENCH_DATA_DIR": str(out / "data"), "QUANTBENCH_CACHE_DIR": str(out / "cache")}
    )
    os.environ.pop("ANDROID_ADB_SERVER_PORT", None)
    adb = wheel_adb()  # the suite's own adb (adbutils.adb_path()) must be the server's version, or it restarts it
    subprocess.run([adb, "-P", str(PORT), "start-server"], check=True, capture_output=True, timeout=60)
    address = parse_server(f"127.0.0.1:{PORT}")
    state = manager.start(address, 0, out / "sandbox", profile="termux")
    try:
        deselect = [f"--deselect={name}" for name in NOT_EMULATED if "::" in name]  # node ids from the rootdir
        ignore = [f"--ignore={name}" for name in NOT_EMULATED if "::" not in name]
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "-o",
                "addopts=",
                f"--rootdir={e2e}",
                f"--junitxml={out / 'junit.xml'}",
                "--timeout=120",
                *deselect,
                *ignore,
                ".",
            ],
            cwd=e2e,
            timeout=900,
        )
        log = Path(state.root).parent / (Path(state.root).name + ".private") / "internal" / "commands.log"
        if log.is_file():
            (out / "commands.log").write_text(log.read_text())
        return done.returncode
    finally:
        manager.stop_state(address, state)
        subprocess.run([adb, "-P", str(PORT), "kill-server"], capture_output=True, timeout=60)


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
