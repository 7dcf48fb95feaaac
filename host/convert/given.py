"""Bench .tflite builds as they are: one file, or a ``host convert`` output folder (manifest).

Teams often build their .tflite files in their own pipeline; benching those exact bytes is what
a release gate wants. Each file is opened in the TFLite interpreter on the host first, so a
corrupt or truncated file is a clear input error before any device work, and a folder's file
must have the sha256 its manifest recorded: a build changed or damaged since is refused, since
its figures would be stored under the manifest's name.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from host.convert.inspect import inspect_tflite
from host.convert.modes import GROUPS, ModeRequest
from host.errors import ConversionError, InputError
from host.hashing import sha256_file
from host.results import ModelInfo


@dataclass(frozen=True)
class ModelFile:
    """One build on this machine, as the device gets it: whether converted here or given."""

    mode: str
    path: Path
    sha256: str
    size_bytes: int


def is_given_build(model: str, float16_is_source: bool = False) -> bool:
    """A quantized (or unreadable) .tflite file, or a host convert folder: benched as it is,
    nothing converted. A float .tflite is a model the quantizer's modes are made from; one with
    float16 weights is a build to bench (a release's float16 build is measured as shipped) unless
    the command makes builds from it (``float16_is_source``: convert, debug, tune)."""
    path = Path(model)
    if path.suffix.lower() == ".tflite":
        return not is_float_tflite(path, float16_is_source)
    return path.is_dir() and (path / "manifest.json").is_file()


def given_note(model: str) -> str:
    """What the console says of given builds: a single file is named as already quantized, and how."""
    path = Path(model)
    if path.suffix.lower() != ".tflite":
        return "benched the given .tflite build(s) as they are"
    facts = inspect_tflite(path.read_bytes())
    kinds = [
        f"weights {'/'.join(sorted(facts.weight_dtypes - {'float32'}))}" if facts.weight_dtypes - {"float32"} else "",
        f"activations {'/'.join(sorted(facts.activation_dtypes - {'float32'}))}"
        if facts.activation_dtypes - {"float32"}
        else "",
        f"{facts.input_dtype} input" if facts.input_dtype != "float32" else "",
    ]
    note = f"{path.name} is already quantized ({', '.join(k for k in kinds if k)}): benched as it is, nothing converted"
    if facts.is_float_source:
        note += f" (host convert {path} --modes quantizer makes int8/int4 builds from a float32 copy)"
    return note


def is_float_tflite(path: Path, float16_is_source: bool = False) -> bool:
    """Nothing in it quantized (with ``float16_is_source``, float16 storage aside: widened when it
    becomes a source); False for a file that does not load (the build check says why)."""
    try:
        facts = inspect_tflite(path.read_bytes())
        return facts.is_float_source if float16_is_source else facts.is_float
    except (OSError, ConversionError):
        return False


def _manifest_files(path: Path, request: ModeRequest | None) -> tuple[str, dict[str, Path], dict[str, str]]:
    try:
        manifest = json.loads((path / "manifest.json").read_text())
        entries = manifest["modes"]
        name = str(manifest.get("model", {}).get("name") or path.name)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise InputError(f"{path / 'manifest.json'} is not a host convert manifest: {e}") from e
    every = request is None or set(request.names) >= set(
        GROUPS["all"]
    )  # --modes all: every build, recipe-named ones too
    wanted = set(entries) if every or request is None else set(request.names)
    chosen = {
        mode: entry for mode, entry in entries.items() if mode in wanted or entry.get("variant_of") in wanted
    }  # a selective build goes with its mode
    if not chosen:
        raise InputError(
            f"{path} holds none of the requested modes ({', '.join(sorted(wanted))}); it has "
            f"{', '.join(entries) or 'none'}"
        )
    files = {mode: path / str(entry["path"]) for mode, entry in chosen.items()}
    recorded = {mode: str(entry["sha256"]) for mode, entry in chosen.items() if entry.get("sha256")}
    return name, files, recorded


def _check(mode: str, file: Path) -> tuple[ModelFile, tuple[int, ...], int]:
    try:
        facts = inspect_tflite(file.read_bytes())
    except OSError as e:
        raise InputError(f"cannot read {file}: {e.strerror}") from e
    except ConversionError as e:
        raise InputError(
            f"{file} is not a valid TFLite model (corrupt or truncated?): {str(e).split(': ', 1)[-1]}"
        ) from e
    classes = int(np.prod(facts.output_shape[1:])) if len(facts.output_shape) > 1 else 0
    return ModelFile(mode, file, sha256_file(file), file.stat().st_size), facts.input_shape, classes


def _check_recorded(file: Path, recorded: str | None, folder: Path) -> None:
    if recorded is None:
        return
    try:
        on_disk = sha256_file(file)
    except OSError as e:
        raise InputError(f"cannot read {file}: {e.strerror}") from e
    if on_disk != recorded:
        raise InputError(
            f"{file} is not the build its manifest names: sha256 {on_disk} on disk, "
            f"{recorded} in {folder / 'manifest.json'} (changed or damaged since it was made)"
        )


def load_given(model: str, request: ModeRequest | None) -> tuple[ModelInfo, dict[str, ModelFile]]:
    """(model description, models by mode) for a .tflite file, or a manifest folder filtered by ``request``."""
    path = Path(model)
    if path.suffix.lower() == ".tflite":
        if not path.is_file():
            raise InputError(f"{path} does not exist")
        recorded: dict[str, str] = {}
        name, files = path.stem, {path.stem: path}
    else:
        name, files, recorded = _manifest_files(path, request)
    models: dict[str, ModelFile] = {}
    shapes, classes = set(), set()
    for mode, file in files.items():
        _check_recorded(file, recorded.get(mode), path)  # first: a damaged build is named as one, parsed or not
        models[mode], shape, scores = _check(mode, file)
        shapes.add(shape)
        classes.add(scores)
    if len(shapes) != 1:
        raise InputError(f"the models take different input shapes {sorted(shapes)}; bench builds of one model together")
    shape = shapes.pop()
    sha = next(iter(models.values())).sha256 if len(models) == 1 else sha256_file(path / "manifest.json")
    return ModelInfo(name, sha, (1, *shape[1:]), classes=max(classes)), models
