"""Where a cell's invoke time goes, node by node: a pass after the timed samples, profiler on.

No timed sample ever runs with a profiler attached. After them the worker compiles the cell's
model once more through LiteRT's CompiledModel with ``enable_profiling`` (its C API has the
profiler: ``LiteRtCompiledModelGetProfiler``), runs it ``PROFILE_RUNS`` times and reads the
events: the model's own nodes (``OPERATOR_INVOKE_EVENT``, the node's index in the model) and the
nodes inside a delegate (XNNPACK's, with its own op names and indices). ``gpu``/``npu`` profile
on their own accelerator; ``cpu<N>`` on LiteRT's CPU path, XNNPACK with N threads, the kernels
the interpreter's ``cpu<N>`` runs (tflite-runtime's Python interpreter has no profiler). Where
LiteRT is not provisioned, or an accelerator fails runs with profiling on (2.3's WebGPU does),
the profile is a note saying so, never a figure.
"""

from __future__ import annotations

import ctypes
import time
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from device_agent.contract import OpProfile, OpTime
from device_agent.engines import backends, litert_cell
from device_agent.engines.backends import BackendUnavailable
from device_agent.engines.engine_litert import CompiledModel
from device_agent.engines.litert_capi import (
    DELEGATE_OPERATOR_INVOKE_EVENT,
    OPERATOR_INVOKE_EVENT,
    RUNTIME_OPTIONS,
    Library,
    LiteRtError,
    ProfiledEvent,
)
from device_agent.serving.profile_refusals import REFUSED

PROFILE_RUNS = 20
DELEGATE_PROFILED_OPERATOR_INVOKE_EVENT = 1 << 3
_DELEGATE_EVENTS = DELEGATE_OPERATOR_INVOKE_EVENT | DELEGATE_PROFILED_OPERATOR_INVOKE_EVENT
INVOKE_TAG = "Invoke"


def profile(
    root: Path, model_path: str, total_ops: int, spec: backends.BackendSpec, classic_delegate: bool
) -> OpProfile:
    """The per-node profile of ``PROFILE_RUNS`` invokes, or a profile with only a note."""
    if spec.kind == "nnapi" or classic_delegate:
        return OpProfile(
            note=f"no per-op profile for {spec.name} here: it runs through a classic delegate library, "
            "and the TFLite interpreter's Python API has no profiler"
        )
    try:
        opened = litert_cell.open_litert(root, spec)
    except BackendUnavailable as e:
        return OpProfile(
            note=f"no per-op profile: LiteRT, whose CompiledModel has the profiler, is not usable here ({e})"
        )
    engine = f"LiteRT {opened.setup.version} CompiledModel, {_target(spec)}"
    opaque = {**opened.plan.opaque, RUNTIME_OPTIONS: "enable_profiling = true\n"}
    try:
        model = CompiledModel(opened.library, model_path, total_ops, opened.folders, opened.plan.accelerators, opaque)
    except LiteRtError as e:
        return OpProfile(
            engine=engine, note=f"no per-op profile: LiteRT cannot compile the model with profiling on ({e})"
        )
    try:
        started = time.perf_counter()
        model.invoke()  # the first run outside the profile, as the timed samples keep theirs apart
        first_ms = (time.perf_counter() - started) * 1000.0
        return replace(
            summarize(_profiled_runs(opened.library, model), engine), first_ms=first_ms
        )  # the tags live in the profiler
    except (LiteRtError, RuntimeError) as e:
        return OpProfile(engine=engine, note=f"no per-op profile: {engine} {REFUSED} ({e})")
    finally:
        model.close()


def _target(spec: backends.BackendSpec) -> str:
    if spec.kind == "cpu":
        return f"CPU (XNNPACK, {spec.threads} thread{'s' if spec.threads > 1 else ''})"
    return spec.kind.upper()


def _profiled_runs(library: Library, model: CompiledModel) -> list[ProfiledEvent]:
    profiler = ctypes.c_void_p()
    library.call("LiteRtCompiledModelGetProfiler", model.compiled, ctypes.byref(profiler))
    if not profiler:
        raise RuntimeError("the compiled model has no profiler")
    library.call("LiteRtResetProfiler", profiler)
    library.call("LiteRtStartProfiler", profiler)
    try:
        for _ in range(PROFILE_RUNS):
            model.invoke()
    finally:
        library.call("LiteRtStopProfiler", profiler)
    count = ctypes.c_int()
    library.call("LiteRtGetNumProfilerEvents", profiler, ctypes.byref(count))
    events = (ProfiledEvent * max(count.value, 1))()
    if count.value:
        library.call("LiteRtGetProfilerEvents", profiler, count.value, events)
    return list(events[: count.value])


def summarize(events: Iterable[ProfiledEvent], engine: str) -> OpProfile:
    """Sum the events per node: the model's nodes and the delegate's, in the order they first ran."""
    totals: dict[tuple[str, int, str], list[float]] = {}
    invokes, invoke_us = 0, 0.0
    for event in events:
        tag = (event.tag or b"").decode(errors="replace")
        if event.event_type == 1 and tag == INVOKE_TAG:  # DEFAULT: the interpreter's whole invoke
            invokes += 1
            invoke_us += event.elapsed_time_us
            continue
        if event.event_type & OPERATOR_INVOKE_EVENT:
            key = ("model", int(event.event_metadata1), tag)
        elif event.event_type & _DELEGATE_EVENTS:
            key = ("delegate", int(event.event_metadata1), tag)
        else:
            continue
        entry = totals.setdefault(key, [0, 0.0])
        entry[0] += 1
        entry[1] += event.elapsed_time_us
    ops = tuple(
        OpTime(index=index, name=name, source=source, runs=int(runs), total_ms=total / 1000.0)
        for (source, index, name), (runs, total) in totals.items()
    )
    note = "" if ops else "the profiler recorded no per-node events for this accelerator"
    return OpProfile(engine=engine, runs=invokes, invoke_ms=invoke_us / 1000.0, ops=ops, note=note)
