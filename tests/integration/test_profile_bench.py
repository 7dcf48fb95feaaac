"""The per-op profile benchmark at its smoke size: it must keep running (a benchmark cannot rot)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_profile_benchmark_runs_at_its_smoke_size():
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "bench" / "profile.py"), "--smoke"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    last = proc.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"cpu1_p50_ratio=\d+\.\d+ cpu1_pass_s=-?\d+\.\d+ npu_p50_ratio=\d+\.\d+ npu_pass_s=-?\d+\.\d+", last), last
