"""Supervise one worker process: feed it the job, relay its events, enforce the timeout.

Whatever happens to the worker (a signal from a crashing delegate, the OOM killer, a hang past
the timeout, garbage on its stdout) ends as exactly one result event, so the agent stays up and
the next cell runs.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import device_agent

PACKAGE_ROOT = str(Path(device_agent.__file__).resolve().parent.parent)  # a folder, or the zipapp
_EOF = object()


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _reader(stream: Any, sink: queue.Queue[Any]) -> None:
    for line in stream:
        sink.put(line)
    sink.put(_EOF)


def run_job(job: dict[str, Any], timeout_s: float, cancelled: Callable[[], bool] = lambda: False) -> Iterator[dict[str, Any]]:
    """Yield the worker's progress events and then one result event, whatever the worker does."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (PACKAGE_ROOT, os.environ.get("PYTHONPATH", "")) if p)}
    # the worker runs under the same interpreter flags (-S, -I, ...) as the agent itself
    flags = subprocess._args_from_interpreter_flags()  # type: ignore[attr-defined]
    proc = subprocess.Popen(
        [sys.executable, *flags, "-m", "device_agent.worker"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, env=env, text=True, bufsize=1,
    )
    stderr_tail: list[str] = []
    threading.Thread(target=lambda: stderr_tail.extend(proc.stderr), daemon=True).start()  # type: ignore[arg-type]
    lines: queue.Queue[Any] = queue.Queue()
    threading.Thread(target=_reader, args=(proc.stdout, lines), daemon=True).start()
    assert proc.stdin is not None
    proc.stdin.write(json.dumps(job) + "\n")
    proc.stdin.close()
    deadline = time.monotonic() + timeout_s
    phase = "start"
    result: dict[str, Any] | None = None
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                _kill(proc)
                result = {"status": "failed", "phase": phase, "error": f"timed out after {timeout_s:g} s in phase {phase}; worker killed"}
                break
            if cancelled():
                _kill(proc)
                result = {"status": "failed", "phase": phase, "error": "cancelled by the host"}
                break
            try:
                line = lines.get(timeout=min(remaining, 0.2))
            except queue.Empty:
                continue
            if line is _EOF:
                break
            try:
                event = json.loads(line)
            except ValueError:
                continue  # not ours; the worker's real events are always JSON
            if event.get("type") == "progress":
                phase = event.get("phase", phase)
                yield event
            elif event.get("type") == "result":
                result = event
    finally:
        if proc.poll() is None and result is None:
            _kill(proc)
    code = proc.wait()
    if result is None:
        tail = "".join(stderr_tail[-5:]).strip().splitlines()[-1:] if stderr_tail else []
        if code < 0:
            error = f"worker killed by {signal_name(-code)} in phase {phase}"
        else:
            error = f"worker exited with code {code} in phase {phase}" + (f": {tail[0]}" if tail else "")
        result = {"status": "failed", "phase": phase, "error": error}
    result.pop("type", None)
    yield {"type": "result", **result}


def _kill(proc: subprocess.Popen[str]) -> None:
    try:
        proc.kill()
    except ProcessLookupError:
        pass
