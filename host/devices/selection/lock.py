"""One bench per device at a time: an advisory lock per device serial number on this machine.

Two benches measuring one phone at once measure each other (the seen case: p50 0.297 ms instead
of 0.17 ms, with no warning). Each device runner holds ``device_lock`` for as long as it uses
the device; a second bench waits with a message naming the holder, or refuses with --no-wait.
The lock is ``flock`` on a file under the data folder, so it is released by the kernel when its
holder dies, even by SIGKILL. (It guards benches run from this machine; controllers on other
machines sharing an adb server do not see it.)
"""

from __future__ import annotations

import fcntl
import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone

from host.errors import DeviceBusy
from host.paths import data_dir


def _lock_path(identity: str) -> str:
    folder = data_dir() / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    return str(folder / (re.sub(r"[^A-Za-z0-9._-]", "_", identity) + ".lock"))


def _holder(fd: int) -> str:
    try:
        return os.pread(fd, 400, 0).decode("utf-8", "replace").strip() or "another bench"
    except OSError:
        return "another bench"


@contextmanager
def device_lock(identity: str, *, wait: bool, on_wait: Callable[[str], None]) -> Iterator[None]:
    """Hold the device for this process; wait for (or refuse) a device another bench holds."""
    fd = os.open(_lock_path(identity), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            if not wait:
                raise DeviceBusy(
                    f"device {identity} is in use by {holder}; run again later, or without --no-wait to wait for it"
                ) from None
            on_wait(f"device {identity} is in use by {holder}: waiting for it (--no-wait refuses instead)")
            fcntl.flock(fd, fcntl.LOCK_EX)
        stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} ({' '.join(sys.argv[1:3]) or 'host'}), since {stamp}".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing releases the lock
