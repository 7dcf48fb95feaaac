"""The benchmarks at their smoke size: they must keep running (a benchmark cannot rot). Each
prints its figures as the last line, in the form the README quotes."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
R = r"\d+\.\d+"  # a ratio or seconds figure
LAST_LINES = {
    "accelerators.py": rf"gpu_ratio={R} npu_ratio={R} litert_cpu_vs_interpreter={R}",
    "adb_path.py": rf"push_ratio={R} tunnel_latency_ratio={R} tunnel_throughput_ratio={R} forward_latency_ratio={R}",
    "agent_overhead.py": rf"latency_ratio={R} throughput_ratio={R}",
    "bench_e2e.py": rf"overhead_cold={R} overhead_warm={R}",
    "convert.py": rf"cache_ratio={R}",
    "detector.py": r"cells_ok=\d+ pick=\S+",
    "dataset_scale.py": r"host_peak_mb_40=\d+ worker_peak_mb_40=\d+ host_peak_mb_80=\d+ worker_peak_mb_80=\d+ "
    r"host_prepare_images_per_s=\d+",
    "farm.py": rf"controller_cpu_ms_per_cell=-?\d+ controller_cpu_s_per_bench=-?{R} wall_ratio_2={R}",
    "gate.py": rf"false_positive_rate={R} detection_rate={R} inconclusive_aa={R} inconclusive_ab={R} "
    r"median_decision_s=\d+ "
    r"true_slowdown_pct=-?\d+\.\d",
    "profile.py": rf"cpu1_p50_ratio={R} cpu1_pass_s=-?{R} npu_p50_ratio={R} npu_pass_s=-?{R}",
    "selective.py": rf"selective_ratio={R}",
}
HELPERS = {"__init__.py", "common.py"}


def test_every_benchmark_has_a_smoke_test():
    scripts = {p.name for p in (ROOT / "tools" / "bench").glob("*.py")} - HELPERS
    assert scripts == set(LAST_LINES), "a benchmark without a smoke run can rot unseen"


@pytest.mark.parametrize("script", sorted(LAST_LINES))
def test_the_benchmark_runs_at_its_smoke_size(script):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "bench" / script), "--smoke"], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    last = proc.stdout.strip().splitlines()[-1]
    assert re.fullmatch(LAST_LINES[script], last), last
