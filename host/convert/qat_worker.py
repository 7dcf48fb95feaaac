"""Child process of ``qat``: rebuild in tf_keras, quantize-aware fine-tune, convert.

Run only as ``python -m host.convert.qat_worker FOLDER`` with ``TF_USE_LEGACY_KERAS=1``; reads
``model.json``, ``weights.npz``, ``train.npz`` and ``job.json`` from FOLDER and writes
``model.tflite`` there. Errors go to stderr as one ``QAT_ERROR:`` line.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np

from host.codec import JsonObject

_UNKNOWN_ARG = re.compile(r"(?:unexpected keyword argument '(\w+)'|Unrecognized keyword arguments: \[([^\]]*)\])")


def _rebuild(tf_keras: Any, description: JsonObject) -> Any:
    """Functional.from_config, dropping Keras 3-only layer arguments tf_keras names as unknown."""
    for _ in range(50):
        try:
            return tf_keras.Model.from_config(description)
        except (TypeError, ValueError) as e:
            match = _UNKNOWN_ARG.search(str(e))
            if not match:
                raise
            names = {n.strip(" '\"") for n in (match.group(1) or match.group(2)).split(",")}
            for layer in description["layers"]:
                for name in names:
                    layer["config"].pop(name, None)
    raise RuntimeError("cannot rebuild the model in tf_keras")


def run(folder: Path) -> None:
    import tensorflow as tf
    import tensorflow_model_optimization as tfmot
    import tf_keras

    from host.data.preprocess import get_preset

    tf.get_logger().setLevel("ERROR")
    description = json.loads((folder / "model.json").read_text())
    job = json.loads((folder / "job.json").read_text())
    model = _rebuild(tf_keras, description)
    weights = np.load(folder / "weights.npz")
    for layer in model.layers:
        values = [weights[f"{layer.name}/{i}"] for i in range(len(layer.weights)) if f"{layer.name}/{i}" in weights]
        if values:
            layer.set_weights(values)
    tf_keras.utils.set_random_seed(0)
    quantized = tfmot.quantization.keras.quantize_model(model)
    last = model.layers[-1].get_config().get("activation")
    quantized.compile(
        optimizer=tf_keras.optimizers.Adam(1e-4),
        loss=tf_keras.losses.SparseCategoricalCrossentropy(from_logits=last != "softmax"),
    )
    train = np.load(folder / "train.npz")
    inputs = get_preset(job["preset"]).apply(train["images"])
    quantized.fit(inputs, train["labels"], epochs=int(job["epochs"]), batch_size=32, shuffle=True, verbose=0)
    converter = tf.lite.TFLiteConverter.from_keras_model(quantized)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    (folder / "model.tflite").write_bytes(converter.convert())


def main() -> int:
    try:
        run(Path(sys.argv[1]))
    except Exception as e:  # reported to the parent as one line; the parent maps it
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        print(f"QAT_ERROR: {type(e).__name__}: {first[:400]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
