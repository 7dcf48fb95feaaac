"""Supervise one worker process per cell: start it (``forking.py``), relay its events, enforce the timeout.

Whatever happens to the worker (a signal from a crashing delegate, the OOM killer, a hang past
the timeout) ends as exactly one result event, so the agent stays up and the next cell runs.
"""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from device_agent import forking, start_cache, worker
from device_agent.contract import (
    DEFAULT_CELL_TIMEOUT_S,
    HEARTBEAT,
    HEARTBEAT_S,
    LIBRARY_PROBE_S,
    LITERT_PROBE_S,
    CellRequest,
    CellResult,
    CellStatus,
    OpProfile,
    Progress,
    WarmStart,
    failed,
)


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def preloaded() -> bool:
    """Whether a worker starts with the preload in memory (False where it must import it itself)."""
    answered, value = _one_answer(60.0, lambda: False, "the preload check", report_preload)
    return answered and value is True


def report_preload(connection: Connection) -> None:
    """Tell the parent whether this fresh worker found ``device_agent.preload`` imported already."""
    connection.send(forking.PRELOAD[0] in sys.modules)
    connection.close()


def probe_library(library: str, timeout_s: float = LIBRARY_PROBE_S) -> str | None:
    """Whether a delegate library loads, found out in a throwaway process: None if it loads,
    else why not (the loader's message, or the signal that killed the probe)."""
    return _probe(timeout_s, worker.probe_in_child, library)


def probe_litert(root: str, backend: str, timeout_s: float = LITERT_PROBE_S) -> str | None:
    """Whether LiteRT's accelerator for a backend registers here, in a throwaway process."""
    return _probe(timeout_s, worker.probe_litert_in_child, root, backend)


NOT_ANSWERED = "loading it "  # how a probe that did not answer (timed out, died) begins its reason


def answered(error: str | None) -> bool:
    """A probe's outcome came from the library itself (it loaded, or the loader said why not)."""
    return error is None or not error.startswith(NOT_ANSWERED)


def _probe(timeout_s: float, target: Callable[..., None], *args: object) -> str | None:
    ok, value = _one_answer(timeout_s, lambda: False, "the probe process", target, *args)
    return value if ok else f"{NOT_ANSWERED}{value}"


def _one_answer(timeout_s: float, cancelled: Callable[[], bool], process_name: str, target: Callable[..., None],
                *args: object) -> tuple[bool, Any]:
    """Start ``target`` in a worker and wait for the one object it sends: (True, it), or (False,
    what happened instead: it timed out, was cancelled, or died)."""
    process, receiver = forking.start(target, *args)
    deadline = time.monotonic() + timeout_s
    try:
        while not cancelled():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                process.kill()
                return False, f"did not finish within {timeout_s:g} s"
            if receiver.poll(min(remaining, 0.2)):
                try:
                    return True, receiver.recv()
                except (EOFError, OSError):
                    break  # it died before answering: its exit status says how
        else:
            process.kill()
            return False, "was cancelled by the host"
    finally:
        process.join(timeout=5)
        if process.is_alive():
            process.kill()
            process.join()
        receiver.close()
    return False, f"crashed {process_name} ({_how_it_ended(process)})"


def _how_it_ended(process: BaseProcess) -> str:
    code = process.exitcode
    return f"killed by {signal_name(-code)}" if code is not None and code < 0 else f"exited with code {code}"


def _exit_reason(process: BaseProcess, phase: str) -> str:
    return f"worker {_how_it_ended(process)} in phase {phase}" + ("" if (process.exitcode or 0) < 0 else " without a result")


def run_job(root: str, request: CellRequest, cancelled: Callable[[], bool] = lambda: False) -> Iterator[Progress | CellResult]:
    """Yield the worker's progress events and then one result, whatever the worker does."""
    timeout_s = request.timeout_seconds or DEFAULT_CELL_TIMEOUT_S
    process, receiver = forking.start(worker.run_in_child, root, request)
    deadline = time.monotonic() + timeout_s
    phase = "start"
    result: CellResult | None = None
    measured: CellResult | None = None  # what the cell measured before its profile pass
    said = time.monotonic()  # when the host last heard from this job
    try:
        while result is None:
            remaining = deadline - time.monotonic()
            if time.monotonic() - said >= HEARTBEAT_S:  # a quiet phase: the host must tell it from a frozen agent
                said = time.monotonic()
                yield Progress(HEARTBEAT)
            if remaining <= 0:
                process.kill()
                result = failed(phase, f"timed out after {timeout_s:g} s in phase {phase}; worker killed")
            elif cancelled():
                process.kill()
                result = failed(phase, "cancelled by the host")
            elif receiver.poll(min(remaining, 0.2)):
                try:
                    event = receiver.recv()
                except (EOFError, OSError):
                    break  # the worker is gone without a result: its exit status says why
                if isinstance(event, Progress):
                    phase, said = event.phase, time.monotonic()
                    yield event
                elif isinstance(event, worker.Measured):
                    measured = event.result
                else:
                    result = event
    finally:
        if result is None and process.is_alive():
            process.join(timeout=2.0)
        if process.is_alive():
            process.kill()
        process.join()
        receiver.close()
    if result is not None and measured is not None and result.status is CellStatus.FAILED and result.phase == "op_profile":
        result = _without_profile(measured, result.error)  # timed out or cancelled in the profile pass
    if result is None and measured is not None:
        result = _without_profile(measured, _exit_reason(process, phase))
    if result is not None and result.ok and request.start == "cold+warm":
        yield Progress("warm_start")
        result = replace(result, warm_start=warm_start(root, request, cancelled))
    yield result if result is not None else failed(phase, _exit_reason(process, phase))


def warm_start(root: str, request: CellRequest, cancelled: Callable[[], bool] = lambda: False) -> WarmStart:
    """The cell's model started again by a fresh worker with the caches its cold start wrote (an
    app's second launch); the caches are trimmed to their bound afterwards."""
    cache = start_cache.for_request(Path(root), request)
    if cache is None:
        return WarmStart(note=start_cache.NO_CACHE)
    written = cache.files_bytes()
    if written == 0:
        return WarmStart(cache=cache.kind, note=f"the cold start wrote nothing to the {cache.kind}: a later launch "
                                                "starts as cold as the first")
    answered, value = _one_answer(request.timeout_seconds or DEFAULT_CELL_TIMEOUT_S, cancelled, "its worker",
                                  worker.warm_start_in_child, root, request)
    start_cache.trim(Path(root), start_cache.MAX_CACHE_BYTES, keep=frozenset({request.model_sha256}))
    outcome = value if answered else WarmStart(note=f"the warm start {value}")
    return replace(outcome, cache=cache.kind, cache_bytes=written)


def _without_profile(measured: CellResult, reason: str) -> CellResult:
    return replace(measured, op_profile=OpProfile(note=f"no per-op profile: the profile pass ended the worker ({reason}); "
                                                        "the cell's figures were measured before it"))
