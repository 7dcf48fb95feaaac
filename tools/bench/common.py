"""Shared helpers for benchmarks: a deterministic image folder, timed subprocesses, and two sides
measured in turns and compared."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import stats


def synthetic_images(root: Path, count: int, size: int | tuple[int, int] = 256, classes: int = 10, seed: int = 0) -> Path:
    """``count`` smooth random RGB JPEGs in class subfolders (content is irrelevant to timing)."""
    rng = np.random.default_rng(seed)
    for i in range(count):
        folder = root / f"class_{i % classes:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        low = rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)
        Image.fromarray(low).resize(size if isinstance(size, tuple) else (size, size), Image.Resampling.BICUBIC).save(folder / f"{i:05d}.jpg", quality=90)
    return root


def timed_host(args: list[str], env: dict[str, str] | None = None) -> tuple[float, str]:
    """Run ``host ARGS`` in a fresh Python; return wall seconds and stdout; raise on failure."""
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "host.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {}), "COLUMNS": "160"})
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
    print(f"{name}: {ours_label} p50 median {statistics.median(ours):.3f} ms [{min(ours):.3f}, {max(ours):.3f}], "
          f"{theirs_label} {statistics.median(theirs):.3f} ms [{min(theirs):.3f}, {max(theirs):.3f}], "
          f"ratio {ratio:.3f} over {len(ours)} rounds{verdict}")
    return ratio
