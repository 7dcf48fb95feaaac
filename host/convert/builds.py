"""One build on disk: from the cache or made now, with its facts; a failure is the build's result.

Every build, whatever made it (TensorFlow's converter, the quantizer, a keep-float variant),
lands through ``cached_build``, so a failed build never leaves an older file under its name and
its reason is recorded the same way.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from host.codec import JsonObject
from host.convert.cache import ConversionCache
from host.convert.inspect import TfliteFacts
from host.convert.promises import converter_reason
from host.convert.records import ModeResult
from host.errors import HostError
from host.fsio import atomic_write


def facts_meta(facts: TfliteFacts, notes: list[str]) -> JsonObject:
    return {"input_dtype": facts.input_dtype, "output_dtype": facts.output_dtype, "notes": notes}


def _holds(target: Path, model_bytes: bytes) -> bool:
    """Whether ``target`` already has exactly these bytes: a warm run then rewrites (and syncs)
    none of its builds, which took 0.25 s for twelve."""
    try:
        return target.stat().st_size == len(model_bytes) and target.read_bytes() == model_bytes
    except OSError:
        return False


def cached_build(
    name: str,
    key: str,
    out_dir: Path,
    use_cache: bool,
    cache: ConversionCache,
    build: Callable[[], tuple[bytes, JsonObject]],
    **variant: Any,
) -> ModeResult:
    """``out_dir/<name>.tflite`` from the cache or from ``build`` (then cached); a failure is the
    build's result with its reason, and leaves no older file that looks like this build."""
    target = out_dir / f"{name}.tflite"
    started = time.perf_counter()
    entry = cache.get(key) if use_cache else None
    try:
        if entry is not None:
            model_bytes, meta, cached = entry.model_bytes, entry.meta, True
        else:
            model_bytes, meta = build()
            meta.setdefault("convert_seconds", round(time.perf_counter() - started, 3))
            cached = False
            cache.put(key, model_bytes, meta)
        if not _holds(target, model_bytes):
            atomic_write(target, model_bytes)
    except HostError as e:
        target.unlink(missing_ok=True)
        return ModeResult(name, False, seconds=round(time.perf_counter() - started, 3), error=str(e), **variant)
    except Exception as e:  # the converter raises ConverterError, ValueError, RuntimeError, ...
        target.unlink(missing_ok=True)
        return ModeResult(
            name, False, seconds=round(time.perf_counter() - started, 3), error=converter_reason(e), **variant
        )
    return ModeResult(
        name,
        True,
        path=str(target),
        size_bytes=len(model_bytes),
        sha256=hashlib.sha256(model_bytes).hexdigest(),
        input_dtype=meta["input_dtype"],
        output_dtype=meta["output_dtype"],
        seconds=round(time.perf_counter() - started, 3) if cached else meta["convert_seconds"],
        cached=cached,
        notes=tuple(meta.get("notes", ())),
        float_layers=tuple(meta.get("float_layers", ())),
        made_by=meta.get("made_by"),
        **variant,
    )
