"""Benchmark: the agent's LiteRT engine (C API through ctypes) against LiteRT's own Python binding.

Same model (the demo's float build), same accelerator, same machine, one run: the p50 the agent's
worker reports for ``gpu`` (WebGPU on SwiftShader here) and ``npu`` (OpenVINO CPU dispatch)
against an in-process loop through ``ai_edge_litert.compiled_model.CompiledModel`` (write the
input, run, read the output: what the agent's sample holds too); and the LiteRT engine's
CPU (XNNPACK, 1 thread) against the TFLite interpreter's ``cpu1``. Goal: gpu and npu within 5%.
Each side runs ``--rounds`` times, taking turns; the ratio is of the medians of the rounds' p50s,
with their range and a Mann-Whitney test of whether the two sides differ at all (one run of
each side on a 2-core machine has swung from 0.88 to 1.43 for the software GPU).

    python tools/bench/accelerators.py [--smoke] [--rounds 5]

Last line: ``gpu_ratio=<x> npu_ratio=<y> litert_cpu_vs_interpreter=<z>`` (agent / reference).
"""

from __future__ import annotations

import ctypes
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from device_agent.contract import CellRequest, LatencyParams  # noqa: E402
from device_agent.engines import engine_litert  # noqa: E402
from device_agent.engines.litert_capi import HW_CPU, Library  # noqa: E402
from device_agent.engines.runtime import inspection_interpreter  # noqa: E402
from device_agent.measuring import measure
from device_agent.serving import jobs
from device_agent.storage.store import FileStore  # noqa: E402
from host.devices.launch.litert import lay_out, wheel_release  # noqa: E402
from tools.bench.common import compare, demo_float_model, interleaved, rounds_and_timing, use_software_drivers  # noqa: E402

SOFTWARE = use_software_drivers()  # before the first worker starts


def agent_p50(root: Path, sha: str, backend: str, params: LatencyParams) -> float:
    events = list(jobs.run_job(str(root), CellRequest(model_sha256=sha, backend=backend, latency=params)))
    result = events[-1]
    if not result.ok or result.latency is None:
        raise SystemExit(f"agent {backend}: {result.status}: {result.error}")
    return result.latency.p50


def reference_p50(model: Path, backend: str, params: LatencyParams) -> float:
    """ai_edge_litert's own CompiledModel, in this process: write, run, read."""
    from ai_edge_litert import compiled_model, environment, hardware_accelerator, options

    loader = next(source for source, target in SOFTWARE.binds if target.endswith("libvulkan.so.1"))
    ctypes.CDLL(loader, mode=ctypes.RTLD_GLOBAL)  # this process's loader did not see LD_LIBRARY_PATH
    accel = hardware_accelerator.HardwareAccelerator
    if backend == "npu":
        env = environment.Environment.create()
        openvino = options.IntelOpenVinoOptions(graph_backend=options.IntelOpenVinoGraphBackend.CPU)
        chosen = options.Options(hardware_accelerators=accel.NPU, intel_openvino_options=openvino)
        model_ = compiled_model.CompiledModel.from_file(str(model), environment=env, options=chosen)
    else:
        model_ = compiled_model.CompiledModel.from_file(
            str(model), hardware_accel=accel.GPU if backend == "gpu" else accel.CPU
        )
    inputs, outputs = model_.create_input_buffers(0), model_.create_output_buffers(0)
    detail = next(iter(model_.get_input_tensor_details(model_.get_signature_by_index(0)["key"]).values()))
    shape = [max(1, int(d)) for d in detail["shape"]]
    data = np.random.default_rng(0).uniform(-1, 1, shape).astype(np.float32)
    count = int(
        np.prod(next(iter(model_.get_output_tensor_details(model_.get_signature_by_index(0)["key"]).values()))["shape"])
    )

    def once() -> None:
        inputs[0].write(data)
        model_.run_by_index(0, inputs, outputs)
        outputs[0].read(count, np.float32)

    return measure.summarize(measure.run_timing_loop(once, params).timed_ms).p50


def litert_cpu_p50(model: Path, litert: Path, params: LatencyParams) -> float:
    total_ops = len(inspection_interpreter(model.read_bytes())._get_ops_details())
    compiled = engine_litert.CompiledModel(
        Library(str(litert / "libLiteRt.so")), str(model), total_ops, engine_litert.Folders(str(litert)), HW_CPU
    )
    try:
        return measure.summarize(measure.run_timing_loop(compiled.invoke, params).timed_ms).p50
    finally:
        compiled.close()


def main() -> None:
    rounds, params = rounds_and_timing(__doc__)
    with tempfile.TemporaryDirectory(prefix="bench-accel-") as work:
        root = Path(work) / "home" / "root"
        litert = lay_out(wheel_release(), Path(work) / "home" / "litert")
        model = demo_float_model(Path(work) / "models")
        sha = FileStore(root).put_bytes(model.read_bytes())
        ratios = {}
        for backend in ("gpu", "npu"):
            ours, theirs = interleaved(
                lambda b=backend: agent_p50(root, sha, b, params),
                lambda b=backend: reference_p50(model, b, params),
                rounds,
            )
            ratios[f"{backend}_ratio"] = compare(backend, "agent", "ai_edge_litert loop", ours, theirs)
        ours, theirs = interleaved(
            lambda: litert_cpu_p50(model, litert, params), lambda: agent_p50(root, sha, "cpu1", params), rounds
        )
        ratios["litert_cpu_vs_interpreter"] = compare(
            "cpu1", "LiteRT engine", "TFLite interpreter (agent)", ours, theirs
        )
    print(" ".join(f"{k}={v:.3f}" for k, v in ratios.items()))


if __name__ == "__main__":
    main()
