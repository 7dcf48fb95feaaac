"""The benchmarks at their smoke size: they must keep running (a benchmark cannot rot). Each
prints its figures as the last line, in the form the README quotes."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAST_LINES = {
    "accelerators.py": r"gpu_ratio=\d+\.\d+ npu_ratio=\d+\.\d+ litert_cpu_vs_interpreter=\d+\.\d+",
    "profile.py": r"cpu1_p50_ratio=\d+\.\d+ cpu1_pass_s=-?\d+\.\d+ npu_p50_ratio=\d+\.\d+ npu_pass_s=-?\d+\.\d+",
}


@pytest.mark.parametrize("script", sorted(LAST_LINES))
def test_the_benchmark_runs_at_its_smoke_size(script):
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "bench" / script), "--smoke"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    last = proc.stdout.strip().splitlines()[-1]
    assert re.fullmatch(LAST_LINES[script], last), last
