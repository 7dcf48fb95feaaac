"""Benchmark: what the agent adds over a bare in-process interpreter loop.

MobileNetV2 (224, random weights, float), same runtime, same threads, same machine, one run:
p50 latency the agent reports vs. a bare ``invoke()`` loop, and evaluation images/s through the
agent (the packed dataset the bench pushes, streamed in batches) vs. a bare preprocess+invoke
loop over the same images. Goal: latency ratio <= 1.03, throughput ratio >= 0.90.

    python tools/bench/agent_overhead.py [--threads 1] [--images 200] [--rounds 2] [--smoke]

``--smoke`` (the demo's float build, 16 images, a few runs) proves it still works.

Last line: ``latency_ratio=<x> throughput_ratio=<y>``.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from device_agent.contract import CellRequest, EvalParams, LatencyParams  # noqa: E402
from device_agent.engines.runtime import find_runtime  # noqa: E402
from device_agent.measuring import measure  # noqa: E402
from device_agent.serving.server import AgentConfig, create_server  # noqa: E402
from device_agent.storage.dataset import DatasetReader  # noqa: E402
from host.data.images import list_images  # noqa: E402
from host.data.packed import Packed, pack  # noqa: E402
from host.devices.agent.client import AgentClient  # noqa: E402
from host.hashing import sha256_file  # noqa: E402
from tools.bench.common import demo_float_model, synthetic_images  # noqa: E402

LATENCY = LatencyParams(warmup_runs=5, warmup_seconds=1.0, min_runs=100, min_seconds=5.0, max_seconds=60.0)
SMOKE_LATENCY = LatencyParams(warmup_runs=2, warmup_seconds=0, min_runs=5, min_seconds=0, max_seconds=10)
ONE_RUN = LatencyParams(warmup_runs=1, warmup_seconds=0, min_runs=1, min_seconds=0, max_seconds=1)


def mobilenet_float_model(work: Path) -> bytes:
    from host.convert.cache import ConversionCache
    from host.convert.converter import convert_model
    from host.convert.loader import resolve_model
    from host.convert.modes import ModeRequest
    from host.convert.records import ConvertOptions
    from host.paths import cache_dir

    convert_model(
        resolve_model("mobilenet_v2", "none"),
        ModeRequest.parse("none").modes,
        work,
        ConvertOptions(),
        cache=ConversionCache(cache_dir() / "convert"),
    )
    return (work / "none.tflite").read_bytes()


def bare_latency_p50(model: bytes, threads: int, latency: LatencyParams) -> float:
    interpreter = find_runtime().interpreter_class(model_content=model, num_threads=threads)
    interpreter.allocate_tensors()
    detail = interpreter.get_input_details()[0]
    interpreter.set_tensor(detail["index"], np.random.default_rng(0).uniform(-1, 1, detail["shape"]).astype(np.float32))
    samples = measure.run_timing_loop(interpreter.invoke, latency)
    return measure.summarize(samples.timed_ms).p50


def packed_images(work: Path, count: int, side: int) -> tuple[Packed, np.ndarray]:
    """``count`` synthetic labelled images packed as the bench packs them, and their pixels."""
    listing = list_images(synthetic_images(work / "images", count, size=side))
    packed = pack(listing.entries, count, (side, side), 1.0, work / "packed")
    with DatasetReader(packed.path, packed.count, packed.count) as data:
        images = next(iter(data.batches()))[1]
    return packed, images


def bare_throughput(model: bytes, threads: int, images: np.ndarray) -> float:
    interpreter = find_runtime().interpreter_class(model_content=model, num_threads=threads)
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0]["index"], interpreter.get_output_details()[0]["index"]
    started = time.perf_counter()
    for i in range(images.shape[0]):
        interpreter.set_tensor(inp, (images[i : i + 1].astype(np.float32) / 127.5 - 1.0))
        interpreter.invoke()
        interpreter.get_tensor(out).copy()
    return images.shape[0] / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--smoke", action="store_true", help="the demo's float build, 16 images, a few runs: proves it works"
    )
    args = parser.parse_args()
    latency = SMOKE_LATENCY if args.smoke else LATENCY
    count = 16 if args.smoke else args.images
    with tempfile.TemporaryDirectory(prefix="bench-agent-") as work:
        root = Path(work)
        model_path = demo_float_model(root / "models") if args.smoke else None
        model = model_path.read_bytes() if model_path else mobilenet_float_model(root / "models")
        side = int(find_runtime().interpreter_class(model_content=model).get_input_details()[0]["shape"][1])
        packed, images = packed_images(root, count, side)
        (root / "model.tflite").write_bytes(model)
        token = secrets.token_hex(16)
        server, port = create_server(AgentConfig(root / "agent", token))
        client = AgentClient(f"127.0.0.1:{port}", token)
        model_name, dataset_name = sha256_file(root / "model.tflite"), packed.file_sha256
        client.upload(root / "model.tflite", model_name)
        client.upload(packed.path, dataset_name)
        bare_p50, agent_p50, bare_ips, agent_ips = [], [], [], []
        for _ in range(1 if args.smoke else args.rounds):
            bare_p50.append(bare_latency_p50(model, args.threads, latency))
            result = client.run_cell(CellRequest(model_name, f"cpu{args.threads}", latency), deadline_s=600)
            assert result.latency is not None, result.error
            agent_p50.append(result.latency.p50)
            bare_ips.append(bare_throughput(model, args.threads, images))
            evaluated = client.run_cell(
                CellRequest(model_name, f"cpu{args.threads}", ONE_RUN, EvalParams(dataset_name, "mobilenet")),
                deadline_s=600,
            )
            if not evaluated.evaluated_images or evaluated.evaluate_seconds <= 0:
                raise SystemExit(f"the agent evaluated nothing: {evaluated.status} {evaluated.error}")
            agent_ips.append(evaluated.evaluated_images / evaluated.evaluate_seconds)
        client.close()
        server.stop(0)
    runtime = find_runtime()
    print(f"runtime {runtime.name} {runtime.version}, threads {args.threads}, {count} images, {len(agent_p50)} rounds")
    print(f"p50 latency ms   bare {[round(v, 3) for v in bare_p50]}  agent {[round(v, 3) for v in agent_p50]}")
    print(f"eval images/s    bare {[round(v, 1) for v in bare_ips]}  agent {[round(v, 1) for v in agent_ips]}")
    latency_ratio = statistics.median(agent_p50) / statistics.median(bare_p50)
    throughput_ratio = statistics.median(agent_ips) / statistics.median(bare_ips)
    print(f"latency_ratio={latency_ratio:.3f} throughput_ratio={throughput_ratio:.3f}")


if __name__ == "__main__":
    main()
