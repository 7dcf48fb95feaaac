"""Benchmark: what the per-op profile pass costs, and that it never touches a timed sample.

The agent's worker runs the demo's float build on ``cpu1`` (and on the software ``npu``) twice
over: with ``op_profile`` (the pass after the timed samples: LiteRT compiles the model again
with its profiler and runs it 20 times) and without. The two sides take turns for ``--rounds``
rounds; the p50 ratio (profiled / plain) should be 1.00 within noise, because the profiler is
off during the timed samples (a Mann-Whitney test says whether the sides differ at all), and the
difference of the cells' wall times is what the pass adds per cell.

    python tools/bench/profile.py [--smoke] [--rounds 5]

Last line: ``cpu1_p50_ratio=<x> cpu1_pass_s=<a> npu_p50_ratio=<y> npu_pass_s=<b>``.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from device_agent.contract import CellRequest, LatencyParams  # noqa: E402
from device_agent.serving import jobs  # noqa: E402
from device_agent.storage.store import FileStore  # noqa: E402
from host.devices.launch.litert import lay_out, wheel_release  # noqa: E402
from tools.bench.common import compare, demo_float_model, interleaved, rounds_and_timing, use_software_drivers  # noqa: E402

use_software_drivers()  # OpenVINO for the npu, before the first worker starts


class Side:
    """One way of running the cell; keeps each round's wall time beside its p50."""

    def __init__(self, root: Path, sha: str, backend: str, params: LatencyParams, profiled: bool) -> None:
        self.request = CellRequest(model_sha256=sha, backend=backend, latency=params, op_profile=profiled)
        self.root, self.walls = root, []

    def __call__(self) -> float:
        started = time.perf_counter()
        result = list(jobs.run_job(str(self.root), self.request))[-1]
        self.walls.append(time.perf_counter() - started)
        if not result.ok or result.latency is None:
            raise SystemExit(f"{self.request.backend}: {result.status}: {result.error}")
        if self.request.op_profile and (result.op_profile is None or not result.op_profile.ops):
            raise SystemExit(f"{self.request.backend}: no profile came back: {result.op_profile}")
        return result.latency.p50


def main() -> None:
    rounds, params = rounds_and_timing(__doc__)
    figures = {}
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as work:
        root = Path(work) / "home" / "root"
        lay_out(wheel_release(), Path(work) / "home" / "litert")
        sha = FileStore(root).put_bytes(demo_float_model(Path(work) / "models").read_bytes())
        for backend in ("cpu1", "npu"):
            profiled, plain = Side(root, sha, backend, params, True), Side(root, sha, backend, params, False)
            ours, theirs = interleaved(profiled, plain, rounds)
            figures[f"{backend}_p50_ratio"] = compare(backend, "with --op-profile", "without", ours, theirs)
            figures[f"{backend}_pass_s"] = statistics.median(profiled.walls) - statistics.median(plain.walls)
    print(" ".join(f"{k}={v:.3f}" for k, v in figures.items()))


if __name__ == "__main__":
    main()
