"""One cell in a fresh process: load, apply the backend, time, evaluate; report events.

``run_in_child`` is the entry point of the process ``jobs.py`` starts for each cell (forked
from a server that has numpy and the runtime imported already). Events go to the parent over a
pipe as contract objects (``Progress``, then one ``CellResult``). A crash in native code kills
only this process; the supervisor turns that into a failed cell naming the signal and the last
phase reported. Memory is measured from a baseline taken before the timed model exists and read
before the evaluation touches the dataset (``footprint.py``), so its deltas describe the model,
not Python, the runtime or the evaluation images.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np

from device_agent.contract import (
    CellRequest,
    CellResult,
    CellStatus,
    Delegation,
    EvalParams,
    LatencyParams,
    LatencyStats,
    Progress,
    WarmStart,
    failed,
)
from device_agent.engines import backends, litert_cell
from device_agent.engines.engine_litert import UnsupportedTensor
from device_agent.engines.kernels import missing_kernel
from device_agent.engines.litert_capi import LiteRtError
from device_agent.engines.runtime import find_runtime, inspection_interpreter, tensor_info
from device_agent.errors import DeviceAgentError
from device_agent.measuring import deviceinfo, evaluate, measure, op_profile, tasks
from device_agent.measuring.footprint import Footprint
from device_agent.measuring.preprocess import get_preset
from device_agent.storage import start_cache
from device_agent.storage.dataset import DatasetReader, TensorReader, open_dataset
from device_agent.storage.store import FileStore

PROGRESS_INTERVAL_S = 0.5
EVAL_BATCH = 64  # images per read: 64 x 224 x 224 x 3 bytes is under 10 MB


@dataclass(frozen=True)
class Measured:
    """The cell's result before its per-op profile pass: the supervisor keeps it, so a profile pass
    that crashes or hangs costs the profile, never the figures measured before it."""

    result: CellResult


Event = Progress | Measured | CellResult


class CellFailure(DeviceAgentError):
    """A failure with the phase it happened in."""

    def __init__(self, phase: str, message: str) -> None:
        super().__init__(message)
        self.phase = phase


class BadNumerics(DeviceAgentError):
    """Outputs held NaN, Inf or all-zero vectors: nothing of this cell is scored."""

    def __init__(self, result: CellResult) -> None:
        super().__init__(result.error)
        self.result = result


class Reporter:
    """Sends progress (throttled on request) and the result to the supervising agent."""

    def __init__(self, send: Callable[[Event], None]) -> None:
        self.send = send
        self.phase = "start"
        self._last = 0.0

    def progress(self, phase: str, fraction: float = 0.0, message: str = "", *, throttle: bool = False) -> None:
        now = time.monotonic()
        if throttle and phase == self.phase and now - self._last < PROGRESS_INTERVAL_S:
            return
        self.phase, self._last = phase, now
        self.send(Progress(phase, fraction, message, os.getpid()))


@dataclass(frozen=True)
class Prepared:
    """An interpreter ready to invoke, and what its preparation measured."""

    interpreter: Any
    size_bytes: int
    init_ms: float
    footprint: Footprint
    delegation: Delegation


def _random_input(shape: tuple[int, ...], dtype: np.dtype[Any], seed: int, quantized: bool = True) -> np.ndarray:
    """What the timed runs feed: random values as benchmark_model does; zeros for an integer input
    that is not a quantized value (token ids, an index): a random id would be out of its table."""
    rng = np.random.default_rng(seed)
    if np.issubdtype(dtype, np.integer) and not quantized:
        return np.zeros(shape, dtype=dtype)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=dtype)
    return rng.uniform(-1.0, 1.0, size=shape).astype(dtype)


def _unless_missing_kernel(error: BaseException) -> None:
    """A build the runtime has no kernel for is unavailable here, with the op and runtime named."""
    runtime = find_runtime()
    reason = missing_kernel(str(error), f"{runtime.name} {runtime.version}")
    if reason is not None:
        raise backends.BackendUnavailable(reason) from error


def prepare(store: FileStore, request: CellRequest, reporter: Reporter) -> Prepared:
    """Load, apply the backend and allocate; each step fails with its own phase."""
    spec = backends.parse_backend(request.backend)
    reporter.progress("load")
    try:
        find_runtime()
        model_path = store.require(request.model_sha256)
        model_bytes = model_path.read_bytes()
        inspection = inspection_interpreter(model_bytes)
        total_nodes = len(inspection._get_ops_details())
    except ValueError as e:
        _unless_missing_kernel(e)
        raise CellFailure("load", f"the interpreter rejects the model: {e}") from e
    except Exception as e:
        _unless_missing_kernel(e)
        raise CellFailure("load", str(e)) from e
    reporter.progress("delegate", message=spec.name)
    footprint = Footprint()
    if backends.uses_litert(spec, request.gpu_delegate):
        cache = start_cache.for_request(store.root, request)
        if cache is not None:
            start_cache.prepare(cache, cold=request.start != "warm")
        try:
            prepared = litert_cell.prepare(
                store.root, str(model_path), total_nodes, spec, on_runtime_loaded=footprint.start, cache=cache
            )
        except litert_cell.CompileFailed as e:  # the accelerator refused this build: a fact about the pair, not a fault
            raise backends.BackendUnavailable(str(e)) from e
        except (LiteRtError, UnsupportedTensor) as e:
            raise CellFailure("delegate", str(e)) from e
        footprint.mark_init()
        return Prepared(prepared.model, len(model_bytes), prepared.init_ms, footprint, prepared.delegation)
    return _prepare_interpreter(
        request, spec, str(model_path), len(model_bytes), inspection, total_nodes, reporter, footprint
    )


def _prepare_interpreter(
    request: CellRequest,
    spec: backends.BackendSpec,
    model_path: str,
    size: int,
    inspection: Any,
    total_nodes: int,
    reporter: Reporter,
    footprint: Footprint,
) -> Prepared:
    """The TFLite interpreter with XNNPACK or a classic delegate library (GPU, NNAPI)."""
    library = backends.library_for(spec, request.gpu_delegate, request.nnapi_delegate)
    error = backends.library_error(library) if library else None  # here, in the worker: it may crash
    if error is not None:
        raise backends.BackendUnavailable(backends.missing_library_reason(spec, deviceinfo.platform_facts(), error))
    footprint.start()
    started = time.perf_counter()
    try:
        interpreter = backends.make_interpreter(
            find_runtime(), model_path, spec, request.gpu_delegate, request.nnapi_delegate
        )
    except Exception as e:
        _unless_missing_kernel(e)
        raise CellFailure("delegate", f"cannot apply {spec.name}: {e}") from e
    reporter.progress("allocate")
    try:
        interpreter.allocate_tensors()
    except Exception as e:
        _unless_missing_kernel(e)
        reason = str(e).strip() or f"{type(e).__name__} with no message from the runtime"
        raise CellFailure(
            "allocate", f"the runtime cannot prepare the model on {spec.name}: {reason} ({memory_needs(inspection)})"
        ) from e
    init_ms = (time.perf_counter() - started) * 1000.0
    footprint.mark_init()
    name = "xnnpack" if spec.kind == "cpu" else spec.kind
    delegation = backends.delegation_coverage(interpreter, total_nodes, name)
    if spec.kind != "cpu" and delegation.delegated_nodes == 0:
        raise backends.AcceleratorFallback(
            f"the {spec.kind} delegate took none of the model's {total_nodes} ops: it would run "
            f"on the CPU kernels, so there is no {spec.name} figure"
        )
    return Prepared(interpreter, size, init_ms, footprint, delegation)


def memory_needs(interpreter: Any) -> str:
    """What the model's tensors take against what the device has free: the usual reason a model
    cannot be allocated, which the runtime does not always say."""
    needed = 0
    for tensor in interpreter.get_tensor_details():
        shape = [int(d) for d in tensor["shape"]]
        if all(d >= 0 for d in shape):
            needed += int(np.prod(shape, dtype=np.int64)) * np.dtype(tensor["dtype"]).itemsize
    return f"its tensors take {needed / 1e6:,.0f} MB; {measure.available_memory_mb():,.0f} MB of memory is available"


def time_invokes(prepared: Prepared, params: LatencyParams, reporter: Reporter) -> LatencyStats:
    """First inference on its own, then warm-up (kept out) and the timed runs."""
    interpreter = prepared.interpreter
    reporter.progress("first_inference")
    for detail in interpreter.get_input_details():  # every input: a second one left unset would run on whatever it held
        source = tensor_info(detail)
        interpreter.set_tensor(
            source.index, _random_input(source.shape, source.dtype, params.seed + source.index, bool(source.scale))
        )
    started = time.perf_counter()
    try:
        interpreter.invoke()
    except Exception as e:
        raise CellFailure("first_inference", f"the first inference failed: {e}") from e
    first_ms = (time.perf_counter() - started) * 1000.0
    prepared.footprint.mark_first()
    reporter.progress("warmup")
    listener = measure.LatencyListener(
        on_warmup_end=lambda count: reporter.progress("measure"),
        on_run_end=lambda index, ms: reporter.progress(
            "measure", min(1.0, index / max(1, params.min_runs)), throttle=True
        ),
    )
    samples = measure.run_timing_loop(interpreter.invoke, params, listener)
    prepared.footprint.mark_overall()
    s = measure.summarize(samples.timed_ms)
    return LatencyStats(
        init_ms=prepared.init_ms,
        first_ms=first_ms,
        mean=s.mean,
        std=s.std,
        min=s.min,
        p50=s.p50,
        p90=s.p90,
        p95=s.p95,
        p99=s.p99,
        max=s.max,
        count=s.count,
        warmup_count=len(samples.warmup_ms),
        samples_ms=samples.timed_ms,
        warmup_total_ms=sum(samples.warmup_ms),
    )


def _batch_size() -> int:
    """Images per read from the dataset file (a test may ask for fewer, to prove batching)."""
    return max(1, int(os.environ.get("QUANTBENCH_EVAL_BATCH", EVAL_BATCH)))


class _Rate:
    """Progress with images/s and the time left, at most every PROGRESS_INTERVAL_S."""

    def __init__(self, reporter: Reporter, total: int) -> None:
        self.reporter, self.total, self.started = reporter, total, time.perf_counter()

    def done(self, count: int) -> None:
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        rate = count / elapsed
        eta = (self.total - count) / rate if rate else 0.0
        self.reporter.progress(
            "evaluate",
            count / max(1, self.total),
            f"{count}/{self.total} images, {rate:.0f} images/s, {eta:.0f} s left",
            throttle=True,
        )


def run_evaluation(interpreter: Any, store: FileStore, params: EvalParams, reporter: Reporter) -> CellResult:
    """Accuracy, fidelity and saved outputs over the dataset, batch by batch, as a partial result."""
    reporter.progress("evaluate")
    reference = writer = None
    try:
        runner = evaluate.Runner(interpreter, get_preset(params.preset or "mobilenet").apply)
        runner.written_rows_only(params.postprocess_outputs)
        with open_dataset(store.require(params.dataset_sha256), params.limit, _batch_size()) as data:
            run = _feed(runner, data)
            labels = data.labels()
            scorer = evaluate.Scorer(
                np.where(labels >= 0, labels + params.label_offset, -1), runner.slots, zero_rows_allowed=runner.detects
            )
            reference = _reference(store, params.reference_outputs_sha256, (data.count, runner.width))
            if params.save_outputs:
                writer = evaluate.OutputsWriter(store.new_partial(), (data.count, runner.width))
            task = _task_collector(runner, store, params)
            rate, started = _Rate(reporter, data.count), time.perf_counter()
            for start, batch in data.batches():
                outputs = run(batch)
                scorer.add(outputs, reference.read(len(outputs)) if reference else None)
                if task is not None:
                    task.add(outputs, start)
                if writer is not None:
                    writer.write(outputs)
                rate.done(start + len(outputs))
            seconds = time.perf_counter() - started
        saved = store.put_file(writer.path, writer.close()) if writer is not None else ""
    except Exception as e:
        raise CellFailure("evaluate", str(e)) from e
    finally:
        if reference is not None:
            reference.close()
    return _scored(scorer, runner, task, saved, seconds)


def _reference(store: FileStore, sha256: str, shape: tuple[int, int]) -> evaluate.OutputsReader | None:
    """The reference build's outputs for fidelity, checked to be this cell's shape."""
    if not sha256:
        return None
    reference = evaluate.OutputsReader(store.require(sha256))
    if reference.shape != shape:
        reference.close()
        raise ValueError(f"reference outputs are {reference.shape}, this cell makes {shape}")
    return reference


def _scored(
    scorer: evaluate.Scorer, runner: evaluate.Runner, task: tasks.Collector | None, saved: str, seconds: float
) -> CellResult:
    """The evaluation's result; outputs with NaN, Inf or all zeros are never scored (BadNumerics)."""
    numerics = scorer.numerics()
    if numerics.bad:
        raise BadNumerics(
            CellResult(
                status=CellStatus.NUMERICS,
                phase="evaluate",
                numerics=numerics,
                evaluated_images=scorer.seen,
                error=f"outputs that cannot be scored: {numerics.describe()}; no accuracy or "
                f"fidelity is given for this cell",
            )
        )
    accuracy = scorer.accuracy()
    return CellResult(
        status=CellStatus.OK,
        accuracy=accuracy,
        fidelity=scorer.fidelity(),
        outputs_sha256=saved,
        evaluate_seconds=seconds,
        evaluated_images=scorer.seen,
        predictions=scorer.predictions(runner.classes),
        accuracy_note="" if accuracy else "the dataset has no labels",
        task_evidence=task.evidence() if task is not None else None,
    )


def _feed(runner: evaluate.Runner, data: DatasetReader | TensorReader) -> Callable[[Any], np.ndarray]:
    """How a batch reaches the model: images through the preset, or tensor samples input by input."""
    if isinstance(data, TensorReader):
        runner.check_tensors([(spec.name, spec.shape) for spec in data.header.inputs])
        return runner.tensor_outputs
    runner.check((data.header.height, data.header.width, data.header.channels))
    return runner.outputs


def _task_collector(runner: evaluate.Runner, store: FileStore, params: EvalParams) -> tasks.Collector | None:
    """What the task asked for gathers its evidence from the outputs it names."""
    if not params.task:
        return None
    named = {
        slot.name: tasks.TaskOutput(slot.name, slot.start, slot.stop, target.shape)
        for slot, target in zip(runner.slots, runner.targets, strict=True)
    }
    masks = store.require(params.task_labels_sha256) if params.task_labels_sha256 else None
    return tasks.collector(params, named, (runner.source.shape[1], runner.source.shape[2]), masks)


def reference_loop_ms() -> float:
    """A fixed piece of CPU work, best of three: it takes longer when the CPU has slowed down."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        total = 0
        for i in range(100_000):
            total += i * i % 7
        best = min(best, (time.perf_counter() - started) * 1000.0)
    return best


def pin(mask: int) -> None:
    """Run on the CPUs in ``mask`` only (the fastest cores, as the host chose them)."""
    if mask:
        cpus = {i for i in range(mask.bit_length()) if mask >> i & 1}
        try:
            os.sched_setaffinity(0, cpus)
        except (OSError, AttributeError) as e:
            raise CellFailure("start", f"cannot pin the worker to CPUs {sorted(cpus)}: {e}") from e


def run_cell(root: Path, request: CellRequest, reporter: Reporter) -> CellResult:
    """Every phase of one cell; raises CellFailure with the phase on any error."""
    pin(request.cpu_mask)
    store = FileStore(root)
    prepared = prepare(store, request, reporter)
    if request.energy is not None:
        return run_energy(prepared, request, reporter)
    before = reference_loop_ms()
    latency = time_invokes(prepared, request.latency or LatencyParams(), reporter)
    after = reference_loop_ms()
    memory = prepared.footprint.memory()  # the model's: before any dataset is read
    result = CellResult(
        status=CellStatus.OK,
        phase="done",
        latency=latency,
        memory=memory,
        delegation=prepared.delegation,
        size_bytes=prepared.size_bytes,
        reference_before_ms=before,
        reference_after_ms=after,
    )
    if request.evaluation is None:
        return result
    found = run_evaluation(prepared.interpreter, store, request.evaluation, reporter)
    memory = replace(memory, evaluate_peak_rss_mb=measure.read_memory_mb()[1])
    return replace(
        result,
        memory=memory,
        accuracy=found.accuracy,
        fidelity=found.fidelity,
        outputs_sha256=found.outputs_sha256,
        evaluate_seconds=found.evaluate_seconds,
        evaluated_images=found.evaluated_images,
        accuracy_note=found.accuracy_note,
        predictions=found.predictions,
        task_evidence=found.task_evidence,
    )


def run_energy(prepared: Prepared, request: CellRequest, reporter: Reporter) -> CellResult:
    """An energy cell: the first inference and a warm-up (the same inputs as a timing), then the
    idle and loop windows. Its latency is the warm-up's, kept only to show the cell ran."""
    assert request.energy is not None
    warm = replace(request.latency or LatencyParams(), min_runs=1, min_seconds=0.0)
    latency = time_invokes(prepared, warm, reporter)
    total = request.energy.repeats * 2

    def on_window(repeat: int, kind: str) -> None:
        reporter.progress("energy", (2 * repeat + (kind == "loop")) / total, f"repeat {repeat + 1} {kind}")

    windows = measure.energy_windows(prepared.interpreter.invoke, request.energy, on_window)
    return CellResult(
        status=CellStatus.OK,
        phase="done",
        latency=latency,
        delegation=prepared.delegation,
        size_bytes=prepared.size_bytes,
        energy_windows=windows,
    )


def with_op_profile(root: Path, request: CellRequest, result: CellResult, reporter: Reporter) -> CellResult:
    """The per-op pass, after everything else the cell measured (sent ahead as ``Measured``)."""
    reporter.send(Measured(result))
    reporter.progress("op_profile")
    spec = backends.parse_backend(request.backend)
    store = FileStore(root)
    model_path = str(store.require(request.model_sha256))
    total_ops = result.delegation.total_nodes if result.delegation else 0
    classic = spec.kind != "cpu" and not backends.uses_litert(spec, request.gpu_delegate)
    return replace(result, op_profile=op_profile.profile(root, model_path, total_ops, spec, classic))


def probe_in_child(library: str, connection: Connection) -> None:
    """Load one library in this throwaway process and report the loader's error (None if it loads)."""
    connection.send(backends.library_error(library))
    connection.close()


def probe_litert_in_child(root: str, backend: str, connection: Connection) -> None:
    """Whether LiteRT registers a backend's accelerator, found out in this throwaway process."""
    connection.send(litert_cell.probe(Path(root), backends.parse_backend(backend)))
    connection.close()


def warm_start_in_child(root: str, request: CellRequest, connection: Connection) -> None:
    """Start the cell's model again in this fresh worker, with the caches its cold start left, and
    send the init time (or why it failed) as a ``WarmStart``."""
    try:
        pin(request.cpu_mask)
        prepared = prepare(FileStore(Path(root)), replace(request, start="warm"), Reporter(lambda event: None))
        outcome = WarmStart(init_ms=prepared.init_ms)
    except Exception as e:  # the protocol must always end in an answer
        outcome = WarmStart(note=f"the warm start failed: {e}")
    connection.send(outcome)
    connection.close()


def run_in_child(root: str, request: CellRequest, connection: Connection) -> None:
    """Run one cell and send its events through ``connection``; always ends with a result."""
    reporter = Reporter(connection.send)
    try:
        reporter.progress("start")
        result = run_cell(Path(root), request, reporter)
        if request.op_profile:
            result = with_op_profile(Path(root), request, result, reporter)
    except CellFailure as e:
        result = failed(e.phase, str(e))
    except backends.BackendUnavailable as e:
        result = CellResult(status=CellStatus.UNAVAILABLE, error=str(e), phase="delegate")
    except backends.AcceleratorFallback as e:
        result = CellResult(status=CellStatus.FALLBACK, error=str(e), phase="delegate")
    except BadNumerics as e:
        result = e.result
    except Exception as e:  # the protocol must always end in a result
        result = failed(reporter.phase, f"{type(e).__name__}: {e}")
    connection.send(result)
    connection.close()
