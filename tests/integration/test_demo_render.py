"""The demo's splits rendered in a child process while the caller works on: waited for, and redone
here when the child fails."""

from __future__ import annotations

import hashlib
import subprocess
import sys

from host.data import demo


def test_a_split_rendered_in_the_background_is_waited_for_with_work_done_meanwhile(tmp_path, monkeypatch):
    monkeypatch.setenv("QUANTBENCH_CACHE_DIR", str(tmp_path))
    folder = demo.render_in_background("calibration")
    assert folder == demo.split_path("calibration")
    done = []
    demo.finish_rendering(lambda: done.append("loaded the model"))
    assert done == ["loaded the model"] and not demo._RENDERING
    images, _ = demo.generate_split("calibration")
    assert (folder / ".complete").read_text() == hashlib.sha256(images.tobytes()).hexdigest()
    demo.finish_rendering(lambda: done.append("again"))
    assert done == ["loaded the model"], "nothing pending: nothing to do meanwhile"
    assert demo.render_in_background("calibration") == folder and not demo._RENDERING, "a written split is not redone"


def test_a_split_whose_child_failed_is_written_by_the_caller(tmp_path, monkeypatch):
    monkeypatch.setenv("QUANTBENCH_CACHE_DIR", str(tmp_path))
    monkeypatch.setitem(demo._RENDERING, "calibration", subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"]))
    folder = demo.split_folder("calibration")
    assert (folder / ".complete").is_file() and len(list(folder.rglob("*.png"))) == 200
