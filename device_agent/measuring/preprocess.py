"""Named preprocessing presets: uint8 RGB images in, float32 model input out.

The same table serves calibration and quantization-aware training on the host and evaluation on
the device (by name), so a model sees identical inputs everywhere; it lives in the agent because
the agent may import nothing from the host. The formulas match
``keras.applications.*.preprocess_input`` for the named families.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from device_agent.errors import InvalidRequest

_TORCH_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
_TORCH_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
_CAFFE_MEAN_BGR = np.array([103.939, 116.779, 123.68], dtype=np.float32)


@dataclass(frozen=True)
class Preset:
    name: str
    summary: str
    apply: Callable[[np.ndarray], np.ndarray]


def _mobilenet(images: np.ndarray) -> np.ndarray:
    return images.astype(np.float32) / 127.5 - 1.0


def _unit(images: np.ndarray) -> np.ndarray:
    return images.astype(np.float32) / 255.0


def _caffe(images: np.ndarray) -> np.ndarray:
    return images[..., ::-1].astype(np.float32) - _CAFFE_MEAN_BGR


def _torch(images: np.ndarray) -> np.ndarray:
    return (images.astype(np.float32) / 255.0 - _TORCH_MEAN) / _TORCH_STD


def _raw(images: np.ndarray) -> np.ndarray:
    return images.astype(np.float32)


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset("mobilenet", "scale to [-1, 1] (MobileNet, EfficientNetV2 without rescaling)", _mobilenet),
        Preset("unit", "scale to [0, 1]", _unit),
        Preset("caffe", "RGB to BGR, subtract ImageNet mean (ResNet50, VGG)", _caffe),
        Preset("torch", "scale to [0, 1], normalize by ImageNet mean/std", _torch),
        Preset("raw", "float pixel values 0..255 (models that rescale inside)", _raw),
    )
}


class UnknownPreset(InvalidRequest):
    """A preset name not in the table."""


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise UnknownPreset(f"unknown preprocessing preset {name!r}: choose from {', '.join(PRESETS)}") from None
