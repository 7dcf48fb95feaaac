"""The bundled demo: a labelled image set generated deterministically, and its trained model.

Ten classes a classifier has to learn from shape or texture, never from colour: five filled
shapes (circle, square, triangle, ring, cross) and five textures (horizontal stripes, vertical
stripes, checkerboard, dots, star field... see CLASSES), each with random colours, position,
scale, rotation and noise. Splits use separate seeds, so calibration, training and evaluation
images never overlap. The images are written once as PNG class folders under the cache, so the
demo goes through the same loading path as a user's dataset.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from host.paths import cache_dir

GENERATOR_VERSION = 2  # 2: 50 evaluation images per class (the first 500 of version 1's 1,000)
SIZE = 64
CLASSES = (
    "circle",
    "square",
    "triangle",
    "ring",
    "cross",
    "h_stripes",
    "v_stripes",
    "checker",
    "dots",
    "star",
)
SPLITS = {"train": (101, 300), "calibration": (202, 20), "eval": (303, 50)}  # seed, images per class
DEMO_DIR = Path(__file__).resolve().parent / "demo"
MODEL_FILE = DEMO_DIR / "demo_model.keras"
META_FILE = DEMO_DIR / "demo_model.json"


def _colours(rng: np.random.Generator) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """Background and foreground with enough luminance contrast to be visible."""
    while True:
        bg, fg = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
        luminance = np.array([0.299, 0.587, 0.114])
        if abs(float((bg - fg) @ luminance)) > 70:
            return tuple(int(v) for v in bg), tuple(int(v) for v in fg)  # type: ignore[return-value]


def _polygon(
    cx: float, cy: float, radius: float, points: int, angle: float, inner: float | None = None
) -> list[tuple[float, float]]:
    vertices = []
    steps = points * (2 if inner else 1)
    for i in range(steps):
        r = radius if (inner is None or i % 2 == 0) else radius * inner
        theta = angle + 2 * math.pi * i / steps
        vertices.append((cx + r * math.cos(theta), cy + r * math.sin(theta)))
    return vertices


def render(label: int, rng: np.random.Generator) -> np.ndarray:
    """One 64x64 RGB image of class ``label``; drawn at 4x and downsampled for smooth edges."""
    scale = 4
    side = SIZE * scale
    bg, fg = _colours(rng)
    image = Image.new("RGB", (side, side), bg)
    draw = ImageDraw.Draw(image)
    name = CLASSES[label]
    radius = rng.uniform(0.2, 0.34) * side
    cx, cy = rng.uniform(radius, side - radius, 2)
    angle = rng.uniform(0, 2 * math.pi)
    if name == "circle":
        draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=fg)
    elif name == "square":
        draw.polygon(_polygon(cx, cy, radius * 1.15, 4, angle), fill=fg)
    elif name == "triangle":
        draw.polygon(_polygon(cx, cy, radius * 1.2, 3, angle), fill=fg)
    elif name == "ring":
        draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=fg)
        hole = radius * rng.uniform(0.45, 0.65)
        draw.ellipse((cx - hole, cy - hole, cx + hole, cy + hole), fill=bg)
    elif name == "cross":
        arm = radius * rng.uniform(0.28, 0.4)
        bar = [(-radius, -arm), (radius, -arm), (radius, arm), (-radius, arm)]
        for rotation in (angle, angle + math.pi / 2):
            c, s = math.cos(rotation), math.sin(rotation)
            draw.polygon([(cx + x * c - y * s, cy + x * s + y * c) for x, y in bar], fill=fg)
    elif name == "star":
        draw.polygon(_polygon(cx, cy, radius * 1.2, 5, angle, inner=0.45), fill=fg)
    else:
        _texture(draw, name, side, fg, rng)
    small = image.filter(ImageFilter.GaussianBlur(scale / 3)).resize((SIZE, SIZE), Image.Resampling.BILINEAR)
    pixels = np.asarray(small, dtype=np.float32) + rng.normal(0, 8, (SIZE, SIZE, 3))
    return np.clip(pixels, 0, 255).astype(np.uint8)


def _texture(
    draw: ImageDraw.ImageDraw, name: str, side: int, fg: tuple[int, int, int], rng: np.random.Generator
) -> None:
    period = rng.uniform(0.12, 0.22) * side
    phase = rng.uniform(0, period)
    width = period * rng.uniform(0.35, 0.55)
    tilt = math.radians(rng.uniform(-20, 20))
    if name in ("h_stripes", "v_stripes"):
        _stripes(draw, name == "v_stripes", side, fg, period, phase, width, tilt)
    elif name == "checker":
        _grid(
            draw,
            side,
            period,
            phase,
            lambda i, j, x, y: draw.rectangle((x, y, x + period, y + period), fill=fg) if (i + j) % 2 == 0 else None,
        )
    elif name == "dots":
        dot = period * rng.uniform(0.2, 0.3)
        _grid(draw, side, period, phase, lambda i, j, x, y: draw.ellipse((x - dot, y - dot, x + dot, y + dot), fill=fg))


def _stripes(
    draw: ImageDraw.ImageDraw,
    vertical: bool,
    side: int,
    fg: tuple[int, int, int],
    period: float,
    phase: float,
    width: float,
    tilt: float,
) -> None:
    c, s = math.cos(tilt), math.sin(tilt)
    span = int(side * 1.6 / period) + 2
    for k in range(-span, span):
        offset = k * period + phase - side * 0.3
        band: list[tuple[float, float]] = [
            (-side, offset),
            (2 * side, offset),
            (2 * side, offset + width),
            (-side, offset + width),
        ]
        if vertical:
            band = [(y, x) for x, y in band]
        centre = side / 2
        draw.polygon(
            [
                (centre + (x - centre) * c - (y - centre) * s, centre + (x - centre) * s + (y - centre) * c)
                for x, y in band
            ],
            fill=fg,
        )


def _grid(
    draw: ImageDraw.ImageDraw, side: int, period: float, phase: float, mark: Callable[[int, int, float, float], object]
) -> None:
    """``mark`` at each cell of a grid of ``period`` from ``phase``, one cell beyond each edge."""
    cells = int(side / period) + 2
    for i in range(-1, cells):
        for j in range(-1, cells):
            mark(i, j, i * period + phase, j * period + phase)


def generate_split(split: str) -> tuple[np.ndarray, np.ndarray]:
    """All images and labels of a split, classes interleaved, fully determined by its seed."""
    seed, per_class = SPLITS[split]
    rng = np.random.default_rng(seed)
    labels = np.tile(np.arange(len(CLASSES), dtype=np.int32), per_class)
    images = np.stack([render(int(label), rng) for label in labels])
    return images, labels


_RENDERING: dict[str, subprocess.Popen[bytes]] = {}  # splits a child process is writing now


def split_path(split: str) -> Path:
    """Where the split's folder is (or will be), without writing it."""
    return cache_dir() / "demo-data" / f"v{GENERATOR_VERSION}" / split


def render_in_background(split: str) -> Path:
    """Start writing the split in a child process and return its folder at once: the training
    split takes about 15 s to render, and qat (the longest build) waits for it, so the model's
    loading runs beside it on the other core. ``split_folder`` (or ``finish_rendering``) waits."""
    folder = split_path(split)
    if split not in _RENDERING and not (folder / ".complete").is_file():
        _RENDERING[split] = subprocess.Popen(
            [sys.executable, "-c", f"from host.data.demo import split_folder; split_folder({split!r})"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    return folder


def finish_rendering(meanwhile: Callable[[], object] = lambda: None) -> None:
    """Wait for every split a child is writing, doing ``meanwhile`` first if there is one; a split
    the child failed to write is written here (its error raised here)."""
    if _RENDERING:
        meanwhile()
    for split in list(_RENDERING):
        split_folder(split)


def split_folder(split: str) -> Path:
    """The split as PNG class folders under the cache, written on first use."""
    child = _RENDERING.pop(split, None)
    if child is not None:
        child.wait()
    folder = split_path(split)
    marker = folder / ".complete"
    if marker.is_file():
        return folder
    if folder.exists():
        shutil.rmtree(folder)
    images, labels = generate_split(split)
    counters = [0] * len(CLASSES)
    for image, label in zip(images, labels, strict=True):
        target = folder / f"{label:02d}_{CLASSES[label]}" / f"{counters[label]:04d}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(target, optimize=False, compress_level=1)
        counters[label] += 1
    marker.write_text(hashlib.sha256(images.tobytes()).hexdigest())
    return folder


def demo_meta() -> dict[str, object]:
    """What the shipped model was trained with (preset, classes, held-out accuracy)."""
    if not META_FILE.is_file():
        return {}
    return dict(json.loads(META_FILE.read_text()))
