"""Typed run and cell records for tests that need results without measuring them."""

from __future__ import annotations

from collections.abc import Sequence

from device_agent.contract import Accuracy, CellResult, LatencyStats, failed
from device_agent.measure import summarize
from host.results import CellRecord, DatasetInfo, ModelInfo, RunRecord


def latency(samples: Sequence[float]) -> LatencyStats:
    s = summarize(list(samples))
    return LatencyStats(init_ms=1.0, first_ms=1.0, mean=s.mean, std=s.std, min=s.min, p50=s.p50, p90=s.p90, p95=s.p95,
                        p99=s.p99, max=s.max, count=s.count, samples_ms=tuple(samples))


def cell(device: str, mode: str, backend: str, samples: Sequence[float] = (1.0, 1.1, 0.9, 1.0, 1.2), top1: float = 0.9,
         status: str = "ok", error: str = "boom", outputs: str = "", size: int | None = 1000) -> CellRecord:
    if status == "ok":
        result = CellResult("ok", phase="done", latency=latency(samples), accuracy=Accuracy(top1, 1.0, 1.0, 100),
                            outputs_sha256=outputs)
    elif status == "unavailable":
        result = CellResult("unavailable", error=error, phase="start")
    else:
        result = failed("measure", error)
    return CellRecord(device, mode, backend, result, size, finished="2026-11-22T00:00:01+00:00")


def run(run_id: str, cells: Sequence[CellRecord] = (), modes: Sequence[str] = ("none", "float16"),
        backends: Sequence[str] = ("cpu1", "cpu4", "gpu")) -> RunRecord:
    return RunRecord(run_id, "2026-11-22T00:00:00+00:00", "0.1.0", ModelInfo("m", "a" * 64, (1, 8, 8, 3)),
                     DatasetInfo("d", "b" * 64, 100, True), tuple(modes), tuple(backends),
                     {"modes": list(modes), "backends": list(backends)}, cells=tuple(cells))
