"""What a delegate library or LiteRT accelerator did when it was loaded, kept across sessions.

Every session starts a fresh agent, and each asks which backends the device can run; each
answer loads a library in a throwaway process (the GPU accelerator takes about half a second,
the NPU dispatch as long). The answer only changes when the files change, so it is kept in the
agent's folder, keyed by what was probed and by the identity (inode, mtime, size) of the file
that decides it, and by the agent's version. A probe that did not answer (timed out, or its
process died) is not kept: it is asked again next time, so a busy moment never hides a backend.
A damaged cache file is the same as none.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path

from device_agent import __version__
from device_agent.storage.quiet_write import replace_quietly

FILE = "probes.json"
Signature = tuple[int, int, int]


def signature(path: Path) -> Signature | None:
    """The file's identity, or None when it is not there (nothing is kept for it then)."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return (stat.st_ino, stat.st_mtime_ns, stat.st_size)


def _agent_build() -> list[int]:
    """The identity of the agent's own code: the zipapp it runs from (a new deployment is a new
    file), else its package's first file, so a changed probe never reads an older agent's answers."""
    here = Path(__file__)
    for candidate in (*here.parents, here):
        if candidate.is_file():
            return list(signature(candidate) or ())
    return list(signature(here) or ())


class ProbeCache:
    """Probe answers by key; ``answered`` tells an answer worth keeping from a probe that failed to run."""

    def __init__(self, root: Path) -> None:
        self.path = root / FILE
        self._lock = threading.Lock()
        self._entries: dict[str, dict[str, object]] | None = None

    def _load(self) -> dict[str, dict[str, object]]:
        if self._entries is None:
            try:
                data = json.loads(self.path.read_text())
                self._entries = data if isinstance(data, dict) else {}
            except (OSError, ValueError):
                self._entries = {}
        return self._entries

    def get(
        self, key: str, stamp: Signature | None, probe: Callable[[], str | None], answered: Callable[[str | None], bool]
    ) -> str | None:
        """The kept answer for ``key`` when its file is unchanged, else ``probe()`` (kept if answered)."""
        if stamp is None:
            return probe()
        mark = [__version__, *_agent_build(), *stamp]
        with self._lock:
            entry = self._load().get(key)
            if isinstance(entry, dict) and entry.get("mark") == mark:
                error = entry.get("error")
                return error if isinstance(error, str) or error is None else probe()
        error = probe()
        if answered(error):
            with self._lock:
                self._load()[key] = {"mark": mark, "error": error}
                self._save()
        return error

    def _save(self) -> None:
        replace_quietly(self.path, json.dumps(self._entries))  # a read-only or full store: probe again next session
