"""Files written whole or not at all: a temporary file beside the target, then a rename.

A full disk, a quota or a killed process then leaves the previous file (or none), never a
0-byte or half-written one, and the error names the path the user gave.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path
from typing import BinaryIO

from host.errors import InputError, OutputError


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


def check_writable(path: Path, *, new_folder: bool = False) -> None:
    """Fail now (before a long run) if ``path`` could not be written; creates and leaves nothing.
    Its folder must exist, unless ``new_folder`` (a command's ``--out DIR``, which it makes):
    then the nearest folder that exists must be writable."""
    try:
        if path.is_dir():
            raise IsADirectoryError(21, "Is a directory")
        folder = path.parent
        if not folder.is_dir():
            if not new_folder:
                raise OutputError(f"cannot write {path}: the folder {folder} does not exist")
            existing = next((p for p in folder.parents if p.exists()), Path("/"))
            if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
                raise OutputError(f"cannot write {path}: {existing} is not a folder this user can write in")
            return
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".check")
        os.close(fd)
        os.unlink(tmp)
    except OSError as e:
        raise OutputError(f"cannot write {path}: {e.strerror or e}") from e


def open_private(path: Path) -> BinaryIO:
    """A new file, for writing bytes, only this user can read (0600), whatever the umask:
    results, datasets, locks and logs hold what was measured and the commands that ran."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb")


def private_file(path: Path) -> None:
    """Create ``path`` empty and 0600 when it does not exist (a program that creates it next, such
    as SQLite, keeps those permissions); an existing file keeps the ones its owner gave it."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def read_regular(path: Path, limit: int, what: str) -> bytes:
    """Up to ``limit`` bytes of a file the user named, which must be a regular file: opened without
    blocking, so a FIFO named by mistake is refused instead of waiting forever for a writer, and a
    device file (``/dev/zero``) is refused instead of read until memory runs out."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as e:
        raise InputError(f"{what} {path}: {e.strerror}") from e
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise InputError(f"{what} {path} is not a regular file")
        return handle.read(limit)


def read_small_text(path: Path, limit: int, what: str) -> str:
    """A small text file the user named (a recipe, a settings file), read whole: refused in one line
    unless it is a regular file (``read_regular``) of at most ``limit`` bytes of UTF-8."""
    data = read_regular(path, limit + 1, what)
    if len(data) > limit:
        raise InputError(f"{what} {path} is over {limit // 1024} KB")
    try:
        return data.decode()
    except UnicodeDecodeError as e:
        raise InputError(f"{what} {path} is not UTF-8 text") from e
