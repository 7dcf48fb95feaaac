"""Quantization-aware training: fine-tune with fake-quant nodes, then convert with int8 kernels.

tensorflow-model-optimization only understands tf_keras (Keras 2) models, and tf_keras can only
be selected before TensorFlow is imported. So this module turns the Keras 3 model into a plain
description (layer configs, wiring, weights by layer name), and ``qat_worker`` rebuilds it in a
fresh Python with ``TF_USE_LEGACY_KERAS=1``, trains and converts there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from host.codec import JsonObject
from host.data.images import ImageSet
from host.errors import ConversionError

QAT_TIMEOUT_S = 3600


def _keras_tensors(value: Any) -> list[list[Any]]:
    """Every Keras 3 tensor reference in a node's args, as tf_keras [layer, node, index, {}]."""
    found: list[list[Any]] = []
    if isinstance(value, dict):
        if value.get("class_name") == "__keras_tensor__":
            layer, node, index = value["config"]["keras_history"]
            found.append([layer, node, index, {}])
        else:
            for item in value.values():
                found.extend(_keras_tensors(item))
    elif isinstance(value, (list, tuple)):
        for item in value:
            found.extend(_keras_tensors(item))
    return found


def _clean_layer_config(class_name: str, config: JsonObject) -> JsonObject:
    # Weights are copied from the trained model, so initializers never run; Keras 3 adds
    # arguments to them that tf_keras rejects. Regularizers/constraints do not apply to a
    # short fine-tune either.
    config = {
        k: v
        for k, v in config.items()
        if not k.endswith(("_initializer", "_regularizer", "_constraint")) and k != "quantization_config"
    }
    dtype = config.get("dtype")
    if isinstance(dtype, dict):
        config["dtype"] = dtype.get("config", {}).get("name", "float32")
    if class_name == "InputLayer":
        if "batch_shape" in config:
            config["batch_input_shape"] = config.pop("batch_shape")
        config.pop("optional", None)
    return config


def legacy_description(model: Any) -> JsonObject:
    """A Keras 3 functional model's config in the shape tf_keras' Functional.from_config reads."""
    config = model.get_config()
    if "layers" not in config:
        raise ConversionError("qat needs a functional or sequential Keras model")
    layers = []
    for layer in config["layers"]:
        class_name = layer["class_name"]
        nodes = [_keras_tensors(node.get("args", [])) for node in layer.get("inbound_nodes", [])]
        layers.append(
            {
                "class_name": class_name,
                "name": layer["name"],
                "config": _clean_layer_config(class_name, layer["config"]),
                "inbound_nodes": [n for n in nodes if n],
            }
        )

    def refs(value: Any) -> list[list[Any]]:
        if value and isinstance(value[0], str):
            value = [value]
        return [list(v[:3]) for v in value]

    return {
        "name": config.get("name", "model"),
        "layers": layers,
        "input_layers": refs(config["input_layers"]),
        "output_layers": refs(config["output_layers"]),
    }


class QatJob:
    """The fine-tuning child, started as soon as the inputs are known so that it trains while
    the other modes convert (it is the longest build by far: about 70 s of the demo's 120 s).

    Starting never raises: a model qat cannot take, or a child that cannot start, is kept and
    raised by ``result()``, where the qat build's own failure belongs."""

    def __init__(
        self, model: Any, training: ImageSet, *, preset: str, epochs: int, timeout_s: int = QAT_TIMEOUT_S
    ) -> None:
        self._timeout_s = timeout_s
        self._started = time.monotonic()
        self._work = tempfile.TemporaryDirectory(prefix="qat-")
        self._folder = Path(self._work.name)
        self._proc: subprocess.Popen[bytes] | None = None
        self._error: ConversionError | None = None
        try:
            self._write_inputs(model, training, preset, epochs)
            env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
            with open(self._folder / "stderr.txt", "w") as log:  # a file: nobody reads a pipe while it trains
                self._proc = subprocess.Popen(
                    [sys.executable, "-m", "host.convert.qat_worker", str(self._folder)],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=log,
                )
        except ConversionError as e:
            self._error = e
        except OSError as e:
            self._error = ConversionError(f"cannot start quantization-aware training: {e}")

    @property
    def seconds(self) -> float:
        """Wall time from the start to now: the build's own duration, not the wait for its turn."""
        return time.monotonic() - self._started

    def _write_inputs(self, model: Any, training: ImageSet, preset: str, epochs: int) -> None:
        if getattr(model, "_is_graph_network", True) is False or not hasattr(model, "get_config"):
            raise ConversionError("qat needs a functional or sequential Keras model")
        outputs = int(model.outputs[0].shape[-1])
        classes = int(training.labels.max()) + 1
        if classes > outputs:
            raise ConversionError(f"training data has {classes} classes but the model outputs {outputs}")
        (self._folder / "model.json").write_text(json.dumps(legacy_description(model)))
        weights = {f"{layer.name}/{i}": w for layer in model.layers for i, w in enumerate(layer.get_weights())}
        np.savez(self._folder / "weights.npz", **weights)
        np.savez(self._folder / "train.npz", images=training.images, labels=training.labels)
        (self._folder / "job.json").write_text(json.dumps({"preset": preset, "epochs": epochs}))

    def result(self) -> bytes:
        """Wait for the child; the int8 .tflite bytes, or the one-line reason it failed."""
        try:
            if self._error is not None:
                raise self._error
            assert self._proc is not None
            try:
                self._proc.wait(timeout=max(1.0, self._timeout_s - self.seconds))
            except subprocess.TimeoutExpired as e:
                raise ConversionError(f"quantization-aware training ran past {self._timeout_s} s") from e
            result = self._folder / "model.tflite"
            if self._proc.returncode != 0 or not result.is_file():
                stderr = (self._folder / "stderr.txt").read_text(errors="replace")
                raise ConversionError("quantization-aware training failed: " + _reason(stderr, self._proc.returncode))
            return result.read_bytes()
        finally:
            self.close()

    def close(self) -> None:
        """Stop the child if it still runs (an interrupted or failed conversion) and remove its folder."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._work.cleanup()


def _reason(stderr: str, returncode: int) -> str:
    lines = [ln for ln in stderr.strip().splitlines() if ln.strip()]
    reason = next(
        (ln for ln in reversed(lines) if ln.startswith("QAT_ERROR:")), lines[-1] if lines else f"exit {returncode}"
    )
    return reason.removeprefix("QAT_ERROR:").strip()
