"""Typed run and cell records for tests that need results without measuring them."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from device_agent.contract import Accuracy, CellResult, Fidelity, LatencyStats, OutputFidelity, failed
from device_agent.measuring.measure import summarize
from host.results import CellRecord, DatasetInfo, DeviceRecord, ModelInfo, RepeatRecord, RunRecord


def latency(samples: Sequence[float]) -> LatencyStats:
    s = summarize(list(samples))
    return LatencyStats(
        init_ms=1.0,
        first_ms=1.0,
        mean=s.mean,
        std=s.std,
        min=s.min,
        p50=s.p50,
        p90=s.p90,
        p95=s.p95,
        p99=s.p99,
        max=s.max,
        count=s.count,
        samples_ms=tuple(samples),
    )


def repeats(
    medians: Sequence[float], throttled: Sequence[float] = (), reference_ms: float = 0.0
) -> tuple[RepeatRecord, ...]:
    """Repeats with these medians, then throttled ones (left out of verdicts) with those."""
    values = [(m, "") for m in medians] + [(m, "thermal status 3 (moderate or worse) at the end") for m in throttled]
    return tuple(
        RepeatRecord(i, i, m, (m,), reference_before_ms=reference_ms, reference_after_ms=reference_ms, throttled=why)
        for i, (m, why) in enumerate(values)
    )


def device(serial: str = "A", **changes: object) -> DeviceRecord:
    fields: dict = {
        "serial": serial,
        "model": "Pixel 7",
        "abi": "arm64-v8a",
        "sdk": 34,
        "runtime": "tflite_runtime",
        "runtime_version": "2.14.0",
        "cores": 8,
        **changes,
    }
    return DeviceRecord(**fields)


def fidelity(snr: Sequence[float], names: Sequence[str] = ("boxes", "scores")) -> Fidelity:
    """Fidelity with one output per SNR (dB), named in order; the worst one heads it."""
    outputs = tuple(OutputFidelity(name, 4, value, 0.99, 0.01, 0.1) for name, value in zip(names, snr, strict=False))
    return Fidelity(None, 0.01, 0.1, 100, min(snr), outputs)


def cell(
    device: str,
    mode: str,
    backend: str,
    samples: Sequence[float] = (1.0, 1.1, 0.9, 1.0, 1.2),
    top1: float | None = 0.9,
    status: str = "ok",
    error: str = "boom",
    outputs: str = "",
    size: int | None = 1000,
    medians: Sequence[float] = (),
    throttled: Sequence[float] = (),
    right: Sequence[bool] = (),
    reference_ms: float = 0.0,
    snr: Sequence[float] = (),
) -> CellRecord:
    """A cell; ``medians`` (and ``throttled``) its repeats, ``right`` each image's top-1 outcome;
    ``top1=None`` for an unlabelled run, ``snr`` each output's fidelity to the reference."""
    if status == "ok":
        count = len(right) or 100
        result = CellResult(
            "ok",
            phase="done",
            latency=latency(samples),
            accuracy=Accuracy(top1, 1.0, 1.0, count) if top1 is not None else None,
            fidelity=fidelity(snr) if snr else None,
            outputs_sha256=outputs,
            evaluated_images=len(right),
        )
    elif status == "unavailable":
        result = CellResult("unavailable", error=error, phase="start")
    else:
        result = failed("measure", error)
    return CellRecord(
        device,
        mode,
        backend,
        result,
        size,
        finished="2026-11-22T00:00:01+00:00",
        repeats=repeats(medians, throttled, reference_ms) if status == "ok" else (),
        outcomes=bytes(np.packbits(np.asarray(right, dtype=bool))) if len(right) else b"",
    )


def run(
    run_id: str,
    cells: Sequence[CellRecord] = (),
    modes: Sequence[str] = ("none", "float16"),
    backends: Sequence[str] = ("cpu1", "cpu4", "gpu"),
    devices: Sequence[DeviceRecord] = (),
) -> RunRecord:
    return RunRecord(
        run_id,
        "2026-11-22T00:00:00+00:00",
        "0.1.0",
        ModelInfo("m", "a" * 64, (1, 8, 8, 3)),
        DatasetInfo("d", "b" * 64, 100, True),
        tuple(modes),
        tuple(backends),
        {"modes": list(modes), "backends": list(backends)},
        devices=tuple(devices),
        cells=tuple(cells),
    )
