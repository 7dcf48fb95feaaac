"""Benchmark: a selective build from one calibration vs a whole conversion per candidate.

``host tune`` tries tens of fallbacks. Each is the MLIR quantizer run over one calibrated model
with a denylist (``host/convert/selective.py``); the alternative, a converter run per candidate,
calibrates again every time. On MobileNetV2 (224, random weights, 100 calibration images) this
prints seconds per selective build, per whole integer conversion, the calibration itself, the
debugger's pass over 50 images, and as the last line ``selective_ratio=<x>`` (selective build
over whole conversion).

    python tools/bench/selective.py [--candidates 5] [--smoke]

``--smoke`` (a three-convolution model at 32 px, 10 images, one candidate) proves it still works.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tools.bench.common import synthetic_images  # noqa: E402


def tiny_cnn(k: Any, side: int) -> Any:
    """Three convolutions and a classifier: the smoke size's model (the code path, not the figures)."""
    inputs = k.Input((side, side, 3))
    x = inputs
    for filters in (8, 16, 16):
        x = k.layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
    x = k.layers.GlobalAveragePooling2D()(x)
    return k.Model(inputs, k.layers.Dense(10)(x))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--candidates", type=int, default=5)
    parser.add_argument("--smoke", action="store_true", help="a tiny CNN, 10 images, one candidate: proves it works")
    args = parser.parse_args()
    side, count, whole_runs = (32, 10, 1) if args.smoke else (224, 100, 2)
    if args.smoke:
        args.candidates = 1
    from host.convert import tfenv
    from host.convert.calibration import load_calibration, representative_dataset_of
    from host.convert.selective import Calibrated, quantize
    from host.data.preprocess import get_preset
    from host.quant.debug import layer_errors
    from host.quant.feeding import image_samples

    k, tf = tfenv.keras(), tfenv.tf()
    model = tiny_cnn(k, side) if args.smoke else k.applications.MobileNetV2(weights=None)
    preset = get_preset("mobilenet").apply
    with tempfile.TemporaryDirectory(prefix="bench-selective-") as work:
        images = load_calibration(synthetic_images(Path(work), count), (side, side), count)
    representative = representative_dataset_of(images, preset)
    started = time.perf_counter()
    calibrated = Calibrated.from_converter(
        tf.lite.TFLiteConverter.from_keras_model(model), representative, [layer.name for layer in model.layers]
    )
    calibrate_s = time.perf_counter() - started
    convs = [op for op in calibrated.ops if op.op_type == "CONV_2D"][: args.candidates]
    started = time.perf_counter()
    for op in convs:
        calibrated.build(calibrated.keep([op.layer]))
    selective_s = (time.perf_counter() - started) / len(convs)
    started = time.perf_counter()
    for _ in range(whole_runs):
        converter = tf.lite.TFLiteConverter.from_keras_model(model)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        with tfenv.silenced():
            converter.convert()
    whole_s = (time.perf_counter() - started) / whole_runs
    started = time.perf_counter()
    layer_errors(
        quantize(calibrated.model, numeric_verify=True),
        image_samples(preset(images.images[: min(50, count)])),
        calibrated.ops,
    )
    debug_s = time.perf_counter() - started
    print(
        f"calibration {calibrate_s:.1f} s; selective build {selective_s:.2f} s; whole integer conversion {whole_s:.1f} "
        "s; "
        f"debugger pass over {min(50, count)} images {debug_s:.1f} s ({len(calibrated.ops)} ops)"
    )
    print(f"selective_ratio={selective_s / whole_s:.3f}")


if __name__ == "__main__":
    main()
