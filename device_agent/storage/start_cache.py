"""What a first launch leaves on disk for the next one: the difference between a cold and a warm start.

An app's first launch compiles its model; later launches read what that one wrote. LiteRT writes
two such caches, and the agent gives each cell its own folder for them in its store,
``<root>/caches/<model sha256>/<backend>``:

- the GPU accelerator's program cache (``serialization_dir``, ``model_cache_key`` and
  ``serialize_program_cache`` in its options): the compiled GPU programs;
- the NPU's compiled model (the environment's compiler cache folder): what the vendor's
  compiler plugin made of the model, so a warm start skips the on-device compile.

The TFLite interpreter (the CPU cells, NNAPI and the classic GPU delegate as this agent drives
them) keeps nothing on disk between launches, so its cells have no warm start to measure.

A cell's first repeat clears its folder first (its init is a cold start); the caches are bounded
(least recently used folders go first) and removed with their model when the store is pruned.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from device_agent.contract import CellRequest, PruneResponse
from device_agent.engines import backends
from device_agent.engines.litert_capi import HW_GPU, HW_NPU
from device_agent.storage import lru

FOLDER = "caches"
MAX_CACHE_BYTES = 512 * 1024 * 1024  # every cell's caches together, between prunes
NO_CACHE = (
    "no start cache: the TFLite interpreter keeps nothing on disk between launches, so every start of "
    "this cell is a cold one"
)
_UNSAFE = ('"', "\\", "\n", "\r")  # a folder name that cannot be written into LiteRT's option text as it is


@dataclass(frozen=True)
class StartCache:
    """One cell's cache folder and what LiteRT keeps in it."""

    folder: Path
    kind: str  # "GPU program cache", "NPU compiled model"
    key: str  # the GPU's model_cache_key: the backend's name (the folder is the model's already)

    def files_bytes(self) -> int:
        return folder_bytes(self.folder)


def root_folder(root: Path) -> Path:
    return root / FOLDER


def for_request(root: Path, request: CellRequest) -> StartCache | None:
    """The cell's cache, or None where its engine keeps none (the interpreter's backends)."""
    spec = backends.parse_backend(request.backend)
    if spec.kind not in ("gpu", "npu") or not backends.uses_litert(spec, request.gpu_delegate):
        return None
    folder = root_folder(root) / request.model_sha256 / spec.name
    if any(mark in str(folder) for mark in _UNSAFE):
        return None
    return StartCache(folder, "GPU program cache" if spec.kind == "gpu" else "NPU compiled model", spec.name)


def prepare(cache: StartCache, cold: bool) -> None:
    """The cell's folder, emptied first for a cold start, and marked as used now."""
    if cold:
        shutil.rmtree(cache.folder, ignore_errors=True)
    cache.folder.mkdir(parents=True, exist_ok=True)
    os.utime(cache.folder.parent)


def gpu_options(cache: StartCache) -> str:
    """The GPU accelerator's option lines that write (and later read) its program cache."""
    return f'serialization_dir = "{cache.folder}"\nmodel_cache_key = "{cache.key}"\nserialize_program_cache = true\n'


def applied(options: dict[str, str], accelerators: int, cache: StartCache) -> tuple[dict[str, str], str]:
    """The accelerator's opaque options and the environment's compiler cache folder, with the cache."""
    if accelerators == HW_GPU:
        merged = dict(options)
        merged["gpu_options"] = merged.get("gpu_options", "") + gpu_options(cache)
        return merged, ""
    if accelerators == HW_NPU:
        return options, str(cache.folder)
    return options, ""


def folder_bytes(folder: Path) -> int:
    total = 0
    for path, _, names in os.walk(folder):
        for name in names:
            try:
                total += (Path(path) / name).stat().st_size
            except OSError:
                continue
    return total


def trim(
    root: Path, max_bytes: int, models: set[str] | None = None, keep: frozenset[str] = frozenset()
) -> PruneResponse:
    """Remove the caches of models not in ``models`` (None: any model), then the least recently
    used models' caches beyond ``max_bytes``; never those of a model in ``keep``."""
    base = root_folder(root)
    if not base.is_dir():
        return PruneResponse(0, 0, 0, 0)
    kept, removed = lru.within_budget(
        lru.entries(base.iterdir(), folder_bytes),
        max_bytes,
        pinned=lambda entry: entry.path.name in keep,
        allowed=lambda entry: models is None or entry.path.name in models,
    )
    for entry in removed:
        shutil.rmtree(entry.path, ignore_errors=True)
    return lru.response(kept, removed)
