"""Content hashes of files and folders: the identity of models, datasets and agent builds."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Protocol

BLOCK = 1 << 20


class Digest(Protocol):
    def update(self, data: bytes, /) -> None: ...
    def hexdigest(self) -> str: ...


def sha256_file(path: Path, digest: Digest | None = None) -> str:
    """sha256 of a file's bytes; pass ``digest`` to continue one (a prefix, other files)."""
    digest = digest if digest is not None else hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(BLOCK), b""):
            digest.update(block)
    return str(digest.hexdigest())


def sha256_tree(root: Path) -> str:
    """sha256 over every file below ``root``: relative names and contents, in sorted order."""
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        sha256_file(path, digest)
    return str(digest.hexdigest())
