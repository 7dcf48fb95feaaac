"""Benchmark: MobileNetV2 (224, 1000 classes, random weights) in every post-training mode.

Prints size per mode beside the seed post's sizes, seconds per mode, and as the last line the
wall-time ratio of a fully cached run to the cold run: ``cache_ratio=<x>``.

    python tools/bench/convert.py [--calibration-count 100] [--smoke]

``--smoke`` (the demo model, none/dynamic_range/integer, 10 calibration images) proves it still works.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tools.bench.common import synthetic_images, timed_host  # noqa: E402

SEED_SIZES = {
    "none": "13,988,316",
    "dynamic_range": "3,927,728",
    "float16": "7,031,728",
    "integer": "~4.2 MB",
    "full_integer": "~4.2 MB",
    "int16x8": "-",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calibration-count", type=int, default=100)
    parser.add_argument("--smoke", action="store_true", help="the demo model, three modes, 10 images: proves it works")
    args = parser.parse_args()
    model, modes = ["mobilenet_v2", "--weights", "none"], "post_training"
    if args.smoke:
        model, modes, args.calibration_count = ["demo"], "none,dynamic_range,integer", 10
    with tempfile.TemporaryDirectory(prefix="bench-convert-") as work:
        root = Path(work)
        images = synthetic_images(root / "images", args.calibration_count)
        env = {"QUANTBENCH_CACHE_DIR": str(root / "cache")}
        command = [
            "convert",
            *model,
            "--modes",
            modes,
            "--keep-float",
            "none",
            "--calibration",
            str(images),
            "--calibration-count",
            str(args.calibration_count),
        ]
        cold, _ = timed_host([*command, "--out", str(root / "cold")], env)
        warm, _ = timed_host([*command, "--out", str(root / "warm")], env)
        cold_manifest = json.loads((root / "cold" / "manifest.json").read_text())
        warm_manifest = json.loads((root / "warm" / "manifest.json").read_text())
    print(f"{'mode':<14}{'size (bytes)':>14}{'seed post':>14}{'vs none':>9}{'cold s':>9}{'warm s':>9}")
    base = cold_manifest["modes"].get("none", {}).get("size_bytes")
    seed_sizes = {} if args.smoke else SEED_SIZES  # the seed post's are MobileNetV2's
    for mode, entry in cold_manifest["modes"].items():
        ratio = f"{entry['size_bytes'] / base:.3f}" if base else "-"
        same = warm_manifest["modes"][mode]["sha256"] == entry["sha256"]
        print(
            f"{mode:<14}{entry['size_bytes']:>14,}{seed_sizes.get(mode, '-'):>14}{ratio:>9}"
            f"{entry['seconds']:>9.2f}{warm_manifest['modes'][mode]['seconds']:>9.2f}"
            + ("" if same else "  (bytes differ!)")
        )
    for mode, reason in cold_manifest["failed"].items():
        print(f"{mode:<14} failed: {reason}")
    print(f"cold run {cold:.1f} s, cached run {warm:.2f} s (wall, whole command)")
    print(f"cache_ratio={warm / cold:.4f}")


if __name__ == "__main__":
    main()
