"""The agent's content-addressed file store.

Files live at ``<root>/store/<sha256>`` and nowhere else: a name must be exactly 64 lowercase
hex characters, so no request can reach outside the root. Uploads go to a temporary file in
``<root>/partial`` and are renamed into place only when their size and hash match; anything
else (a cap exceeded, a client that leaves) deletes the partial file. So the store holds only
verified files: a name that is present is the content it names.

Files the host pushes over ADB land in the ``incoming`` folder it named at start (ADB writes
there as the shell user; the agent may run as an app that can only read it) and are adopted
into the store by name, after the same size and hash checks.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from device_agent.contract import PruneRequest, PruneResponse, StoreStatus
from device_agent.errors import DeviceAgentError
from device_agent.storage import lru, start_cache

_NAME = re.compile(r"[0-9a-f]{64}")
DEFAULT_MAX_UPLOAD = 1 << 30


def free_bytes(folder: Path) -> int:
    """Free space for an unprivileged writer where ``folder`` is (0 when it cannot be told)."""
    try:
        stat = os.statvfs(folder)
    except OSError:
        return 0
    return int(stat.f_bavail * stat.f_frsize)


class StoreError(DeviceAgentError):
    """Root of the store's errors."""


class InvalidName(StoreError):
    """A file name that is not a sha256 hex digest."""


class TooLarge(StoreError):
    """An upload over the configured cap."""


class Mismatch(StoreError):
    """Uploaded bytes whose size or hash differ from what the upload announced."""


class NotInStore(StoreError):
    """A requested file is not in the store."""


@dataclass(frozen=True)
class Stat:
    exists: bool
    size_bytes: int = 0


class FileStore:
    def __init__(self, root: Path, max_upload_bytes: int = DEFAULT_MAX_UPLOAD, incoming: Path | None = None) -> None:
        self.root = root.resolve()
        self.incoming = incoming.resolve() if incoming else None
        self.files = self.root / "store"
        self.partial = self.root / "partial"
        self.max_upload_bytes = max_upload_bytes
        self.files.mkdir(parents=True, exist_ok=True)
        self.partial.mkdir(parents=True, exist_ok=True)

    def path(self, name: str) -> Path:
        """The store path for a name; the only way any code here turns a name into a path."""
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise InvalidName(f"file name must be 64 lowercase hex characters (a sha256), got {name[:80]!r}")
        return self.files / name

    def require(self, name: str) -> Path:
        """The path of a stored file, marked as used now (pruning removes the least recently used)."""
        path = self.path(name)
        try:
            os.utime(path)
        except FileNotFoundError:
            raise NotInStore(f"{name} is not on the device; upload it first") from None
        return path

    def prune(self, request: PruneRequest) -> PruneResponse:
        """Remove least recently used files beyond the byte budget or the age bound, never a kept one;
        then the start caches of the models gone, and the oldest caches beyond what the budget leaves."""
        keep = set(request.keep_sha256)
        oldest_allowed = time.time() - request.max_age_days * 86400 if request.max_age_days > 0 else 0.0
        kept, removed = lru.within_budget(
            lru.entries(self.files.iterdir(), lambda path: path.stat().st_size),
            request.max_bytes,
            pinned=lambda entry: entry.path.name in keep,
            allowed=lambda entry: entry.mtime >= oldest_allowed,
        )
        for entry in removed:
            entry.path.unlink(missing_ok=True)
        files = lru.response(kept, removed)
        caches = start_cache.trim(
            self.root, max(0, request.max_bytes - files.kept_bytes), {e.path.name for e in kept}, frozenset(keep)
        )
        return lru.combined(files, caches)

    def status(self) -> StoreStatus:
        """Free space where the store is, and the files it holds."""
        files = lru.entries(self.files.iterdir(), lambda path: path.stat().st_size)
        return StoreStatus(free_bytes(self.root), len(files), sum(e.size for e in files))

    def stat(self, name: str) -> Stat:
        path = self.path(name)
        try:
            return Stat(True, path.stat().st_size)
        except FileNotFoundError:
            return Stat(False)

    def receive(self, name: str, size_bytes: int, chunks: Iterable[bytes], cap: int | None = None) -> bool:
        """Store streamed bytes under ``name``; True if they were already present. ``cap`` bounds
        the size (the upload cap unless given: adopted files are on the device already)."""
        cap = self.max_upload_bytes if cap is None else cap
        target = self.path(name)
        if size_bytes < 0 or size_bytes > cap:
            raise TooLarge(f"upload of {size_bytes} bytes exceeds the cap of {cap}")
        if target.is_file() and target.stat().st_size == size_bytes:
            for _ in chunks:  # drain the stream so the client sees a normal end
                pass
            return True
        fd, tmp_name = tempfile.mkstemp(dir=self.partial)
        tmp = Path(tmp_name)
        try:
            digest = hashlib.sha256()
            received = 0
            with os.fdopen(fd, "wb") as handle:
                for chunk in chunks:
                    received += len(chunk)
                    if received > size_bytes or received > cap:
                        raise TooLarge(f"upload exceeds its announced {size_bytes} bytes or the cap of {cap}")
                    digest.update(chunk)
                    handle.write(chunk)
            if received != size_bytes:
                raise Mismatch(f"upload ended after {received} of {size_bytes} bytes")
            if digest.hexdigest() != name:
                raise Mismatch(f"uploaded bytes hash to {digest.hexdigest()}, not {name}")
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        return False

    def adopt(self, name: str) -> bool:
        """Take ``<incoming>/<name>`` into the store if its bytes hash to ``name``; True if already there.

        The staged file is copied while it is hashed (the agent may not own the incoming folder);
        the host removes it afterwards.
        """
        target = self.path(name)
        if target.is_file():
            return True
        if self.incoming is None:
            raise NotInStore("this agent was started without an incoming folder; upload the file instead")
        source = self.incoming / name
        try:
            size = source.stat().st_size
            handle = source.open("rb")
        except OSError as e:
            raise NotInStore(f"{name} is not in the incoming folder: {e.strerror}") from e
        with handle:  # already on the device: its size was bounded by the room there, not by the upload cap
            return self.receive(name, size, iter(lambda: handle.read(1 << 20), b""), cap=size)

    def new_partial(self) -> Path:
        """A fresh temporary path inside the store's folder, for a file the agent makes itself."""
        fd, name = tempfile.mkstemp(dir=self.partial)
        os.close(fd)
        return Path(name)

    def put_file(self, path: Path, name: str) -> str:
        """Move a file the agent wrote (``path``, in ``partial``) into the store under its sha256."""
        target = self.path(name)
        try:
            if not target.is_file():  # the same content is there already: keep it, as every other name
                os.replace(path, target)
        finally:
            path.unlink(missing_ok=True)
        return name

    def put_bytes(self, data: bytes) -> str:
        """Store bytes produced on the device (reference outputs); returns their name."""
        name = hashlib.sha256(data).hexdigest()
        self.receive(name, len(data), [data])
        return name
