"""Files written whole or not at all: a temporary file beside the target, then a rename.

A full disk, a quota or a killed process then leaves the previous file (or none), never a
0-byte or half-written one, and the error names the path the user gave.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from host.errors import OutputError


def atomic_write(path: Path, data: bytes | str) -> None:
    """Write ``data`` to ``path`` atomically; OutputError naming the path when it cannot be."""
    payload = data.encode() if isinstance(data, str) else data
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        tmp = None
    except OSError as e:
        raise OutputError(f"cannot write {path}: {e.strerror or e}") from e
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


def check_writable(path: Path) -> None:
    """Fail now (before a long run) if ``path`` could not be written; leaves nothing behind."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_dir():
            raise IsADirectoryError(21, "Is a directory")
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".check")
        os.close(fd)
        os.unlink(tmp)
    except OSError as e:
        raise OutputError(f"cannot write {path}: {e.strerror or e}") from e
