"""Benchmark: evaluation data at ImageNet scale, memory and speed on both sides.

Generates N = 1,000 and 10,000 JPEGs at an ImageNet-like size (500x375, random content, class
folders), then for each N: packs them for a 224x224 model on the host (a fresh process, every
core), and runs one cell over all of them through the agent (a small 224x224 model, so the cell
is quick and the memory is the dataset's business). Prints the host process's peak RSS while
packing, the worker's peak RSS after the evaluation, and the host's packing rate.

    python tools/bench/dataset_scale.py [--sizes 1000,10000] [--smoke]

``--smoke`` (40 and 80 images) proves it still works; its figures are named by the count.

Last line: ``host_peak_mb_1k= host_peak_mb_10k= worker_peak_mb_1k= worker_peak_mb_10k= host_prepare_images_per_s=``.
Goals: peaks flat (10k within 1.2x of 1k); packing at least 200 images/s on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from device_agent.contract import CellRequest, EvalParams, LatencyParams  # noqa: E402
from device_agent.serving.server import AgentConfig, create_server  # noqa: E402
from host.devices.agent.client import AgentClient  # noqa: E402
from host.hashing import sha256_file  # noqa: E402
from tools.bench.common import synthetic_images  # noqa: E402

PACK = r"""
import json, sys, time
from pathlib import Path
from host.data.datasets import slice_dataset
from host.data.packed import pack
slices = slice_dataset(Path(sys.argv[1]), labels_file=None, limit=None, calibration_count=1, take_calibration=False)
started = time.perf_counter()
packed = pack(slices.pool, len(slices.pool), (224, 224), 0.875, Path(sys.argv[2]))
seconds = time.perf_counter() - started
# VmHWM, not ru_maxrss: Linux carries a parent's maxrss into a forked child, even across exec
peak = [int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM")][0]
print(json.dumps({"count": packed.count, "seconds": seconds, "path": str(packed.path), "sha": packed.file_sha256,
                  "peak_mb": peak / 1024}))
"""


def small_model(work: Path) -> bytes:
    from host.convert import tfenv

    tf, keras = tfenv.tf(), tfenv.keras()
    inp = keras.Input((224, 224, 3), batch_size=1)
    x = keras.layers.Conv2D(8, 3, strides=4, activation="relu")(inp)
    model = keras.Model(inp, keras.layers.Dense(10)(keras.layers.GlobalAveragePooling2D()(x)))
    with tfenv.silenced():
        return bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())


def evaluate(work: Path, model: bytes, dataset: Path, sha: str) -> float:
    """The worker's peak RSS (MB) after evaluating every image of the packed dataset."""
    token = secrets.token_hex(16)
    incoming = work / "incoming"
    incoming.mkdir(exist_ok=True)
    server, port = create_server(AgentConfig(work / "agent", token, incoming=incoming))
    client = AgentClient(f"127.0.0.1:{port}", token)
    try:
        model_path = work / "model.tflite"
        model_path.write_bytes(model)
        client.upload(model_path)
        os.link(dataset, incoming / sha)  # as a push over ADB lands it, then adopted
        client.adopt(sha)
        result = client.run_cell(
            CellRequest(sha256_file(model_path), "cpu1", LatencyParams(1, 0, 1, 0, 1), EvalParams(sha, "mobilenet")),
            deadline_s=3600,
        )
        assert result.ok and result.memory is not None and result.evaluated_images > 0, result.error
        return result.memory.evaluate_peak_rss_mb
    finally:
        client.close()
        server.stop(0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--smoke", action="store_true", help="40 and 80 images: proves the benchmark works")
    args = parser.parse_args()
    sizes = [40, 80] if args.smoke else [int(s) for s in args.sizes.split(",")]
    figures: dict[str, float] = {}
    rates = []
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        work = Path(tmp)
        model = small_model(work)
        for n in sizes:
            images = synthetic_images(work / f"images-{n}", n, size=(500, 375), seed=n)
            proc = subprocess.run(
                [sys.executable, "-c", PACK, str(images), str(work / f"packed-{n}")],
                capture_output=True,
                text=True,
                check=True,
                env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
            )
            packed = json.loads(proc.stdout.strip().splitlines()[-1])
            worker = evaluate(work, model, Path(packed["path"]), packed["sha"])
            label = f"{n // 1000}k" if n % 1000 == 0 else str(n)
            figures[f"host_peak_mb_{label}"], figures[f"worker_peak_mb_{label}"] = packed["peak_mb"], worker
            rates.append(packed["count"] / packed["seconds"])
            print(
                f"N={n}: packed {packed['count']} images in {packed['seconds']:.1f} s ({rates[-1]:.0f}/s), host peak "
                f"{packed['peak_mb']:.0f} MB, worker peak {worker:.0f} MB",
                flush=True,
            )
    print(" ".join(f"{k}={v:.0f}" for k, v in figures.items()) + f" host_prepare_images_per_s={min(rates):.0f}")


if __name__ == "__main__":
    main()
