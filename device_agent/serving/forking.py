"""How a worker process starts: forked by multiprocessing's forkserver, or spawned where it cannot be.

The forkserver imports numpy, the TFLite runtime and the worker module once (``preload.py``);
each cell still gets a fresh process of its own (crash isolation, clean memory figures) without
paying Python's start-up and those imports every time: about 190 ms a cell on the emulated
device. Where forkserver is not available the spawn method is used: slower, same behaviour.

Python 3.11's forkserver does not apply the agent's ``sys.path`` before it imports its preload
list, and it drops an ``ImportError`` there without a word: an agent run from its zipapp got a
forkserver that had imported nothing of it. The forkserver is therefore started with the agent's
own path entry (its folder or its zipapp) in ``PYTHONPATH`` (``jobs.preloaded()`` checks it).

This module imports only the standard library, so that the agent can start the forkserver before
it imports anything heavy (``start_workers``).
"""

from __future__ import annotations

import multiprocessing
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from multiprocessing import forkserver
from multiprocessing.connection import Connection
from multiprocessing.context import DefaultContext, ForkServerContext, SpawnContext
from multiprocessing.process import BaseProcess

import device_agent

PRELOAD = ["device_agent.serving.preload"]
MAX_SOCKET_DIR = 80  # AF_UNIX paths are limited to ~107 bytes; the forkserver adds a file name
_forkserver_failed = False

Context = ForkServerContext | SpawnContext | DefaultContext


def start_workers() -> bool:
    """Start the workers' forkserver now rather than at the first job: the agent calls this before
    it imports gRPC, so the forkserver imports numpy and the runtime meanwhile (about 0.4 s on the
    emulated device, which the first backend probe or cell would otherwise wait for). False where
    workers will be spawned instead."""
    return _forkserver() is not None


def start(target: Callable[..., None], *args: object) -> tuple[BaseProcess, Connection]:
    """Start a worker process running ``target(*args, sender)``; the receiving end comes back. If
    the forkserver cannot run here, spawn from then on."""
    global _forkserver_failed
    context = None if _forkserver_failed else _forkserver()
    if context is not None:
        try:
            return _launch(context, target, *args)
        except OSError:
            _forkserver_failed = True
    return _launch(multiprocessing.get_context("spawn"), target, *args)


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
    try:
        with _importable_by_the_forkserver():
            forkserver.ensure_running()
    except OSError:
        return None
    return context


def _agent_path_entry() -> str:
    """The ``sys.path`` entry this package was imported from: a folder, or the agent's zipapp."""
    return os.path.dirname(os.path.dirname(os.path.abspath(device_agent.__file__)))


@contextmanager
def _importable_by_the_forkserver() -> Iterator[None]:
    """``PYTHONPATH`` names the agent's path entry while the forkserver starts, and only then."""
    before = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([_agent_path_entry(), *([before] if before else [])])
    try:
        yield
    finally:
        if before is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = before
