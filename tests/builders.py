"""Tiny models and image folders that tests build for themselves (no downloads)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def keras():
    from host.convert import tfenv

    return tfenv.keras()


def weight_dominated_model(classes: int = 4, size: int = 32):
    """~160k parameters, so sizes per mode follow the weights, not flatbuffer overhead."""
    k = keras()
    k.utils.set_random_seed(0)
    inp = k.Input((size, size, 3))
    x = k.layers.Conv2D(32, 3, padding="same", strides=2)(inp)
    x = k.layers.BatchNormalization()(x)
    x = k.layers.ReLU(6.0)(x)
    x = k.layers.DepthwiseConv2D(3, padding="same")(x)
    x = k.layers.Conv2D(128, 1)(x)
    y = k.layers.Conv2D(128, 3, padding="same")(x)
    x = k.layers.Add()([x, y])
    x = k.layers.GlobalAveragePooling2D()(x)
    out = k.layers.Dense(classes, activation="softmax")(x)
    return k.Model(inp, out)


def sin_model():
    """A model whose SIN op has no int8 kernel: full_integer must refuse it."""
    k = keras()

    @k.saving.register_keras_serializable(package="tests")
    class Sine(k.layers.Layer):
        def call(self, inputs):
            return k.ops.sin(inputs)

    inp = k.Input((8, 8, 3))
    x = k.layers.Conv2D(8, 3)(inp)
    x = Sine()(x)
    x = k.layers.GlobalAveragePooling2D()(x)
    return k.Model(inp, k.layers.Dense(2)(x))


def write_image_folder(root: Path, classes: int = 4, per_class: int = 8, size: int = 40, seed: int = 0) -> Path:
    """Class subfolders of random RGB PNGs."""
    rng = np.random.default_rng(seed)
    for c in range(classes):
        folder = root / f"class_{c}"
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            pixels = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / f"{i:03d}.png")
    return root


def conv_stack_tflite(blocks: int, size: int = 32) -> bytes:
    """A float image model of ``blocks`` identical 3x3 convolutions: its latency grows with ``blocks``
    (a build made slower by a known margin, for the release gate)."""
    from host.convert import tfenv

    k = keras()
    k.utils.set_random_seed(0)
    inp = k.Input((size, size, 3), batch_size=1)
    x = inp
    for _ in range(blocks):
        x = k.layers.Conv2D(16, 3, padding="same", activation="relu")(x)
    model = k.Model(inp, k.layers.Dense(4)(k.layers.GlobalAveragePooling2D()(x)))
    with tfenv.silenced():
        return bytes(tfenv.tf().lite.TFLiteConverter.from_keras_model(model).convert())
