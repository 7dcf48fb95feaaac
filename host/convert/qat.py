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
from pathlib import Path
from typing import Any

import numpy as np

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


def _clean_layer_config(class_name: str, config: dict[str, Any]) -> dict[str, Any]:
    # Weights are copied from the trained model, so initializers never run; Keras 3 adds
    # arguments to them that tf_keras rejects. Regularizers/constraints do not apply to a
    # short fine-tune either.
    config = {
        k: v for k, v in config.items()
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


def legacy_description(model: Any) -> dict[str, Any]:
    """A Keras 3 functional model's config in the shape tf_keras' Functional.from_config reads."""
    config = model.get_config()
    if "layers" not in config:
        raise ConversionError("qat needs a functional or sequential Keras model")
    layers = []
    for layer in config["layers"]:
        class_name = layer["class_name"]
        nodes = [_keras_tensors(node.get("args", [])) for node in layer.get("inbound_nodes", [])]
        layers.append({
            "class_name": class_name,
            "name": layer["name"],
            "config": _clean_layer_config(class_name, layer["config"]),
            "inbound_nodes": [n for n in nodes if n],
        })

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


def convert_qat(model: Any, training: ImageSet, *, preset: str, epochs: int, timeout_s: int = QAT_TIMEOUT_S) -> bytes:
    """Fine-tune ``model`` quantization-aware on ``training`` and return the int8 .tflite bytes."""
    if getattr(model, "_is_graph_network", True) is False or not hasattr(model, "get_config"):
        raise ConversionError("qat needs a functional or sequential Keras model")
    outputs = int(model.outputs[0].shape[-1])
    classes = int(training.labels.max()) + 1
    if classes > outputs:
        raise ConversionError(f"training data has {classes} classes but the model outputs {outputs}")
    with tempfile.TemporaryDirectory(prefix="qat-") as work:
        folder = Path(work)
        (folder / "model.json").write_text(json.dumps(legacy_description(model)))
        weights = {f"{layer.name}/{i}": w for layer in model.layers for i, w in enumerate(layer.get_weights())}
        np.savez(folder / "weights.npz", **weights)
        np.savez(folder / "train.npz", images=training.images, labels=training.labels)
        (folder / "job.json").write_text(json.dumps({"preset": preset, "epochs": epochs}))
        env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "host.convert.qat_worker", str(folder)],
                env=env, capture_output=True, text=True, timeout=timeout_s,
            )
        except subprocess.TimeoutExpired as e:
            raise ConversionError(f"quantization-aware training ran past {timeout_s} s") from e
        result = folder / "model.tflite"
        if proc.returncode != 0 or not result.is_file():
            lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
            reason = next((ln for ln in reversed(lines) if ln.startswith("QAT_ERROR:")), lines[-1] if lines else f"exit {proc.returncode}")
            raise ConversionError("quantization-aware training failed: " + reason.removeprefix("QAT_ERROR:").strip())
        return result.read_bytes()
