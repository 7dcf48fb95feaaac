"""Bench .tflite builds as they are: one file, or a ``host convert`` output folder (manifest).

Teams often build their .tflite files in their own pipeline; benching those exact bytes is what
a release gate wants. Each file is opened in the TFLite interpreter on the host first, so a
corrupt or truncated file is a clear input error before any device work.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from host.convert.inspect import inspect_tflite
from host.convert.modes import parse_modes
from host.errors import ConversionError, InputError
from host.hashing import sha256_file


@dataclass(frozen=True)
class GivenModel:
    mode: str
    path: Path
    sha256: str
    size_bytes: int


def is_given(model: str) -> bool:
    path = Path(model)
    return path.suffix.lower() == ".tflite" or (path.is_dir() and (path / "manifest.json").is_file())


def load_given(model: str, modes: str) -> tuple[dict[str, Any], dict[str, GivenModel]]:
    """(model description, models by mode) for a .tflite file or a manifest folder."""
    path = Path(model)
    if path.suffix.lower() == ".tflite":
        if not path.is_file():
            raise InputError(f"{path} does not exist")
        files = {path.stem: path}
        name = path.stem
    else:
        try:
            manifest = json.loads((path / "manifest.json").read_text())
            entries = manifest["modes"]
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise InputError(f"{path / 'manifest.json'} is not a host convert manifest: {e}") from e
        wanted = {m.name for m in parse_modes(modes)}
        files = {mode: path / entry["path"] for mode, entry in entries.items() if mode in wanted}
        if not files:
            raise InputError(f"{path} holds none of the requested modes ({modes}); it has {', '.join(entries) or 'none'}")
        name = str(manifest.get("model", {}).get("name") or path.name)
    models: dict[str, GivenModel] = {}
    shapes = set()
    for mode, file in files.items():
        try:
            facts = inspect_tflite(file.read_bytes())
        except OSError as e:
            raise InputError(f"cannot read {file}: {e.strerror}") from e
        except ConversionError as e:
            raise InputError(f"{file} is not a valid TFLite model (corrupt or truncated?): {str(e).split(': ', 1)[-1]}") from e
        if len(facts.input_shape) != 4 or facts.input_shape[3] != 3:
            raise InputError(f"{file} takes input {list(facts.input_shape)}; only RGB image models (N, H, W, 3) are supported")
        shapes.add(facts.input_shape)
        models[mode] = GivenModel(mode, file, sha256_file(file), file.stat().st_size)
    if len(shapes) != 1:
        raise InputError(f"the models take different input shapes {sorted(shapes)}; bench builds of one model together")
    shape = list(shapes.pop())
    sha = next(iter(models.values())).sha256 if len(models) == 1 else sha256_file(path / "manifest.json")
    return {"name": name, "sha256": sha, "input_shape": [1, *shape[1:]]}, models
