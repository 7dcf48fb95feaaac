"""Benchmark: the whole ``host bench`` against the work it exists to do.

MobileNetV2 (224, random weights, a 10-class head), 100 evaluation images, every post-training
mode on ``cpu1`` and ``cpu2`` through the emulated device and a private adb server; a cold run
(empty caches, empty device) and then a warm one. Prints time in converters, time in model
invokes as the agent measured them (first + warm-up + timed runs + evaluation + the per-op
profile pass's first run and profiled runs) and the whole run.

The head has 10 classes because a random 1,000-class MobileNetV2's softmax is near uniform
(0.001 a class), below a uint8 output's step (1/256): its integer builds give all-zero outputs,
which the numerics guard rightly refuses to score, and their cells would count as work done
with no invoke time.

    python tools/bench/bench_e2e.py [--images 100] [--backends cpu1,cpu2] [--smoke]

``--smoke`` (the demo model's float build, 10 images, cpu1, short timing) proves it still works.

Last line: ``overhead_cold=<run/(convert+invoke)> overhead_warm=<run/invoke>``. Goal: warm <= 1.10.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from host.devices.transport.adb import private_server, wheel_adb  # noqa: E402
from host.store import read_run  # noqa: E402
from tools.bench.common import synthetic_images, timed_host  # noqa: E402


def invoke_seconds(db: Path, run_ref: str) -> tuple[str, float, int]:
    run = read_run(run_ref, db)
    total = 0.0
    for cell in run.cells:
        lat, profile = cell.result.latency, cell.result.op_profile
        if cell.ok and lat:
            total += (lat.first_ms + lat.warmup_total_ms + sum(lat.samples_ms)) / 1000.0
            total += cell.result.evaluate_seconds
            total += ((profile.first_ms + profile.invoke_ms) if profile else 0.0) / 1000.0
    return run.run_id, total, sum(1 for c in run.cells if c.ok)


def ten_class_mobilenet_v2(path: Path) -> Path:
    """MobileNetV2 at 224 with random weights and 10 classes, saved as .keras (not timed)."""
    from host.convert import tfenv

    keras = tfenv.keras()
    keras.utils.set_random_seed(0)
    keras.applications.MobileNetV2(input_shape=(224, 224, 3), weights=None, classes=10).save(path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--backends", default="cpu1,cpu2")
    parser.add_argument("--smoke", action="store_true", help="the demo's float build, 10 images, cpu1: proves it works")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as work, private_server(wheel_adb()):
        root = Path(work)
        if args.smoke:
            args.images, args.backends = 10, "cpu1"
            model = [
                "--model",
                "demo",
                "--modes",
                "none",
                "--min-runs",
                "5",
                "--min-seconds",
                "0",
                "--warmup-seconds",
                "0",
            ]
        else:
            model = ["--model", str(ten_class_mobilenet_v2(root / "mobilenet_v2_10.keras")), "--modes", "post_training"]
        env = {"QUANTBENCH_DATA_DIR": str(root / "data"), "QUANTBENCH_CACHE_DIR": str(root / "cache")}
        os.environ.update(env)
        dataset = synthetic_images(root / "eval", args.images, seed=1)
        calibration = synthetic_images(root / "calibration", 100, seed=2)
        db = root / "results.sqlite"
        command = [
            "bench",
            *model,
            "--backends",
            args.backends,
            "--dataset",
            str(dataset),
            "--calibration",
            str(calibration),
            "--db",
            str(db),
        ]
        cold_wall, _ = timed_host(command, env)
        manifests = list((root / "cache" / "bench-models").glob("*/manifest.json"))
        convert = sum(m["seconds"] for m in json.loads(manifests[0].read_text())["modes"].values())
        _, cold_invoke, cold_cells = invoke_seconds(db, "latest")
        warm_wall, _ = timed_host(command, env)
        _, warm_invoke, warm_cells = invoke_seconds(db, "latest")
    print(
        f"{'the demo, none' if args.smoke else 'MobileNetV2 224 random weights 10 classes, post-training modes'}, "
        f"{args.images} images, "
        f"x {args.backends}"
    )
    print(
        f"cold: run {cold_wall:.1f} s, converters {convert:.1f} s, invokes {cold_invoke:.1f} s ({cold_cells} cells ok)"
    )
    print(
        f"warm: run {warm_wall:.1f} s, converters 0.0 s (cached), invokes {warm_invoke:.1f} s ({warm_cells} cells ok)"
    )
    print(f"overhead_cold={cold_wall / (convert + cold_invoke):.3f} overhead_warm={warm_wall / warm_invoke:.3f}")


if __name__ == "__main__":
    main()
