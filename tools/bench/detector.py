"""Benchmark: which build of a detector should ship, judged without labels by fidelity to float.

An SSD-style detector (MobileNetV2 backbone with random weights, box and class heads on its
14x14 and 7x7 feature maps, 3 anchors a cell: outputs ``boxes`` [1, 735, 4] and ``scores``
[1, 735, 10]) converts into every mode and is benched through the emulated device and a private
adb server on cpu1, gpu and npu over unlabelled images. Prints per mode: size, the worst output's
SNR against the float build (cpu1) and which output it is, p50 per backend, and the pick with
its reason (the emulated device's GPU and NPU are software: real numerics, not a phone's speed).

    python tools/bench/detector.py [--images 32] [--backends cpu1,gpu,npu] [--smoke]

``--smoke`` (a 96x96 MobileNetV2 at alpha 0.35, none and dynamic_range, cpu1, 6 images).

Last line: ``cells_ok=<n> pick=<mode>/<backend>`` (``pick=none`` when nothing meets the floor).
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
from tools.bench.common import timed_host  # noqa: E402


def ssd_mobilenet_v2(path: Path, size: int, alpha: float, classes: int = 10, anchors: int = 3) -> Path:
    """An SSD-style head on MobileNetV2 (random weights), saved as .keras (not timed)."""
    from host.convert import tfenv

    keras = tfenv.keras()
    keras.utils.set_random_seed(0)
    backbone = keras.applications.MobileNetV2(input_shape=(size, size, 3), alpha=alpha, weights=None, include_top=False)
    maps = [backbone.get_layer("block_13_expand_relu").output, backbone.output]
    boxes, scores = [], []
    for i, feature in enumerate(maps):
        x = keras.layers.Conv2D(128, 1, activation="relu6", name=f"head{i}")(feature)
        boxes.append(
            keras.layers.Reshape((-1, 4))(keras.layers.Conv2D(anchors * 4, 3, padding="same", name=f"box{i}")(x))
        )
        scores.append(
            keras.layers.Reshape((-1, classes))(
                keras.layers.Conv2D(anchors * classes, 3, padding="same", name=f"cls{i}")(x)
            )
        )
    box = keras.layers.Concatenate(axis=1, name="boxes")(boxes)
    score = keras.layers.Activation("sigmoid", name="scores")(keras.layers.Concatenate(axis=1)(scores))
    keras.Model(backbone.input, [box, score], name="ssd_mobilenet_v2").save(path)
    return path


def flat_images(root: Path, count: int, size: int, seed: int) -> Path:
    """Unlabelled smooth RGB images (no class folders: fidelity to float is the quality)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        low = rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)
        Image.fromarray(low).resize((size, size), Image.Resampling.BICUBIC).save(root / f"{i:05d}.jpg", quality=90)
    return root


def table(run: dict, backends: list[str]) -> list[str]:
    """Size, worst-output SNR on cpu1 and p50 per backend, one line per mode."""
    cells = {(c["mode"], c["backend"]): c for c in run["cells"]}
    modes = list(dict.fromkeys(c["mode"] for c in run["cells"]))
    lines = [f"{'mode':<16} {'bytes':>10} {'worst SNR (cpu1)':>26} " + " ".join(f"{b + ' p50':>12}" for b in backends)]
    for mode in modes:
        reference = cells.get((mode, "cpu1"))
        size = next((c["size_bytes"] for (m, _), c in cells.items() if m == mode and c["size_bytes"]), None)
        fidelity = (reference or {}).get("fidelity") or {}
        if mode == "none":
            snr = "reference"
        elif fidelity.get("snr_db") is not None:
            worst = min(fidelity["outputs"], key=lambda o: o["snr_db"])
            snr = f"{fidelity['snr_db']:.1f} dB ({worst['name']})"
        else:
            snr = (reference or {}).get("status", "not run")
        p50s = []
        for backend in backends:
            cell = cells.get((mode, backend))
            p50s.append(
                f"{cell['latency_ms']['p50']:.2f} ms"
                if cell and cell["latency_ms"]
                else (cell or {}).get("status", "-")
            )
        lines.append(f"{mode:<16} {size or 0:>10,} {snr:>26} " + " ".join(f"{p:>12}" for p in p50s))
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--backends", default="cpu1,gpu,npu")
    parser.add_argument("--smoke", action="store_true", help="a small detector, two modes, cpu1, 6 images")
    args = parser.parse_args()
    size, alpha, modes = (96, 0.35, "none,dynamic_range") if args.smoke else (224, 1.0, "all")
    if args.smoke:
        args.images, args.backends = 6, "cpu1"
    timing = (
        ["--min-runs", "5", "--min-seconds", "0", "--warmup-seconds", "0"]
        if args.smoke
        else ["--min-runs", "20", "--min-seconds", "1"]
    )
    with tempfile.TemporaryDirectory(prefix="bench-detector-") as work, private_server(wheel_adb()):
        root = Path(work)
        env = {"QUANTBENCH_DATA_DIR": str(root / "data"), "QUANTBENCH_CACHE_DIR": str(root / "cache")}
        os.environ.update(env)
        model = ssd_mobilenet_v2(root / "ssd_mobilenet_v2.keras", size, alpha)
        images = flat_images(root / "eval", args.images, size, seed=1)
        calibration = flat_images(root / "calibration", 32, size, seed=2)
        db, out = root / "results.sqlite", root / "run.json"
        seconds, _ = timed_host(
            [
                "bench",
                "--model",
                str(model),
                "--modes",
                modes,
                "--backends",
                args.backends,
                "--dataset",
                str(images),
                "--calibration",
                str(calibration),
                "--db",
                str(db),
                "--json",
                str(out),
                *timing,
            ],
            env,
        )
        _, said = timed_host(["recommend", "--db", str(db)], env)
        run = json.loads(out.read_text())
    backends = args.backends.split(",")
    print(
        f"SSD-style MobileNetV2 {size}x{size} alpha {alpha} (random weights), {args.images} unlabelled images, "
        f"{len(run['cells'])} cells in {seconds:.0f} s; gpu and npu are the emulated device's software ones"
    )
    print("\n".join(table(run, backends)))
    pick = next((line for line in said.splitlines() if line.startswith(("recommended:", "no recommendation:"))), "")
    print(" ".join(said[said.index(pick) :].split()) if pick else "no recommendation line")
    chosen = pick.split(":")[1].strip().split(" on ") if pick.startswith("recommended:") else None
    ok = sum(1 for c in run["cells"] if c["status"] == "ok")
    print(f"cells_ok={ok} pick={chosen[0] + '/' + chosen[1] if chosen else 'none'}")


if __name__ == "__main__":
    main()
