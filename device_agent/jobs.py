"""Supervise one worker process per cell: start it, relay its events, enforce the timeout.

Workers are forked by multiprocessing's forkserver, which imports numpy, the TFLite runtime
and the worker module once; each cell still gets a fresh process of its own (crash isolation,
clean memory figures) without paying ~0.15 s of Python start-up and imports every time. Where
forkserver is not available the spawn method is used: slower, same behaviour.

Whatever happens to the worker (a signal from a crashing delegate, the OOM killer, a hang past
the timeout) ends as exactly one result event, so the agent stays up and the next cell runs.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from functools import cache
from multiprocessing.connection import Connection
from multiprocessing.context import DefaultContext, ForkServerContext, SpawnContext
from multiprocessing.process import BaseProcess

from device_agent import worker
from device_agent.contract import DEFAULT_CELL_TIMEOUT_S, CellRequest, CellResult, OpProfile, Progress, failed

PRELOAD = ["numpy", "device_agent.worker", "device_agent.runtime"]


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


MAX_SOCKET_DIR = 80  # AF_UNIX paths are limited to ~107 bytes; the forkserver adds a file name
_forkserver_failed = False


def _short_temp_dir() -> str | None:
    """A writable temp folder short enough for the forkserver's Unix socket."""
    for candidate in (tempfile.gettempdir(), "/data/local/tmp", "/tmp"):
        if len(candidate) <= MAX_SOCKET_DIR and os.path.isdir(candidate) and os.access(candidate, os.W_OK):
            return candidate
    return None


@cache
def _forkserver() -> ForkServerContext | None:
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return None
    short = _short_temp_dir()
    if short is None:
        return None
    tempfile.tempdir = short  # where multiprocessing puts the forkserver's socket
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    return context


Context = ForkServerContext | SpawnContext | DefaultContext


def _launch(context: Context, target: Callable[..., None], *args: object) -> tuple[BaseProcess, Connection]:
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=target, args=(*args, sender), name="cell-worker", daemon=True)
    try:
        process.start()
    except BaseException:
        receiver.close()
        raise
    finally:
        sender.close()  # the child holds the only writer: its exit is our end-of-stream
    return process, receiver


def _start(target: Callable[..., None], *args: object) -> tuple[BaseProcess, Connection]:
    """Start a worker process; if the forkserver cannot run here, use spawn from then on."""
    global _forkserver_failed
    context = None if _forkserver_failed else _forkserver()
    if context is not None:
        try:
            return _launch(context, target, *args)
        except OSError:
            _forkserver_failed = True
    return _launch(multiprocessing.get_context("spawn"), target, *args)


def probe_library(library: str, timeout_s: float = 30.0) -> str | None:
    """Whether a delegate library loads, found out in a throwaway process: None if it loads,
    else why not (the loader's message, or the signal that killed the probe)."""
    return _probe(timeout_s, worker.probe_in_child, library)


def probe_litert(root: str, backend: str, timeout_s: float = 60.0) -> str | None:
    """Whether LiteRT's accelerator for a backend registers here, in a throwaway process."""
    return _probe(timeout_s, worker.probe_litert_in_child, root, backend)


def _probe(timeout_s: float, target: Callable[..., None], *args: object) -> str | None:
    process, receiver = _start(target, *args)
    try:
        if receiver.poll(timeout_s):
            try:
                error: str | None = receiver.recv()
                return error
            except (EOFError, OSError):
                pass  # the probe died while loading: its exit status says how
        else:
            process.kill()
            return f"loading it did not finish within {timeout_s:g} s"
    finally:
        process.join(timeout=5)
        if process.is_alive():
            process.kill()
            process.join()
        receiver.close()
    return f"loading it crashed the probe process ({_how_it_ended(process)})"


def _how_it_ended(process: BaseProcess) -> str:
    code = process.exitcode
    return f"killed by {signal_name(-code)}" if code is not None and code < 0 else f"exited with code {code}"


def _exit_reason(process: BaseProcess, phase: str) -> str:
    return f"worker {_how_it_ended(process)} in phase {phase}" + ("" if (process.exitcode or 0) < 0 else " without a result")


def run_job(root: str, request: CellRequest, cancelled: Callable[[], bool] = lambda: False) -> Iterator[Progress | CellResult]:
    """Yield the worker's progress events and then one result, whatever the worker does."""
    timeout_s = request.timeout_seconds or DEFAULT_CELL_TIMEOUT_S
    process, receiver = _start(worker.run_in_child, root, request)
    deadline = time.monotonic() + timeout_s
    phase = "start"
    result: CellResult | None = None
    measured: CellResult | None = None  # what the cell measured before its profile pass
    try:
        while result is None:
            remaining = deadline - time.monotonic()
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
                    phase = event.phase
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
    if result is not None and measured is not None and result.status == "failed" and result.phase == "op_profile":
        result = _without_profile(measured, result.error)  # timed out or cancelled in the profile pass
    if result is None and measured is not None:
        result = _without_profile(measured, _exit_reason(process, phase))
    yield result if result is not None else failed(phase, _exit_reason(process, phase))


def _without_profile(measured: CellResult, reason: str) -> CellResult:
    return replace(measured, op_profile=OpProfile(note=f"no per-op profile: the profile pass ended the worker ({reason}); "
                                                        "the cell's figures were measured before it"))
