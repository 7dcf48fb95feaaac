"""Writing a file the agent can afford to lose (a cache of answers or hashes): whole or not at all."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def replace_quietly(path: Path, text: str) -> bool:
    """Write ``text`` to ``path`` through a temporary file and a rename, so a reader never sees half
    of it; False where the folder cannot be written (a read-only or full store: the cache is asked
    again next time)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        temporary.write_text(text)
        os.replace(temporary, path)
    except OSError:
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)
        return False
    return True
