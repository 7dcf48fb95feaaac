"""Shared helpers for benchmarks: a deterministic image folder and timed subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image


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
