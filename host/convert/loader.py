"""Resolve what the user named as a model, cheaply, and load it only when a converter needs it.

``resolve_model`` checks the file is what it claims to be and hashes its content without
importing TensorFlow, so a fully cached conversion never pays for loading the model.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from host.data.tensors import ModelInput
from host.errors import ModelLoadError
from host.hashing import sha256_file, sha256_tree

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


ModelKind = Literal["keras_file", "saved_model", "tflite_file", "builtin", "demo"]


@dataclass(frozen=True)
class Builtin:
    """A model the tool can build by name; ``weights_file`` is what keras.applications caches."""

    name: str
    constructor: str
    input_shape: tuple[int, int, int]
    preset: str
    weights_file: str | None = None


BUILTINS: dict[str, Builtin] = {
    b.name: b
    for b in (
        Builtin(
            "mobilenet_v2",
            "MobileNetV2",
            (224, 224, 3),
            "mobilenet",
            "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5",
        ),
        Builtin("mobilenet", "MobileNet", (224, 224, 3), "mobilenet", "mobilenet_1_0_224_tf.h5"),
        Builtin("resnet50", "ResNet50", (224, 224, 3), "caffe", "resnet50_weights_tf_dim_ordering_tf_kernels.h5"),
    )
}


@dataclass(frozen=True)
class ModelSource:
    """A model identified by content, and what kind of file or name it came from."""

    name: str
    kind: ModelKind
    sha256: str
    path: Path | None = None
    builtin: Builtin | None = None
    weights_path: Path | None = None
    known_input_shape: tuple[int, int, int] | None = None  # an image model's (height, width, channels)
    preset: str | None = None
    note: str | None = None  # what was done to the user's file before it became a source (host.convert.normalize)

    def describe(self) -> dict[str, object]:
        return {
            "name": self.name,
            "kind": self.kind,
            "sha256": self.sha256,
            "path": str(self.path) if self.path else None,
        }


def keras_cache_dir() -> Path:
    """Where keras.applications keeps downloaded weights (KERAS_HOME or ~/.keras)."""
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "models"


def check_model_named(spec: str) -> None:
    """That ``spec`` is a built-in name or a path that exists (the demo is the input step's,
    ``host.convert.inputs.check_model``)."""
    if spec in BUILTINS or Path(spec).expanduser().exists():
        return
    names = ", ".join(["demo", *BUILTINS])
    raise ModelLoadError(
        f"model {spec!r} not found: give a .keras/.h5/.tflite file, a SavedModel folder, or one of {names}"
    )


def resolve_model(spec: str, weights: str | None = None) -> ModelSource:
    """Validate ``spec`` (a path or a built-in name) and hash it; no TensorFlow import."""
    path = Path(spec).expanduser()
    if spec in BUILTINS and not path.exists():
        return _resolve_builtin(BUILTINS[spec], weights)
    check_model_named(spec)
    if weights is not None:
        raise ModelLoadError("--weights applies to built-in model names only; a model file carries its own weights")
    if path.is_dir():
        if not ((path / "saved_model.pb").is_file() or (path / "saved_model.pbtxt").is_file()):
            raise ModelLoadError(f"{path} is a folder but not a SavedModel (no saved_model.pb in it)")
        return ModelSource(path.name, "saved_model", sha256_tree(path), path=path)
    return resolve_file(path, name=path.stem, kind="keras_file")


def resolve_file(path: Path, *, name: str, kind: ModelKind) -> ModelSource:
    with path.open("rb") as handle:
        head = handle.read(8)
    suffix = path.suffix.lower()
    if suffix == ".keras":
        try:
            with zipfile.ZipFile(path) as archive:
                if "config.json" not in archive.namelist():
                    raise ModelLoadError(f"{path} is a zip file but not a Keras model (no config.json inside)")
                bad = archive.testzip()
                if bad is not None:
                    raise ModelLoadError(f"{path} is corrupt ({bad} fails its checksum): save the model again")
        except (zipfile.BadZipFile, EOFError, OSError) as e:
            raise ModelLoadError(
                f"{path} is not a readable .keras file (truncated or corrupt: {e}); save the model again"
            ) from e
    elif suffix in (".h5", ".hdf5"):
        if head != _HDF5_MAGIC:
            raise ModelLoadError(f"{path} is not an HDF5 file: expected a Keras .h5 model")
    elif suffix == ".tflite":
        return float_tflite_source(path, name)
    else:
        raise ModelLoadError(f"{path} is not a model file: expected .keras, .h5, .tflite or a SavedModel folder")
    return ModelSource(name, kind, sha256_file(path), path=path)


def float_tflite_source(path: Path, name: str) -> ModelSource:
    """A float .tflite (a PyTorch, JAX or TensorFlow export, a model zoo's file) as the source of
    the quantizer's modes; its input is read from the file. Float16 weights, legacy op codes and
    a missing signature are normalised on a cached copy (``host.convert.normalize``), which is then
    the source. A file quantized otherwise is a build, benched as it is."""
    from host.convert.inspect import inspect_tflite
    from host.errors import ConversionError

    content = path.read_bytes()
    try:
        facts = inspect_tflite(content)
    except ConversionError as e:
        raise ModelLoadError(
            f"{path} is not a valid TFLite model (corrupt or truncated?): {str(e).split(': ', 1)[-1]}"
        ) from e
    if not facts.is_float_source:
        raise ModelLoadError(
            f"{path} is already quantized: bench it as it is (host bench --model {path}); "
            "the quantizer's modes start from a float model"
        )
    copy, sha256, note = _normalized_copy(path, content)
    image = (
        facts.input_count == 1
        and len(facts.input_shape) == 4
        and facts.input_shape[3] in (1, 3)
        and min(facts.input_shape[1:]) > 0
    )
    return ModelSource(
        name,
        "tflite_file",
        sha256,
        path=copy,
        note=note,
        known_input_shape=_check_image_shape(facts.input_shape) if image else None,
    )


def _normalized_copy(path: Path, content: bytes) -> tuple[Path, str, str | None]:
    """(the file the quantizer reads, its sha256, the line saying what was done): ``path`` itself
    when it needs nothing, else a copy in the cache named by the original's hash. The answer is
    kept either way, so a warm run neither parses nor runs the model again."""
    import json

    from host.convert.normalize import normalize_float_tflite
    from host.fsio import atomic_write
    from host.paths import cache_dir

    original = hashlib.sha256(content).hexdigest()
    folder = cache_dir() / "normalized" / original[:32]
    copy, meta = folder / "model.tflite", folder / "normalized.json"
    try:
        kept = json.loads(meta.read_text())
        if kept["note"] is None:
            return path, original, None
        if copy.is_file():
            return copy, str(kept["sha256"]), str(kept["note"]).replace("{name}", path.name)
    except (ValueError, KeyError, TypeError, OSError):
        pass  # none kept yet, or a damaged entry: made again
    normalized = normalize_float_tflite(content, path.name)
    folder.mkdir(parents=True, exist_ok=True)
    if not normalized.changed:
        atomic_write(meta, json.dumps({"note": None}))
        return path, original, None
    sha256 = hashlib.sha256(normalized.content).hexdigest()
    atomic_write(copy, normalized.content)
    atomic_write(meta, json.dumps({"note": normalized.describe("{name}"), "sha256": sha256}))
    return copy, sha256, normalized.describe(path.name)


def _resolve_builtin(builtin: Builtin, weights: str | None) -> ModelSource:
    if weights == "none":
        digest = hashlib.sha256(f"builtin:{builtin.name}:random-weights:seed=0".encode()).hexdigest()
        return ModelSource(
            builtin.name,
            "builtin",
            digest,
            builtin=builtin,
            known_input_shape=builtin.input_shape,
            preset=builtin.preset,
        )
    weights_path = Path(weights).expanduser() if weights else keras_cache_dir() / (builtin.weights_file or "")
    if not weights_path.is_file():
        raise ModelLoadError(
            f"weights for {builtin.name} not found at {weights_path}: put the Keras weights file there, "
            "pass --weights PATH, or --weights none for random weights (no network is used)"
        )
    prefix = hashlib.sha256(f"builtin:{builtin.name}:".encode())
    return ModelSource(
        builtin.name,
        "builtin",
        sha256_file(weights_path, prefix),
        builtin=builtin,
        weights_path=weights_path,
        known_input_shape=builtin.input_shape,
        preset=builtin.preset,
    )


def load_keras_model(source: ModelSource) -> Any:
    """Build or load the Keras model (Keras 3); SavedModels are not loaded here."""
    from host.convert import tfenv

    keras = tfenv.keras()
    if source.kind == "builtin":
        assert source.builtin is not None
        keras.utils.set_random_seed(0)
        constructor = getattr(keras.applications, source.builtin.constructor)
        weights = str(source.weights_path) if source.weights_path else None
        try:
            return constructor(weights=weights, input_shape=source.builtin.input_shape)
        except (ValueError, OSError) as e:
            raise ModelLoadError(
                f"cannot load weights {source.weights_path} into {source.builtin.name}: {_first_line(e)}"
            ) from e
    assert source.path is not None
    try:
        return keras.models.load_model(source.path, compile=False)
    except Exception as e:  # Keras raises many unrelated types for a bad file
        raise ModelLoadError(f"cannot load {source.path} as a Keras model: {_first_line(e)}") from e


def keras_inputs(model: Any) -> tuple[ModelInput, ...]:
    """Every input of a Keras model, batch fixed at 1; a free dimension past the batch is refused."""
    found = []
    for tensor in getattr(model, "inputs", None) or []:
        shape = (1, *tuple(tensor.shape)[1:])
        if any(d is None for d in shape):
            raise ModelLoadError(
                f"model input {tensor.name} has a free dimension {tuple(tensor.shape)}: re-export it with "
                "a fixed shape, e.g. keras.Input((16000,))"
            )
        found.append(
            ModelInput(
                str(tensor.name).split(":")[0],
                str(getattr(tensor.dtype, "name", tensor.dtype)),
                tuple(int(d) for d in shape),
            )
        )
    return tuple(found)


def model_input_shape(model: Any) -> tuple[int, int, int]:
    """(height, width, channels) of a single-image-input Keras model, or a clear error."""
    inputs = getattr(model, "inputs", None) or []
    if len(inputs) != 1:
        raise ModelLoadError(
            f"the model has {len(inputs)} inputs: images feed one; give it tensor samples "
            "(--dataset/--calibration FILE.npz, an array per input keyed by input name)"
        )
    shape = tuple(inputs[0].shape)
    return _check_image_shape(shape)


def _check_image_shape(shape: tuple[Any, ...]) -> tuple[int, int, int]:
    if len(shape) != 4:
        raise ModelLoadError(f"model input has shape {shape}; expected an image batch (N, height, width, channels)")
    dims = shape[1:]
    if any(d is None or int(d) <= 0 for d in dims):
        raise ModelLoadError(
            f"model input size is unknown {shape}: rebuild or re-export the model with a fixed input "
            "shape, e.g. keras.Input((224, 224, 3))"
        )
    return (int(dims[0]), int(dims[1]), int(dims[2]))


def saved_model_signature(path: Path) -> tuple[Any, tuple[int, int, int]]:
    """Load a SavedModel's serving signature and its image input shape."""
    from host.convert import tfenv

    tf = tfenv.tf()
    try:
        loaded = tf.saved_model.load(str(path))
    except Exception as e:
        raise ModelLoadError(f"cannot load SavedModel {path}: {_first_line(e)}") from e
    signatures = dict(getattr(loaded, "signatures", {}) or {})
    if "serving_default" not in signatures:
        found = ", ".join(signatures) or "none"
        raise ModelLoadError(
            f"SavedModel {path} has no serving_default signature (found: {found}); "
            "export it with tf.saved_model.save(model, dir, signatures=...)"
        )
    signature = signatures["serving_default"]
    specs = list(signature.structured_input_signature[1].values())
    if len(specs) != 1:
        raise ModelLoadError(
            f"SavedModel {path} takes {len(specs)} inputs; only single-input image models are supported"
        )
    return loaded, _check_image_shape(tuple(specs[0].shape.as_list()))


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0][:300]
