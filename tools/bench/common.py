"""Shared helpers for benchmarks: a deterministic image folder, timed subprocesses, two sides
measured in turns and compared, and what the agent-side benchmarks set up alike (the emulated
phone's driver files, the demo's float build, the rounds and timing of ``--smoke`` or a real run)."""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from scipy import stats


def synthetic_images(
    root: Path, count: int, size: int | tuple[int, int] = 256, classes: int = 10, seed: int = 0
) -> Path:
    """``count`` smooth random RGB JPEGs in class subfolders (content is irrelevant to timing)."""
    rng = np.random.default_rng(seed)
    for i in range(count):
        folder = root / f"class_{i % classes:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        low = rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)
        Image.fromarray(low).resize(size if isinstance(size, tuple) else (size, size), Image.Resampling.BICUBIC).save(
            folder / f"{i:05d}.jpg", quality=90
        )
    return root


def timed_host(args: list[str], env: dict[str, str] | None = None) -> tuple[float, str]:
    """Run ``host ARGS`` in a fresh Python; return wall seconds and stdout; raise on failure."""
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "host.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {}), "COLUMNS": "160"},
    )
    elapsed = time.perf_counter() - started
    if proc.returncode not in (0, 1):
        raise SystemExit(f"host {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
    return elapsed, proc.stdout


def interleaved(ours: Callable[[], float], theirs: Callable[[], float], rounds: int) -> tuple[list[float], list[float]]:
    """Each side's p50 over ``rounds`` independent runs, taking turns (who goes first alternates),
    so a drift of the machine's speed falls on both sides alike."""
    mine: list[float] = []
    other: list[float] = []
    for index in range(rounds):
        pair = [(mine, ours), (other, theirs)]
        for samples, run in pair if index % 2 == 0 else pair[::-1]:
            samples.append(run())
    return mine, other


def compare(name: str, ours_label: str, theirs_label: str, ours: list[float], theirs: list[float]) -> float:
    """The ratio of the medians, with the spread and, with enough rounds, whether they differ at all."""
    ratio = statistics.median(ours) / statistics.median(theirs)
    verdict = ""
    if len(ours) >= 3:
        p = stats.mannwhitneyu(ours, theirs, alternative="two-sided").pvalue
        verdict = f", Mann-Whitney p={p:.3f} ({'differ' if p < 0.05 else 'no difference shown'})"
    print(
        f"{name}: {ours_label} p50 median {statistics.median(ours):.3f} ms [{min(ours):.3f}, {max(ours):.3f}], "
        f"{theirs_label} {statistics.median(theirs):.3f} ms [{min(theirs):.3f}, {max(theirs):.3f}], "
        f"ratio {ratio:.3f} over {len(ours)} rounds{verdict}"
    )
    return ratio


def use_software_drivers() -> Any:
    """Let LiteRT on this machine find the driver files the emulated phone binds at /vendor
    (SwiftShader, OpenVINO); call it before the first worker starts, so the workers' forkserver
    inherits them. Returns the drivers found."""
    from emulated_device import drivers

    found = drivers.find()
    for key, value in drivers.direct_environment(found).items():
        os.environ[key] = f"{value}:{os.environ[key]}" if key == "LD_LIBRARY_PATH" and os.environ.get(key) else value
    return found


def demo_float_model(work: Path) -> Path:
    """The demo's float build, converted into ``work`` (from the conversion cache when it is there)."""
    from host.convert.cache import ConversionCache
    from host.convert.converter import convert_model
    from host.convert.inputs import InputRequest, resolve_inputs
    from host.convert.modes import ModeRequest
    from host.convert.records import ConvertOptions
    from host.paths import cache_dir

    source = resolve_inputs(InputRequest("demo", evaluate=False)).source
    assert source is not None
    convert_model(
        source, ModeRequest.parse("none").modes, work, ConvertOptions(), cache=ConversionCache(cache_dir() / "convert")
    )
    return work / "none.tflite"


def rounds_and_timing(description: str | None) -> tuple[int, Any]:
    """``--smoke`` (one round of a few runs: proves the benchmark works) or ``--rounds N`` of
    timing long enough to mean something; returns the rounds and the LatencyParams."""
    from device_agent.contract import LatencyParams

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--smoke", action="store_true", help="a few runs of each, one round: proves the benchmark works"
    )
    parser.add_argument("--rounds", type=int, default=5, help="independent runs of each side, interleaved")
    args = parser.parse_args()
    if args.smoke:
        return 1, LatencyParams(warmup_runs=2, warmup_seconds=0, min_runs=5, min_seconds=0, max_seconds=10)
    return args.rounds, LatencyParams(
        warmup_runs=10, warmup_seconds=1.0, min_runs=100, min_seconds=3.0, max_seconds=60.0
    )
