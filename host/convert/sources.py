"""The model a conversion starts from, loaded at most once, and the float build the quantizer's
modes start from; TensorFlow's converter set for a mode and run.

Apart from ``converter.py`` (which converts every mode) so that what builds a variant
(``variants.py``) or trains (``training.py``) can use the loaded model without importing the
module that imports them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypedDict

import numpy as np

from host.convert import tfenv
from host.convert.builds import facts_meta
from host.convert.cache import ConversionCache
from host.convert.export import InferenceExport
from host.convert.inspect import inspect_tflite
from host.convert.loader import ModelSource, keras_inputs, load_keras_model, model_input_shape, saved_model_signature
from host.convert.modes import MODES_BY_NAME, QUANTIZED_IO, QuantMode
from host.convert.records import ConvertOptions
from host.data.tensors import ModelInput, model_inputs
from host.errors import ConversionError, ModelLoadError
from host.fsio import atomic_write


class InputMeta(TypedDict):
    name: str
    dtype: str
    shape: list[int]


class ModelMeta(TypedDict):
    """What loading a model told of its inputs, kept beside the cache so a cache hit loads nothing."""

    input_shape: list[int] | tuple[int, int, int] | None  # the image input's (height, width, channels)
    inputs: list[InputMeta]


class LoadedModel:
    """Loads the model at most once, and only when a cache miss needs a converter."""

    def __init__(self, source: ModelSource, meta_cache: Path | None) -> None:
        self.source = source
        self._meta_path = meta_cache / f"model-{source.sha256}.json" if meta_cache else None
        self._keras: Any = None
        self._saved: Any = None
        self._export: InferenceExport | None = None

    def inputs(self) -> tuple[ModelInput, ...]:
        """Every input, batch of one; an image model's is known without loading it."""
        if self.source.kind == "tflite_file":
            assert self.source.path is not None
            return model_inputs(self.source.path.read_bytes())
        if self.source.known_input_shape:
            return (ModelInput("input", "float32", (1, *self.source.known_input_shape)),)
        return tuple(
            ModelInput(str(i["name"]), str(i["dtype"]), tuple(int(d) for d in i["shape"]))
            for i in self._meta()["inputs"]
        )

    def image_shape(self) -> tuple[int, int, int] | None:
        """(height, width, channels) for a model one image feeds; None for any other inputs."""
        if self.source.known_input_shape or self.source.kind == "tflite_file":
            return self.source.known_input_shape
        shape = self._meta()["input_shape"]
        return (int(shape[0]), int(shape[1]), int(shape[2])) if shape else None

    def input_shape(self) -> tuple[int, int, int]:
        """The image input's (height, width, channels): for what only images can do (a clear error otherwise)."""
        shape = self.image_shape()
        if shape is None:
            listed = ", ".join(f"{i.keys[-1]} {list(i.shape)}" for i in self.inputs())
            raise ModelLoadError(
                f"{self.source.name} takes {listed}, not one image: give it tensor samples "
                "(--dataset/--calibration FILE.npz, an array per input keyed by input name)"
            )
        return shape

    def _meta(self) -> ModelMeta:
        if self._meta_path and self._meta_path.is_file():
            meta = json.loads(self._meta_path.read_text())
            if isinstance(meta, dict) and "inputs" in meta:
                return ModelMeta(input_shape=meta.get("input_shape"), inputs=list(meta["inputs"]))
        meta = self._load()
        if self._meta_path:
            self._meta_path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(self._meta_path, json.dumps(meta).encode())
        return meta

    def _load(self) -> ModelMeta:
        if self.source.kind == "saved_model":
            assert self.source.path is not None
            self._saved, shape = saved_model_signature(self.source.path)
            return {"input_shape": shape, "inputs": [{"name": "input", "dtype": "float32", "shape": [1, *shape]}]}
        self._keras = load_keras_model(self.source)
        listed = getattr(self._keras, "inputs", None) or []
        image = (
            model_input_shape(self._keras) if len(listed) == 1 and len(listed[0].shape) == 4 else None
        )  # its own errors
        inputs = keras_inputs(self._keras)
        return {
            "input_shape": image,
            "inputs": [{"name": i.name, "dtype": i.dtype, "shape": list(i.shape)} for i in inputs],
        }

    def keras_model(self) -> Any:
        if self._keras is None and self._saved is None:
            self._load()
        if self._keras is None:
            raise ConversionError("quantization-aware training needs a Keras model, not a SavedModel")
        return self._keras

    def layer_names(self) -> list[str]:
        """The Keras layer names (none for a SavedModel or a .tflite): what users call the ops."""
        return (
            [layer.name for layer in self.keras_model().layers]
            if self.source.kind not in ("saved_model", "tflite_file")
            else []
        )

    def converter(self) -> Any:
        if self.source.kind == "tflite_file":
            raise ModelLoadError(
                f"{self.source.name} is a .tflite: TensorFlow's converter and its quantization debugger (host debug, "
                "host "
                "tune) need the Keras/SavedModel graph; the quantizer's modes work on it (--modes quantizer)"
            )
        tf = tfenv.tf()
        if self.source.kind == "saved_model":
            if self._saved is None:
                self._load()
            return tf.lite.TFLiteConverter.from_saved_model(str(self.source.path), signature_keys=["serving_default"])
        if self._export is None:
            self._export = InferenceExport(self.keras_model())
        return self._export.converter()


class FloatSource:
    """The float .tflite the quantizer's modes start from: the given file itself, or TensorFlow's
    ``none`` build of the graph (made once, cached like any build)."""

    def __init__(self, model: LoadedModel, options: ConvertOptions, cache: ConversionCache, key: str) -> None:
        self._model, self._options, self._cache, self._key = model, options, cache, key
        self._bytes: bytes | None = None

    def offer(self, model_bytes: bytes) -> None:
        """The ``none`` build made in this run: the quantizer's modes start from it."""
        self._bytes = model_bytes

    def content(self) -> bytes:
        if self._bytes is None:
            self._bytes = self._read()
        return self._bytes

    def _read(self) -> bytes:
        if self._model.source.kind == "tflite_file":
            assert self._model.source.path is not None
            return self._model.source.path.read_bytes()
        entry = self._cache.get(self._key) if self._options.use_cache else None
        if entry is not None:
            return entry.model_bytes
        started = time.perf_counter()
        model_bytes = run_converter(MODES_BY_NAME["none"], self._model, self._options, None)
        meta = {
            **facts_meta(inspect_tflite(model_bytes), []),
            "made_by": tfenv.converter_version(),
            "convert_seconds": round(time.perf_counter() - started, 3),
        }
        self._cache.put(self._key, model_bytes, meta)
        return model_bytes


def apply_mode(
    converter: Any, mode: QuantMode, io_type: str, representative: Callable[[], Iterator[list[np.ndarray]]] | None
) -> None:
    """Set the converter switches the table row asks for; nothing mode-specific lives elsewhere."""
    tf = tfenv.tf()
    if mode.optimize:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if mode.supported_types:
        converter.target_spec.supported_types = [getattr(tf, name) for name in mode.supported_types]
    if mode.supported_ops:
        converter.target_spec.supported_ops = [getattr(tf.lite.OpsSet, name) for name in mode.supported_ops]
    if mode.needs_calibration:
        if representative is None:
            raise ConversionError(f"mode {mode.name} needs calibration data")
        converter.representative_dataset = representative
    if mode.io == QUANTIZED_IO:
        converter.inference_input_type = getattr(tf, io_type)
        converter.inference_output_type = getattr(tf, io_type)


def run_converter(
    mode: QuantMode,
    model: LoadedModel,
    options: ConvertOptions,
    representative: Callable[[], Iterator[list[np.ndarray]]] | None,
) -> bytes:
    if mode.needs_training:
        raise ConversionError("mode 'qat' needs labelled training images: pass --train-data DIR (class subfolders)")
    converter = model.converter()
    apply_mode(converter, mode, options.io_type, representative)
    with tfenv.silenced():
        return bytes(converter.convert())
