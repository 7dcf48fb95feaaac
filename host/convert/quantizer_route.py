"""The second route to a build: LiteRT's own quantizer (``ai-edge-quantizer``) on a float .tflite.

TensorFlow's converter needs the graph a model came from; the quantizer needs only the float
.tflite, so it is the route for a model exported from PyTorch (litert-torch), JAX or any other
tool, and for what TensorFlow's converter does not make (int4 weights, blockwise scales,
weight-only builds). For a Keras model both routes run side by side, from the same float build.

The quantizer is imported here only (it needs no TensorFlow), its console chatter (progress bars,
warnings) is kept off our output, and what it raises becomes a ConversionError naming the mode,
so one recipe that fails never sinks the other builds.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import logging
import re
import warnings
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

from host.codec import JsonObject
from host.convert.modes import QUANTIZER, QuantMode, Recipe
from host.errors import ConversionError, InputError
from host.fsio import read_small_text

Samples = Callable[[], Iterator[Any]]  # images through the preprocessing (a list each) or tensor samples (a dict each)


@cache
def quantizer_version() -> str:
    """``ai-edge-quantizer X.Y.Z``: recorded with each of its builds."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"{QUANTIZER} {version(QUANTIZER)}"
    except PackageNotFoundError:
        return f"{QUANTIZER} (not installed)"


def recipe_entries(mode: QuantMode) -> list[JsonObject]:
    """The mode's recipe in the quantizer's own JSON form (what ``--recipe FILE.json`` holds)."""
    if mode.recipe_file is not None:
        return read_recipe_file(Path(mode.recipe_file))
    if mode.recipe is None:
        raise ConversionError(f"mode {mode.name} is not made by the quantizer")
    return _entries(mode.recipe)


def recipe_identity(mode: QuantMode) -> object:
    """What a quantizer build's cache key holds for its recipe, without importing the quantizer
    (0.9 s, on every warm run): our recipe's fields, or the recipe file's entries. The entries the
    quantizer expands them to depend only on these and its version, which the key holds too."""
    if mode.recipe_file is not None:
        try:
            return json.loads(Path(mode.recipe_file).read_text())
        except (OSError, ValueError) as e:
            raise InputError(f"--recipe {mode.recipe_file} cannot be read again: {e}") from e
    if mode.recipe is None:
        raise ConversionError(f"mode {mode.name} is not made by the quantizer")
    return dataclasses.asdict(mode.recipe)


def _entries(recipe: Recipe) -> list[JsonObject]:
    from ai_edge_quantizer import qtyping
    from ai_edge_quantizer.recipe_manager import RecipeManager

    manager = RecipeManager()
    every, granularity = qtyping.TFLOperationName.ALL_SUPPORTED, qtyping.QuantGranularity(recipe.granularity)
    if recipe.kind == "dynamic":
        manager.add_dynamic_config(".*", every, recipe.weight_bits, granularity)
    elif recipe.kind == "weight_only":
        manager.add_weight_only_config(".*", every, recipe.weight_bits, granularity)
    else:
        manager.add_static_config(".*", every, recipe.activation_bits or 8, recipe.weight_bits, granularity)
    return list(manager.get_quantization_recipe())


def read_recipe_file(path: Path) -> list[JsonObject]:
    """A recipe file as the quantizer reads it, checked by the quantizer itself; a bad file is an
    input error naming it (exit 2) before any build."""
    from ai_edge_quantizer.recipe_manager import RecipeManager

    text = read_small_text(path, MAX_RECIPE_BYTES, "--recipe")
    try:
        entries = json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise InputError(f"--recipe {path} nests too deeply to be a recipe") from None
    except ValueError as e:
        raise InputError(f"--recipe {path} is not JSON: {e}") from e
    if not isinstance(entries, list) or not entries or not all(isinstance(e, dict) for e in entries):
        raise InputError(
            f"--recipe {path}: a recipe is a JSON list of entries (regex, operation, algorithm_key, op_config)"
        )
    for index, entry in enumerate(entries):
        if problem := entry_problem(entry):
            raise InputError(f"--recipe {path}: entry {index}: {problem}")
    try:
        with quiet():
            RecipeManager().load_quantization_recipe(entries)
    except Exception as e:  # noqa: BLE001 - the quantizer raises KeyError/ValueError/TypeError for a bad entry
        raise InputError(f"--recipe {path} is not a recipe the quantizer accepts: {_first_line(e)}") from e
    return entries


MAX_RECIPE_BYTES = 1 << 20
_BITS = {"activation_tensor_config": (8, 16), "weight_tensor_config": (2, 4, 8, 16)}
_TEXT_FIELDS = ("regex", "operation", "algorithm_key")


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number a recipe can hold")


def entry_problem(entry: JsonObject) -> str | None:
    """What is wrong with one recipe entry, naming the field: the quantizer would take
    ``num_bits: 3`` or a string and then quantize nothing (exit 1, far from the cause)."""
    for field in _TEXT_FIELDS:
        if field in entry and not isinstance(entry[field], str):
            return f"{field} is {entry[field]!r}, not text"
    config = entry.get("op_config", {})
    if not isinstance(config, dict):
        return f"op_config is {config!r}, not an object"
    for tensor, allowed in _BITS.items():
        problem = _tensor_config_problem(tensor, config.get(tensor), allowed)
        if problem:
            return problem
    return _flags_problem("op_config", config, ("explicit_dequantize", "skip_checks"))


def _tensor_config_problem(tensor: str, part: object, allowed: tuple[int, ...]) -> str | None:
    """What is wrong with ``op_config.<tensor>`` (weights or activations), if anything."""
    if part is None:
        return None
    if not isinstance(part, dict):
        return f"op_config.{tensor} is {part!r}, not an object"
    bits = part.get("num_bits")
    if bits is not None and (isinstance(bits, bool) or bits not in allowed):
        return f"op_config.{tensor}.num_bits is {bits!r}: one of {', '.join(map(str, allowed))}"
    block = part.get("block_size", 0)
    if isinstance(block, bool) or not isinstance(block, int) or block < 0:
        return f"op_config.{tensor}.block_size is {block!r}, not a whole number >= 0"
    return _flags_problem(f"op_config.{tensor}", part, ("symmetric",))


def _flags_problem(where: str, part: JsonObject, flags: tuple[str, ...]) -> str | None:
    return next(
        (
            f"{where}.{flag} is {part[flag]!r}, not true or false"
            for flag in flags
            if flag in part and not isinstance(part[flag], bool)
        ),
        None,
    )


def recipe_needs_calibration(entries: list[JsonObject]) -> bool:
    from ai_edge_quantizer.recipe_manager import RecipeManager

    manager = RecipeManager()
    with quiet():
        manager.load_quantization_recipe(entries)
    return bool(manager.need_calibration())


def keep_float_entries(names: tuple[str, ...], float_model: bytes) -> list[JsonObject]:
    """``no_quantize`` recipe entries for what ``--keep-float`` names: Keras layers (any layer
    fused into an op, found the way TensorFlow's selective build finds them, ``host.convert.graph``)
    matched by the op's exact output name, or op types (``MEAN``). A name the model does not have
    fails the build with the closest names."""
    from host.convert.graph import graph_ops
    from host.convert.selective import resolve

    if not names:
        return []
    keep = resolve(names, graph_ops(float_model))
    # the quantizer matches a regex against the op's output names joined by ";" with a trailing ";"
    return [
        {"regex": f"^{re.escape(tensor)};", "operation": "*", "algorithm_key": "no_quantize"} for tensor in keep.nodes
    ] + [{"regex": ".*", "operation": op_type, "algorithm_key": "no_quantize"} for op_type in keep.op_types]


def quantize(float_model: bytes, mode: QuantMode, samples: Samples | None, keep_float: tuple[str, ...] = ()) -> bytes:
    """The mode's build from the float .tflite; static recipes calibrate on ``samples``; the
    ``keep_float`` layers or op types are left in float."""
    return quantize_with(
        float_model, recipe_entries(mode) + keep_float_entries(keep_float, float_model), samples, mode.name
    )


def quantize_with(
    float_model: bytes, entries: list[JsonObject], samples: Samples | None = None, name: str = "the recipe"
) -> bytes:
    """A build from the float .tflite with recipe ``entries`` (the quantizer's JSON form)."""
    from ai_edge_quantizer import quantizer

    try:
        with quiet():
            job = quantizer.Quantizer(bytearray(float_model), entries)
            calibration = _calibrate(job, float_model, samples, name) if job.need_calibration else None
            result = job.quantize(calibration, enable_progress_report=False)
    except ConversionError:
        raise
    except Exception as e:  # noqa: BLE001 - the quantizer raises many types for a model it cannot take
        raise ConversionError(f"the quantizer could not make {name}: {_first_line(e)}") from e
    if result.quantized_model is None:
        raise ConversionError(f"the quantizer made no model for {name}")
    return bytes(result.quantized_model)


def _calibrate(job: Any, float_model: bytes, samples: Samples | None, mode: str) -> Any:
    """Our calibration data fed to the model's one signature, each array keyed by its input's name."""
    if samples is None:
        raise ConversionError(
            f"mode {mode} needs calibration data: pass --calibration DIR (images) or FILE.npz (tensor samples)"
        )
    signature, names = signature_inputs(float_model, mode)
    keys = _keys(names, samples, mode)
    return job.calibrate(
        {signature: [{name: sample[key] for name, key in keys} for sample in samples()]}, num_threads=1
    )


def _keys(names: list[str], samples: Samples, mode: str) -> list[tuple[str, Any]]:
    """Where in a sample each signature input's array is: by name for tensor samples (a dict;
    their ``inputs`` give every name an input goes by), the one position of an image's list."""
    named = getattr(samples, "inputs", None)
    if named is None:
        if len(names) != 1:
            raise ConversionError(
                f"mode {mode}: the model's signature takes {len(names)} inputs; images feed one: give "
                "--calibration FILE.npz with an array per input keyed by input name"
            )
        return [(names[0], 0)]
    keys = []
    for name in names:
        found = next((model_input.keys[-1] for model_input in named if name in model_input.keys), None)
        if found is None:
            raise ConversionError(f"mode {mode}: no calibration array for signature input {name!r}")
        keys.append((name, found))
    return keys


def signature_inputs(float_model: bytes, mode: str) -> tuple[str, list[str]]:
    from ai_edge_litert.interpreter import Interpreter

    signatures = Interpreter(model_content=float_model).get_signature_list()
    if len(signatures) != 1:
        raise ConversionError(
            f"mode {mode} calibrates through the model's signature, and this .tflite has "
            f"{len(signatures) or 'no'} signatures: export it with exactly one (serving_default)"
        )
    ((key, io_names),) = signatures.items()
    return key, list(io_names["inputs"])


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """The quantizer's progress bars, warnings, absl log lines and its interpreter's native
    "INFO:" lines kept off the console."""
    from host.convert.tfenv import silenced

    with (
        silenced(),
        contextlib.redirect_stderr(io.StringIO()),
        contextlib.redirect_stdout(io.StringIO()),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore")
        previous = logging.root.manager.disable
        logging.disable(logging.WARNING)
        try:
            yield
        finally:
            logging.disable(previous)


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0][:300]


def signature_input(float_model: bytes, mode: str) -> tuple[str, str]:
    """The signature and its one input, for what feeds images (the quantizer's validator)."""
    key, names = signature_inputs(float_model, mode)
    if len(names) != 1:
        raise ConversionError(f"mode {mode}: the model's signature {key} takes {len(names)} inputs, not one image")
    return key, names[0]
