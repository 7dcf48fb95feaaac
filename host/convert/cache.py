"""A content-addressed cache of converted models.

The key covers everything that changes the bytes: model content hash, mode, options,
calibration/training data hash and converter version. Entries are written atomically (temp file
then rename), so a killed conversion never leaves a half-written hit.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from host.cache import touch
from host.codec import JsonObject
from host.fsio import atomic_write

CACHE_SCHEMA = 2  # 2: a Keras model's free batch is fixed at 1 (older builds would not run on gpu)


@dataclass(frozen=True)
class CacheEntry:
    model_bytes: bytes
    meta: JsonObject


def cache_key(**parts: object) -> str:
    """Stable key over JSON-serialisable parts (sorted, so argument order does not matter)."""
    payload = json.dumps({"schema": CACHE_SCHEMA, **parts}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


class ConversionCache:
    """Stores ``<key>.tflite`` and ``<key>.json`` under one folder; ``None`` folder disables it."""

    def __init__(self, root: Path | None) -> None:
        self.root = root
        self.hits = 0
        self.misses = 0

    def has(self, key: str) -> bool:
        """Whether an entry looks present, without reading, counting or touching it (a damaged one
        is found by ``get``)."""
        return (
            self.root is not None and (self.root / f"{key}.tflite").is_file() and (self.root / f"{key}.json").is_file()
        )

    def get(self, key: str) -> CacheEntry | None:
        if self.root is None:
            return None
        model_path, meta_path = self.root / f"{key}.tflite", self.root / f"{key}.json"
        try:
            meta = json.loads(meta_path.read_text())
            model_bytes = model_path.read_bytes()
        except (OSError, ValueError):
            self.misses += 1
            return None
        if hashlib.sha256(model_bytes).hexdigest() != meta.get("sha256"):
            self.misses += 1  # a damaged entry is a miss, and the next put replaces it
            return None
        self.hits += 1
        touch(model_path)  # used: pruning removes the least recently used entries first
        touch(meta_path)
        return CacheEntry(model_bytes, meta)

    def put(self, key: str, model_bytes: bytes, meta: JsonObject) -> None:
        if self.root is None:
            return
        self.root.mkdir(parents=True, exist_ok=True)
        meta = {**meta, "sha256": hashlib.sha256(model_bytes).hexdigest()}
        atomic_write(self.root / f"{key}.tflite", model_bytes)
        atomic_write(self.root / f"{key}.json", json.dumps(meta, indent=1).encode())
