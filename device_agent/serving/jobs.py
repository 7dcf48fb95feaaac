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
from device_agent.measuring import worker
from device_agent.serving import forking
from device_agent.storage import start_cache


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
    """Tell the parent whether this fresh worker found ``device_agent.serving.preload`` imported already."""
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


def _one_answer(
    timeout_s: float, cancelled: Callable[[], bool], process_name: str, target: Callable[..., None], *args: object
) -> tuple[bool, Any]:
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
    return f"worker {_how_it_ended(process)} in phase {phase}" + (
        "" if (process.exitcode or 0) < 0 else " without a result"
    )


class _Worker:
    """One cell's worker as the agent watches it: its events, its deadline, its last phase, and
    what it measured before the profile pass."""

    def __init__(
        self, process: BaseProcess, receiver: Connection, timeout_s: float, cancelled: Callable[[], bool]
    ) -> None:
        self.process, self.receiver, self.timeout_s, self.cancelled = process, receiver, timeout_s, cancelled
        self.deadline = time.monotonic() + timeout_s
        self.phase = "start"
        self.measured: CellResult | None = None  # what the cell measured before its profile pass
        self.said = time.monotonic()  # when the host last heard from this job

    def events(self) -> Iterator[Progress | CellResult]:
        """Progress (a heartbeat in a quiet phase) until the result; ends without one if the worker dies."""
        while True:
            remaining = self.deadline - time.monotonic()
            if time.monotonic() - self.said >= HEARTBEAT_S:  # a quiet phase: the host must tell it from a frozen agent
                self.said = time.monotonic()
                yield Progress(HEARTBEAT)
            stop = self._stop_reason(remaining)
            if stop:
                self.process.kill()
                yield failed(self.phase, stop)
                return
            if not self.receiver.poll(min(remaining, 0.2)):
                continue
            try:
                event = self.receiver.recv()
            except (EOFError, OSError):
                return  # the worker is gone without a result: its exit status says why
            if isinstance(event, worker.Measured):
                self.measured = event.result
                continue
            if isinstance(event, Progress):
                self.phase, self.said = event.phase, time.monotonic()
            yield event
            if not isinstance(event, Progress):
                return

    def _stop_reason(self, remaining: float) -> str:
        if remaining <= 0:
            return f"timed out after {self.timeout_s:g} s in phase {self.phase}; worker killed"
        return "cancelled by the host" if self.cancelled() else ""

    def close(self, finished: bool) -> None:
        if not finished and self.process.is_alive():
            self.process.join(timeout=2.0)
        if self.process.is_alive():
            self.process.kill()
        self.process.join()
        self.receiver.close()

    def outcome(self, result: CellResult | None) -> CellResult:
        """The result, or what the worker measured before a profile pass that ended it, or why it died."""
        if self.measured is not None and (
            result is None or (result.status is CellStatus.FAILED and result.phase == "op_profile")
        ):
            reason = result.error if result is not None else _exit_reason(self.process, self.phase)
            return _without_profile(self.measured, reason)  # timed out, cancelled or crashed in the profile pass
        return result if result is not None else failed(self.phase, _exit_reason(self.process, self.phase))


def run_job(
    root: str, request: CellRequest, cancelled: Callable[[], bool] = lambda: False
) -> Iterator[Progress | CellResult]:
    """Yield the worker's progress events and then one result, whatever the worker does."""
    timeout_s = request.timeout_seconds or DEFAULT_CELL_TIMEOUT_S
    process, receiver = forking.start(worker.run_in_child, root, request)
    watched = _Worker(process, receiver, timeout_s, cancelled)
    result: CellResult | None = None
    try:
        for event in watched.events():
            if isinstance(event, Progress):
                yield event
            else:
                result = event
    finally:
        watched.close(result is not None)
    result = watched.outcome(result)
    if result.ok and request.start == "cold+warm":
        yield Progress("warm_start")
        result = replace(result, warm_start=warm_start(root, request, cancelled))
    yield result


def warm_start(root: str, request: CellRequest, cancelled: Callable[[], bool] = lambda: False) -> WarmStart:
    """The cell's model started again by a fresh worker with the caches its cold start wrote (an
    app's second launch); the caches are trimmed to their bound afterwards."""
    cache = start_cache.for_request(Path(root), request)
    if cache is None:
        return WarmStart(note=start_cache.NO_CACHE)
    written = cache.files_bytes()
    if written == 0:
        return WarmStart(
            cache=cache.kind,
            note=f"the cold start wrote nothing to the {cache.kind}: a later launch starts as cold as the first",
        )
    answered, value = _one_answer(
        request.timeout_seconds or DEFAULT_CELL_TIMEOUT_S,
        cancelled,
        "its worker",
        worker.warm_start_in_child,
        root,
        request,
    )
    start_cache.trim(Path(root), start_cache.MAX_CACHE_BYTES, keep=frozenset({request.model_sha256}))
    outcome = value if answered else WarmStart(note=f"the warm start {value}")
    return replace(outcome, cache=cache.kind, cache_bytes=written)


def _without_profile(measured: CellResult, reason: str) -> CellResult:
    return replace(
        measured,
        op_profile=OpProfile(
            note=f"no per-op profile: the profile pass ended the worker ({reason}); "
            "the cell's figures were measured before it"
        ),
    )
