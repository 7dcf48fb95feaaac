"""One cell in a fresh process: load, apply the backend, time, evaluate; report events.

``run_in_child`` is the entry point of the process ``jobs.py`` starts for each cell (forked
from a server that has numpy and the runtime imported already). Events go to the parent over a
pipe as dicts. A crash in native code kills only this process; the supervisor turns that into a
failed cell naming the signal and the last phase reported.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from device_agent import backends, evaluate, measure
from device_agent.runtime import find_runtime, inspection_interpreter
from device_agent.store import FileStore

PROGRESS_INTERVAL_S = 0.5


class CellFailure(Exception):
    """A failure with the phase it happened in and whether the model itself was rejected."""

    def __init__(self, phase: str, message: str, kind: str = "failed") -> None:
        super().__init__(message)
        self.phase = phase
        self.kind = kind


class Reporter:
    def __init__(self, send: Callable[[dict[str, Any]], None]) -> None:
        self.send = send
        self.phase = "start"
        self._last = 0.0

    def emit(self, event: dict[str, Any]) -> None:
        self.send(event)

    def progress(self, phase: str, fraction: float = 0.0, message: str = "", *, throttle: bool = False) -> None:
        now = time.monotonic()
        if throttle and phase == self.phase and now - self._last < PROGRESS_INTERVAL_S:
            return
        self.phase, self._last = phase, now
        self.emit({"type": "progress", "phase": phase, "fraction": fraction, "message": message, "worker_pid": os.getpid()})


def _random_input(detail: dict[str, Any], seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    shape, dtype = tuple(int(d) for d in detail["shape"]), np.dtype(detail["dtype"])
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=dtype)
    return rng.uniform(-1.0, 1.0, size=shape).astype(dtype)


def run_cell(job: dict[str, Any], reporter: Reporter) -> dict[str, Any]:
    """Every phase of one cell; raises CellFailure with the phase on any error."""
    store = FileStore(Path(job["root"]))
    spec = backends.parse_backend(job["backend"])
    params = measure.LatencyParams(**job.get("latency", {}))
    result: dict[str, Any] = {"status": "ok"}

    reporter.progress("load")
    try:
        runtime = find_runtime()
        model_path = store.require(job["model_sha256"])
        model_bytes = model_path.read_bytes()
        result["size_bytes"] = len(model_bytes)
        total_nodes = len(inspection_interpreter(model_bytes)._get_ops_details())
    except ValueError as e:
        raise CellFailure("load", f"the interpreter rejects the model: {e}", kind="model_rejected") from e
    except Exception as e:
        raise CellFailure("load", str(e)) from e

    reporter.progress("delegate", message=spec.name)
    init_started = time.perf_counter()
    try:
        interpreter = backends.make_interpreter(runtime, str(model_path), spec, job.get("gpu_delegate", ""), job.get("nnapi_delegate", ""))
    except Exception as e:
        raise CellFailure("delegate", f"cannot apply {spec.name}: {e}") from e
    reporter.progress("allocate")
    try:
        interpreter.allocate_tensors()
    except Exception as e:
        raise CellFailure("allocate", f"the runtime cannot prepare the model on {spec.name}: {e}") from e
    init_ms = (time.perf_counter() - init_started) * 1000.0
    init_rss, _ = measure.read_memory_mb()
    name = "xnnpack" if spec.kind == "cpu" else spec.kind
    delegation = backends.delegation_coverage(interpreter, total_nodes, name)
    result["delegation"] = {"delegate": name, "delegated_nodes": delegation.delegated_nodes,
                            "total_nodes": delegation.total_nodes, "fallback": delegation.fallback}

    reporter.progress("first_inference")
    input_detail = interpreter.get_input_details()[0]
    interpreter.set_tensor(input_detail["index"], _random_input(input_detail, params.seed))
    started = time.perf_counter()
    interpreter.invoke()
    first_ms = (time.perf_counter() - started) * 1000.0

    reporter.progress("warmup")
    listener = measure.LatencyListener(
        on_warmup_end=lambda count: reporter.progress("measure"),
        on_run_end=lambda index, ms: reporter.progress("measure", min(1.0, index / max(1, params.min_runs)), throttle=True),
    )
    samples = measure.run_timing_loop(interpreter.invoke, params, listener)
    stats = measure.summarize(samples.timed_ms)
    result["latency"] = {"init_ms": init_ms, "first_ms": first_ms, "warmup_count": len(samples.warmup_ms),
                         "warmup_total_ms": sum(samples.warmup_ms),
                         "samples_ms": list(samples.timed_ms), **stats.__dict__}

    evaluation = job.get("evaluation")
    if evaluation:
        result.update(_evaluate(interpreter, store, evaluation, reporter))
    _, peak_rss = measure.read_memory_mb()
    result["memory"] = {"init_rss_mb": init_rss, "peak_rss_mb": peak_rss}
    return result


def _evaluate(interpreter: Any, store: FileStore, evaluation: dict[str, Any], reporter: Reporter) -> dict[str, Any]:
    reporter.progress("evaluate")
    out: dict[str, Any] = {}
    try:
        with np.load(store.require(evaluation["dataset_sha256"]), allow_pickle=False) as data:
            images, labels = data["images"], data["labels"].astype(np.int64)
        limit = int(evaluation.get("limit") or 0)
        if limit > 0:
            images, labels = images[:limit], labels[:limit]
        started = time.perf_counter()
        outputs = evaluate.run_outputs(
            interpreter, images, evaluation.get("preset") or "mobilenet",
            lambda done, total: reporter.progress("evaluate", done / total, throttle=True),
        )
        out["evaluate_seconds"] = time.perf_counter() - started
        out["evaluated_images"] = int(outputs.shape[0])
        known = labels >= 0
        accuracy = evaluate.accuracy(outputs, np.where(known, labels + int(evaluation.get("label_offset") or 0), -1))
        if accuracy is None:
            out["accuracy_note"] = "the dataset has no labels"
        else:
            out["accuracy"] = accuracy.__dict__
        reference = evaluation.get("reference_outputs_sha256")
        if reference:
            out["fidelity"] = evaluate.fidelity(outputs, np.load(store.require(reference), allow_pickle=False)).__dict__
        if evaluation.get("save_outputs"):
            import io

            buffer = io.BytesIO()
            np.save(buffer, outputs.astype(np.float32), allow_pickle=False)
            out["outputs_sha256"] = store.put_bytes(buffer.getvalue())
    except Exception as e:
        raise CellFailure("evaluate", str(e)) from e
    return out


def run_in_child(job: dict[str, Any], connection: Any) -> None:
    """Run one cell and send its events through ``connection``; always ends with a result."""
    reporter = Reporter(connection.send)
    try:
        reporter.progress("start")
        result = run_cell(job, reporter)
    except CellFailure as e:
        result = {"status": "failed", "error": str(e), "phase": e.phase, "error_kind": e.kind}
    except Exception as e:  # the protocol must always end in a result line
        result = {"status": "failed", "error": f"{type(e).__name__}: {e}", "phase": reporter.phase}
    result.setdefault("phase", "done")
    reporter.emit({"type": "result", **result})
    connection.close()
